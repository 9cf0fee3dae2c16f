"""3D Gaussian Splatting's PLY: splats in the reference ``save_ply`` layout (SH degree 3), float32. Pure numpy.

``f_dc = (c - 0.5) / C0`` with ``c`` the point's sRGB colour / 255 and ``C0`` = :data:`SH_C0` (the reference code's
``RGB2SH``); ``f_rest`` 0; ``opacity`` = logit(:data:`SPLAT_OPACITY`) = ln 9; ``scale`` = ln of (radius, radius,
radius x :data:`SPLAT_THICKNESS`) along the splat's local x, y, z (the reference applies ``exp``); ``rot`` = the unit
quaternion (w, x, y, z) = ``rot_0 .. rot_3`` turning local +z onto the direction the disc faces; ``nx ny nz`` 0, as
the reference writes them.
"""

from __future__ import annotations

import math

import numpy as np

from ..atomic import atomic_write
from ..geometry.projection import z_to_direction_quaternions
from .ply import binary_ply_header

__all__ = ["SH_C0", "SH_DEGREE", "SPLAT_OPACITY", "SPLAT_PROPERTIES", "SPLAT_THICKNESS", "write_splats"]

#: The spherical-harmonics DC constant, 1 / (2 sqrt(pi)) (the reference 3DGS code's ``C0``).
SH_C0 = 0.28209479177387814
SH_DEGREE = 3
#: Initial opacity of every splat (written as its logit, ln 9).
SPLAT_OPACITY = 0.9
#: A splat's thickness along its view direction, relative to its radius.
SPLAT_THICKNESS = 0.01
#: The vertex properties of ``splats.ply``, in order, all float32 (the reference 3DGS ``save_ply``).
SPLAT_PROPERTIES = (("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2")
                    + tuple(f"f_rest_{i}" for i in range(3 * ((SH_DEGREE + 1) ** 2 - 1)))
                    + ("opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"))
_CHUNK_POINTS = 1 << 18



def write_splats(path, points, srgb8, radii, directions) -> int:
    """Write 3D Gaussians as the reference 3DGS ``save_ply`` lays them out (:data:`SPLAT_PROPERTIES`, float32,
    binary little endian): ``points`` (N, 3), ``srgb8`` (N, 3) uint8 colours, ``radii`` (N,) metres,
    ``directions`` (N, 3) unit vectors the discs face (their local +z). See the module docstring for the
    values. Returns N."""
    points = np.asarray(points)
    n = len(points)
    dtype = np.dtype([(name, "<f4") for name in SPLAT_PROPERTIES])
    header = binary_ply_header(n, [("float", name) for name in SPLAT_PROPERTIES],
                               [f"written by depth-cloud (3D Gaussian Splatting, SH degree {SH_DEGREE})"])
    opacity = math.log(SPLAT_OPACITY / (1.0 - SPLAT_OPACITY))
    with atomic_write(path) as f:
        f.write(header)
        for a in range(0, n, _CHUNK_POINTS):
            b = min(a + _CHUNK_POINTS, n)
            rows = np.zeros(b - a, dtype)
            rows["x"], rows["y"], rows["z"] = (points[a:b, k] for k in range(3))
            dc = (np.asarray(srgb8[a:b], np.float64) / 255.0 - 0.5) / SH_C0
            rows["f_dc_0"], rows["f_dc_1"], rows["f_dc_2"] = dc[:, 0], dc[:, 1], dc[:, 2]
            rows["opacity"] = opacity
            log_radius = np.log(np.asarray(radii[a:b], np.float64))
            rows["scale_0"], rows["scale_1"] = log_radius, log_radius
            rows["scale_2"] = log_radius + math.log(SPLAT_THICKNESS)
            q = z_to_direction_quaternions(directions[a:b])
            rows["rot_0"], rows["rot_1"], rows["rot_2"], rows["rot_3"] = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
            f.write(rows.tobytes())
    return n
