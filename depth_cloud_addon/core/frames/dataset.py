"""Rendered frames -> a dataset that trains as it is: nerfstudio, COLMAP and 3D Gaussian Splatting in one folder.

Pure numpy (+ OpenEXR through the core, + zlib); never imports ``bpy``. :func:`export_dataset` writes, in
``out_dir`` (every file atomically, through :mod:`.atomic`):

* ``images/frame_NNNN.png``: the frame's colour, 8-bit sRGB (:func:`.ply.linear_to_srgb8`, the one sRGB
  rule). When the film is transparent (some alpha in the sequence would encode below 255) every image is
  RGBA with straight alpha: the linear premultiplied colour is divided by alpha before encoding (0 where
  alpha is 0); otherwise RGB of the colour as it is.
* ``depth/frame_NNNN.png``: 16-bit greyscale, **planar** depth in **millimetres** (nerfstudio's default
  ``depth_unit_scale_factor`` 1e-3), rounded; 0 where the depth is not valid (background, non-finite,
  outside the clip range), at least 1 where it is, clipped to 65535 (65.535 m; :attr:`DatasetResult.warnings`
  counts the clipped pixels). Beside it ``depth/frame_NNNN.exr``: the exact float32 planar depth in metres
  (channel ``V``, NaN where not valid, ``depthCloud.depthKind = planar`` in its header). The depth maps are
  the frames' depth: :class:`.cloud.BuildOptions` (stride, depth range, dropped edges) shape the point cloud only.
* ``masks/frame_NNNN.png``: only with a transparent film: 8-bit, 255 where alpha >= 0.5 (the pixel is mostly
  covered: train on it), 0 elsewhere.
* ``sparse_pc.ply``: the initial point cloud: every frame's points fused on a voxel grid (the exact voxel sums of
  :mod:`.fusion`, each frame's merged in),
  colours un-premultiplied and written as sRGB ``uchar`` by :func:`.ply.write_ply`.
* ``splats.ply``: the same points as 3D Gaussians in the reference 3DGS layout at SH degree 3 (see
  :mod:`..formats.splats`): a flat disc facing the camera that saw the point from closest, of the point's radius
  (the covering radius of its pixel footprint, at least that of a voxel's face: ``CloudArrays.radii``) across
  and 1 % of that thick, opacity 0.9.
* ``colmap/sparse/0/{cameras,images,points3D}.bin`` (:mod:`..formats.colmap`; ``.txt`` with
  ``colmap_format="text"``): one PINHOLE camera per distinct intrinsics, one image per frame (named
  ``frame_NNNN.png``, in ``images/``), the fused points with their tracks. This is where nerfstudio's
  ``colmap`` data parser looks by default (``colmap_path = colmap/sparse/0``, ``images_path = images``).
* ``transforms.json``: nerfstudio's layout, by :func:`.camera_export.nerfstudio_transforms` (``OPENCV``,
  per-frame intrinsics when they differ), plus ``depth_file_path`` and, with alpha, ``mask_path`` per frame
  and ``ply_file_path`` = ``sparse_pc.ply``; every path relative to ``out_dir`` with ``/``. Written last.

Conventions:

* **COLMAP pixels**: the top-left corner of the image is (0, 0) and the centre of the top-left pixel is
  (0.5, 0.5) (COLMAP's ``doc/database.rst``: "COLMAP uses the convention that the upper left image corner
  has coordinate (0, 0) and the center of the upper left most pixel has coordinate (0.5, 0.5)"; pycolmap's
  default principal point of a W-wide camera is W / 2). That is Depth Cloud's own convention, so
  PINHOLE's ``fx, fy, cx, cy`` are :meth:`CameraModel.intrinsics_px` unchanged (not
  :func:`.camera_export.opencv_intrinsics`, whose centres are 0.5 smaller), and a 2D point is
  :func:`.geometry.project` unchanged.
* **COLMAP poses**: ``images`` hold world-to-camera ``[R | t]`` in OpenCV/COLMAP camera axes
  (:func:`.camera_export.extrinsics` ``world2cam_opencv``), R as the unit quaternion ``qw qx qy qz`` with qw >= 0.
* **Tracks**: a fused point (a voxel's mean) is observed in every image in which it is *visible*: it projects
  inside the image, in front of the camera, and the frame's planar depth there (:func:`.passes.sample_depth`: 1/Z
  interpolated on smooth surfaces) is the point's own depth within :data:`VISIBILITY_VOXELS` voxel sizes plus
  :data:`VISIBILITY_PIXELS` pixel footprints (a point behind the frame's surface is hidden in it). The 2D point is
  the projection itself (COLMAP's pixel convention is ours), so the model is at its optimum: COLMAP's
  ``bundle_adjuster`` moves nothing. ``points3D`` holds the points with a track of at least
  :data:`MIN_TRACK_LENGTH` images (COLMAP cannot refine a point seen once: its bundle adjuster aborts on one);
  the others are in the PLYs only. Each point's ``error`` is its mean reprojection error in pixels computed from
  the model as written (the stored pose's quaternion and the PINHOLE camera: about 1e-12 px).
  ``point3D_id`` is the point's row in ``sparse_pc.ply`` + 1, image ids are the frames' positions + 1, camera
  ids count from 1 in order of first use.
* **Voxel size** (``voxel_size=0``, automatic): a power of two in metres: the largest power of two not above
  the median pixel footprint of the first frame (so voxels hold about one pixel of each view), doubled while
  the fused cloud would have more than ``max_points`` points (default :data:`AUTO_MAX_POINTS`; a doubling
  divides a surface's voxels by about 4, so the cloud ends with max_points / 4 to max_points points unless the
  frames have fewer). Exact: the count is that of the occupied voxels of every point, not an estimate.
* **Splats** (:mod:`..formats.splats` has the values): the sRGB colour is the ``uchar`` of ``sparse_pc.ply``;
  each disc faces the unit direction from the point to the centre of the nearest camera among the frames in which
  it is visible (its track; for a point visible in none, among the frames whose pixels made it).

Input rules: perspective cameras only (COLMAP's PINHOLE; orthographic and panoramic frames raise
:class:`CameraError`), every frame needs a colour image (``color_NNNN.exr`` or the depth file's own) and at
least one valid depth pixel. **A bad frame writes nothing**: every frame is read and checked (camera, sizes,
colour, depth, voxel extent) before the first file is written, and the first bad one raises its
:class:`DepthCloudError` (one line, naming the file); ``out_dir`` is not even created.

**The folder is written whole**: the dataset is written into a hidden folder beside ``out_dir``
(``.NAME.<host>~<pid>-<random>.tmp``, :func:`..atomic.staging_folder`) and swapped in at the end
(:func:`..atomic.replace_folder`), so the previous dataset there stays intact until then and nothing of it is
left beside the new one (another shot's ``.bin`` model beside a ``.txt`` one); a run that is stopped removes its
staged folder, one that is killed leaves it for the next run to remove. One run at a time writes a folder (a lock
beside it, ``.NAME.lock``, that a dead run does not hold: a second run is refused in one line). An existing
``out_dir`` must be empty or a dataset (tagged by :data:`DATASET_TAG`, or holding only what a dataset holds), and
no input may lie inside it: both are refused (:class:`OutputError`) before any frame is read.

The frames are read up to three times (check, write, tracks); what fits in :data:`CACHE_BYTES` is read once.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import math
import os
import shutil
from dataclasses import dataclass

import numpy as np

from ..atomic import FolderBusyError, folder_lock, replace_folder, staging_folder
from ..errors import CameraError, DepthCloudError, NoValidDepthError, OutputError, ResolutionMismatchError
from ..formats.camera_export import extrinsics, nerfstudio_transforms, write_json
from ..formats.colmap import COLMAP_FORMATS, TRACK_ELEMENT, ColmapImage, write_colmap_model
from ..formats.exr import read_exr, write_exr
from ..formats.ply import linear_to_srgb8, write_ply
from ..formats.png import write_png
from ..formats.splats import write_splats
from ..formats.survey import quaternion_matrix
from ..geometry.projection import (
    convert_depth,
    project,
    rotation_to_quaternion,
    size_mismatch_message,
    valid_depth_mask,
)
from ..geometry.voxel import (
    ExactVoxelAccumulator,
    VoxelExtentError,
    pack_voxel_indices,
    unpack_voxel_keys,
    voxel_keys,
)
from .cloud import BuildOptions, CloudArrays, frame_input_paths, read_cloud
from .depth import read_frame_depth
from .export import InputSet, check_output_folder
from .files import FrameInputs
from .loop import FrameOutcome, walk_frames
from .passes import sample_depth

__all__ = ["AUTO_MAX_POINTS", "DATASET_TAG", "DatasetResult", "MIN_TRACK_LENGTH", "VISIBILITY_PIXELS",
           "VISIBILITY_VOXELS", "auto_voxel_size", "export_dataset"]

#: Automatic voxel size: the fused cloud gets at most this many points.
AUTO_MAX_POINTS = 1_000_000
#: A fused point is visible in a frame when the frame's depth where it projects is within this many voxel sizes
#: plus :data:`VISIBILITY_PIXELS` pixel footprints of the point's own depth.
VISIBILITY_VOXELS = math.sqrt(3.0)
VISIBILITY_PIXELS = 2.0
#: points3D holds the points with a track of at least this many images (COLMAP cannot refine a point seen once).
MIN_TRACK_LENGTH = 2
#: Depth PNG units per metre (millimetres) and its largest value.
DEPTH_PNG_SCALE = 1000.0
DEPTH_PNG_MAX = 65535
#: Alpha at or above which a pixel is kept in ``masks/``.
MASK_MIN_ALPHA = 0.5
#: Bytes of frame data (clouds and images) kept in memory between the passes.
CACHE_BYTES = 512 << 20
_ROTATION_TOLERANCE = 1e-6


@dataclass(frozen=True)
class DatasetResult:
    """What :func:`export_dataset` wrote: counts, the voxel size, and paths (``*_path``/``colmap_dir``: joined
    to ``out_dir`` as given; ``image_paths``/``depth_paths``/``mask_paths``: relative to it, with ``/``)."""

    out_dir: str
    frames: int                 # frames exported (= images)
    images: int                 # images written (and COLMAP images)
    points: int                 # fused points: rows of sparse_pc.ply and splats.ply
    colmap_points: int          # points3D: the points with a track of MIN_TRACK_LENGTH images or more
    observations: int           # 2D points of every image (= the sum of the track lengths)
    cameras: int                # COLMAP cameras (distinct intrinsics)
    voxel_size: float           # metres
    voxel_size_auto: bool       # True: chosen by :func:`auto_voxel_size`
    has_alpha: bool             # RGBA images and masks were written
    transforms_path: str
    sparse_pc_path: str
    splats_path: str
    colmap_dir: str
    image_paths: tuple[str, ...]
    depth_paths: tuple[str, ...]
    mask_paths: tuple[str, ...]  # empty without alpha
    warnings: tuple[str, ...] = ()

    @property
    def mean_track_length(self) -> float:
        return self.observations / self.colmap_points if self.colmap_points else 0.0


# -- input checks ----------------------------------------------------------------------------


def _named(path: str, exc: DepthCloudError) -> DepthCloudError:
    """``exc`` with ``path`` at the start of its message (unless it names it already), same type."""
    text = str(exc)
    return exc if path in text else type(exc)(f"{path}: {text}")


def _where(inputs: FrameInputs) -> str:
    return inputs.files.camera_path or inputs.files.depth_path


def _check_camera(inputs: FrameInputs) -> None:
    camera = inputs.camera
    if camera.projection != "PERSP":
        kind = camera.panorama_type if camera.projection == "PANO" else "ORTHO"
        raise CameraError(f"{_where(inputs)}: the camera is {kind}; a dataset needs perspective cameras "
                          "(COLMAP's PINHOLE, nerfstudio's OPENCV)")
    rotation = camera.cam2world[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=_ROTATION_TOLERANCE):
        raise CameraError(f"{_where(inputs)}: the camera's matrix is sheared (its axes are not perpendicular), "
                          "which COLMAP's rotation + translation cannot hold")
    if np.linalg.det(rotation) < 0:
        raise CameraError(f"{_where(inputs)}: the camera's matrix is mirrored (a negative scale), "
                          "which COLMAP's rotation + translation cannot hold")


def _frame_names(frames: list[FrameInputs]) -> list[str]:
    """``frame_NNNN`` of each frame: its frame number (Blender's 4-digit run), else its position + 1."""
    names = []
    for index, inputs in enumerate(frames):
        number = inputs.frame if inputs.frame is not None else inputs.camera.frame
        names.append(f"frame_{(index + 1) if number is None else number:04d}")
    seen: dict[str, str] = {}
    for name, inputs in zip(names, frames):
        if name in seen:
            raise DepthCloudError(f"{inputs.files.depth_path}: two frames would both be {name} "
                                  f"(the other is {seen[name]}); give each frame its own number")
        seen[name] = inputs.files.depth_path
    return names


# -- reading frames --------------------------------------------------------------------------


@dataclass(frozen=True)
class _FrameImages:
    planar: np.ndarray   # (H, W) float32 metres, NaN where not valid
    color: np.ndarray    # (H, W, 4) float32 linear premultiplied RGBA

    @property
    def nbytes(self) -> int:
        return self.planar.nbytes + self.color.nbytes


class _Frames:
    """Reads a frame's cloud and images (the check pass raises the first bad frame's error), keeping what fits
    in :data:`CACHE_BYTES` for the later passes."""

    def __init__(self, frames: list[FrameInputs], build: BuildOptions):
        self.frames, self.build = frames, build
        self._cache: dict[tuple[str, int], object] = {}
        self._bytes = 0

    def _read(self, kind: str, index: int, reader):
        """``reader(inputs, build)`` of frame ``index``, kept while the cache has room; errors name the file."""
        key = (kind, index)
        if key in self._cache:
            return self._cache[key]
        inputs = self.frames[index]
        try:
            value = reader(inputs, self.build)
        except DepthCloudError as exc:
            raise _named(inputs.files.depth_path, exc) from None
        if self._bytes + value.nbytes <= CACHE_BYTES:
            self._cache[key] = value
            self._bytes += value.nbytes
        return value

    def cloud(self, index: int) -> CloudArrays:
        return self._read("cloud", index, read_cloud)

    def images(self, index: int) -> _FrameImages:
        return self._read("images", index, _read_images)


def _read_images(inputs: FrameInputs, build: BuildOptions) -> _FrameImages:
    """The frame's planar depth (NaN where not valid) and its full colour image (the colour file's, else the
    depth file's own), by the rules :func:`.cloud.read_cloud` reads them with."""
    camera = inputs.camera
    image, kind = read_frame_depth(inputs, build.depth_kind, view_layer=build.view_layer,
                                   view_layer_required=build.view_layer_required)
    valid = valid_depth_mask(image.depth, camera, depth_kind=kind.kind)  # checks the size against the camera
    planar = convert_depth(image.depth, camera, from_kind=kind.kind, to_kind="planar").astype(np.float32)
    planar[~(valid & np.isfinite(planar))] = np.nan
    color = image.color
    if inputs.files.color_path is not None:
        try:
            color = read_exr(inputs.files.color_path, require_depth=False).color
        except DepthCloudError as exc:
            raise _named(inputs.files.color_path, exc) from None
    if color is None:
        raise DepthCloudError(f"{inputs.files.depth_path}: no colour image (a dataset needs the render: "
                              "color_NNNN.exr beside the depth file, or a render EXR with its Combined pass)")
    if color.shape[:2] != camera.shape:
        where = inputs.files.color_path or inputs.files.depth_path
        raise ResolutionMismatchError(f"{where}: {size_mismatch_message(color.shape, camera, 'colour image')}")
    return _FrameImages(planar, np.asarray(color, np.float32))


def _has_alpha(color: np.ndarray) -> bool:
    """Some pixel's alpha would encode below 255 in 8 bits."""
    return bool((color[..., 3] < 1.0 - 0.5 / 255.0).any())


# -- voxel size ------------------------------------------------------------------------------


class _VoxelGrid:
    """The occupied voxels of every point added, at a fixed size or (``max_points``) the finest power-of-two
    size from the first frame's median pixel footprint up that keeps them at most ``max_points``.

    Sizes are powers of two and the origin 0, so the voxel of a coarser level is the finer index shifted
    right by one bit (``floor(floor(p / s) / 2) = floor(p / 2s)``, exactly in float64): the occupied
    voxels are coarsened in place, never recomputed from the points."""

    def __init__(self, voxel_size: float = 0.0, max_points: int | None = None):
        self.size: float | None = voxel_size if voxel_size > 0 else None
        self.max_points = max_points
        self.keys = np.zeros(0, np.int64)

    def add(self, points: np.ndarray, radii: np.ndarray) -> None:
        if self.size is None:
            footprint = 2.0 * float(np.median(radii))
            self.size = 2.0 ** math.floor(math.log2(footprint)) if math.isfinite(footprint) and footprint > 0 \
                else 2.0 ** -10
        while True:
            try:
                frame_keys = _sorted_unique(voxel_keys(points, self.size))
                break
            except VoxelExtentError:
                if self.max_points is None:
                    raise
                self._coarsen()
        self.keys = _sorted_unique(np.concatenate([self.keys, frame_keys]))
        while self.max_points is not None and self.keys.size > self.max_points:
            self._coarsen()

    def _coarsen(self) -> None:
        # >> floors negative indices too
        assert self.size is not None  # set by the first add(), the only caller
        self.keys = _sorted_unique(pack_voxel_indices(unpack_voxel_keys(self.keys) >> 1))
        self.size *= 2.0


def auto_voxel_size(clouds, max_points: int = AUTO_MAX_POINTS) -> float:
    """The automatic voxel size of :func:`export_dataset` for an iterable of world-space clouds
    (:class:`CloudArrays`, or ``(points, radii)`` pairs): see the module docstring."""
    grid = _VoxelGrid(0.0, max_points)
    for cloud in clouds:
        points, radii = (cloud.points_world, cloud.radii) if isinstance(cloud, CloudArrays) else cloud
        grid.add(np.asarray(points), np.asarray(radii))
    if grid.size is None:
        raise NoValidDepthError("auto_voxel_size: no cloud given")
    return grid.size


# -- tracks ----------------------------------------------------------------------------------


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (a plain sort: faster than numpy 2's hashing ``np.unique`` here)."""
    values = np.sort(values)
    return values[np.append(True, values[1:] != values[:-1])] if values.size else values


def _made_by(cloud: CloudArrays, fused_keys: np.ndarray, voxel_size: float) -> np.ndarray:
    """The fused rows this frame's pixels made, ascending."""
    keys = voxel_keys(cloud.points_world, voxel_size)
    slot: np.ndarray = np.searchsorted(fused_keys, keys)  # plain ndarray: numpy's int array max() stubs at 3.11
    if slot.size and (slot.max() >= fused_keys.size or not np.array_equal(fused_keys[slot], keys)):
        raise RuntimeError("export_dataset: a pixel's voxel is not in the fused cloud (the passes disagree)")
    return _sorted_unique(slot)


def _visible(points: np.ndarray, camera, planar: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The fused points (rows of ``points`` (P, 3) float64, world) visible in a frame, and their projections
    (K, 2): in front of its camera, inside its image, and at the depth the frame holds there (its planar depth
    ``planar``, NaN where not valid, read at the projection by :func:`.passes.sample_depth`) within
    :data:`VISIBILITY_VOXELS` voxels plus :data:`VISIBILITY_PIXELS` pixel footprints (a point behind a surface of
    the frame is hidden in it)."""
    xy = project(points, camera)
    with np.errstate(invalid="ignore"):
        inside = np.flatnonzero((xy[:, 0] >= 0) & (xy[:, 0] < camera.width_px) & (xy[:, 1] >= 0)
                                & (xy[:, 1] < camera.height_px))
    world2cam = camera.world2cam
    z = -(points[inside] @ world2cam[2, :3] + world2cam[2, 3])  # planar depth in this camera
    depth = sample_depth(planar, camera, "planar", xy[inside])
    fx, fy, _, _ = camera.intrinsics_px()
    tolerance = VISIBILITY_VOXELS * voxel_size + VISIBILITY_PIXELS * z / math.sqrt(fx * fy)
    with np.errstate(invalid="ignore"):
        seen = inside[(z > 0) & (np.abs(z - depth) <= tolerance)]
    return seen, xy[seen]


def _reprojection_errors(xyz: np.ndarray, images: list[ColmapImage], cameras: dict[int, tuple],
                         rows_of: list[np.ndarray]) -> np.ndarray:
    """Each point's mean reprojection error in pixels, as COLMAP computes it from the model as written: the point
    ``xyz`` (P, 3) through each observing image's stored pose (quaternion, translation) and PINHOLE camera, against
    the stored 2D point; ``rows_of[i]``: the point row of each of image i's 2D points."""
    total = np.zeros(len(xyz))
    count = np.zeros(len(xyz))
    for image, rows in zip(images, rows_of):
        if not len(rows):
            continue
        fx, fy, cx, cy = cameras[image.camera_id]
        cam = xyz[rows] @ quaternion_matrix(image.qvec).T + image.tvec
        error = np.hypot(fx * cam[:, 0] / cam[:, 2] + cx - image.xy[:, 0],
                         fy * cam[:, 1] / cam[:, 2] + cy - image.xy[:, 1])
        total += np.bincount(rows, weights=error, minlength=len(xyz))
        count += np.bincount(rows, minlength=len(xyz))
    return np.divide(total, count, out=np.zeros(len(xyz)), where=count > 0)


# -- the export ------------------------------------------------------------------------------


def _straight(colors: np.ndarray) -> np.ndarray:
    """Linear premultiplied RGBA (..., 4) -> straight linear RGB (..., 3): divided by alpha, 0 where alpha <= 0."""
    alpha = colors[..., 3:4]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(alpha > 0, colors[..., :3] / np.where(alpha > 0, alpha, 1.0), 0.0).astype(np.float32)


@dataclass(frozen=True)
class _FrameWritten:
    """A frame's files are written: its depth pixels clipped in the 16-bit PNG, and its exact voxel sums."""

    clipped: int
    grid: ExactVoxelAccumulator


def _write_frame(images: _FrameImages, cloud: CloudArrays, out_dir: str, paths, size: float) -> _FrameWritten:
    """Write one frame's image, depth PNG and EXR (and mask: ``paths`` = image, depth, mask or None) into
    ``out_dir``; sum its cloud into an exact voxel grid of ``size``."""
    image_path, depth_path, mask_path = paths
    alpha = np.clip(images.color[..., 3], 0.0, 1.0)
    if mask_path is not None:  # a transparent film
        rgba = np.concatenate([linear_to_srgb8(_straight(images.color)),
                               np.rint(alpha * 255.0).astype(np.uint8)[..., None]], axis=-1)
        write_png(os.path.join(out_dir, image_path), rgba)
        mask = np.where(alpha >= MASK_MIN_ALPHA, 255, 0).astype(np.uint8)
        write_png(os.path.join(out_dir, mask_path), mask)
    else:
        write_png(os.path.join(out_dir, image_path), linear_to_srgb8(images.color[..., :3]))
    valid = np.isfinite(images.planar)
    millimetres = np.rint(np.where(valid, images.planar.astype(np.float64), 0.0) * DEPTH_PNG_SCALE)
    clipped = int(np.count_nonzero(millimetres > DEPTH_PNG_MAX))
    millimetres = np.where(valid, np.clip(millimetres, 1, DEPTH_PNG_MAX), 0).astype(np.uint16)
    write_png(os.path.join(out_dir, depth_path), millimetres)
    write_exr(os.path.join(out_dir, depth_path[:-4] + ".exr"), {"V": images.planar}, depth_kind="planar")
    grid = ExactVoxelAccumulator(size)
    grid.add(cloud.points_world, cloud.colors, cloud.radii)  # Fusion's sums (the voxels were checked above)
    return _FrameWritten(clipped, grid)


def _read_and_write_frame(build: BuildOptions, out_dir: str, size: float, item) -> _FrameWritten:
    """:func:`_write_frame` as a task of an executor: the worker reads the frame itself (``item``: index, inputs,
    paths); errors name the file, as the check pass does."""
    _index, inputs, *paths = item
    frame = _Frames([inputs], build)
    return _write_frame(frame.images(0), frame.cloud(0), out_dir, paths, size)


def export_dataset(frames: list[FrameInputs], out_dir, *, voxel_size: float = 0.0, colmap_format: str = "binary",
                   build: BuildOptions | None = None, max_points: int = AUTO_MAX_POINTS,
                   executor: concurrent.futures.Executor | None = None) -> DatasetResult:
    """Write ``frames`` as a training dataset in ``out_dir`` (see the module docstring for every file and
    convention); returns what was written.

    ``voxel_size``: metres of the fusion grid, 0 for the automatic size (a power of two, the cloud at most
    ``max_points`` points). ``colmap_format``: "binary" (``.bin``) or "text" (``.txt``). ``build``: how the
    frames' pixels make the cloud (stride, depth range, depth kind, view layer, dropped edges); its ``space``
    and ``attributes`` are ignored (world space, no attributes). A bad frame raises its
    :class:`DepthCloudError` before anything is written (``out_dir`` is not created).

    ``executor``: any :class:`concurrent.futures.Executor` (a process pool, Dask's ``client.get_executor()``,
    ...): each frame's images, depth maps and masks are then read and written by its task into the staged folder
    beside ``out_dir`` (the workers see it at the same path), and their voxel sums merged exactly: the same bytes
    as without it. The check and the tracks read the frames here.
    """
    frames = list(frames)
    if not frames:
        raise DepthCloudError("export_dataset needs at least one frame")
    if any(not isinstance(f, FrameInputs) for f in frames):
        raise DepthCloudError("export_dataset: frames must be FrameInputs (see frame_files.frame_inputs)")
    if colmap_format not in COLMAP_FORMATS:
        raise DepthCloudError(f"colmap_format must be 'binary' or 'text', got {colmap_format!r}")
    try:
        voxel_size = float(voxel_size)
    except (TypeError, ValueError):
        raise DepthCloudError(f"voxel_size must be a number of metres (0: automatic), got {voxel_size!r}") from None
    if not (math.isfinite(voxel_size) and voxel_size >= 0):
        raise DepthCloudError(f"voxel_size must be a finite number of metres >= 0 (0: automatic), got {voxel_size!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise DepthCloudError(f"max_points must be a whole number >= 1, got {max_points!r}")
    build = dataclasses.replace(build or BuildOptions(), space="world", with_points=True, attributes=())
    out_dir = os.fspath(out_dir)
    names = _frame_names(frames)
    _check_out_dir(out_dir, frames)
    try:
        with folder_lock(out_dir):  # one run at a time into a folder (a killed run holds nothing)
            return _export(frames, names, out_dir, build, voxel_size, max_points, colmap_format, executor)
    except FolderBusyError as exc:
        raise OutputError(f"{out_dir}: {exc.strerror}; wait for it to finish or choose another folder") from None


#: The file that tags a folder as a dataset depth-cloud wrote (it may be replaced whole by the next export).
DATASET_TAG = ".depth-cloud-dataset"
#: What a dataset folder holds (an older dataset without its tag is recognised by holding nothing else).
_DATASET_ENTRIES = frozenset({"images", "depth", "masks", "colmap", "sparse_pc.ply", "splats.ply", "transforms.json",
                              DATASET_TAG})


def _check_out_dir(out_dir: str, frames: list[FrameInputs]) -> None:
    """The output folder is replaced whole: refuse (:class:`OutputError`) a folder that holds one of the frames'
    input files, a file that is not a folder, and a folder of files depth-cloud did not write (not empty, not
    tagged :data:`DATASET_TAG`, not only what a dataset holds)."""
    inputs = InputSet(path for f in frames for path in frame_input_paths(f.files, f.frame))
    check_output_folder(out_dir, inputs)
    if not os.path.lexists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: is a file, not a folder: a dataset is a folder")
    try:
        entries = set(os.listdir(out_dir))
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot read the folder: {exc.strerror or exc}") from None
    if entries and DATASET_TAG not in entries and not entries <= _DATASET_ENTRIES:
        shown = ", ".join(sorted(entries - _DATASET_ENTRIES)[:3])
        raise OutputError(f"{out_dir}: holds files depth-cloud did not write ({shown}...): a dataset replaces its "
                          "folder whole; choose an empty or new folder")


def _export(frames: list[FrameInputs], names: list[str], out_dir: str, build: BuildOptions, voxel_size: float,
            max_points: int, colmap_format: str, executor: concurrent.futures.Executor | None) -> DatasetResult:
    """Check every frame, then write the dataset into a hidden folder beside ``out_dir`` and swap it in whole
    (:func:`..atomic.replace_folder`): until then the previous dataset there stays as it was; on any failure
    (or a stop) the staged folder is removed."""
    reader = _Frames(frames, build)

    # 1. Check every frame (nothing is written before all are good), find the transparency and the voxel size.
    grid = _VoxelGrid(voxel_size, None if voxel_size > 0 else max_points)
    has_alpha = False
    warnings: dict[str, None] = {}
    for index, inputs in enumerate(frames):
        _check_camera(inputs)
        cloud = reader.cloud(index)
        has_alpha |= _has_alpha(reader.images(index).color)
        try:
            grid.add(cloud.points_world, cloud.radii)
        except VoxelExtentError as exc:
            raise _named(inputs.files.depth_path, exc) from None
        warnings.update(dict.fromkeys(f"{inputs.files.depth_path}: {w}" for w in cloud.warnings))
    assert grid.size is not None  # frames is not empty: grid.add() ran
    size = float(grid.size)
    stage = staging_folder(out_dir)
    try:
        result = _write(stage, frames, names, reader, out_dir, size, has_alpha, warnings, colmap_format,
                        voxel_size == 0, build, executor)
        write_json(os.path.join(stage, DATASET_TAG), {"writer": "depth-cloud", "frames": len(frames)})
        replace_folder(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return result


def _write(stage: str, frames: list[FrameInputs], names: list[str], reader: _Frames, out_dir: str, size: float,
           has_alpha: bool, warnings: dict, colmap_format: str, voxel_size_auto: bool, build: BuildOptions,
           executor: concurrent.futures.Executor | None) -> DatasetResult:
    """Steps 2-4 of :func:`export_dataset`: every file, into ``stage``; the result names them in ``out_dir``."""
    # 2. Images, depth maps and masks, and each frame's exact voxel sums: a frame per task of ``executor`` (its
    #    worker reads the frame and writes its files), or here from the frames read above; the sums merged exactly.
    for folder in ("images", "depth") + (("masks",) if has_alpha else ()):
        os.makedirs(os.path.join(stage, folder), exist_ok=True)
    image_paths = [f"images/{name}.png" for name in names]
    depth_paths = [f"depth/{name}.png" for name in names]
    mask_paths = [f"masks/{name}.png" for name in names] if has_alpha else []
    fused = ExactVoxelAccumulator(size)
    clipped = 0

    def frame_written(outcome: FrameOutcome) -> None:
        nonlocal clipped
        if not outcome.ok:  # every frame was checked above: a file that cannot be written (or changed meanwhile)
            raise DepthCloudError(outcome.error)
        clipped += outcome.value.clipped
        fused.merge(outcome.value.grid)

    items = [(index, inputs, image_paths[index], depth_paths[index], mask_paths[index] if has_alpha else None)
             for index, inputs in enumerate(frames)]
    if executor is None:
        def work(item):
            return _write_frame(reader.images(item[0]), reader.cloud(item[0]), stage, item[2:], size)
    else:
        work = functools.partial(_read_and_write_frame, build, stage, size)
    walk_frames(items, work, frame_of=lambda item: item[1].frame, executor=executor, on_outcome=frame_written,
                keep_values=False)
    if fused.channels is None:
        raise NoValidDepthError("no frame was fused")
    points, colors, radii, _counts = fused.result()
    fused_keys = fused.arrays()["keys"]
    srgb8 = linear_to_srgb8(_straight(colors))

    # 3. Tracks: every frame in which each fused point is visible (by projection and depth), and the nearest camera
    #    of each point among them (among the frames whose pixels made it, for a point visible in none).
    centres = np.array([f.camera.cam2world[:3, 3] for f in frames])
    xyz = points.astype(np.float64)  # as written in points3D
    nearest = [np.full(len(points), np.inf), np.full(len(points), np.inf)]  # visible in / made by
    nearest_frame = [np.zeros(len(points), np.int64), np.zeros(len(points), np.int64)]
    observed_rows, observed_xy = [], []
    for index in range(len(frames)):
        rows, xy = _visible(xyz, frames[index].camera, reader.images(index).planar, size)
        observed_rows.append(rows)
        observed_xy.append(xy)
        for kind, which in enumerate((rows, _made_by(reader.cloud(index), fused_keys, size))):
            distance = np.linalg.norm(xyz[which] - centres[index], axis=1)
            closer = distance < nearest[kind][which]
            nearest[kind][which[closer]], nearest_frame[kind][which[closer]] = distance[closer], index
    nearest_camera = np.where(np.isfinite(nearest[0]), nearest_frame[0], nearest_frame[1])
    track_length = np.bincount(np.concatenate(observed_rows), minlength=len(points))
    for index in range(len(frames)):  # COLMAP refines points seen from two images or more: the others in the PLYs
        kept = track_length[observed_rows[index]] >= MIN_TRACK_LENGTH
        observed_rows[index], observed_xy[index] = observed_rows[index][kept], observed_xy[index][kept]

    # 4. The clouds, the COLMAP model, transforms.json (last).
    sparse_pc = os.path.join(stage, "sparse_pc.ply")
    write_ply(sparse_pc, points, _straight(colors), comments=[f"fused initial cloud, voxel size {size!r} m"])
    directions = centres[nearest_camera] - xyz
    lengths = np.linalg.norm(directions, axis=1, keepdims=True)
    directions = np.divide(directions, lengths, out=np.tile([0.0, 0.0, 1.0], (len(points), 1)), where=lengths > 0)
    splats = os.path.join(stage, "splats.ply")
    write_splats(splats, points, srgb8, radii, directions)

    colmap_dir = os.path.join(stage, "colmap", "sparse", "0")
    camera_ids: dict[tuple, int] = {}
    colmap_images = []
    for index, (inputs, name) in enumerate(zip(frames, names)):
        camera = inputs.camera
        intrinsics = (camera.width_px, camera.height_px, *(float(v) for v in camera.intrinsics_px()))
        camera_id = camera_ids.setdefault(intrinsics, len(camera_ids) + 1)
        world2cam = extrinsics(camera)["world2cam_opencv"]
        colmap_images.append(ColmapImage(index + 1, camera_id, f"{name}.png",
                                          rotation_to_quaternion(world2cam[:3, :3]), world2cam[:3, 3].copy(),
                                          observed_xy[index], observed_rows[index].astype(np.uint64) + 1))
    all_rows = np.concatenate(observed_rows)
    image_ids = np.concatenate([np.full(len(r), i + 1, np.int64) for i, r in enumerate(observed_rows)])
    point2d_idx = np.concatenate([np.arange(len(r)) for r in observed_rows])
    order = np.lexsort((image_ids, all_rows))
    tracks = np.empty(len(order), TRACK_ELEMENT)
    tracks["image_id"], tracks["point2d_idx"] = image_ids[order], point2d_idx[order]
    counts = np.bincount(all_rows, minlength=len(points))
    seen = np.flatnonzero(counts)
    errors = _reprojection_errors(xyz, colmap_images, {i: k[2:] for k, i in camera_ids.items()}, observed_rows)
    write_colmap_model(colmap_dir, [(i, *k) for k, i in camera_ids.items()], colmap_images, seen.astype(np.uint64) + 1,
                       xyz[seen], srgb8[seen], tracks, counts[seen], colmap_format, errors=errors[seen])

    transforms = nerfstudio_transforms([f.camera for f in frames], image_paths, depth_paths=depth_paths)
    if has_alpha:
        for record, mask_path in zip(transforms["frames"], mask_paths):
            record["mask_path"] = mask_path
    transforms["ply_file_path"] = "sparse_pc.ply"
    transforms_path = os.path.join(stage, "transforms.json")
    write_json(transforms_path, transforms)

    if clipped:
        warnings[f"{clipped} depth pixel(s) beyond {DEPTH_PNG_MAX / DEPTH_PNG_SCALE:g} m clipped to "
                 f"{DEPTH_PNG_MAX} in the 16-bit depth PNGs (the EXRs beside them hold the exact depth)"] = None
    return DatasetResult(
        out_dir=out_dir, frames=len(frames), images=len(frames), points=len(points), colmap_points=int(seen.size),
        observations=int(len(tracks)), cameras=len(camera_ids), voxel_size=size, voxel_size_auto=voxel_size_auto,
        has_alpha=has_alpha, transforms_path=os.path.join(out_dir, "transforms.json"),
        sparse_pc_path=os.path.join(out_dir, "sparse_pc.ply"), splats_path=os.path.join(out_dir, "splats.ply"),
        colmap_dir=os.path.join(out_dir, "colmap", "sparse", "0"), image_paths=tuple(image_paths),
        depth_paths=tuple(depth_paths), mask_paths=tuple(mask_paths), warnings=tuple(warnings),
    )
