"""Pixel-exact geometry from a depth map: one camera-facing quad per pixel, or a torn grid surface.

Conventions as in :mod:`geometry` (pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)``,
rows top-down, Blender camera frame looking down -Z). Inputs are the valid pixels in the form
:func:`geometry.backproject_valid` returns them: ``rows``, ``cols`` and each pixel's depth value.

* :func:`pixel_quads`: the four corners of each pixel, back-projected at the pixel's own depth. For
  planar depth the quad lies in the plane ``Z = -depth`` (parallel to the image: it faces the
  camera); for ray distance the corners lie on the corner rays at that distance. Seen from the
  camera, the quads of all pixels tile the image exactly: the corner shared by four pixels projects
  to the same image point for each of them, whatever their depths.
* :func:`grid_faces`: quads between the centres of 2x2 neighbouring valid pixels whose depths differ
  by less than a relative threshold, so silhouettes tear instead of stretching; with
  :func:`grid_uvs` mapping each vertex to its pixel centre in the source image.
"""

from __future__ import annotations

import numpy as np

from .camera import CameraModel
from .projection import _check_space, camera_rays, pinhole_ab, resolve_depth_kind

#: Corner offsets of a pixel, in an order that is counter-clockwise as the camera sees it (x right,
#: y up in the camera frame), so quad normals face the camera: bottom-left, bottom-right, top-right,
#: top-left (image y grows downwards).
CORNER_OFFSETS = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])


