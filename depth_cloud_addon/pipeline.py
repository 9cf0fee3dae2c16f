"""From one frame's EXRs and camera to the arrays a cloud object needs. Pure numpy (no bpy).

Shared by the Build operator, the benchmark and (later) the CLI, so that all of them build the same
cloud from the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import CameraModel, NoValidDepthError, ValidPoints, backproject_valid, valid_depth_mask
from .core.geometry import resolve_depth_kind, valid_pixels
from .core.errors import ResolutionMismatchError


@dataclass(frozen=True)
class CloudArrays:
    """Valid pixels only, in row-major pixel order. ``positions`` are in ``space``."""

    positions: np.ndarray  # (N, 3) float32, metres
    colors: np.ndarray     # (N, 4) float32, linear premultiplied RGBA (white if the frame has no color)
    radii: np.ndarray      # (N,) float32, metres: half the (strided) pixel footprint at the point's depth
    rows: np.ndarray       # (N,) int32: the pixel each point comes from
    cols: np.ndarray       # (N,) int32
    depths: np.ndarray     # (N,) float32: the pixel's depth value (of ``depth_kind``)
    depth_kind: str        # "planar" or "distance" (resolved)
    stride: int            # every stride-th pixel was kept
    camera: CameraModel
    space: str


def cloud_arrays(depth: np.ndarray, color: np.ndarray | None, camera: CameraModel, *, stride: int = 1,
                 depth_range: tuple[float, float] | None = None, depth_kind: str = "auto",
                 space: str = "world", with_points: bool = True) -> CloudArrays:
    """Back-project every ``stride``-th pixel (rows and columns) of a frame's (H, W) ``depth``.

    ``depth_range``: keep pixels whose depth value (of ``depth_kind``) lies in ``[near, far]``.
    ``color``: (H, W, 4) or None. ``with_points=False`` skips the points and radii (empty arrays):
    pixel faces need only the valid pixels and their depths. Raises :class:`NoValidDepthError` when
    nothing is left.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if color is not None and color.shape[:2] != depth.shape:
        raise ResolutionMismatchError(
            f"color is {color.shape[1]}x{color.shape[0]} px but depth is {depth.shape[1]}x{depth.shape[0]} px"
        )
    mask = None
    if depth_range is not None:
        near, far = depth_range
        with np.errstate(invalid="ignore"):
            mask = (depth >= near) & (depth <= far)
    if stride > 1:
        strided = np.zeros(depth.shape, bool)
        strided[::stride, ::stride] = True
        mask = strided if mask is None else mask & strided
    if with_points:
        valid = backproject_valid(depth, camera, depth_kind=depth_kind, space=space, mask=mask)
    else:
        keep = valid_depth_mask(depth, camera, depth_kind=depth_kind)
        if mask is not None:
            keep &= mask
        rows, cols = valid_pixels(keep)
        valid = ValidPoints(np.zeros((0, 3), np.float32), rows, cols, np.zeros(0, np.float32))
    if valid.rows.size == 0:
        raise NoValidDepthError("no pixel is left to build: every pixel is background, outside the clip range"
                                + (" or outside the depth range" if depth_range else "")
                                + (f" or skipped by stride {stride}" if stride > 1 else ""))
    if valid.rows.size == depth.size:  # every pixel is valid: row-major views, no gathers
        colors = color.reshape(-1, 4) if color is not None else None
        depths = depth.reshape(-1).astype(np.float32, copy=False)
    else:
        colors = color[valid.rows, valid.cols] if color is not None else None
        depths = depth[valid.rows, valid.cols].astype(np.float32, copy=False)
    if colors is None:
        colors = np.ones((valid.rows.size, 4), np.float32)
    radii = valid.footprint * np.float32(0.5 * stride)
    return CloudArrays(valid.points, colors.astype(np.float32, copy=False), radii, valid.rows, valid.cols,
                       depths, resolve_depth_kind(depth_kind, camera), stride, camera, space)
