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
    to_space = rotation.astype(np.float32) if space == "world" else None  # turned in the blocks: (N, 3) @ (3, 3)
    # in float32 is a slow loop in numpy (0.65 s for 2 million normals)
    rays = _Rays(camera, kind, stride, height, width)
    out_normals = np.empty((height, width, 3), np.float32)
    out_radii = np.empty((height, width), np.float32)
    block = max(1, _BLOCK_CELLS // max(width, 1))

    def work(first_cell: int, last_cell: int) -> None:
        first, last = -(-first_cell // width), -(-last_cell // width)  # whole rows: a partition of [0, height)
        for r0 in range(first, last, block):
            r1 = min(r0 + block, last)
            padded = slice(r0, r1 + 2 * _PAD)
            footprint = footprint_grid[r0:r1]
            normal = None if given is None else given[r0:r1]
            if rays.projection == "PERSP":
                _perspective_discs(rays, padded, depth_grid[padded], footprint, (normal, to_space),
                                   out_normals[r0:r1], out_radii[r0:r1])
            else:
                points, measure = rays.points(depth_grid, padded)
                _discs(points, measure, footprint, (normal, to_space), rays.orthographic, out_normals[r0:r1],
                       out_radii[r0:r1])

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        parallel_chunks(height * width, work)
    if cells is None:
        normals_out, radii = out_normals.reshape(-1, 3), out_radii.reshape(-1)
    else:
        normals_out, radii = out_normals[cells], out_radii[cells]
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
        self.da, self.db = np.float32(stride / fx), np.float32(-stride / fy)  # a's step per column, b's per row
        self.per_column, self.per_row = np.float32(fx / stride), np.float32(-fy / stride)

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


def _around(array: np.ndarray, axis: int, k: int, inner: tuple) -> np.ndarray:
    """Of an array of steps along ``axis`` (``diff`` of the padded block) or of pairs of steps (``diff`` twice): the
    one of each inner cell c at offset k. Step j joins padded cells j, j + 1: c's back step is p - 1 + c (k = 0),
    its ahead step k = 1, the step before k = -1, after k = 2; pair j joins steps j, j + 1: (before, back) is
    k = -1, (back, ahead) k = 0, (ahead, after) k = 1."""
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


def _perspective_discs(rays: _Rays, rows: slice, depth: np.ndarray, footprint, frame: tuple, out_normals,
                       out_radii) -> None:
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
    u0, v1 = inner_w - a_alpha, inner_w - b_beta
    gamma = u0 - b_beta
    # Radius: the tangents are (w - a alpha, -b alpha, alpha) da / w^2 and (-a beta, w - b beta, beta) db / w^2.
    su = np.float32(1.0) / (inner_w * inner_w)
    sv = su * rays.db
    su *= rays.da
    b_alpha, a_beta = b * alpha, a * beta
    lu2 = u0 * u0
    lu2 += b_alpha * b_alpha
    lu2 += alpha * alpha
    lu2 *= su * su
    lv2 = v1 * v1
    lv2 += a_beta * a_beta
    lv2 += beta * beta
    lv2 *= sv * sv
    dot = beta * alpha
    dot -= a_beta * u0
    dot -= b_alpha * v1
    dot *= su * sv
    np.abs(dot, out=dot)
    radius2 = _radius2(lu2, lv2, dot, footprint)
    normal = [-alpha, -beta, gamma]
    lacking = np.nonzero(~(has_u & has_v))
    if len(lacking[0]):
        la, lb, lw = np.broadcast_to(a, inner_w.shape)[lacking], np.broadcast_to(b, inner_w.shape)[lacking], \
            inner_w[lacking]
        one_u = has_u[lacking]
        al, be, sul, svl = alpha[lacking], beta[lacking], su[lacking], sv[lacking]
        tangent = np.where(one_u, [(lw - la * al) * sul, -lb * al * sul, al * sul],
                           [-la * be * svl, (lw - lb * be) * svl, be * svl])
        towards = np.array([-la, -lb, np.ones_like(la)])
        towards /= np.sqrt((towards * towards).sum(axis=0))
        _lacking(normal, radius2, lacking, (has_u | has_v)[lacking], tangent, towards, footprint)
    _finish(normal, radius2, frame, lambda n: n[2] - n[0] * a - n[1] * b, out_normals, out_radii)


def _radius2(lu2, lv2, dot, footprint):
    """Squared radius: a quarter of the squared longer diagonal of the parallelogram of the two tangents (squared
    lengths ``lu2``, ``lv2``, ``|u . v|`` ``dot``), each at most MAX_STRETCH facing footprints long."""
    cap2 = np.square(np.float32(MAX_STRETCH) * footprint)
    dot = dot * np.sqrt(np.minimum(np.float32(1.0), cap2 / lu2) * np.minimum(np.float32(1.0), cap2 / lv2))
    radius2 = np.minimum(lu2, cap2)
    radius2 += np.minimum(lv2, cap2)
    radius2 += dot + dot
    radius2 *= np.float32(0.25)
    return radius2


def _lacking(normal: list, radius2, cells, one, tangent, towards, footprint) -> None:
    """The rare cells without both tangents (``cells``, ``one``: whether they have one; ``tangent`` (3, n) that one,
    ``towards`` (3, n) unit directions to the camera): the direction to the camera made perpendicular to the tangent,
    or facing the camera; an axis without a tangent counts as f at right angles to the other."""
    length2 = (tangent * tangent).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = tangent / np.sqrt(length2)
    along = (towards * unit).sum(axis=0)
    bent = np.where(one, towards - along * unit, towards)
    for k in range(3):
        normal[k][cells] = bent[k]
    f2 = np.square(footprint[cells])
    cap2 = np.float32(MAX_STRETCH) ** 2 * f2
    radius2[cells] = np.float32(0.25) * (np.where(one, np.minimum(length2, cap2), f2) + f2)


def _finish(normal: list, radius2, frame: tuple, facing_of, out_normals, out_radii) -> None:
    """Unit normals (camera frame) towards the camera (``facing_of(n)``: n's component towards the camera, sign only)
    into ``out_normals`` in the output's space, the radii into ``out_radii``. ``frame``: ``(given, to_space)``,
    normals (r, w, 3) in the output's space that replace the estimate where known (or None), and the rotation from
    the camera frame to the output's space (None: the camera frame)."""
    given, to_space = frame
    if given is not None:
        given = [given[..., k] for k in range(3)]
        if to_space is not None:  # into the camera frame: the inverse (transposed) rotation
            given = [to_space[0, k] * given[0] + to_space[1, k] * given[1] + to_space[2, k] * given[2]
                     for k in range(3)]
        known = np.isfinite(given[0]) & np.isfinite(given[1]) & np.isfinite(given[2])
        normal = [np.where(known, given[k], normal[k]) for k in range(3)]
    length = np.sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2])
    scale = np.where(facing_of(normal) < 0, np.float32(-1.0), np.float32(1.0)) / length
    flat = np.nonzero(~(length > 1e-20))  # collinear tangents (or a zero normal given): face the camera axis
    if len(flat[0]):
        normal[0][flat], normal[1][flat], normal[2][flat], scale[flat] = 0.0, 0.0, 1.0, 1.0
    normal = [n * scale for n in normal]
    for k in range(3):
        if to_space is None:
            out_normals[..., k] = normal[k]
        else:
            out_normals[..., k] = to_space[k, 0] * normal[0] + to_space[k, 1] * normal[1] + to_space[k, 2] * normal[2]
    np.sqrt(radius2, out=out_radii)


