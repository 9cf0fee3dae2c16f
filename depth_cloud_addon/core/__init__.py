"""Depth Cloud core: exact back-projection of Blender depth passes, pure numpy (+ OpenEXR for I/O).

Importing this package never imports ``bpy`` or ``mathutils``; it runs inside Blender, in plain
Python and in the ``depth-cloud`` CLI alike. Conventions: ``docs/conventions.md``.

Public API::

    CameraModel                         # one frame's camera (from_blender, to_dict/from_dict)
    backproject(depth, camera, *, depth_kind="auto", space="world")   -> (H, W, 3), NaN if invalid
    project(points, camera, *, space="world")                         -> (..., 2) pixel coords
    convert_depth(depth, camera, *, from_kind, to_kind)               # "planar" <-> "distance"
    read_exr(path)                                                    -> ExrImage(.depth, .color, .channels)
"""

from .camera import BLENDER_TO_OPENCV_AXES, CameraModel, render_size_px
from .errors import (
    CameraError,
    DepthCloudError,
    ExrReadError,
    MissingChannelError,
    NoValidDepthError,
    ResolutionMismatchError,
)
from .exr import ExrImage, read_exr, write_exr
from .geometry import (
    BACKGROUND_DEPTH,
    DEPTH_KINDS,
    ValidPoints,
    backproject,
    backproject_valid,
    camera_rays,
    convert_depth,
    pixel_centers,
    pixel_footprint,
    project,
    valid_depth_mask,
)

__all__ = [
    "BACKGROUND_DEPTH", "BLENDER_TO_OPENCV_AXES", "DEPTH_KINDS", "CameraError", "CameraModel",
    "DepthCloudError", "ExrImage", "ExrReadError", "MissingChannelError", "NoValidDepthError",
    "ResolutionMismatchError", "ValidPoints", "backproject", "backproject_valid", "camera_rays", "convert_depth", "pixel_centers",
    "pixel_footprint", "project", "read_exr", "render_size_px", "valid_depth_mask", "write_exr",
]
