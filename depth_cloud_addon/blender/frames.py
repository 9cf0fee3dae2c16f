"""A frame's files and camera inside Blender: the core's rule (:mod:`..core.frames.files`), with the scene
camera as the fallback for frames without a sidecar, and where the frames come from (a depth file or
pattern chosen by the user, else the set-up's output folder)."""

from __future__ import annotations

import dataclasses

import bpy

from ..core import CameraModel, DepthCloudError, NoSourceError
from ..core.frames.files import FrameCamera, FrameInputs, find_frame_files
from ..core.frames.files import frame_camera as core_frame_camera
from ..core.frames.files import frame_inputs as core_frame_inputs
from . import compositor


def frame_source(scene, depth_file: str = "") -> tuple[str, bool]:
    """``(folder or pattern, from_setup)`` of the frames: ``depth_file`` if given, else the set-up's output
    folder, as Blender paths (``//`` relative to the .blend stays relative, so a sequence bound to it
    follows the file when the folder is moved; :func:`frame_inputs` resolves it). Raises
    :class:`NoSourceError` when there is neither."""
    if depth_file:
        return depth_file, False
    directory = compositor.output_directory(scene)
    if directory is None:
        raise NoSourceError("no depth file given and no outputs set up: press Set Up EXR Outputs "
                            "and render, or choose a depth EXR")
    return directory, True


def scene_camera(scene, frame: int):
    """The fallback camera of a frame without a sidecar: ``(the scene camera as it is now, note)``."""
    if scene.camera is None:
        raise DepthCloudError("no camera sidecar next to the depth file and the scene has no camera")
    return (CameraModel.from_blender(scene.camera, scene),
            f"no camera sidecar: used the scene camera '{scene.camera.name}' at frame {frame}")


def frame_camera(scene, sidecar: str | None, frame: int) -> FrameCamera:
    """A frame's camera without its depth file, by the core's rule: the ``sidecar``'s, else the scene camera as it is
    now (evaluate the frame first)."""
    return core_frame_camera(sidecar, fallback=lambda: scene_camera(scene, frame), what=f"frame {frame}")


def frame_inputs(scene, source: str, from_setup: bool, frame: int) -> FrameInputs:
    """``frame``'s files under ``source`` (folder or ``#`` pattern; a Blender path, ``//`` is relative to the
    .blend) and its camera: the frame's sidecar, else the scene camera as it is now (evaluate the frame
    first). Raises :class:`DepthCloudError` (:class:`MissingFrameError` for a missing depth file)."""
    files = find_frame_files(bpy.path.abspath(source), frame, from_setup=from_setup)
    inputs = core_frame_inputs(files, frame, fallback=lambda: scene_camera(scene, frame))
    if inputs.uses_fallback_camera:  # no sidecar: the scene's settings as they are now say what may be off
        inputs = dataclasses.replace(inputs, capture=compositor.capture_info(scene, scene.camera))
    return inputs
