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
* ``sparse_pc.ply``: the initial point cloud: every frame's points fused on a voxel grid (:class:`.fusion.Fusion`),
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
* **Tracks**: the fused point of a voxel came from the pixels whose back-projection fell into that voxel.
  Per image, its track holds at most one 2D point: of the voxel's pixels in that image, the one whose centre is
  nearest the projection of the fused point (the voxel's mean); the 2D point is that projection itself (so the
  reprojection error is 0, and ``error`` is written as 0), kept only when it lies inside the image and within
  :data:`TRACK_MAX_OFFSET_PX` of that pixel's centre. Points left without any observation are not written to
  ``points3D`` (they stay in the PLYs); ``point3D_id`` is the point's row in ``sparse_pc.ply`` + 1, image ids
  are the frames' positions + 1, camera ids count from 1 in order of first use.
* **Voxel size** (``voxel_size=0``, automatic): a power of two in metres: the largest power of two not above
  the median pixel footprint of the first frame (so voxels hold about one pixel of each view), doubled while
  the fused cloud would have more than ``max_points`` points (default :data:`AUTO_MAX_POINTS`; a doubling
  divides a surface's voxels by about 4, so the cloud ends with max_points / 4 to max_points points unless the
  frames have fewer). Exact: the count is that of the occupied voxels of every point, not an estimate.
* **Splats** (:mod:`..formats.splats` has the values): the sRGB colour is the ``uchar`` of ``sparse_pc.ply``;
  each disc faces the unit direction from the point to the centre of the nearest camera among the frames whose
  pixels made the point.

