"""Pixels <-> rays <-> 3D points for a :class:`~depth_cloud_addon.core.geometry.camera.CameraModel`.

Conventions (see ``docs/conventions.md``):

* Pixel coordinates ``(x, y)`` are continuous: x right, y down, origin at the image's top-left
  corner; pixel ``(col, row)`` is centred at ``(col + 0.5, row + 0.5)``. Depth maps are indexed
  ``depth[row, col]`` with row 0 at the top (as EXRs store them). For a camera cropped to a render
  region (Crop to Border) these are coordinates of the cropped image, the one Blender writes; the
  camera model places it in the full render (``intrinsics_px`` and the panoramic mappings include the
  crop origin), so nothing here handles the crop separately.
* Points are in metres, in the ``"world"`` frame or in the Blender ``"camera"`` frame
  (x right, y up, looking down -Z).
* Depth kinds: ``"planar"`` is the distance along the camera's view axis (``-Z`` in the camera
  frame; Cycles' Depth pass for perspective and orthographic cameras); ``"distance"`` is the
  length of the ray from the camera centre to the point (Cycles' Depth pass for panoramic
  cameras; older tools' "depth"). For an orthographic camera both are the distance from the image
  plane along the parallel rays. ``"auto"`` picks the kind Cycles writes for the camera.
* Invalid depth: non-finite, <= 0, Blender's background value 1e10 (or more), or outside
  ``clip_start..clip_end`` (measured in the kind Cycles clips by: planar for perspective and
  orthographic, distance for panoramic). Invalid pixels give NaN; they are never dropped here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._parallel import parallel_chunks
from ..errors import NoValidDepthError, ResolutionMismatchError
from .camera import CameraModel

DEPTH_KINDS = ("planar", "distance")
SPACES = ("world", "camera")
#: What Cycles writes where a ray hits nothing.
BACKGROUND_DEPTH = 1e10
#: Rasterisers (EEVEE, Workbench) write "no hit" as about ``clip_end``, measured from just below it
#: (249.9585 at clip_end 250) to just above; depths this close to ``clip_end`` (relative) are background.
DEPTH_BUFFER_FAR_MARGIN = 1e-3


def depth_buffer_background(depth: np.ndarray, camera: CameraModel) -> np.ndarray:
    """A copy of a rasteriser's planar ``depth`` with "no hit" (within :data:`DEPTH_BUFFER_FAR_MARGIN` of
    ``clip_end``, or beyond it) set to :data:`BACKGROUND_DEPTH`, as Cycles writes it. Cycles' depth
    needs no such step: use it for frames an EEVEE or Workbench render captured."""
    depth = np.array(depth, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        depth[depth >= camera.clip_end * (1.0 - DEPTH_BUFFER_FAR_MARGIN)] = BACKGROUND_DEPTH
    return depth


# -- argument checks --------------------------------------------------------------------------


def resolve_depth_kind(depth_kind: str, camera: CameraModel) -> str:
    """Map "auto" to the camera's natural kind and reject unknown names."""
    if depth_kind == "auto":
        return camera.natural_depth_kind()
    if depth_kind not in DEPTH_KINDS:
        raise ValueError(f"depth_kind must be 'auto', 'planar' or 'distance', got {depth_kind!r}")
    return depth_kind


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f"space must be 'world' or 'camera', got {space!r}")


def check_depth_shape(depth: np.ndarray, camera: CameraModel) -> np.ndarray:
    """Return ``depth`` as an array after checking it is 2-D and matches the camera's image size."""
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
    if depth.shape != camera.shape:
        raise ResolutionMismatchError(size_mismatch_message(depth.shape, camera))
    return depth


