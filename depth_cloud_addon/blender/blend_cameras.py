"""Cameras read from a .blend file: the CLI's ``--blend`` option (the one place the CLI needs bpy)."""

from __future__ import annotations

import os

import bpy

from ..core import CameraModel, DepthCloudError


def cameras_from_blend(path, camera_object: str | None, frames, *, single_frame: int | None = None) -> dict:
    """Open ``path`` and return ``{frame: CameraModel}`` of ``camera_object`` (default: the scene camera)
    evaluated at each of ``frames``; the frame ``None`` (a single file) is evaluated at ``single_frame``, or
    at the file's current frame. Raises :class:`DepthCloudError` naming the file on bad input."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DepthCloudError(f"{path}: no such file")
    try:
        bpy.ops.wm.open_mainfile(filepath=os.path.abspath(path))
    except RuntimeError as exc:
        raise DepthCloudError(f"{path}: cannot open as a .blend file: {str(exc).strip().splitlines()[-1]}") from None
    scene = bpy.context.scene
    obj = bpy.data.objects.get(camera_object) if camera_object else scene.camera
    if obj is None or obj.type != "CAMERA":
        raise DepthCloudError(f"{path}: no camera object {camera_object!r}")
    cameras = {}
    for frame in frames:
        scene.frame_set(frame if frame is not None else (single_frame if single_frame is not None
                                                         else scene.frame_current))
        cameras[frame] = CameraModel.from_blender(obj, scene)
    return cameras
