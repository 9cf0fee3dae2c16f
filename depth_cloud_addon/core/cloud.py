"""One frame -> its cloud arrays, the one rule for a depth file's kind, and the one depth-file converter.
Pure numpy (no bpy).

Shared by Build, the live sequence, Bake, the exports, the ground-truth operators and the CLI, so that
all of them make the same cloud from the same frame. Depth kinds: ``"planar"`` (Z along the view axis),
``"distance"`` (along the pixel's ray) or ``"auto"``. For a *file*, ``auto`` means what the file says it
holds (:func:`resolve_file_depth_kind`): its EXR header (``depthCloud.depthKind``, which every depth file
Depth Cloud writes carries), else the frame sidecar's record for that file name (``capture.depth_files``,
for the files Blender's File Output node writes), else what Cycles writes for the camera (planar for
perspective and orthographic cameras, distance for panoramic ones).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from .camera import CameraModel
from .errors import NoValidDepthError, ResolutionMismatchError
from .exr import ExrImage, read_exr, write_exr
from .frame_files import CaptureInfo, FrameInputs
from .geometry import (
    DEPTH_KINDS,
    ValidPoints,
    backproject_valid,
    convert_depth,
    depth_buffer_background,
    resolve_depth_kind,
    valid_depth_mask,
    valid_pixels,
)

__all__ = ["BuildOptions", "CloudArrays", "DepthFilesWritten", "FileDepthKind", "camera_facing_normals",
           "cloud_arrays", "read_cloud", "read_depth_file", "read_frame_depth", "resolve_file_depth_kind",
           "write_depth_kinds"]


@dataclass(frozen=True)
class FileDepthKind:
    """The kind a depth file's values are read as, and why."""

    kind: str                   # "planar" or "distance"
    source: str                 # "given" (asked for), "header", "sidecar" or "camera" (what Cycles writes for it)
    warning: str | None = None  # set when a given kind contradicts what the file records


def resolve_file_depth_kind(requested: str, header_kind: str | None, capture_kind: str | None,
                            camera: CameraModel, *, path="the depth file") -> FileDepthKind:
    """What a depth file holds: the one rule for ``"auto"`` on a file (every entry point goes through it).

    ``requested``: "auto", "planar" or "distance". ``header_kind``: the file's header record
    (``ExrImage.depth_kind``); ``capture_kind``: the frame sidecar's record for the file's name
    (``CaptureInfo.kind_of``); either may be None. ``auto`` takes the header's kind, else the sidecar's,
    else ``camera.natural_depth_kind()`` (what Cycles writes). A given kind wins; when it contradicts the
    file's record (header, else sidecar) the result carries a one-line ``warning`` naming ``path``.
    Raises ValueError for an unknown ``requested``.
    """
    if requested != "auto" and requested not in DEPTH_KINDS:
        raise ValueError(f"depth_kind must be 'auto', 'planar' or 'distance', got {requested!r}")
    if header_kind is not None:
        recorded, where = header_kind, "its EXR header"
    elif capture_kind is not None:
        recorded, where = capture_kind, "its sidecar"
    else:
        recorded, where = None, ""
    if requested != "auto":
        warning = None
        if recorded is not None and recorded != requested:
            warning = (f"{os.fspath(path)}: read as {requested} depth as asked, but {where} says it holds "
                       f"{recorded} depth")
        return FileDepthKind(requested, "given", warning)
    if recorded is not None:
        return FileDepthKind(recorded, "header" if header_kind is not None else "sidecar")
    return FileDepthKind(camera.natural_depth_kind(), "camera")


def read_depth_file(path, camera: CameraModel, capture: CaptureInfo | None = None, depth_kind: str = "auto", *,
                    view_layer: str | None = None, view_layer_required: bool = True) -> tuple[ExrImage, FileDepthKind]:
    """Read a depth file as what it holds: its depth (a rasteriser's far-plane "no hit" made background, when
    ``capture`` says EEVEE or Workbench wrote it) and its kind (:func:`resolve_file_depth_kind`, with the
    file's header and ``capture``'s record). ``view_layer``: see :func:`.exr.read_exr`. Every reader of
    depth files goes through here."""
    capture = capture or CaptureInfo()
    image = read_exr(path, view_layer=view_layer, view_layer_required=view_layer_required)
    if capture.depth_buffer_background and image.depth is not None:  # EEVEE: "no hit" is about clip_end
        image = dataclasses.replace(image, depth=depth_buffer_background(image.depth, camera))
    return image, resolve_file_depth_kind(depth_kind, image.depth_kind, capture.kind_of(image.path), camera,
                                          path=image.path)


def read_frame_depth(inputs: FrameInputs, depth_kind: str = "auto", *, view_layer: str | None = None,
                     view_layer_required: bool = True) -> tuple[ExrImage, FileDepthKind]:
    """A frame's depth file read by :func:`read_depth_file`, with the frame's camera and sidecar."""
    return read_depth_file(inputs.files.depth_path, inputs.camera, inputs.capture, depth_kind,
                           view_layer=view_layer, view_layer_required=view_layer_required)