def size_mismatch_message(shape, camera: CameraModel, what: str = "depth map") -> str:
    """Why an image of ``shape`` (H, W) does not fit ``camera``: the sizes, and the likely cause.

    The camera's size is the render resolution times the resolution percentage, cut to the render
    region when Crop to Border is on; either setting, changed between the render and the camera
    record (sidecar), gives a mismatch, so the message names the one the sizes point to.
    """
    height, width = int(shape[0]), int(shape[1])
    full_w, full_h = camera.full_size_px
    message = f"{what} is {width}x{height} px but the camera renders {camera.width_px}x{camera.height_px} px"
    if camera.is_cropped:
        message += (f" (the {camera.width_px}x{camera.height_px} px render region of a {full_w}x{full_h} px image, "
                    "Crop to Border on)")
    if camera.is_cropped and (width, height) == (full_w, full_h):
        cause = ("it is the whole image: was it rendered without Render Region or Crop to Border, or does the camera "
                 "(sidecar) come from another render?")
    elif not camera.is_cropped and width <= full_w and height <= full_h:
        cause = ("a smaller image comes from a render region with Crop to Border, or from a lower resolution "
                 "percentage, than the camera (sidecar) records: was it rendered with other Format settings?")
    else:
        cause = ("the camera's size is the render resolution x the resolution percentage, cut to the render region "
                 "when Crop to Border is on: was the file rendered with other Format settings than the camera "
                 "(sidecar) records?")
    return f"{message}; {cause}"


# -- rays ------------------------------------------------------------------------------------


def pixel_centers(camera: CameraModel) -> np.ndarray:
    """(H, W, 2) float64 array of pixel-centre coordinates ``(col + 0.5, row + 0.5)``."""
    ys, xs = np.mgrid[0:camera.height_px, 0:camera.width_px].astype(np.float64) + 0.5
    return np.stack([xs, ys], axis=-1)


def pinhole_ab(camera: CameraModel, xs, ys) -> tuple[np.ndarray, np.ndarray]:
    """Perspective and orthographic cameras: ``(a, b)`` of the pixel coordinates ``xs``, ``ys`` (rows top-down,
    pixel centres at +0.5): ``a = (x - cx) / fx``, ``b = (cy - y) / fy``, the camera-frame X and Y per unit planar
    depth (perspective) or on the image plane (orthographic), float64. The one pinhole rule: rays,
    back-projections, pixel quads and surface discs all take it from here."""
    fx, fy, cx, cy = camera.intrinsics_px()
    return (np.asarray(xs, np.float64) - cx) / fx, (cy - np.asarray(ys, np.float64)) / fy


def camera_rays(pixels, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Rays through continuous pixel coordinates, in the Blender camera frame.

    ``pixels``: array (..., 2) of ``(x, y)``. Returns ``(origins, directions)``, both (..., 3) float64.
    Perspective: origin 0, direction ``(X, Y, -1)`` (unit *planar* length). Orthographic: origin on
    the image plane ``(X, Y, 0)``, direction ``(0, 0, -1)``. Panoramic: origin 0, unit direction;
    NaN where the pixel lies outside the model's image (e.g. outside a fisheye circle).
    """
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.shape[-1:] != (2,):
        raise ValueError(f"pixels must have shape (..., 2), got {pixels.shape}")
    x, y = pixels[..., 0], pixels[..., 1]
    if camera.projection == "PANO":
        from .panorama import pixel_to_direction

        directions = pixel_to_direction(x, y, camera)
        return np.zeros_like(directions), directions
    a, b = pinhole_ab(camera, x, y)
    if camera.projection == "PERSP":
        directions = np.stack([a, b, np.full_like(a, -1.0)], axis=-1)
        return np.zeros_like(directions), directions
    origins = np.stack([a, b, np.zeros_like(a)], axis=-1)
    directions = np.broadcast_to(np.array([0.0, 0.0, -1.0]), origins.shape).copy()
    return origins, directions


def _planar_per_distance(directions: np.ndarray) -> np.ndarray:
    """Planar depth of the point at ray length 1 along each direction (NaN where it does not face forward)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = -directions[..., 2] / np.linalg.norm(directions, axis=-1)
    return np.where(ratio > 0, ratio, np.nan)


# -- depth validity and conversion ----------------------------------------------------------


def valid_depth_mask(depth, camera: CameraModel, *, depth_kind: str = "auto", stride: int = 1) -> np.ndarray:
    """(H, W) bool: pixels whose depth gives a point (see the module docstring for the rules); with ``stride``,
    of every stride-th pixel of rows and columns only (``[::stride, ::stride]``, computed on those pixels alone)."""
    depth = check_depth_shape(depth, camera)
    kind = resolve_depth_kind(depth_kind, camera)
    if kind == camera.natural_depth_kind() and camera.projection != "PANO":
        depth = depth[::stride, ::stride]
        with np.errstate(invalid="ignore"):
            valid = (depth >= camera.clip_start) & (depth <= camera.clip_end)  # False for NaN
            if not (0 < camera.clip_start and camera.clip_end < BACKGROUND_DEPTH):  # else the clip range says it all
                valid &= np.isfinite(depth) & (depth > 0) & (depth < BACKGROUND_DEPTH)
        return valid
    if stride > 1:  # the rays of every pixel: as it is, then strided
        return valid_depth_mask(depth, camera, depth_kind=kind)[::stride, ::stride]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0) & (depth < BACKGROUND_DEPTH)
    clip_kind = camera.natural_depth_kind()
    clip_depth = depth if kind == clip_kind else convert_depth(depth, camera, from_kind=kind, to_kind=clip_kind)
    with np.errstate(invalid="ignore"):
        valid &= (clip_depth >= camera.clip_start) & (clip_depth <= camera.clip_end)
    if camera.projection == "PANO":
        _, directions = camera_rays(pixel_centers(camera), camera)
        valid &= np.isfinite(directions[..., 0])
    return valid


