"""Depth Cloud core: exact back-projection of Blender depth passes, pure numpy (+ OpenEXR for I/O).

Importing this package never imports ``bpy`` or ``mathutils``; it runs inside Blender, in plain
Python and in the ``depth-cloud`` CLI alike. Conventions: ``docs/conventions.md``.

Public API::

    CameraModel                         # one frame's camera (from_blender, to_dict/from_dict)
    backproject(depth, camera, *, depth_kind="auto", space="world")   -> (H, W, 3), NaN if invalid
    project(points, camera, *, space="world")                         -> (..., 2) pixel coords
    convert_depth(depth, camera, *, from_kind, to_kind)               # "planar" <-> "distance"
    read_exr(path)                                                    -> ExrImage(.depth, .color, .channels)
    voxel_downsample(points, colors, radii, voxel_size=...)           # one point per voxel; VoxelAccumulator
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
from .voxel import VoxelAccumulator, VoxelExtentError, voxel_downsample, voxel_keys
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
    "BACKGROUND_DEPTH", "BLENDER_TO_OPENCV_AXES", "DEPTH_KINDS", "backproject", "backproject_valid",
    "camera_rays", "CameraError", "CameraModel", "convert_depth", "DepthCloudError", "ExrImage",
    "ExrReadError", "MissingChannelError", "NoValidDepthError", "pixel_centers", "pixel_footprint",
    "project", "read_exr", "render_size_px", "ResolutionMismatchError", "valid_depth_mask",
    "ValidPoints", "voxel_downsample", "voxel_keys", "VoxelAccumulator", "VoxelExtentError",
    "write_exr",
]
