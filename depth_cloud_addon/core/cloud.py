"""One frame -> its cloud arrays, and the one depth-file converter. Pure numpy (no bpy).

Shared by Build, the live sequence, Bake, the exports and the CLI, so that all of them make the
same cloud from the same frame. Depth kinds: ``"planar"`` (Z along the view axis), ``"distance"``
(along the pixel's ray) or ``"auto"`` (what Cycles writes for the camera: planar for perspective
and orthographic cameras, distance for panoramic ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import CameraModel
from .errors import NoValidDepthError, ResolutionMismatchError
from .exr import read_exr, write_exr
from .frame_files import FrameInputs
from .geometry import ValidPoints, backproject_valid, convert_depth, resolve_depth_kind, valid_depth_mask, valid_pixels

__all__ = ["BuildOptions", "CloudArrays", "camera_facing_normals", "cloud_arrays", "read_cloud",
           "write_depth_kinds"]

@dataclass(frozen=True)
class BuildOptions:
    """What to make of a frame's pixels (every option of Build, sequences, Bake and ``convert``)."""

    stride: int = 1
    depth_range: tuple[float, float] | None = None
    depth_kind: str = "auto"
    space: str = "world"
    with_points: bool = True  # False for pixel faces, which need no points


@dataclass(frozen=True)
class CloudArrays:
    """Valid pixels only, in row-major pixel order. ``points`` are in ``space`` ("world" or "camera":
    Blender's camera frame, x right, y up, -Z forward); :attr:`points_world` / :attr:`points_cam` name
    the frame."""

    points: np.ndarray     # (N, 3) float32, metres, in ``space``
    colors: np.ndarray     # (N, 4) float32, linear premultiplied RGBA (white if the frame has no color)
    radii: np.ndarray      # (N,) float32, metres: half the (strided) pixel footprint at the point's depth
    rows: np.ndarray       # (N,) int32: the pixel each point comes from
    cols: np.ndarray       # (N,) int32
    depths: np.ndarray     # (N,) float32: the pixel's depth value (of ``depth_kind``)
    depth_kind: str        # "planar" or "distance" (resolved)
    stride: int            # every stride-th pixel was kept
    camera: CameraModel
    space: str

    @property
    def points_world(self) -> np.ndarray:
        if self.space == "world":
            return self.points
        return _transform(self.points, self.camera.cam2world)

    @property
    def points_cam(self) -> np.ndarray:
        if self.space == "camera":
            return self.points
        return _transform(self.points, np.linalg.inv(self.camera.cam2world))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.points, self.colors, self.radii, self.rows, self.cols, self.depths))


def _transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, np.float64)
    return (points @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)


def cloud_arrays(depth: np.ndarray, color: np.ndarray | None, camera: CameraModel, *, stride: int = 1,
                 depth_range: tuple[float, float] | None = None, depth_kind: str = "auto",
                 space: str = "world", with_points: bool = True) -> CloudArrays:
    """Back-project every ``stride``-th pixel (rows and columns) of a frame's (H, W) ``depth``.

    ``depth_range``: keep pixels whose depth value (of ``depth_kind``) lies in ``[near, far]``.
    ``color``: (H, W, 4) or None. ``with_points=False`` skips the points and radii (empty arrays):
    pixel faces need only the valid pixels and their depths. Raises :class:`NoValidDepthError` when
    nothing is left.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if color is not None and color.shape[:2] != depth.shape:
        raise ResolutionMismatchError(
            f"color is {color.shape[1]}x{color.shape[0]} px but depth is {depth.shape[1]}x{depth.shape[0]} px"
        )
    mask = None
    if depth_range is not None:
        near, far = depth_range
        with np.errstate(invalid="ignore"):
            mask = (depth >= near) & (depth <= far)
    if stride > 1:
        strided = np.zeros(depth.shape, bool)
        strided[::stride, ::stride] = True
        mask = strided if mask is None else mask & strided
    if with_points:
        valid = backproject_valid(depth, camera, depth_kind=depth_kind, space=space, mask=mask)
    else:
        keep = valid_depth_mask(depth, camera, depth_kind=depth_kind)
        if mask is not None:
            keep &= mask
        rows, cols = valid_pixels(keep)
        valid = ValidPoints(np.zeros((0, 3), np.float32), rows, cols, np.zeros(0, np.float32))
    if valid.rows.size == 0:
        raise NoValidDepthError("no pixel is left to build: every pixel is background, outside the clip range"
                                + (" or outside the depth range" if depth_range else "")
                                + (f" or skipped by stride {stride}" if stride > 1 else ""))
    if valid.rows.size == depth.size:  # every pixel is valid: row-major views, no gathers
        colors = color.reshape(-1, 4) if color is not None else None
        depths = depth.reshape(-1).astype(np.float32, copy=False)
    else:
        colors = color[valid.rows, valid.cols] if color is not None else None
        depths = depth[valid.rows, valid.cols].astype(np.float32, copy=False)
    if colors is None:
        colors = np.ones((valid.rows.size, 4), np.float32)
    radii = valid.footprint * np.float32(0.5 * stride)
    return CloudArrays(valid.points, colors.astype(np.float32, copy=False), radii, valid.rows, valid.cols,
                       depths, resolve_depth_kind(depth_kind, camera), stride, camera, space)


def read_cloud(inputs: FrameInputs, options: BuildOptions | None = None) -> CloudArrays:
    """The cloud of one frame: its depth EXR (its own color, or the color file's) seen by its camera.

    The EXR arrays are freed on return.
    """
    options = options or BuildOptions()
    files = inputs.files
    image = read_exr(files.depth_path)
    color = image.color
    if files.color_path is not None:
        color = read_exr(files.color_path, require_depth=False).color
    return cloud_arrays(image.depth, color, inputs.camera, stride=options.stride, depth_range=options.depth_range,
                        depth_kind=options.depth_kind, space=options.space, with_points=options.with_points)


def camera_facing_normals(cloud: CloudArrays) -> np.ndarray:
    """(N, 3) float32 unit normals towards the camera: the direction each pixel was seen from (the
    camera's +Z axis for orthographic cameras), in the cloud's ``space``."""
    camera = cloud.camera
    if camera.projection == "ORTHO":
        axis = camera.cam2world[:3, 2] if cloud.space == "world" else np.array([0.0, 0.0, 1.0])
        return np.broadcast_to(axis.astype(np.float32), cloud.points.shape)
    centre = camera.cam2world[:3, 3] if cloud.space == "world" else np.zeros(3)
    normals = (centre - cloud.points).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals


def write_depth_kinds(depth_path, camera: CameraModel, outputs: dict[str, str], *,
                      from_kind: str = "auto") -> list[str]:
    """Write ``depth_path``'s depth converted to each kind of ``outputs`` (kind -> path) as a
    one-channel (V) float32 EXR, NaN where nothing was hit. The depth file is read once.

    ``from_kind``: the input's kind ("auto": what Cycles writes for ``camera``). Returns the paths written.
    """
    from_kind = camera.natural_depth_kind() if from_kind == "auto" else from_kind
    depth = read_exr(depth_path).depth
    written = []
    for to_kind, out_path in outputs.items():
        write_exr(out_path, {"V": convert_depth(depth, camera, from_kind=from_kind, to_kind=to_kind)})
        written.append(out_path)
    return written