Input rules: perspective cameras only (COLMAP's PINHOLE; orthographic and panoramic frames raise
:class:`CameraError`), every frame needs a colour image (``color_NNNN.exr`` or the depth file's own) and at
least one valid depth pixel. **A bad frame writes nothing**: every frame is read and checked (camera, sizes,
colour, depth, voxel extent) before the first file is written, and the first bad one raises its
:class:`DepthCloudError` (one line, naming the file); ``out_dir`` is not even created. Files of an earlier
export into the same folder that this one does not write are left as they are.

The frames are read up to three times (check, write, tracks); what fits in :data:`CACHE_BYTES` is read once.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import CameraError, DepthCloudError, NoValidDepthError, ResolutionMismatchError
from ..formats.camera_export import extrinsics, nerfstudio_transforms, write_json
from ..formats.colmap import COLMAP_FORMATS, TRACK_ELEMENT, ColmapImage, write_colmap_model
from ..formats.exr import read_exr, write_exr
from ..formats.ply import linear_to_srgb8, write_ply
from ..formats.png import write_png
from ..formats.splats import write_splats
from ..geometry.projection import (
    convert_depth,
    project,
    rotation_to_quaternion,
    size_mismatch_message,
    valid_depth_mask,
)
from ..geometry.voxel import VoxelExtentError, group_integers, pack_voxel_indices, unpack_voxel_keys, voxel_keys
from .cloud import BuildOptions, CloudArrays, read_cloud
from .depth import read_frame_depth
from .files import FrameInputs
from .fusion import Fusion

__all__ = ["AUTO_MAX_POINTS", "DatasetResult", "TRACK_MAX_OFFSET_PX", "auto_voxel_size", "export_dataset"]

#: Automatic voxel size: the fused cloud gets at most this many points.
AUTO_MAX_POINTS = 1_000_000
#: A 2D observation is kept when the fused point projects within this many pixels of its pixel's centre.
TRACK_MAX_OFFSET_PX = 1.0
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
    colmap_points: int          # points3D with at least one observation
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


def _frame_observations(cloud: CloudArrays, fused_keys: np.ndarray, fused_points: np.ndarray,
                        voxel_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One frame's observations of the fused points: ``(rows (K,), xy (K, 2))`` of the kept ones, in the frame's
    pixel order, and ``(touched (U,), distance (U,))``: the fused rows this frame's pixels made and their
    distance to the camera centre."""
    camera = cloud.camera
    keys = voxel_keys(cloud.points_world, voxel_size)
    slot: np.ndarray = np.searchsorted(fused_keys, keys)  # plain ndarray: numpy's int array max() stubs at 3.11
    if slot.size and (slot.max() >= fused_keys.size or not np.array_equal(fused_keys[slot], keys)):
        raise RuntimeError("export_dataset: a pixel's voxel is not in the fused cloud (the passes disagree)")
    order, starts, touched = group_integers(slot)
    group = np.repeat(np.arange(starts.size), np.diff(np.append(starts, slot.size)))  # voxel rank, sorted order
    fused = fused_points[touched].astype(np.float64)
    distance = np.linalg.norm(fused - camera.cam2world[:3, 3], axis=1)
    xy = project(fused, camera)                                    # (U, 2), centres at +0.5: COLMAP's too
    with np.errstate(invalid="ignore"):
        offset2 = ((cloud.cols[order] + 0.5 - xy[group, 0]) ** 2 + (cloud.rows[order] + 0.5 - xy[group, 1]) ** 2)
    offset2[np.isnan(offset2)] = np.inf
    best = np.minimum.reduceat(offset2, starts)                     # (U,), voxel by voxel in ``touched`` order
    hits = np.flatnonzero(offset2 == best[group])                   # every pixel at its voxel's least offset ...
    hits = hits[np.append(True, group[hits][1:] != group[hits][:-1])]  # ... the first (lowest pixel) of each
    first = order[hits]
    with np.errstate(invalid="ignore"):
        keep = ((best <= TRACK_MAX_OFFSET_PX ** 2) & (xy[:, 0] >= 0) & (xy[:, 0] < camera.width_px)
                & (xy[:, 1] >= 0) & (xy[:, 1] < camera.height_px))
    pixel = cloud.rows[first].astype(np.int64) * camera.width_px + cloud.cols[first]
    kept = np.flatnonzero(keep)
    kept = kept[np.argsort(pixel[kept], kind="stable")]            # the image's 2D points in pixel order
    return touched[kept], xy[kept], touched, distance


# -- the export ------------------------------------------------------------------------------


def _straight(colors: np.ndarray) -> np.ndarray:
    """Linear premultiplied RGBA (..., 4) -> straight linear RGB (..., 3): divided by alpha, 0 where alpha <= 0."""
    alpha = colors[..., 3:4]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(alpha > 0, colors[..., :3] / np.where(alpha > 0, alpha, 1.0), 0.0).astype(np.float32)


def export_dataset(frames: list[FrameInputs], out_dir, *, voxel_size: float = 0.0, colmap_format: str = "binary",
                   build: BuildOptions | None = None, max_points: int = AUTO_MAX_POINTS) -> DatasetResult:
    """Write ``frames`` as a training dataset in ``out_dir`` (see the module docstring for every file and
    convention); returns what was written.

    ``voxel_size``: metres of the fusion grid, 0 for the automatic size (a power of two, the cloud at most
    ``max_points`` points). ``colmap_format``: "binary" (``.bin``) or "text" (``.txt``). ``build``: how the
    frames' pixels make the cloud (stride, depth range, depth kind, view layer, dropped edges); its ``space``
    and ``attributes`` are ignored (world space, no attributes). A bad frame raises its
    :class:`DepthCloudError` before anything is written (``out_dir`` is not created).
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

    # 2. Images, depth maps and masks; the fusion.
    for folder in ("images", "depth") + (("masks",) if has_alpha else ()):
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
    image_paths = [f"images/{name}.png" for name in names]
    depth_paths = [f"depth/{name}.png" for name in names]
    mask_paths = [f"masks/{name}.png" for name in names] if has_alpha else []
    fusion = Fusion(size)
    fused_keys = np.zeros(0, np.int64)
    clipped = 0
    for index in range(len(frames)):
        images = reader.images(index)
        alpha = np.clip(images.color[..., 3], 0.0, 1.0)
        if has_alpha:
            rgba = np.concatenate([linear_to_srgb8(_straight(images.color)),
                                   np.rint(alpha * 255.0).astype(np.uint8)[..., None]], axis=-1)
            write_png(os.path.join(out_dir, image_paths[index]), rgba)
            mask = np.where(alpha >= MASK_MIN_ALPHA, 255, 0).astype(np.uint8)
            write_png(os.path.join(out_dir, mask_paths[index]), mask)
        else:
            write_png(os.path.join(out_dir, image_paths[index]), linear_to_srgb8(images.color[..., :3]))
        valid = np.isfinite(images.planar)
        millimetres = np.rint(np.where(valid, images.planar.astype(np.float64), 0.0) * DEPTH_PNG_SCALE)
        clipped += int(np.count_nonzero(millimetres > DEPTH_PNG_MAX))
        millimetres = np.where(valid, np.clip(millimetres, 1, DEPTH_PNG_MAX), 0).astype(np.uint16)
        write_png(os.path.join(out_dir, depth_paths[index]), millimetres)
        write_exr(os.path.join(out_dir, depth_paths[index][:-4] + ".exr"), {"V": images.planar}, depth_kind="planar")
        cloud = reader.cloud(index)
        fusion.add(cloud)
        fused_keys = _sorted_unique(np.concatenate([fused_keys, voxel_keys(cloud.points_world, size)]))
    points, colors, radii = fusion.result()
    if len(points) != fused_keys.size:
        raise RuntimeError("export_dataset: the fused cloud and its voxels disagree")
    srgb8 = linear_to_srgb8(_straight(colors))

    # 3. Tracks: every frame's observations of the fused points, and the nearest camera of each point.
    nearest = np.full(len(points), np.inf)
    nearest_frame = np.zeros(len(points), np.int64)
    observed_rows, observed_xy = [], []
    for index in range(len(frames)):
        rows, xy, touched, distance = _frame_observations(reader.cloud(index), fused_keys, points, size)
        closer = distance < nearest[touched]
        nearest[touched[closer]], nearest_frame[touched[closer]] = distance[closer], index
        observed_rows.append(rows)
        observed_xy.append(xy)

    # 4. The clouds, the COLMAP model, transforms.json (last).
    sparse_pc = os.path.join(out_dir, "sparse_pc.ply")
    write_ply(sparse_pc, points, _straight(colors), comments=[f"fused initial cloud, voxel size {size!r} m"])
    centres = np.array([f.camera.cam2world[:3, 3] for f in frames])
    directions = centres[nearest_frame] - points.astype(np.float64)
    lengths = np.linalg.norm(directions, axis=1, keepdims=True)
    directions = np.divide(directions, lengths, out=np.tile([0.0, 0.0, 1.0], (len(points), 1)), where=lengths > 0)
    splats = os.path.join(out_dir, "splats.ply")
    write_splats(splats, points, srgb8, radii, directions)

    colmap_dir = os.path.join(out_dir, "colmap", "sparse", "0")
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
    write_colmap_model(colmap_dir, [(i, *k) for k, i in camera_ids.items()], colmap_images, seen.astype(np.uint64) + 1,
                       points[seen].astype(np.float64), srgb8[seen], tracks, counts[seen], colmap_format)

    transforms = nerfstudio_transforms([f.camera for f in frames], image_paths, depth_paths=depth_paths)
    if has_alpha:
        for record, mask_path in zip(transforms["frames"], mask_paths):
            record["mask_path"] = mask_path
    transforms["ply_file_path"] = "sparse_pc.ply"
    transforms_path = os.path.join(out_dir, "transforms.json")
    write_json(transforms_path, transforms)

    if clipped:
        warnings[f"{clipped} depth pixel(s) beyond {DEPTH_PNG_MAX / DEPTH_PNG_SCALE:g} m clipped to "
                 f"{DEPTH_PNG_MAX} in the 16-bit depth PNGs (the EXRs beside them hold the exact depth)"] = None
    return DatasetResult(
        out_dir=out_dir, frames=len(frames), images=len(frames), points=len(points), colmap_points=int(seen.size),
        observations=int(len(tracks)), cameras=len(camera_ids), voxel_size=size, voxel_size_auto=voxel_size == 0,
        has_alpha=has_alpha, transforms_path=transforms_path, sparse_pc_path=sparse_pc, splats_path=splats,
        colmap_dir=colmap_dir, image_paths=tuple(image_paths), depth_paths=tuple(depth_paths),
        mask_paths=tuple(mask_paths), warnings=tuple(warnings),
    )