def _discs(points: list, measure: np.ndarray, footprint: np.ndarray, frame: tuple, orthographic: bool, out_normals,
           out_radii) -> None:
    """The discs of one block of an orthographic or panoramic camera: ``points`` ([X, Y, Z]) and ``measure`` of the
    padded rows (r + 4, w + 4), ``footprint`` (r, w); writes ``out_normals`` (r, w, 3) and ``out_radii`` (r, w)."""
    p = _PAD
    limit = BREAK * np.abs(measure[p:-p, p:-p])  # small steps: on the surface
    tangents = []
    has = []
    inner = limit.shape
    for axis in (1, 0):
        _, (weight_back, weight_ahead), tangent_found = _same_surface(measure, limit, axis)
        tangent = []
        for component in points:
            delta = np.diff(np.broadcast_to(component, measure.shape), axis=axis)
            tangent.append(weight_back * _around(delta, axis, 0, inner) + weight_ahead * _around(delta, axis, 1, inner))
        tangents.append(tangent)
        has.append(tangent_found)
    (ux, uy, uz), (vx, vy, vz) = tangents
    has_u, has_v = has
    lu2 = ux * ux + uy * uy + uz * uz
    lv2 = vx * vx + vy * vy + vz * vz
    radius2 = _radius2(lu2, lv2, np.abs(ux * vx + uy * vy + uz * vz), footprint)
    normal = [uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx]  # u x v
    centre = [np.broadcast_to(c, measure.shape)[p:-p, p:-p] for c in points]
    lacking = np.nonzero(~(has_u & has_v))
    if len(lacking[0]):
        one_u = has_u[lacking]
        present = np.where(one_u, [ux[lacking], uy[lacking], uz[lacking]], [vx[lacking], vy[lacking], vz[lacking]])
        if orthographic:
            towards = np.zeros((3, len(one_u)), np.float32)
            towards[2] = 1.0
        else:
            towards = -np.array([c[lacking] for c in centre], np.float32)
            towards /= np.sqrt((towards * towards).sum(axis=0))
        _lacking(normal, radius2, lacking, (has_u | has_v)[lacking], present, towards, footprint)
    if orthographic:
        def facing(n):
            return n[2]
    else:  # the direction to the camera is -P
        def facing(n):
            return -(n[0] * centre[0] + n[1] * centre[1] + n[2] * centre[2])
    _finish(normal, radius2, frame, facing, out_normals, out_radii)
