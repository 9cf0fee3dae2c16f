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
circle around it: half its longer diagonal, ``0.5 max(|tx + ty|, |tx - ty|)``. (Perspective cameras work on the
inverse depth alone, affine on planes: the normal in closed form, the tangents as the derivatives at the centre;
see :func:`_perspective_discs`.) An axis without a tangent counts
as the facing footprint ``f`` (the side of the pixel seen at its depth, :func:`.projection.pixel_footprint` times
the stride) at right angles to the other; with none the radius is :func:`.projection.covering_radius` of ``f``,
the round point's. On a surface facing the camera every rule gives that same ``f / sqrt(2)``; on a plane at
angle ``theta`` the disc stretches by about ``1 / cos(theta)`` along its slope, so an oblique floor stays closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._parallel import parallel_chunks
from .camera import CameraModel
from .projection import (
    _check_space,
    camera_rays,
    covering_radius,
    pinhole_ab,
    resolve_depth_kind,
    rotation_to_quaternion,
    rotation_to_quaternions,
)

__all__ = ["BREAK", "MAX_STRETCH", "Discs", "surface_discs"]

#: A step whose measure (see the module docstring) changes by at most this fraction is on the pixel's surface.
BREAK = 0.01
#: Two steps continue one surface when they differ by at most this fraction of the larger (within a factor 3).
CONTINUES = 2.0 / 3.0
#: The longest tangent, in facing footprints (a disc on a surface seen nearly edge-on stays bounded).
MAX_STRETCH = 32.0
_PAD = 2  # cells of NaN around the grid: every cell has two neighbours each way
_BLOCK_CELLS = 1 << 16  # cells per block of rows: the block's temporaries stay in the cache


@dataclass(frozen=True)
class Discs:
    """The discs of N pixels, float32, in one space (world or camera): see :func:`surface_discs`."""

    normals: np.ndarray    # (N, 3) unit, towards the camera
    radii: np.ndarray      # (N,) metres: the circle around the pixel's footprint on the surface
    rotations: np.ndarray  # (N, 4) unit quaternions (w, x, y, z): +X, +Y, +Z onto the ellipse's axes and the normal
    scales: np.ndarray     # (N, 3) metres: the ellipse's semi-axes along its +X (the longer) and +Y, and the first
    #                        again along +Z: the height of the cone drawn (``DISC_DOME`` of it, in Blender)