@dataclass(frozen=True)
class BuildOptions:
    """What to make of a frame's pixels (every option of Build, sequences, Bake and ``convert``)."""

    stride: int = 1
    depth_range: tuple[float, float] | None = None
    depth_kind: str = "auto"
    space: str = "world"
    with_points: bool = True  # False for pixel faces, which need no points
    view_layer: str | None = None    # multilayer render EXRs: the view layer to read (None: the first)
    view_layer_required: bool = True  # False: a file without that layer reads its first one instead


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
    warnings: tuple[str, ...] = ()  # why this cloud may be off: capture warnings, a contradicted depth kind
    view_layer: str | None = None   # the view layer the depth came from (the file's, or the capture's), if known

    @property
    def points_world(self) -> np.ndarray:
        if self.space == "world":
            return self.points
        return _transform(self.points, self.camera.cam2world)

    @property
    def points_cam(self) -> np.ndarray:
        if self.space == "camera":
            return self.points
        return _transform(self.points, self.camera.world2cam)

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

    ``options.depth_kind`` "auto" is the file's kind by :func:`resolve_file_depth_kind`; a given kind that
    contradicts the file's record is used. The result's ``warnings`` hold everything that makes this cloud
    doubtful, for the user: that, and the frame's capture warnings (depth of field, motion blur).
    The EXR arrays are freed on return.
    """
    options = options or BuildOptions()
    files = inputs.files
    image, kind = read_frame_depth(inputs, options.depth_kind, view_layer=options.view_layer,
                                   view_layer_required=options.view_layer_required)
    color = image.color
    if files.color_path is not None:
        color = read_exr(files.color_path, require_depth=False).color
    cloud = cloud_arrays(image.depth, color, inputs.camera, stride=options.stride, depth_range=options.depth_range,
                         depth_kind=kind.kind, space=options.space, with_points=options.with_points)
    warnings = tuple(inputs.warnings) + ((kind.warning,) if kind.warning else ())
    return dataclasses.replace(cloud, warnings=warnings, view_layer=image.view_layer or inputs.capture.view_layer)


def camera_facing_normals(cloud: CloudArrays, start: int = 0, stop: int | None = None) -> np.ndarray:
    """(N, 3) float32 unit normals towards the camera: the direction each pixel was seen from (the
    camera's +Z axis for orthographic cameras), in the cloud's ``space``; of rows ``start:stop`` only,
    when given (an exporter streams them)."""
    camera = cloud.camera
    points = cloud.points[start:stop]
    if camera.projection == "ORTHO":
        axis = camera.cam2world[:3, 2] if cloud.space == "world" else np.array([0.0, 0.0, 1.0])
        return np.broadcast_to(axis.astype(np.float32), points.shape)
    centre = camera.cam2world[:3, 3] if cloud.space == "world" else np.zeros(3)
    normals = (centre - points).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals


@dataclass(frozen=True)
class DepthFilesWritten:
    """What :func:`write_depth_kinds` wrote, and from what."""

    depth_path: str
    paths: tuple[str, ...]        # the files written, in the order of ``outputs``
    source: FileDepthKind         # the input's kind, and why
    unchanged: tuple[str, ...]    # the kinds asked for that the input already had (written as identical copies)

    @property
    def notes(self) -> list[str]:
        """One line per output written unchanged, for the user."""
        return [f"{self.depth_path} is already {kind} depth: written unchanged" for kind in self.unchanged]

    @property
    def warnings(self) -> list[str]:
        """The given input kind contradicts the file's record (see :func:`resolve_file_depth_kind`)."""
        return [self.source.warning] if self.source.warning else []


def write_depth_kinds(depth_path, camera: CameraModel, outputs: dict[str, str], *, from_kind: str = "auto",
                      capture: CaptureInfo | None = None, view_layer: str | None = None) -> DepthFilesWritten:
    """Write ``depth_path``'s depth converted to each kind of ``outputs`` (kind -> path) as a
    one-channel (V) float32 EXR, NaN where nothing was hit, its kind recorded in its header
    (``depthCloud.depthKind``). The depth file is read once.

    ``from_kind``: the input's kind; "auto" by :func:`resolve_file_depth_kind` (the file's header, else
    ``capture``'s record for its name, else what Cycles writes for ``camera``). An output of the kind the
    input already has is written all the same, as an identical copy (NaN where nothing was hit), and listed
    in the result's ``unchanged``. ``view_layer``: the layer to read from a multilayer render EXR (see
    :func:`.exr.read_exr`; a layer the file lacks is an error).
    """
    depth_path = os.fspath(depth_path)
    image, source = read_depth_file(depth_path, camera, capture, from_kind, view_layer=view_layer)
    written = []
    for to_kind, out_path in outputs.items():
        write_exr(out_path, {"V": convert_depth(image.depth, camera, from_kind=source.kind, to_kind=to_kind)},
                  depth_kind=to_kind)
        written.append(out_path)
    return DepthFilesWritten(depth_path, tuple(written), source,
                             tuple(kind for kind in outputs if kind == source.kind))