def convert_depth(depth, camera: CameraModel, *, from_kind: str, to_kind: str) -> np.ndarray:
    """Convert a depth map between ``"planar"`` and ``"distance"`` at pixel centres.

    ``distance = planar * |d| / -d_z`` with ``d`` the pixel-centre ray (so fx != fy, shift and pixel
    aspect are handled); an orthographic camera's two kinds are equal. Invalid input pixels
    (non-finite, <= 0, >= 1e10) and pixels whose ray does not face forward give NaN; the clip range is
    not applied. Returns the input's float dtype (float32 stays float32), computed in float64.
    """
    depth = check_depth_shape(depth, camera)
    for kind in (from_kind, to_kind):
        if kind not in DEPTH_KINDS:
            raise ValueError(f"depth kinds are 'planar' or 'distance', got {kind!r}")
    out_dtype = depth.dtype if np.issubdtype(depth.dtype, np.floating) else np.float64
    d = depth.astype(np.float64)
    with np.errstate(invalid="ignore"):
        d[~(np.isfinite(d) & (d > 0) & (d < BACKGROUND_DEPTH))] = np.nan
    if from_kind != to_kind and camera.projection != "ORTHO":
        _, directions = camera_rays(pixel_centers(camera), camera)
        factor = _planar_per_distance(directions)
        d = d * factor if to_kind == "planar" else d / factor
    return d.astype(out_dtype, copy=False)


# -- back-projection and projection ---------------------------------------------------------


#: Pixels in one block of image rows for the per-pixel loops (a few hundred kB of float64: they stay in cache).
BLOCK_PX = 1 << 16