def pixel_quads(depth_values, rows, cols, camera: CameraModel, *, depth_kind: str = "auto",
                space: str = "world", size: int = 1, dtype=np.float32, chunk_px: int = 1 << 18) -> np.ndarray:
    """(N, 4, 3) corners of each pixel's quad at the pixel's own depth, in ``space``.

    ``depth_values`` (N,) of ``depth_kind`` for the pixels ``rows``, ``cols`` (N,). Corner order:
    :data:`CORNER_OFFSETS` (counter-clockwise seen from the camera). ``size`` > 1 makes each quad
    cover ``size`` x ``size`` pixels from ``(col, row)`` (a strided build: ``rows`` and ``cols`` are
    multiples of ``size``). Panoramic corners without a ray (outside a fisheye's circle) are NaN.

    The rays through the image's corner grid are computed once in float64, scaled so that a depth
    of 1 (of ``depth_kind``) reaches the point, and shared by the four pixels around each corner;
    a corner is then ``origin + depth * ray`` in ``dtype``.
    """
    kind = resolve_depth_kind(depth_kind, camera)
    _check_space(space)
    depth_values = np.asarray(depth_values)
    rows, cols = np.asarray(rows), np.asarray(cols)
    out = np.empty((len(depth_values), 4, 3), dtype=dtype)
    rotation, translation = camera.cam2world[:3, :3], camera.cam2world[:3, 3]
    if space == "camera":
        rotation, translation = np.eye(3), np.zeros(3)
    if camera.projection == "PERSP" and kind == "planar" or camera.projection == "ORTHO":
        _separable_quads(out, depth_values, rows, cols, camera, rotation, translation, size, chunk_px)
        return out
    # Panoramas and ray distance: the rays through the corner grid, computed once, scaled so that a depth of
    # 1 (of ``kind``) reaches the point, and shared by the four pixels around each corner.
    grid_h, grid_w = -(-camera.height_px // size) + 1, -(-camera.width_px // size) + 1
    gy, gx = np.mgrid[0:grid_h, 0:grid_w].astype(np.float64) * size
    origins, rays = camera_rays(np.stack([gx, gy], axis=-1), camera)
    with np.errstate(invalid="ignore", divide="ignore"):
        rays = rays / (-rays[..., 2:3] if kind == "planar" else np.linalg.norm(rays, axis=-1, keepdims=True))
    rays = (rays @ rotation.T).reshape(-1, 3)
    origin = translation if camera.projection != "ORTHO" else None
    corner_rows = (rows // size)[:, None] + CORNER_OFFSETS[None, :, 1].astype(np.intp)
    corner_cols = (cols // size)[:, None] + CORNER_OFFSETS[None, :, 0].astype(np.intp)
    for start in range(0, len(depth_values), chunk_px):
        stop = start + chunk_px
        index = corner_rows[start:stop] * grid_w + corner_cols[start:stop]
        out[start:stop] = rays[index] * depth_values[start:stop, None, None] + origin
    return out


def _separable_quads(out, depth_values, rows, cols, camera, rotation, translation, size, chunk_px) -> None:
    """Perspective with planar depth, or orthographic: ``X = a(x) * Z``, ``Y = b(y) * Z`` (``a``, ``b`` per
    corner column and row), so each output component is ``t + Z * (A[col] + B[row])`` (perspective) or
    ``t + A[col] + B[row] - R[:, 2] * Z`` (orthographic), from small per-column and per-row tables."""
    a, b = pinhole_ab(camera, np.arange(0, camera.width_px + size, dtype=np.float64),
                      np.arange(0, camera.height_px + size, dtype=np.float64))
    dx = CORNER_OFFSETS[:, 0].astype(np.intp) * size
    dy = CORNER_OFFSETS[:, 1].astype(np.intp) * size
    perspective = camera.projection == "PERSP"
    # The tables are exact in float64 and rounded once to the output type; the per-corner arithmetic
    # (one multiply-add) runs in the output type. A corner shared by neighbouring pixels uses the same
    # table entries, so its quads' corners lie on one ray whatever their depths.
    work = out.dtype
    tables = [((rotation[k, 0] * a).astype(work), (rotation[k, 1] * b - (rotation[k, 2] if perspective else 0.0))
               .astype(work)) for k in range(3)]
    for start in range(0, len(depth_values), chunk_px):
        stop = start + chunk_px
        c = cols[start:stop, None] + dx
        r = rows[start:stop, None] + dy
        z = depth_values[start:stop, None].astype(work)
        for k, (column_term, row_term) in enumerate(tables):
            if perspective:  # t + z * (R0 a + R1 b - R2)
                out[start:stop, :, k] = work.type(translation[k]) + z * (column_term[c] + row_term[r])
            else:  # t + R0 a + R1 b - R2 z
                out[start:stop, :, k] = work.type(translation[k]) + column_term[c] + row_term[r] \
                    - work.type(rotation[k, 2]) * z


def grid_faces(rows, cols, depth_values, shape: tuple[int, int], *, max_relative_step: float = 0.05) -> np.ndarray:
    """(F, 4) vertex indices of quads joining the centres of 2x2 neighbouring valid pixels.

    Vertex ``i`` is pixel ``(rows[i], cols[i])``. A quad is made when all four pixels are valid and
    ``max(depth) / min(depth) - 1 <= max_relative_step`` (a depth discontinuity tears the surface).
    Winding: counter-clockwise as the camera sees it (bottom-left, bottom-right, top-right, top-left).
    """
    if max_relative_step < 0:
        raise ValueError(f"max_relative_step must be >= 0, got {max_relative_step}")
    height, width = shape
    index = np.full(shape, -1, dtype=np.int64)
    index[rows, cols] = np.arange(len(rows))
    depth = np.full(shape, np.nan)
    depth[rows, cols] = depth_values
    # Corners of each candidate quad: (r, c) top-left, (r, c+1), (r+1, c+1), (r+1, c).
    tl, tr = index[:-1, :-1], index[:-1, 1:]
    bl, br = index[1:, :-1], index[1:, 1:]
    quads = np.stack([bl, br, tr, tl], axis=-1).reshape(-1, 4)
    depths = np.stack([depth[1:, :-1], depth[1:, 1:], depth[:-1, 1:], depth[:-1, :-1]], axis=-1).reshape(-1, 4)
    keep = (quads >= 0).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        keep &= depths.max(axis=1) <= depths.min(axis=1) * (1.0 + max_relative_step)
    return quads[keep]


def grid_uvs(rows, cols, shape: tuple[int, int]) -> np.ndarray:
    """(N, 2) UV of each vertex: its pixel centre in the source image (u right, v up, 0..1)."""
    height, width = shape
    return np.stack([(np.asarray(cols) + 0.5) / width, 1.0 - (np.asarray(rows) + 0.5) / height],
                    axis=-1).astype(np.float32)
