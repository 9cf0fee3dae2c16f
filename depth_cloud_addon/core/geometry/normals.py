"""Surface discs: per pixel, the normal of the surface it sees and the radius of a round disc that covers the
pixel's footprint on that surface, so that discs at the pixels' points close the surface from any viewpoint.
Pure numpy, vectorised: blocks of image rows, on all cores.

Conventions as in :mod:`.projection` (rows top-down, pixel centres at +0.5, Blender's camera frame looking
down -Z). The grid is the strided pixel grid: pixel ``(row, col)`` with ``row`` and ``col`` multiples of
the stride ``s`` is cell ``(row // s, col // s)``; its neighbours are the pixels ``s`` away.

**Same surface.** Along each image axis, a cell's steps to its neighbours' points, ``back = P - P[-1]`` and
``ahead = P[+1] - P`` (camera frame), are compared through a measure ``m`` that is affine in the pixel
coordinates on any plane: ``1 / planar depth`` (perspective), the planar depth (orthographic), ``1 / distance``
(panoramic, approximately). A step is on the pixel's surface when its change of ``m`` is small (at most
:data:`BREAK` of ``m``: a surface that turns, or a crease) or continues the surface: it is within a factor 3 of
the step on the other side or of the next step on its own side (a plane seen at a grazing angle takes large but
nearly equal steps, a curved surface steadily growing ones). A silhouette is a step that is neither (a jump): it
is never used, so no disc leans across a depth break.

**Tangents.** Per axis, the mean of both steps when both are on the surface (a central difference), else the
one that is, else none. A tangent is at most :data:`MAX_STRETCH` facing footprints long.

**Normal** (towards the camera): ``tx x ty``; with one tangent ``t``, the direction to the camera made
perpendicular to ``t``; with none, the direction to the camera (the camera's axis for orthographic cameras).
Given normals (the Normal pass) replace it, turned towards the camera.

**Radius**: the pixel's footprint on the surface is the parallelogram ``P +- tx/2 +- ty/2``, and the disc is the
circle around it: half its longer diagonal, ``0.5 max(|tx + ty|, |tx - ty|)``. An axis without a tangent counts
as the facing footprint ``f`` (the side of the pixel seen at its depth, :func:`.projection.pixel_footprint` times
the stride) at right angles to the other; with none the radius is :func:`.projection.covering_radius` of ``f``,
the round point's. On a surface facing the camera every rule gives that same ``f / sqrt(2)``; on a plane at
angle ``theta`` the disc stretches by about ``1 / cos(theta)`` along its slope, so an oblique floor stays closed.
"""

from __future__ import annotations

import numpy as np

from .._parallel import parallel_chunks
from .camera import CameraModel
from .projection import SPACES, resolve_depth_kind

__all__ = ["BREAK", "MAX_STRETCH", "surface_discs"]

#: A step whose measure (see the module docstring) changes by at most this fraction is on the pixel's surface.
BREAK = 0.01
#: Two steps continue one surface when they differ by at most this fraction of the larger (within a factor 3).
CONTINUES = 2.0 / 3.0
#: The longest tangent, in facing footprints (a disc on a surface seen nearly edge-on stays bounded).
MAX_STRETCH = 32.0
_PAD = 2  # cells of NaN around the grid: every cell has two neighbours each way
_BLOCK_CELLS = 1 << 16  # cells per block of rows: the block's temporaries stay in the cache


