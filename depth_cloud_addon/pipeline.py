"""From one frame's EXRs and camera to the arrays a cloud object needs. Pure numpy (no bpy).

Shared by the Build operator, the benchmark and (later) the CLI, so that all of them build the same
cloud from the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import CameraModel, ExrImage, NoValidDepthError, backproject, pixel_footprint, valid_depth_mask
from .core.errors import ResolutionMismatchError


@dataclass(frozen=True)
class CloudArrays:
    """Valid pixels only, in row-major pixel order. ``positions`` are in ``space``."""

    positions: np.ndarray  # (N, 3) float32, metres
    colors: np.ndarray     # (N, 4) float32, linear premultiplied RGBA (white if the frame has no color)
    radii: np.ndarray      # (N,) float32, metres: half the (strided) pixel footprint at the point's depth
    pixels: np.ndarray     # (N, 2) int: (col, row) of each point
    camera: CameraModel
    space: str


def cloud_arrays(depth_image: ExrImage, color: np.ndarray | None, camera: CameraModel, *, stride: int = 1,
                 depth_range: tuple[float, float] | None = None, depth_kind: str = "auto",
                 space: str = "world") -> CloudArrays:
    """Back-project every ``stride``-th pixel (rows and columns) of a frame.

    ``depth_range``: keep pixels whose depth value (of ``depth_kind``) lies in ``[near, far]``.
    ``color``: (H, W, 4) or None. Raises :class:`NoValidDepthError` when nothing is left.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    depth = depth_image.depth
    if color is not None and color.shape[:2] != depth.shape:
        raise ResolutionMismatchError(
            f"color is {color.shape[1]}x{color.shape[0]} px but depth is {depth.shape[1]}x{depth.shape[0]} px"
        )
    keep = valid_depth_mask(depth, camera, depth_kind=depth_kind)
    if depth_range is not None:
        near, far = depth_range
        with np.errstate(invalid="ignore"):
            keep &= (depth >= near) & (depth <= far)
    if stride > 1:
        strided = np.zeros_like(keep)
        strided[::stride, ::stride] = True
        keep &= strided
    rows, cols = np.nonzero(keep)
    if rows.size == 0:
        raise NoValidDepthError(f"no pixel of {depth_image.path} is left to build (depth range, stride, clip range)")
    points = backproject(depth, camera, depth_kind=depth_kind, space=space, dtype=np.float32, allow_empty=True)
    radii = 0.5 * stride * pixel_footprint(depth, camera, depth_kind=depth_kind)[rows, cols]
    colors = color[rows, cols] if color is not None else np.ones((rows.size, 4), np.float32)
    return CloudArrays(points[rows, cols], colors.astype(np.float32, copy=False), radii.astype(np.float32),
                       np.stack([cols, rows], axis=-1), camera, space)