def surface_discs(depths, rows, cols, camera: CameraModel, *, footprints, depth_kind: str = "auto",
                  stride: int = 1, space: str = "world", normals=None) -> Discs:
    """The :class:`Discs` of the valid pixels ``rows``, ``cols`` (N,) whose depth values (of ``depth_kind``) are
    ``depths`` (N,) and facing footprints ``footprints`` (N,) metres (the side of the strided pixel seen at its
    depth), in ``space`` ("world" or "camera"). ``normals`` (N, 3), unit vectors in ``space`` (e.g. the Normal
    pass), replace the estimated ones where finite. ``stride``: the pixels are multiples of it. See the module
    docstring for the rules.
    """
    _check_space(space)
    kind = resolve_depth_kind(depth_kind, camera)
    rows, cols = np.asarray(rows), np.asarray(cols)
    n = len(rows)
    rotation = np.asarray(camera.cam2world, np.float64)[:3, :3]
    height, width = -(-camera.height_px // stride), -(-camera.width_px // stride)
    # Flat cell indices, sorted with ``order`` unless they come sorted (as a PixelSet's do): each block of rows finds
    # its own valid cells in them.
    at = (rows // stride).astype(np.intp) * width + cols // stride
    order = None
    if n > 1 and not bool(np.all(at[1:] > at[:-1])):
        order = np.argsort(at, kind="stable")
        at = at[order]
    every = order is None and n == height * width  # every cell, in row-major order: reshapes instead of scatters
    cells = None if every else (rows // stride, cols // stride)

    def grid(values, pad: int = _PAD, fill: float = np.nan) -> np.ndarray:
        values = np.asarray(values, np.float32)
        out = np.full((height + 2 * pad, width + 2 * pad) + values.shape[1:], fill, np.float32)
        inner = out[pad:pad + height, pad:pad + width]
        if cells is None:
            inner[...] = values.reshape(inner.shape)
        else:
            inner[cells] = values
        return out

    # Perspective: invalid cells at infinity, so that their inverse depth is 0, a jump from any surface (no NaN).
    depth_grid = grid(depths, fill=np.inf if camera.projection == "PERSP" else np.nan)
    footprint_grid = grid(footprints, 0)
    given = None
    if normals is not None:
        normals = np.asarray(normals, np.float32)
        given = grid(normals, 0)
    # Normals are turned into world space in the blocks: numpy's float32 (N, 3) @ (3, 3) is a slow loop (0.65 s for
    # 2 million normals).
    to_space = rotation.astype(np.float32) if space == "world" else None
    rays = _Rays(camera, kind, stride, height, width)
    # The result, (N, ...) in the order of ``rows``, ``cols``: each block of rows writes its own valid cells into it.
    parts = (3, None, 4, 3)  # normals, radii, rotations, scales
    result = tuple(np.empty((n,) if k is None else (n, k), np.float32) for k in parts)
    block = max(1, _BLOCK_CELLS // max(width, 1))

    def work(first_cell: int, last_cell: int) -> None:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # per thread: invalid cells give NaN
            blocks(first_cell, last_cell)

    def blocks(first_cell: int, last_cell: int) -> None:
        first, last = -(-first_cell // width), -(-last_cell // width)  # whole rows: a partition of [0, height)
        for r0 in range(first, last, block):
            r1 = min(r0 + block, last)
            padded = slice(r0, r1 + 2 * _PAD)
            footprint = footprint_grid[r0:r1]
            normal = None if given is None else given[r0:r1]
            block_out = tuple(np.empty((r1 - r0, width) + (() if k is None else (k,)), np.float32) for k in parts)
            if rays.projection == "PERSP":
                _perspective_discs(rays, padded, depth_grid[padded], footprint, (normal, to_space), block_out)
            else:
                points, measure = rays.points(depth_grid, padded)
                _discs(points, measure, footprint, (normal, to_space), rays.orthographic, block_out)
            flat = [array.reshape((r1 - r0) * width, *array.shape[2:]) for array in block_out]
            if every:
                for whole, part in zip(result, flat):
                    whole[r0 * width:r1 * width] = part
                continue
            lo, hi = np.searchsorted(at, (r0 * width, r1 * width))
            local = at[lo:hi] - r0 * width
            destination: slice | np.ndarray = slice(lo, hi) if order is None else order[lo:hi]
            for whole, part in zip(result, flat):  # a take of flat indices: 4x faster than by (rows, cols)
                whole[destination] = np.take(part, local, axis=0)

    parallel_chunks(height * width, work)
    return Discs(*result)


class _Rays:
    """The pixel rays of the padded grid's cells: ``a``, ``b`` (camera-frame X, Y per unit planar depth) and their
    steps (perspective, orthographic), or the directions (panoramic); :meth:`points` for the generic path."""

    def __init__(self, camera: CameraModel, kind: str, stride: int, height: int, width: int):
        self.projection, self.kind = camera.projection, kind
        self.orthographic = camera.projection == "ORTHO"
        cells_x = np.arange(-_PAD, width + _PAD) * stride + 0.5
        cells_y = np.arange(-_PAD, height + _PAD) * stride + 0.5
        if self.projection == "PANO":
            gx, gy = np.meshgrid(cells_x, cells_y)
            _, directions = camera_rays(np.stack([gx, gy], axis=-1), camera)
            if kind == "planar":
                with np.errstate(invalid="ignore", divide="ignore"):
                    directions = directions / -directions[..., 2:3]
            self.table = [np.ascontiguousarray(directions[..., k], np.float32) for k in range(3)]
            return
        a, b = pinhole_ab(camera, cells_x, cells_y)  # camera-frame X, Y per unit planar depth
        self.a, self.b = a.astype(np.float32)[None, :], b.astype(np.float32)[:, None]
        fx, fy, _, _ = camera.intrinsics_px()
        self.da, self.db = np.float32(stride / fx), np.float32(-stride / fy)  # a's step per column, b's per row
        self.per_column, self.per_row = np.float32(fx / stride), np.float32(-fy / stride)

    def points(self, depth_grid: np.ndarray, rows: slice) -> tuple[list, np.ndarray]:
        """Orthographic and panoramic cameras: ``([X, Y, Z], measure)`` of the padded grid's ``rows``; coordinates 0
        where the depth is invalid (so that a step to them, weighted 0, stays finite), the measure NaN there."""
        depth = depth_grid[rows]
        known = np.fmax(depth, np.float32(0.0))  # NaN -> 0
        if self.orthographic:  # the two depth kinds are equal
            a, b = self.a, self.b[rows]
            return [np.broadcast_to(a, depth.shape), np.broadcast_to(b, depth.shape), -known], depth
        xyz = [ray[rows] * known for ray in self.table]
        if self.kind == "distance":
            return xyz, 1.0 / depth
        return xyz, 1.0 / np.sqrt(xyz[0] * xyz[0] + xyz[1] * xyz[1] + xyz[2] * xyz[2]) + 0.0 * depth


def _around(array: np.ndarray, axis: int, k: int, inner: tuple) -> np.ndarray:
    """Of an array of steps along ``axis`` (``diff`` of the padded block) or of pairs of steps (``diff`` twice): the
    one of each inner cell c at offset k. Step j joins padded cells j, j + 1: c's back step is p - 1 + c (k = 0),
    its ahead step k = 1, the step before k = -1, after k = 2; pair j joins steps j, j + 1: (before, back) is
    k = -1, (back, ahead) k = 0, (ahead, after) k = 1. Of the cells themselves: k = 0 is cell c - 1, k = 2 cell
    c + 1."""
    along = slice(_PAD - 1 + k, _PAD - 1 + k + inner[axis])
    across = slice(_PAD, _PAD + inner[1 - axis])
    return array[(across, along) if axis == 1 else (along, across)]


def _same_surface(measure: np.ndarray, limit: np.ndarray, axis: int, invalid_is_nan: bool = True) -> tuple:
    """Along one image axis (1: columns, 0: rows), at the block's inner cells: the measure's steps
    (``back``, ``ahead``), the weight of each in the tangent (0: across a break; 1/2 each for a central
    difference), and whether there is a tangent. Invalid cells' measure is NaN, or (``invalid_is_nan`` False)
    0: the inverse depth of a cell at infinity, a jump from any surface."""
    inner = limit.shape
    step = np.diff(measure, axis=axis)
    size = np.abs(step)
    larger = np.maximum(size[(slice(None),) * axis + (slice(1, None),)], size[(slice(None),) * axis + (slice(-1),)])
    continues = np.abs(np.diff(step, axis=axis)) <= CONTINUES * larger
    back = (_around(size, axis, 0, inner) <= limit) | _around(continues, axis, -1, inner) \
        | _around(continues, axis, 0, inner)
    ahead = (_around(size, axis, 1, inner) <= limit) | _around(continues, axis, 0, inner) \
        | _around(continues, axis, 1, inner)
    if invalid_is_nan:  # a step to an invalid cell weighs 0: keep 0 * step finite
        np.copyto(step, 0.0, where=np.isnan(step))
    else:  # never a step to a cell at infinity (the horizon of a plane would continue it)
        back &= _around(measure, axis, 0, inner) > 0  # cell c - 1 (padded p - 1 + c)
        ahead &= _around(measure, axis, 2, inner) > 0  # cell c + 1
    weight_back = back.astype(np.float32)
    weight_ahead = ahead.astype(np.float32)
    share = np.float32(1.0) / np.maximum(weight_back + weight_ahead, np.float32(1.0))
    weight_back *= share
    weight_ahead *= share
    return (_around(step, axis, 0, inner), _around(step, axis, 1, inner)), (weight_back, weight_ahead), back | ahead


def _perspective_discs(rays: _Rays, rows: slice, depth: np.ndarray, footprint, frame: tuple, out: tuple) -> None:
    """The discs of one block of a perspective camera, from the inverse planar depth ``w`` alone (no points): on a
    plane ``w`` is affine in ``(a, b)`` = (X, Y) per unit depth, ``w = alpha a + beta b + gamma``, and the plane's
    normal towards the camera is ``(-alpha, -beta, gamma)``; ``alpha``, ``beta`` are the steps of ``w`` chosen as
    in :func:`_same_surface` over the steps of ``a``, ``b``. The tangents are ``dX/da`` and ``dX/db`` times those
    steps, ``X = (a, b, -1) / w`` (at the centre: a central difference to first order; the trapezoid rule makes
    neighbouring discs overlap where the steps grow)."""
    p = _PAD
    if rays.kind == "distance":  # planar = distance / |(a, b, 1)|
        a, b = rays.a, rays.b[rows]
        depth = depth / np.sqrt(a * a + b * b + np.float32(1.0))
    w = np.float32(1.0) / depth
    inner_w = w[p:-p, p:-p]
    limit = BREAK * inner_w  # small steps: on the surface
    (back_x, ahead_x), (wb_x, wa_x), has_u = _same_surface(w, limit, 1, invalid_is_nan=False)
    (back_y, ahead_y), (wb_y, wa_y), has_v = _same_surface(w, limit, 0, invalid_is_nan=False)
    alpha = wb_x * back_x
    alpha += wa_x * ahead_x
    alpha *= rays.per_column  # dw/da
    beta = wb_y * back_y
    beta += wa_y * ahead_y
    beta *= rays.per_row  # dw/db
    a, b = rays.a[:, p:-p], rays.b[rows][p:-p]
    a_alpha, b_beta = a * alpha, b * beta
    # The tangents: (w - a alpha, -b alpha, alpha) da / w^2 and (-a beta, w - b beta, beta) db / w^2.
    su = np.float32(1.0) / (inner_w * inner_w)
    sv = su * rays.db
    su *= rays.da
    u = [(inner_w - a_alpha) * su, -(b * alpha) * su, alpha * su]
    v = [-(a * beta) * sv, (inner_w - b_beta) * sv, beta * sv]
    normal = [-alpha, -beta, inner_w - a_alpha - b_beta]

    def towards(cells) -> np.ndarray:
        xyz = np.array([-np.broadcast_to(a, inner_w.shape)[cells], -np.broadcast_to(b, inner_w.shape)[cells],
                        np.ones(len(cells[0]), np.float32)])
        return xyz / np.sqrt((xyz * xyz).sum(axis=0))

    shape = inner_w.shape
    to_camera = [np.broadcast_to(-a, shape), np.broadcast_to(-b, shape), np.broadcast_to(np.float32(1.0), shape)]
    _finish(normal, u, v, has_u, has_v, footprint, frame, to_camera, towards, out)


def _discs(points: list, measure: np.ndarray, footprint: np.ndarray, frame: tuple, orthographic: bool,
           out: tuple) -> None:
    """The discs of one block of an orthographic or panoramic camera: ``points`` ([X, Y, Z]) and ``measure`` of the
    padded rows (r + 4, w + 4), ``footprint`` (r, w): the tangents from the points' steps, the normal ``u x v``."""
    p = _PAD
    limit = BREAK * np.abs(measure[p:-p, p:-p])  # small steps: on the surface
    tangents, has = [], []
    inner = limit.shape
    for axis in (1, 0):
        _, (weight_back, weight_ahead), tangent_found = _same_surface(measure, limit, axis)
        tangent = []
        for component in points:
            delta = np.diff(np.broadcast_to(component, measure.shape), axis=axis)
            tangent.append(weight_back * _around(delta, axis, 0, inner) + weight_ahead * _around(delta, axis, 1, inner))
        tangents.append(tangent)
        has.append(tangent_found)
    u, v = tangents
    normal = _cross(u, v)
    centre = [np.broadcast_to(c, measure.shape)[p:-p, p:-p] for c in points]

    def towards(cells) -> np.ndarray:
        if orthographic:
            xyz = np.zeros((3, len(cells[0])), np.float32)
            xyz[2] = 1.0
            return xyz
        xyz = -np.array([c[cells] for c in centre], np.float32)
        return xyz / np.sqrt((xyz * xyz).sum(axis=0))

    shape = limit.shape
    if orthographic:
        to_camera = [np.broadcast_to(np.float32(value), shape) for value in (0.0, 0.0, 1.0)]
    else:  # the direction to the camera is -P
        to_camera = [-c for c in centre]
    _finish(normal, u, v, has[0], has[1], footprint, frame, to_camera, towards, out)


def _dot(a: list, b: list):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: list, b: list) -> list:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _lacking(normal: list, u: list, v: list, has_u, has_v, footprint, towards, valid) -> None:
    """The rare cells without both tangents: the normal is the direction to the camera (``towards(cells)``, (3, n))
    made perpendicular to the tangent they have, or that direction; a missing tangent is the facing footprint ``f``
    long, at right angles to the normal and to the other tangent."""
    cells = np.nonzero(valid & ~(has_u & has_v))  # (invalid cells are never read)
    if not len(cells[0]):
        return
    one_u, one_v = has_u[cells], has_v[cells]
    mine_u, mine_v = np.array([c[cells] for c in u]), np.array([c[cells] for c in v])
    present = np.where(one_u, mine_u, mine_v)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = present / np.sqrt((present * present).sum(axis=0))
    to_camera = towards(cells)
    n = np.where(one_u | one_v, to_camera - (to_camera * unit).sum(axis=0) * unit, to_camera)
    n /= np.sqrt((n * n).sum(axis=0))
    side = np.array([[1.0], [0.0], [0.0]], np.float32) - n[0] * n  # a direction in the plane: x, unless n is x
    side = np.where(np.abs(n[0]) > 0.9, np.array([[0.0], [1.0], [0.0]], np.float32) - n[1] * n, side)
    direction = np.where(one_v, np.cross(mine_v, n, axis=0), side)
    f = footprint[cells]
    new_u = np.where(one_u, mine_u, f * direction / np.sqrt((direction * direction).sum(axis=0)))
    new_v = np.where(one_v, mine_v, f * np.cross(n, new_u / np.sqrt((new_u * new_u).sum(axis=0)), axis=0))
    for k in range(3):
        normal[k][cells], u[k][cells], v[k][cells] = n[k], new_u[k], new_v[k]


def _finish(normal: list, u: list, v: list, has_u, has_v, footprint, frame: tuple, to_camera: list, towards,
            out: tuple) -> None:
    """From a block's normals and tangents (camera frame, lists of 3 arrays (r, w); ``has_u``/``has_v``: whether each
    tangent is the surface's): the unit normals towards the camera (``to_camera``: the direction to the camera, any
    length; ``towards(cells)``: unit, (3, n)), the radii and the ellipses, into ``out`` = ``(normals (r, w, 3),
    radii (r, w), rotations (r, w, 4), scales (r, w, 3))`` in the output's space. ``frame``: ``(given,
    to_space)``: normals (r, w, 3) in the output's space that replace the estimate where known (or None), and the
    rotation from the camera frame to the output's space (None: the camera frame).

    The footprint, ``P +- u/2 +- v/2`` with the tangents laid into the disc's plane along the pixel's ray (so that
    the disc still covers the pixel seen from the camera when its normal is given; each at most MAX_STRETCH ``f``
    long), in the disc's axes ``e1 = u / |u|``, ``e2 = n x e1`` has corners ``(+-(|u| + |p|)/2, +-|q|/2)`` at most
    (``v = p e1 + q e2``): the radius is the circle around the parallelogram, ``0.5 max(|u + v|, |u - v|)``; the
    ellipse drawn in Blender is the circle around that box made affine, semi-axes ``(|u| + |p|) / sqrt(2)`` and
    ``|q| / sqrt(2)``: it covers the footprint and stands out of it by at most a fifth of its extent each way, where
    a circle of an oblique surface's footprint would stand out sideways by half its length."""
    out_normals, out_radii, out_rotations, out_scales = out
    given, to_space = frame
    valid = footprint > 0  # invalid cells (footprint 0) are never read: no work on them
    _lacking(normal, u, v, has_u, has_v, footprint, towards, valid)
    if given is not None:
        given = [given[..., k] for k in range(3)]
        if to_space is not None:  # into the camera frame: the inverse (transposed) rotation
            given = [to_space[0, k] * given[0] + to_space[1, k] * given[1] + to_space[2, k] * given[2]
                     for k in range(3)]
        known = np.isfinite(given[0]) & np.isfinite(given[1]) & np.isfinite(given[2])
        normal = [np.where(known, given[k], normal[k]) for k in range(3)]
    length = np.sqrt(_dot(normal, normal))
    facing = _dot(normal, to_camera)
    scale = np.where(facing < 0, np.float32(-1.0), np.float32(1.0)) / length
    n = [c * scale for c in normal]
    if given is not None:  # the tangents into the given disc's plane, along the ray (an estimate's contain them)
        facing *= scale
        for t in (u, v):
            along = _dot(t, n) / facing
            for k in range(3):
                t[k] -= along * to_camera[k]
    # In the disc's axes e1 = u / |u|, e2 = n x e1: u = (|u|, 0), v = (p, q); each tangent at most MAX_STRETCH f.
    cap = np.float32(MAX_STRETCH) * footprint
    size_u = np.sqrt(_dot(u, u))
    e1 = [c / size_u for c in u]
    e2 = _cross(n, e1)
    p, q = np.abs(_dot(v, e1)), np.abs(_dot(v, e2))
    np.minimum(size_u, cap, out=size_u)
    shrink = np.minimum(np.float32(1.0), cap / np.sqrt(p * p + q * q))
    p *= shrink
    q *= shrink
    major = size_u + p
    np.multiply(np.float32(0.5), np.sqrt(major * major + q * q), out=out_radii)
    broken = np.nonzero(valid & ~(np.isfinite(e1[0]) & np.isfinite(n[0])))  # zero normal given, collinear tangents
    if len(broken[0]):
        _face_the_camera(n, e1, e2, broken, footprint, out_radii)
        major[broken], q[broken] = footprint[broken], footprint[broken]
    root_half = np.float32(np.sqrt(0.5))
    out_scales[..., 0] = major * root_half
    out_scales[..., 1] = q * root_half
    out_scales[..., 2] = out_scales[..., 0]  # measured best: a dome 0.1 of the longer semi-axis high (see builder)
    _quaternions(e1, e2, n, to_space, out_rotations, valid)
    for k in range(3):
        if to_space is None:
            out_normals[..., k] = n[k]
        else:
            out_normals[..., k] = to_space[k, 0] * n[0] + to_space[k, 1] * n[1] + to_space[k, 2] * n[2]


def _face_the_camera(n: list, e1: list, e2: list, cells, footprint, out_radii) -> None:
    """Cells whose normal or axes are undefined: a round disc facing the camera's axis, of the round point's radius."""
    for k, value in enumerate((0.0, 0.0, 1.0)):
        n[k][cells] = value
    for k, value in enumerate((1.0, 0.0, 0.0)):
        e1[k][cells] = value
    for k, value in enumerate((0.0, 1.0, 0.0)):
        e2[k][cells] = value
    out_radii[cells] = covering_radius(footprint[cells])


def _quaternions(e1: list, e2: list, n: list, to_space, out, valid) -> None:
    """Unit quaternions ``(w, x, y, z)`` of the rotations whose columns are ``e1, e2, n`` (camera frame), turned into
    the output's space by ``to_space`` (composed with its quaternion), into ``out`` (r, w, 4). Shepperd's method:
    the ``w`` branch, well conditioned where the trace is not near -1 (discs face the camera: their frames are near
    the camera's), the largest of the four elsewhere."""
    trace = e1[0] + e2[1] + n[2]
    w = np.float32(0.5) * np.sqrt(np.maximum(trace + np.float32(1.0), np.float32(0.0)))
    quarter = np.float32(0.25) / w
    q = [w, (e2[2] - n[1]) * quarter, (n[0] - e1[2]) * quarter, (e1[1] - e2[0]) * quarter]
    poor = np.nonzero(valid & ~(trace > -0.8))
    if len(poor[0]):
        matrices = np.stack([np.stack([c[poor] for c in column], axis=-1) for column in (e1, e2, n)], axis=-1)
        fixed = rotation_to_quaternions(matrices)
        for k in range(4):
            q[k][poor] = fixed[:, k]
    if to_space is not None:
        w1, x1, y1, z1 = (np.float32(c) for c in rotation_to_quaternion(to_space))
        w2, x2, y2, z2 = q
        q = [w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
             w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2]
    for k in range(4):
        out[..., k] = q[k]
