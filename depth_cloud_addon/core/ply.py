"""Write point clouds as binary little-endian PLY files, in bulk with numpy.

Positions are float32 ``x y z`` (metres, in whatever frame the caller passes). Colors come in as
the EXR's **linear** RGB(A) and are written either as ``uchar red green blue`` encoded with the
sRGB transfer function (what viewers such as MeshLab, CloudCompare and Open3D display directly) or,
with ``linear_float=True``, as float32 ``red green blue`` left linear.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["linear_to_srgb8", "write_ply"]


def linear_to_srgb8(linear) -> np.ndarray:
    """Linear values (clipped to 0..1) -> sRGB-encoded uint8 (IEC 61966-2-1 transfer function)."""
    c = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    srgb = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1.0 / 2.4) - 0.055)
    return np.rint(srgb * 255.0).astype(np.uint8)


def write_ply(path, points, colors=None, *, linear_float: bool = False) -> int:
    """Write ``points`` (N, 3) and optional linear ``colors`` (N, 3 or 4); return the number of points.

    Rows with a non-finite coordinate are skipped (pass NaN-marked arrays from ``backproject``
    reshaped to (-1, 3)). The file is written to a temporary name and renamed, so a failure never
    leaves a partial file behind.
    """
    points = np.asarray(points).reshape(-1, 3)
    keep = np.isfinite(points).all(axis=1)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        colors = np.asarray(colors).reshape(points.shape[0], -1)[:, :3]
        fields += [(c, "<f4" if linear_float else "u1") for c in ("red", "green", "blue")]
    data = np.empty(int(keep.sum()), dtype=fields)
    kept = points[keep]
    data["x"], data["y"], data["z"] = kept[:, 0], kept[:, 1], kept[:, 2]
    if colors is not None:
        kept_colors = colors[keep].astype(np.float32) if linear_float else linear_to_srgb8(colors[keep])
        data["red"], data["green"], data["blue"] = kept_colors[:, 0], kept_colors[:, 1], kept_colors[:, 2]
    ply_types = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", "comment written by depth-cloud",
              f"element vertex {data.shape[0]}"]
    header += [f"property {ply_types[t]} {name}" for name, t in fields]
    header.append("end_header")
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(("\n".join(header) + "\n").encode("ascii"))
            f.write(data.tobytes())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return int(data.shape[0])
