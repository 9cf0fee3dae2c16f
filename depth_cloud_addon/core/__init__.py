"""Depth Cloud core: exact back-projection of Blender depth passes, pure numpy (+ OpenEXR for I/O).

Importing this package never imports ``bpy`` or ``mathutils``; it runs inside Blender, in plain
Python and in the ``depth-cloud`` CLI alike. Conventions: ``docs/conventions.md``.

Public API::

    CameraModel                         # one frame's camera (from_blender, to_dict/from_dict)
    backproject(depth, camera, *, depth_kind="auto", space="world")   -> (H, W, 3), NaN if invalid
    project(points, camera, *, space="world")                         -> (..., 2) pixel coords
    unproject_pixels(pixels, depth, camera, *, space="world")         -> (..., 3) annotated pixels -> 3D
    convert_depth(depth, camera, *, from_kind, to_kind)               # "planar" <-> "distance"
    read_exr(path)                                                    -> ExrImage(.depth, .color, .channels)
    voxel_downsample(points, colors, radii, voxel_size=...)           # one point per voxel; VoxelAccumulator
    read_annotations(path) -> Annotations(.pixels, .labels)           # annotated pixels from CSV/JSON
    opencv_intrinsics(camera), extrinsics(camera), export_cameras(...), nerfstudio_transforms(...)

Frames on disk (the layer every entry point shares)::

    frame_files.find_frame_files(folder_or_pattern, frame, from_setup=...) -> FrameFiles
    frame_files.frame_inputs(files, frame, camera=..., fallback=...)      -> FrameInputs (files + camera)
    cloud.read_cloud(inputs, BuildOptions(...))                           -> CloudArrays (points_world, ...)
    export.export_frame(inputs, output, build, ExportOptions(...))        # one frame -> PLY/NPZ
    fusion.Fusion(voxel_size).add(cloud) ... .result()                    # many frames -> one cloud
    atomic.atomic_write(path) / atomic_path(path)                         # every file we write
"""

from .errors import (
    CameraError,
    DepthCloudError,
    ExrReadError,
    FrameSpecError,
    MissingChannelError,
    MissingFrameError,
    NoSourceError,
    NoValidDepthError,
    OutputError,
    ResolutionMismatchError,
)
from .formats.annotations import AnnotationError, Annotations, parse_annotations, read_annotations
from .formats.camera_export import export_cameras, extrinsics, nerfstudio_transforms, opencv_intrinsics
from .formats.exr import ExrImage, read_exr, write_exr
from .geometry.camera import BLENDER_TO_OPENCV_AXES, CameraModel, render_region_px, render_size_px
from .geometry.projection import (
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
    unproject_pixels,
    valid_depth_mask,
)
from .geometry.voxel import VoxelAccumulator, VoxelExtentError, voxel_downsample, voxel_keys

__all__ = [
    "AnnotationError", "Annotations", "BACKGROUND_DEPTH", "backproject", "backproject_valid",
    "BLENDER_TO_OPENCV_AXES", "camera_rays", "CameraError", "CameraModel", "convert_depth",
    "DEPTH_KINDS", "DepthCloudError", "FrameSpecError", "MissingFrameError", "NoSourceError", "OutputError",
    "export_cameras", "ExrImage", "ExrReadError", "extrinsics",
    "MissingChannelError", "nerfstudio_transforms", "NoValidDepthError", "opencv_intrinsics",
    "parse_annotations", "pixel_centers", "pixel_footprint", "project", "read_annotations",
    "read_exr", "render_region_px", "render_size_px", "ResolutionMismatchError", "unproject_pixels", "valid_depth_mask",
    "ValidPoints", "voxel_downsample", "voxel_keys", "VoxelAccumulator", "VoxelExtentError",
    "write_exr",
]