def surface_discs(depths, rows, cols, camera: CameraModel, *, footprints, depth_kind: str = "auto",
                  stride: int = 1, space: str = "world", normals=None) -> tuple[np.ndarray, np.ndarray]:
    """``(normals (N, 3), radii (N,))`` float32 of the discs of the valid pixels ``rows``, ``cols`` (N,) whose
    depth values (of ``depth_kind``) are ``depths`` (N,) and facing footprints ``footprints`` (N,) metres (the
    side of the strided pixel seen at its depth). Normals are unit vectors towards the camera, in ``space``
    ("world" or "camera"); ``normals`` (N, 3), unit vectors in ``space`` (e.g. the Normal pass), replace the
    estimated ones. ``stride``: the pixels are multiples of it. See the module docstring for the rules.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    kind = resolve_depth_kind(depth_kind, camera)
    rows, cols = np.asarray(rows), np.asarray(cols)
    n = len(rows)
    rotation = np.asarray(camera.cam2world, np.float64)[:3, :3]
    height, width = -(-camera.height_px // stride), -(-camera.width_px // stride)
    every = n == height * width  # every cell valid, in row-major order: reshapes instead of scatters
    cells = None if every else (rows // stride, cols // stride)

    def grid(values, pad: int = _PAD) -> np.ndarray:
        values = np.asarray(values, np.float32)
        out = np.full((height + 2 * pad, width + 2 * pad) + values.shape[1:], np.nan, np.float32)
        inner = out[pad:pad + height, pad:pad + width]
        if cells is None:
            inner[...] = values.reshape(inner.shape)
        else:
            inner[cells] = values
        return out

    depth_grid = grid(depths)
    footprint_grid = grid(footprints, 0)
    given = None
    if normals is not None:
        normals = np.asarray(normals, np.float32)
        given = grid(normals @ rotation.astype(np.float32) if space == "world" else normals, 0)
    rays = _Rays(camera, kind, stride, height, width)
    out_normals = np.empty((height, width, 3), np.float32)
    out_radii = np.empty((height, width), np.float32)
    block = max(1, _BLOCK_CELLS // max(width, 1))

    def work(first_cell: int, last_cell: int) -> None:
        first, last = -(-first_cell // width), -(-last_cell // width)  # whole rows: a partition of [0, height)
        for r0 in range(first, last, block):
            r1 = min(r0 + block, last)
            points, measure = rays.points(depth_grid, slice(r0, r1 + 2 * _PAD))
            _discs(points, measure, footprint_grid[r0:r1], None if given is None else given[r0:r1],
                   rays.orthographic, out_normals[r0:r1], out_radii[r0:r1])

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        parallel_chunks(height * width, work)
    if cells is None:
        normals_out, radii = out_normals.reshape(-1, 3), out_radii.reshape(-1)
    else:
        normals_out, radii = out_normals[cells], out_radii[cells]
    if space == "world":
        normals_out = normals_out @ rotation.T.astype(np.float32)
    return np.ascontiguousarray(normals_out, np.float32), np.ascontiguousarray(radii, np.float32)


class _Rays:
    """Camera-frame points of the padded grid's cells from their depths, and the measure of the break test."""

    def __init__(self, camera: CameraModel, kind: str, stride: int, height: int, width: int):
        self.projection, self.kind = camera.projection, kind
        self.orthographic = camera.projection == "ORTHO"
        cells_x = np.arange(-_PAD, width + _PAD) * stride + 0.5
        cells_y = np.arange(-_PAD, height + _PAD) * stride + 0.5
        if self.projection == "PANO":
            from .projection import camera_rays

            gx, gy = np.meshgrid(cells_x, cells_y)
            _, directions = camera_rays(np.stack([gx, gy], axis=-1), camera)
            if kind == "planar":
                with np.errstate(invalid="ignore", divide="ignore"):
                    directions = directions / -directions[..., 2:3]
            self.table = [np.ascontiguousarray(directions[..., k], np.float32) for k in range(3)]
            return
        fx, fy, cx, cy = camera.intrinsics_px()
        self.a = ((cells_x - cx) / fx).astype(np.float32)[None, :]  # camera-frame X per unit planar depth
        self.b = ((cy - cells_y) / fy).astype(np.float32)[:, None]

    def points(self, depth_grid: np.ndarray, rows: slice) -> tuple[list, np.ndarray]:
        """``([X, Y, Z], measure)`` of the padded grid's ``rows``: coordinates 0 where the depth is invalid (so
        that a step to them, weighted 0, stays finite), the measure NaN there."""
        depth = depth_grid[rows]
        known = np.fmax(depth, np.float32(0.0))  # NaN -> 0
        if self.projection == "PANO":
            xyz = [ray[rows] * known for ray in self.table]
            if self.kind == "distance":
                return xyz, 1.0 / depth
            return xyz, 1.0 / np.sqrt(xyz[0] * xyz[0] + xyz[1] * xyz[1] + xyz[2] * xyz[2]) + 0.0 * depth
        a, b = self.a, self.b[rows]
        if self.orthographic:  # the two depth kinds are equal
            return [np.broadcast_to(a, depth.shape), np.broadcast_to(b, depth.shape), -known], depth
        if self.kind == "distance":  # planar = distance / |(a, b, 1)|
            factor = 1.0 / np.sqrt(a * a + b * b + np.float32(1.0))
            known, depth = known * factor, depth * factor
        return [a * known, b * known, -known], 1.0 / depth


