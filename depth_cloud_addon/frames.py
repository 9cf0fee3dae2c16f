"""One frame's inputs (files + camera) and its cloud arrays: shared by Build, the live sequence and Bake.

Only ``frame_inputs`` touches Blender data (the scene camera, when a frame has no sidecar); the rest
is plain Python and numpy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import sources
from .core import CameraModel, DepthCloudError, convert_depth, read_exr, write_exr
from .pipeline import CloudArrays, cloud_arrays


@dataclass(frozen=True)
class BuildOptions:
    stride: int = 1
    depth_range: tuple[float, float] | None = None
    depth_kind: str = "auto"
    space: str = "world"
    with_points: bool = True  # False for pixel faces, which need no points


@dataclass(frozen=True)
class FrameInputs:
    frame: int
    files: sources.FrameSources
    camera: CameraModel
    camera_note: str  # where the camera came from, for the user
    signature: tuple  # changes when any input changes (paths, modification times, camera)

    @property
    def uses_scene_camera(self) -> bool:
        return self.files.camera_path is None


def _mtime(path: str | None) -> float | None:
    return os.stat(path).st_mtime_ns if path else None


def frame_inputs(scene, source: str, from_setup: bool, frame: int) -> FrameInputs:
    """Resolve ``frame``'s files under ``source`` (absolute folder or ``#`` pattern) and its camera.

    The camera is the frame's sidecar if there is one, else the scene camera as it is now (evaluate the
    frame first). Raises :class:`DepthCloudError` for a missing depth file, an unreadable sidecar or
    no camera at all.
    """
    files = sources.resolve(source, frame, from_setup=from_setup)
    if files.camera_path is not None:
        try:
            with open(files.camera_path, encoding="utf-8") as f:
                camera = CameraModel.from_json(f.read())
        except OSError as exc:
            raise DepthCloudError(f"cannot read the camera sidecar {files.camera_path}: {exc.strerror}") from None
        note = f"camera from {os.path.basename(files.camera_path)}"
        camera_key = None
    else:
        if scene.camera is None:
            raise DepthCloudError("no camera sidecar next to the depth file and the scene has no camera")
        camera = CameraModel.from_blender(scene.camera, scene)
        note = f"no camera sidecar: used the scene camera '{scene.camera.name}' at frame {frame}"
        camera_key = camera.to_json()
    signature = (files.depth_path, _mtime(files.depth_path), files.color_path, _mtime(files.color_path),
                 files.camera_path, _mtime(files.camera_path), camera_key)
    return FrameInputs(frame, files, camera, note, signature)


def load_cloud(inputs: FrameInputs, options: BuildOptions) -> CloudArrays:
    """Read the frame's EXRs and back-project them; the EXR arrays are freed on return."""
    return read_cloud(inputs.files.depth_path, inputs.files.color_path, inputs.camera, options)


def read_cloud(depth_path: str, color_path: str | None, camera: CameraModel, options: BuildOptions) -> CloudArrays:
    """The cloud of one depth EXR (its own color, or ``color_path``'s) seen by ``camera``."""
    image = read_exr(depth_path)
    color = image.color
    if color_path is not None:
        color = read_exr(color_path, require_depth=False).color
    return cloud_arrays(image.depth, color, camera, stride=options.stride, depth_range=options.depth_range,
                        depth_kind=options.depth_kind, space=options.space, with_points=options.with_points)


def convert_depth_file(depth_path: str, camera: CameraModel, out_path: str, *, from_kind: str = "auto",
                       to_kind: str) -> None:
    """Write ``depth_path``'s depth converted to ``to_kind`` as a one-channel (V) float32 EXR."""
    from_kind = camera.natural_depth_kind() if from_kind == "auto" else from_kind
    converted = convert_depth(read_exr(depth_path).depth, camera, from_kind=from_kind, to_kind=to_kind)
    write_exr(out_path, {"V": converted})