@dataclass(frozen=True)
class PixelSet:
    """The True pixels of an (H, W) mask, in row-major order, found once; :meth:`take` gathers them from any
    (H, W, ...) image. Every loop over a frame's valid pixels goes through it: blocks of image rows, on all
    cores, each block's pixels by one ``flatnonzero`` of its rows, so that nothing holds an index per pixel
    of the frame (measured at 1080p: ``take`` of an RGBA image 8 ms, against 26 ms for ``image[rows, cols]``
    and 28 ms for ``image[mask]``)."""

    mask: np.ndarray    # (H, W) bool; with ``step``, of the image's pixels ``[::step, ::step]``
    starts: np.ndarray  # (H + 1,) int64: how many True pixels come before each row; ``starts[-1]`` is their number
    step: int = 1       # the mask is of every step-th pixel of the image's rows and columns

    @classmethod
    def of(cls, mask, step: int = 1) -> PixelSet:
        mask = np.asarray(mask, dtype=bool)
        starts = np.zeros(mask.shape[0] + 1, np.int64)
        np.cumsum(np.count_nonzero(mask, axis=1), out=starts[1:])
        return cls(mask, starts, step)

    @property
    def n(self) -> int:
        return int(self.starts[-1])

    def blocks(self, work, block_px: int = BLOCK_PX) -> None:
        """Call ``work(r0, r1, start, stop, index)`` for blocks of whole rows ``r0:r1`` holding True pixels:
        their output slice ``start:stop`` and ``index``, the flat positions of the True pixels in the block's
        ``(r1 - r0) * W`` pixels (None when every pixel of the block is True). Blocks run on all cores, each
        writing its own slice only."""
        height, width = self.mask.shape
        block = max(1, block_px // max(width, 1))

        def chunk(first_px: int, last_px: int) -> None:
            first, last = -(-first_px // width), -(-last_px // width)  # whole rows: a partition of [0, height)
            for r0 in range(first, last, block):
                r1 = min(r0 + block, last)
                start, stop = int(self.starts[r0]), int(self.starts[r1])
                if start == stop:
                    continue
                every = stop - start == (r1 - r0) * width
                work(r0, r1, start, stop, None if every else np.flatnonzero(self.mask[r0:r1]))

        parallel_chunks(height * width, chunk)

    def take(self, image, dtype=None) -> np.ndarray:
        """``image[mask]``: the True pixels of the (H, W, ...) ``image`` in row-major order, as ``dtype`` (default:
        the image's; a half-float image is converted block by block, never as a whole)."""
        image = np.asarray(image)[::self.step, ::self.step]
        if image.shape[:2] != self.mask.shape:
            raise ValueError(f"an image of {image.shape[:2]} pixels, not {self.mask.shape}")
        rest = image.shape[2:]
        out = np.empty((self.n, *rest), dtype or image.dtype)
        height, width = self.mask.shape

        def work(r0: int, r1: int, start: int, stop: int, index) -> None:
            rows = image[r0:r1].reshape((r1 - r0) * width, *rest)
            if index is None:
                out[start:stop] = rows
            elif out.dtype == image.dtype:
                np.take(rows, index, axis=0, out=out[start:stop])
            else:
                out[start:stop] = np.take(rows, index, axis=0)

        self.blocks(work)
        return out

    def compact(self, image: np.ndarray) -> np.ndarray:
        """:meth:`take` written over ``image`` itself: its True pixels moved to the front of its own buffer, in
        row-major order; returns that front, a view of N rows. No second image-sized array is made (a 1080p RGBA
        float image is 32 MiB); ``image`` is destroyed, so only for an image no one else holds (a file decoded for
        this cloud). Each core compacts its own rows to where they start, then the parts are moved together."""
        height, width = self.mask.shape
        if not (isinstance(image, np.ndarray) and image.flags.c_contiguous and image.flags.writeable
                and image.shape[:2] == self.mask.shape and self.step == 1):
            raise ValueError("compact() needs a writable C-contiguous (H, W, ...) image of the mask's size")
        flat = image.reshape(height * width, *image.shape[2:])
        block = max(1, BLOCK_PX // max(width, 1))
        parts: dict[int, int] = {}  # first row of a core's part -> how many pixels it kept

        def part(first_px: int, last_px: int) -> None:
            first, last = -(-first_px // width), -(-last_px // width)
            if first >= last:
                return
            write = first * width
            for r0 in range(first, last, block):
                r1 = min(r0 + block, last)
                count = int(self.starts[r1] - self.starts[r0])
                if count == (r1 - r0) * width:  # every pixel kept: moved as they are
                    if write != r0 * width:
                        flat[write:write + count] = flat[r0 * width:r1 * width]
                elif count:
                    # take() buffers its output, so the block may move onto its own pixels.
                    flat[write:write + count] = np.take(flat[r0 * width:r1 * width],
                                                        np.flatnonzero(self.mask[r0:r1]), axis=0)
                write += count
            parts[first] = write - first * width

        parallel_chunks(height * width, part)
        for first in sorted(parts)[1:]:  # each part follows the previous one's kept pixels, in order
            target, source, count = int(self.starts[first]), first * width, parts[first]
            step = max(source - target, BLOCK_PX)
            for offset in range(0, count, step):  # forward, in pieces: none writes where a later one reads
                n = min(step, count - offset)
                flat[target + offset:target + offset + n] = flat[source + offset:source + offset + n]
        return flat[:self.n]

    def rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` int32 of the True pixels in the image (times ``step``), row-major."""
        rows, cols = np.empty(self.n, np.int32), np.empty(self.n, np.int32)
        width, step = self.mask.shape[1], self.step

        def work(r0: int, r1: int, start: int, stop: int, index) -> None:
            if index is None:
                rows[start:stop] = np.repeat(np.arange(r0, r1, dtype=np.int32), width)
                cols[start:stop] = np.tile(np.arange(width, dtype=np.int32), r1 - r0)
            else:
                row = index // width
                rows[start:stop] = row + r0
                cols[start:stop] = index - row * width
            if step > 1:
                rows[start:stop] *= step
                cols[start:stop] *= step

        self.blocks(work)
        return rows, cols


@dataclass(frozen=True)
class ValidPoints:
    """The valid pixels of a depth map and their 3D points (see :func:`backproject_valid`)."""

    points: np.ndarray     # (N, 3) in the requested space and dtype
    rows: np.ndarray       # (N,) int32 (empty when not asked for)
    cols: np.ndarray       # (N,) int32 (empty when not asked for)
    footprint: np.ndarray  # (N,) float32, metres: side of a square as large as the pixel at its depth
    pixels: PixelSet | None = None  # the valid pixels, to gather anything else of theirs (colours, depths)


def _no_valid_depth(camera: CameraModel) -> NoValidDepthError:
    return NoValidDepthError(
        f"no valid depth in the {camera.width_px}x{camera.height_px} map: every pixel is background "
        f"(>= 1e10), non-finite, <= 0 or outside the clip range {camera.clip_start:g}..{camera.clip_end:g} m"
    )


def backproject_valid(depth, camera: CameraModel, *, depth_kind: str = "auto", space: str = "world",
                      mask=None, dtype=np.float32, chunk_px: int = BLOCK_PX, with_pixels: bool = True,
                      stride: int = 1) -> ValidPoints:
    """Back-project only the valid pixels (optionally also within ``mask``), in row-major order.

    Same conventions and numbers as :func:`backproject`, computed in float64 in blocks of about
    ``chunk_px`` pixels, so the memory beyond the result stays small (a 1080p frame needs no
    full-frame float64 temporaries), on all cores. The footprint is what :func:`pixel_footprint` returns.
    ``with_pixels=False``: ``rows`` and ``cols`` are left empty (``pixels`` still gathers anything of the valid
    pixels). ``stride``: every stride-th pixel of rows and columns only, the others never looked at (``mask`` is
    of the whole image; ``pixels`` gathers from whole images). Returns an empty result (N = 0) when nothing is valid.
    """
    _check_space(space)
    depth = check_depth_shape(depth, camera)
    kind = resolve_depth_kind(depth_kind, camera)
    valid = valid_depth_mask(depth, camera, depth_kind=kind, stride=stride)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)[::stride, ::stride]
    pixels = PixelSet.of(valid, stride)
    n = pixels.n
    points = np.empty((n, 3), dtype=dtype)
    footprint = np.empty(n, dtype=np.float32)
    no_index = np.zeros(0, np.int32)
    rotation, translation = camera.cam2world[:3, :3], camera.cam2world[:3, 3]
    if camera.projection != "PANO":
        col_x, row_y = pinhole_ab(camera, np.arange(camera.width_px) + 0.5, np.arange(camera.height_px) + 0.5)
        fx, fy, _, _ = camera.intrinsics_px()
        pixel_size = 1.0 / np.sqrt(fx * fy)
        frame_rotation = rotation if space == "world" else np.eye(3)
        offset = translation if space == "world" else np.zeros(3)
        tables = [(frame_rotation[k, 0] * col_x[::stride],
                   frame_rotation[k, 1] * row_y[::stride] - frame_rotation[k, 2]) for k in range(3)]
        if camera.projection == "PERSP" and kind == "planar":
            _planar_rows(depth[::stride, ::stride], pixels, tables, offset, pixel_size, points, footprint, chunk_px)
            rows, cols = pixels.rows_cols() if with_pixels else (no_index, no_index)
            return ValidPoints(points, rows, cols, footprint, pixels)
    rows, cols = pixels.rows_cols()

    def work(first: int, last: int) -> None:
        for start in range(first, last, chunk_px):
            stop = min(start + chunk_px, last)
            r, c = rows[start:stop], cols[start:stop]
            d = depth[r, c].astype(np.float64)
            if camera.projection == "PANO":
                from .panorama import pixel_to_direction

                x, y = c + 0.5, r + 0.5
                direction = pixel_to_direction(x, y, camera)
                distance = d / -direction[:, 2] if kind == "planar" else d
                cam = direction * distance[:, None]
                side_x = pixel_to_direction(x + 0.5, y, camera) - pixel_to_direction(x - 0.5, y, camera)
                side_y = pixel_to_direction(x, y + 0.5, camera) - pixel_to_direction(x, y - 0.5, camera)
                footprint[start:stop] = distance * np.sqrt(np.linalg.norm(np.cross(side_x, side_y), axis=-1))
            else:
                a, b = col_x[c], row_y[r]
                if camera.projection == "PERSP":
                    planar = d / np.sqrt(a * a + b * b + 1.0)
                    cam = np.stack([a * planar, b * planar, -planar], axis=-1)
                    footprint[start:stop] = planar * pixel_size
                else:
                    cam = np.stack([a, b, -d], axis=-1)
                    footprint[start:stop] = pixel_size
            points[start:stop] = cam @ rotation.T + translation if space == "world" else cam

    parallel_chunks(n, work)
    if not with_pixels:
        rows = cols = no_index
    return ValidPoints(points, rows, cols, footprint, pixels)


def _planar_rows(depth, pixels: PixelSet, tables, offset, pixel_size, points, footprint, chunk_px: int) -> None:
    """:func:`backproject_valid` for a perspective camera and planar depth, one block of image rows at a
    time: ``point_k = t_k + d * (a_k(col) + b_k(row))`` by broadcasting the per-column and per-row tables
    over the block (no per-pixel gathers of them), the valid pixels taken out before the offset is added. The
    same operations in the same order as per pixel, so the same bits; on all cores, split by rows."""

    def work(r0: int, r1: int, start: int, stop: int, index) -> None:
        d = depth[r0:r1].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # background pixels are computed, then dropped
            for k, (column_term, row_term) in enumerate(tables):
                value = column_term[None, :] + row_term[r0:r1, None]
                value *= d
                value = value.reshape(-1) if index is None else value.reshape(-1).take(index)
                np.add(value, offset[k], out=points[start:stop, k], casting="same_kind")
            size = d.reshape(-1) if index is None else d.reshape(-1).take(index)
            np.multiply(size, pixel_size, out=footprint[start:stop], casting="same_kind")

    pixels.blocks(work, chunk_px)


def backproject(depth, camera: CameraModel, *, depth_kind: str = "auto", space: str = "world",
                dtype=np.float64, allow_empty: bool = False) -> np.ndarray:
    """Back-project a depth map through the pixel centres into 3D points.

    ``depth``: (H, W) array matching ``camera.shape``, rows top-down, of kind ``depth_kind``
    ("planar", "distance" or "auto"; see the module docstring). Returns (H, W, 3) points of ``dtype``
    in ``space`` ("world", or "camera" = Blender camera frame looking down -Z), computed in float64,
    NaN at invalid pixels. Raises :class:`NoValidDepthError` when no pixel is valid, unless
    ``allow_empty``. For the valid pixels alone, without the NaN grid, use :func:`backproject_valid`.

    Perspective: ``X = (x - cx) / fx * Z``, ``Y = (cy - y) / fy * Z`` at planar depth ``Z`` (ray distance
    ``r`` is first divided by ``|((x - cx) / fx, (cy - y) / fy, 1)|``); the camera-frame point is
    ``(X, Y, -Z)``. Example: a 1x1 perspective camera at the origin looking down -Z with planar
    depth 10 gives the point ``(0, 0, -10)``::

        backproject(np.array([[10.0]]), CameraModel(width_px=1, height_px=1))
    """
    valid = backproject_valid(depth, camera, depth_kind=depth_kind, space=space, dtype=dtype)
    if not allow_empty and valid.rows.size == 0:
        raise _no_valid_depth(camera)
    points = np.full((*camera.shape, 3), np.nan, dtype=dtype)
    points[valid.rows, valid.cols] = valid.points
    return points


def pixel_footprint(depth, camera: CameraModel, *, depth_kind: str = "auto") -> np.ndarray:
    """(H, W) side length in metres of a square as large as the pixel, seen at the pixel's own depth.

    For a surface facing the camera this is the pixel's footprint: perspective ``planar / sqrt(fx fy)``,
    orthographic ``1 / sqrt(fx fy)`` (independent of depth), panoramic ``distance * sqrt(solid angle)``
    (from the rays through the pixel's edge midpoints). Invalid depth gives NaN. A round point of
    :func:`covering_radius` of it covers its pixel.
    """
    valid = backproject_valid(depth, camera, depth_kind=depth_kind, space="camera")
    footprint = np.full(camera.shape, np.nan)
    footprint[valid.rows, valid.cols] = valid.footprint
    return footprint


def covering_radius(side):
    """The radius of the circle around a square of side ``side`` (metres): ``side / sqrt(2)``, of the same float
    type. The one rule for the radius of a round point: it covers its square footprint (a pixel's, a voxel's);
    a radius of half the side would cover only pi/4 of it and let the background through."""
    side = np.asarray(side)
    return side * (side.dtype.type(np.sqrt(0.5)) if side.dtype.kind == "f" else np.sqrt(0.5))


def unproject_pixels(pixels, depth, camera: CameraModel, *, depth_kind: str = "auto",
                     space: str = "world") -> np.ndarray:
    """3D points of continuous pixel coordinates (sub-pixel allowed), e.g. annotated image points.

    ``pixels``: (..., 2) ``(x, y)`` in the convention of :func:`project` (x right, y down, origin at
    the top-left corner, pixel centres at +0.5). The depth is the value of the pixel that contains
    the coordinate (``depth[floor(y), floor(x)]``, never interpolated across a depth edge); the ray
    goes through the exact sub-pixel position, so ``project(unproject_pixels(p)) == p``. Returns
    (..., 3) float64 in ``space``; NaN for coordinates outside the image, pixels without valid depth
    (background, clip range) and, for panoramas, positions without a ray.
    """
    _check_space(space)
    depth = check_depth_shape(depth, camera)
    kind = resolve_depth_kind(depth_kind, camera)
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.shape[-1:] != (2,):
        raise ValueError(f"pixels must have shape (..., 2), got {pixels.shape}")
    with np.errstate(invalid="ignore"):
        inside = ((pixels[..., 0] >= 0) & (pixels[..., 0] < camera.width_px)
                  & (pixels[..., 1] >= 0) & (pixels[..., 1] < camera.height_px))
    cols = np.where(inside, np.floor(np.nan_to_num(pixels[..., 0])), 0).astype(np.intp)
    rows = np.where(inside, np.floor(np.nan_to_num(pixels[..., 1])), 0).astype(np.intp)
    valid = inside & valid_depth_mask(depth, camera, depth_kind=kind)[rows, cols]
    d = np.where(valid, depth[rows, cols], np.nan).astype(np.float64)
    return unproject_depths(pixels, d, camera, depth_kind=kind, space=space)


def unproject_depths(pixels, depths, camera: CameraModel, *, depth_kind: str = "auto",
                     space: str = "world") -> np.ndarray:
    """3D points of continuous pixel coordinates ``pixels`` (..., 2) at the given depth values ``depths``
    (..., of ``depth_kind``; NaN gives NaN): the ray through the exact position, as :func:`unproject_pixels`."""
    _check_space(space)
    kind = resolve_depth_kind(depth_kind, camera)
    pixels = np.asarray(pixels, dtype=np.float64)
    d = np.asarray(depths, dtype=np.float64)
    origins, directions = camera_rays(pixels, camera)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "planar":
            forward = -directions[..., 2]
            t = d / np.where(forward > 0, forward, np.nan)
        else:
            t = d / np.linalg.norm(directions, axis=-1)
    points = origins + t[..., None] * directions
    if space == "world":
        points = points @ camera.cam2world[:3, :3].T + camera.cam2world[:3, 3]
    return points


def project(points, camera: CameraModel, *, space: str = "world") -> np.ndarray:
    """Project 3D points to continuous pixel coordinates ``(x, y)`` (x right, y down, centres at +0.5).

    ``points``: (..., 3) in ``space`` ("world" or Blender "camera" frame). Returns (..., 2) float64.
    Points behind a perspective camera, at its centre, or NaN points give NaN. Coordinates outside
    ``[0, W] x [0, H]`` are returned as they are (the caller decides what "in the image" means).
    Inverse of :func:`backproject`: ``project(backproject(depth, cam), cam)`` is the pixel-centre grid.
    """
    _check_space(space)
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (3,):
        raise ValueError(f"points must have shape (..., 3), got {points.shape}")
    if space == "world":
        w2c = camera.world2cam
        points = points @ w2c[:3, :3].T + w2c[:3, 3]
    if camera.projection == "PANO":
        from .panorama import direction_to_pixel

        return direction_to_pixel(points, camera)
    fx, fy, cx, cy = camera.intrinsics_px()
    X, Y, Z = points[..., 0], points[..., 1], points[..., 2]
    if camera.projection == "PERSP":
        with np.errstate(invalid="ignore", divide="ignore"):
            forward = np.where(-Z > 0, -Z, np.nan)
            X, Y = X / forward, Y / forward
    pixels = np.stack([cx + fx * X, cy - fy * Y], axis=-1)
    pixels[~np.isfinite(points).all(axis=-1)] = np.nan
    return pixels


def rotation_to_quaternion(rotation) -> np.ndarray:
    """A 3x3 rotation matrix -> its unit quaternion ``(w, x, y, z)`` with ``w >= 0`` (:func:`rotation_to_quaternions`
    of one matrix). The one conversion, used for E57 scan poses, COLMAP image poses and the discs' frames."""
    q = rotation_to_quaternions(np.asarray(rotation, np.float64)[None])[0]
    return -q if q[0] < 0 else q


def rotation_to_quaternions(rotations) -> np.ndarray:
    """(N, 3, 3) rotation matrices -> (N, 4) unit quaternions ``(w, x, y, z)``, in their float type. Shepperd's
    method: each divides by the largest of 4w^2, 4x^2, 4y^2, 4z^2 (well conditioned everywhere)."""
    r = np.asarray(rotations)
    r = r.astype(r.dtype if r.dtype.kind == "f" else np.float64, copy=False)
    trace = r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2]
    k = np.argmax(np.stack([trace, r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]], axis=-1), axis=-1)
    one = r.dtype.type(1.0)
    s = 2.0 * np.sqrt(np.maximum(np.select(
        [k == 0, k == 1, k == 2],
        [one + trace, one + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2], one + r[:, 1, 1] - r[:, 0, 0] - r[:, 2, 2]],
        one + r[:, 2, 2] - r[:, 0, 0] - r[:, 1, 1]), 0.0))
    d21, d02, d10 = r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]
    s01, s02, s12 = r[:, 0, 1] + r[:, 1, 0], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 2] + r[:, 2, 1]
    quarter = 0.25 * s
    q = np.stack([
        np.select([k == 0, k == 1, k == 2], [quarter, d21 / s, d02 / s], d10 / s),
        np.select([k == 0, k == 1, k == 2], [d21 / s, quarter, s01 / s], s02 / s),
        np.select([k == 0, k == 1, k == 2], [d02 / s, s01 / s, quarter], s12 / s),
        np.select([k == 0, k == 1, k == 2], [d10 / s, s02 / s, s12 / s], quarter)], axis=-1)
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(r.dtype, copy=False)


def z_to_direction_quaternions(directions: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) turning +z onto each unit direction (N, 3) by the shortest arc:
    ``(1 + z.d, z x d)`` normalised; a half turn about x for d = -z."""
    d = np.asarray(directions, np.float64)
    q = np.stack([1.0 + d[:, 2], -d[:, 1], d[:, 0], np.zeros(len(d))], axis=1)
    norm = np.linalg.norm(q, axis=1)
    opposite = norm < 1e-9
    q[opposite] = (0.0, 1.0, 0.0, 0.0)
    norm[opposite] = 1.0
    return q / norm[:, None]


__all__ = [
    "BACKGROUND_DEPTH", "BLOCK_PX", "DEPTH_BUFFER_FAR_MARGIN", "DEPTH_KINDS", "SPACES", "PixelSet", "ValidPoints",
    "backproject",
    "backproject_valid", "camera_rays", "pinhole_ab", "check_depth_shape", "convert_depth", "covering_radius",
    "depth_buffer_background", "pixel_centers", "pixel_footprint", "project", "resolve_depth_kind",
    "rotation_to_quaternion", "rotation_to_quaternions", "size_mismatch_message", "unproject_depths",
    "unproject_pixels", "valid_depth_mask", "z_to_direction_quaternions",
]