def _axis(points: list, measure: np.ndarray, limit: np.ndarray, axis: int) -> tuple[list, np.ndarray]:
    """One image axis' tangent (components, 0 where there is none) at the block's inner cells, and whether there
    is one. ``axis`` 1: along the columns, 0: along the rows."""
    inner = limit.shape

    def around(array: np.ndarray, k: int) -> np.ndarray:
        """Of an array of steps (``diff`` along the axis) or of pairs of steps (``diff`` twice): the one of each
        inner cell c at offset k. Step j joins padded cells j, j + 1: c's back step is p - 1 + c (k = 0), its ahead
        step k = 1, the step before k = -1, after k = 2; pair j joins steps j, j + 1: (before, back) is k = -1,
        (back, ahead) k = 0, (ahead, after) k = 1."""
        along = slice(_PAD - 1 + k, _PAD - 1 + k + inner[axis])
        across = slice(_PAD, _PAD + inner[1 - axis])
        return array[(across, along) if axis == 1 else (along, across)]

    step = np.diff(measure, axis=axis)
    size = np.abs(step)
    larger = np.maximum(size[(slice(None),) * axis + (slice(1, None),)], size[(slice(None),) * axis + (slice(-1),)])
    continues = np.abs(np.diff(step, axis=axis)) <= CONTINUES * larger
    back = (around(size, 0) <= limit) | around(continues, -1) | around(continues, 0)
    ahead = (around(size, 1) <= limit) | around(continues, 0) | around(continues, 1)
    weight_back = back.astype(np.float32)
    weight_ahead = ahead.astype(np.float32)
    share = np.float32(1.0) / np.maximum(weight_back + weight_ahead, np.float32(1.0))
    weight_back *= share
    weight_ahead *= share
    tangent = []
    for component in points:
        delta = np.diff(np.broadcast_to(component, measure.shape), axis=axis)
        tangent.append(weight_back * around(delta, 0) + weight_ahead * around(delta, 1))
    return tangent, back | ahead


def _discs(points: list, measure: np.ndarray, footprint: np.ndarray, given, orthographic: bool, out_normals,
           out_radii) -> None:
    """The discs of one block: ``points`` ([X, Y, Z]) and ``measure`` of the padded rows (r + 4, w + 4),
    ``footprint`` (r, w); writes ``out_normals`` (r, w, 3) and ``out_radii`` (r, w)."""
    p = _PAD
    limit = BREAK * np.abs(measure[p:-p, p:-p])  # small steps: on the surface
    (ux, uy, uz), has_u = _axis(points, measure, limit, 1)
    (vx, vy, vz), has_v = _axis(points, measure, limit, 0)
    # Radius: half the longer diagonal of the footprint parallelogram, each tangent at most MAX_STRETCH f long.
    cap2 = np.square(np.float32(MAX_STRETCH) * footprint)
    lu2 = ux * ux + uy * uy + uz * uz
    lv2 = vx * vx + vy * vy + vz * vz
    dot = np.abs(ux * vx + uy * vy + uz * vz)
    dot *= np.sqrt(np.minimum(np.float32(1.0), cap2 / lu2) * np.minimum(np.float32(1.0), cap2 / lv2))
    radius2 = np.minimum(lu2, cap2)
    radius2 += np.minimum(lv2, cap2)
    radius2 += dot + dot
    # The normal: u x v, towards the camera.
    normal = [uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx]
    centre = [np.broadcast_to(c, measure.shape)[p:-p, p:-p] for c in points]
    # The rare cells without both tangents: the direction to the camera made perpendicular to the one they have,
    # or facing the camera; an axis without a tangent counts as f at right angles to the other.
    lacking = np.nonzero(~(has_u & has_v))
    if len(lacking[0]):
        towards = _towards([c[lacking] for c in centre], orthographic)
        one = (has_u | has_v)[lacking]
        t = np.where(has_u[lacking], [ux[lacking], uy[lacking], uz[lacking]], [vx[lacking], vy[lacking], vz[lacking]])
        length2 = (t * t).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t /= np.sqrt(length2)
        along = (towards * t).sum(axis=0)
        bent = np.where(one, towards - along * t, towards)
        for k in range(3):
            normal[k][lacking] = bent[k]
        f2 = np.square(footprint[lacking])
        radius2[lacking] = np.where(one, np.minimum(length2, cap2[lacking]), f2) + f2
    if given is not None:
        known = np.isfinite(given).all(axis=-1)
        normal = [np.where(known, given[..., k], normal[k]) for k in range(3)]
    length = np.sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2])
    flat = np.nonzero(~(length > 1e-20))  # collinear tangents (or a zero normal given): face the camera
    if len(flat[0]):
        towards = _towards([c[flat] for c in centre], orthographic)
        for k in range(3):
            normal[k][flat] = towards[k]
        length[flat] = 1.0
    if orthographic:
        facing = normal[2]
    else:  # the direction to the camera is -P
        facing = -(normal[0] * centre[0] + normal[1] * centre[1] + normal[2] * centre[2])
    scale = np.where(facing < 0, np.float32(-1.0), np.float32(1.0)) / length
    for k in range(3):
        np.multiply(normal[k], scale, out=out_normals[..., k])
    np.sqrt(radius2, out=out_radii)
    out_radii *= np.float32(0.5)


def _towards(centre: list, orthographic: bool) -> np.ndarray:
    """(3, n) unit directions from points ``centre`` ([X, Y, Z], camera frame) to the camera."""
    if orthographic:
        return np.array([[0.0], [0.0], [1.0]], np.float32) + np.zeros((3, len(centre[0])), np.float32)
    xyz = -np.array(centre, np.float32)
    return xyz / np.sqrt((xyz * xyz).sum(axis=0))
