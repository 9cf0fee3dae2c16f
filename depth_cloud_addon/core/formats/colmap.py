"""A COLMAP sparse model (``cameras``, ``images``, ``points3D``) in COLMAP's binary or text files. Pure numpy.

Conventions are COLMAP's own: pixel centres at +0.5 (the top-left corner of the image is (0, 0)), poses as
world-to-camera ``[R | t]`` in OpenCV axes with R a unit quaternion ``qw qx qy qz``; PINHOLE cameras
(``fx, fy, cx, cy``). Every file is written atomically (:mod:`..atomic`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from ..atomic import atomic_write
from ..errors import DepthCloudError

__all__ = ["COLMAP_FORMATS", "POINT_HEADER", "TRACK_ELEMENT", "ColmapImage", "write_colmap_model"]

COLMAP_FORMATS = ("binary", "text")
_COLMAP_PINHOLE = 1  # COLMAP's model id of PINHOLE (fx, fy, cx, cy)

POINT_HEADER = np.dtype([("id", "<u8"), ("xyz", "<f8", (3,)), ("rgb", "u1", (3,)), ("error", "<f8"),
                          ("length", "<u8")])
TRACK_ELEMENT = np.dtype([("image_id", "<u4"), ("point2d_idx", "<u4")])
_POINT2D = np.dtype([("x", "<f8"), ("y", "<f8"), ("point3d_id", "<u8")])
_CHUNK_POINTS = 1 << 16


@dataclass(frozen=True)
class ColmapImage:
    """One image of a COLMAP model: ids, file name (relative to the images folder), pose and 2D points."""

    image_id: int
    camera_id: int
    name: str
    qvec: np.ndarray      # (4,) w, x, y, z of world2cam (OpenCV axes)
    tvec: np.ndarray      # (3,)
    xy: np.ndarray        # (K, 2) float64
    point3d_ids: np.ndarray  # (K,) uint64


def _points3d_chunks(headers: np.ndarray, tracks: np.ndarray, lengths: np.ndarray):
    """The bytes of ``points3D.bin`` after the count: each point's header then its track elements,
    interleaved without a Python loop over points (a scatter per chunk of points)."""
    header_bytes = headers.view(np.uint8).reshape(len(headers), POINT_HEADER.itemsize)
    track_bytes = tracks.view(np.uint8).reshape(-1)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    size = POINT_HEADER.itemsize
    element = TRACK_ELEMENT.itemsize
    for a in range(0, len(headers), _CHUNK_POINTS):
        b = min(a + _CHUNK_POINTS, len(headers))
        t0, t1 = int(starts[a]), int(ends[b - 1])
        out = np.empty(size * (b - a) + element * (t1 - t0), np.uint8)
        offsets = size * np.arange(b - a) + element * (starts[a:b] - t0)
        at = (offsets[:, None] + np.arange(size)).reshape(-1)
        is_track = np.ones(out.size, bool)
        is_track[at] = False
        out[at] = header_bytes[a:b].reshape(-1)
        out[is_track] = track_bytes[element * t0:element * t1]
        yield out


def write_colmap_model(folder, cameras: list[tuple], images: list[ColmapImage], point_ids: np.ndarray,
                       xyz: np.ndarray, rgb: np.ndarray, tracks: np.ndarray, lengths: np.ndarray,
                       fmt: str = "binary", *, errors: np.ndarray | None = None) -> list[str]:
    """Write a COLMAP sparse model (``cameras``, ``images``, ``points3D``; ``.bin`` or ``.txt``) into ``folder``.

    ``cameras``: ``(camera_id, width, height, fx, fy, cx, cy)`` PINHOLE cameras (COLMAP's pixel convention:
    centres at +0.5); ``images``: :class:`ColmapImage`; ``point_ids`` (P,), ``xyz`` (P, 3), ``rgb`` (P, 3)
    uint8 and the tracks: (T,) records of ``TRACK_ELEMENT`` (``image_id``, ``point2d_idx``) grouped by point,
    ``lengths`` (P,) elements per point; ``errors`` (P,) each point's mean reprojection error in pixels, as COLMAP
    computes it (None: 0). Returns the paths written, each atomically.
    The binary files are built with numpy (tracks interleaved per chunk of points); the text files are
    formatted point by point in Python (slower: meant for small models and for reading).
    """
    if fmt not in COLMAP_FORMATS:
        raise DepthCloudError(f"colmap_format must be 'binary' or 'text', got {fmt!r}")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    ext = ".bin" if fmt == "binary" else ".txt"
    paths = [os.path.join(folder, name + ext) for name in ("cameras", "images", "points3D")]
    if fmt == "binary":
        with atomic_write(paths[0]) as f:
            f.write(struct.pack("<Q", len(cameras)))
            for camera_id, width, height, fx, fy, cx, cy in cameras:
                f.write(struct.pack("<IiQQ4d", camera_id, _COLMAP_PINHOLE, width, height, fx, fy, cx, cy))
        with atomic_write(paths[1]) as f:
            f.write(struct.pack("<Q", len(images)))
            for image in images:
                f.write(struct.pack("<I4d3dI", image.image_id, *image.qvec, *image.tvec, image.camera_id))
                f.write(image.name.encode("utf-8") + b"\0")
                f.write(struct.pack("<Q", len(image.xy)))
                points = np.empty(len(image.xy), _POINT2D)
                points["x"], points["y"], points["point3d_id"] = image.xy[:, 0], image.xy[:, 1], image.point3d_ids
                f.write(points.tobytes())
        headers = np.empty(len(point_ids), POINT_HEADER)
        headers["id"], headers["xyz"], headers["rgb"] = point_ids, xyz, rgb
        headers["error"], headers["length"] = (0.0 if errors is None else errors), lengths
        with atomic_write(paths[2]) as f:
            f.write(struct.pack("<Q", len(point_ids)))
            for chunk in _points3d_chunks(headers, np.ascontiguousarray(tracks, TRACK_ELEMENT), lengths):
                f.write(chunk.tobytes())
        return paths
    with atomic_write(paths[0], "w") as f:
        f.write("# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
                f"# Number of cameras: {len(cameras)}\n")
        for camera_id, width, height, fx, fy, cx, cy in cameras:
            f.write(f"{camera_id} PINHOLE {width} {height} {fx!r} {fy!r} {cx!r} {cy!r}\n")
    with atomic_write(paths[1], "w") as f:
        f.write("# Image list with two lines of data per image:\n"
                "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n#   POINTS2D[] as (X, Y, POINT3D_ID)\n"
                f"# Number of images: {len(images)}\n")
        for image in images:
            pose = " ".join(repr(float(v)) for v in (*image.qvec, *image.tvec))
            f.write(f"{image.image_id} {pose} {image.camera_id} {image.name}\n")
            f.write(" ".join(f"{x!r} {y!r} {i}" for (x, y), i in zip(image.xy.tolist(), image.point3d_ids.tolist()))
                    + "\n")
    with atomic_write(paths[2], "w") as f:
        f.write("# 3D point list with one line of data per point:\n"
                "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n"
                f"# Number of points: {len(point_ids)}\n")
        ends = np.cumsum(lengths).tolist()
        image_ids, indices = tracks["image_id"].tolist(), tracks["point2d_idx"].tolist()
        error_list = [0.0] * len(point_ids) if errors is None else np.asarray(errors, np.float64).tolist()
        start = 0
        for point_id, (x, y, z), (r, g, b), error, end in zip(point_ids.tolist(), xyz.tolist(), rgb.tolist(),
                                                               error_list, ends):
            track = " ".join(f"{image_ids[k]} {indices[k]}" for k in range(start, end))
            f.write(f"{point_id} {x!r} {y!r} {z!r} {r} {g} {b} {error!r} {track}\n")
            start = end
    return paths
