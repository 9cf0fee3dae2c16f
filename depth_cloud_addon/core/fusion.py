"""The one fusion: the world-space points of many frames in one cloud, streamed a frame at a time.

Used by Bake (Fused Cloud) and by ``depth-cloud convert --fuse``. With a voxel size, each frame is
reduced into a :class:`VoxelAccumulator` as it arrives (memory bounded by the voxels); without one,
every point is kept. No temporary files.
"""

from __future__ import annotations

import numpy as np

from .cloud import CloudArrays
from .errors import DepthCloudError, NoValidDepthError
from .voxel import VoxelAccumulator

__all__ = ["Fusion"]


class Fusion:
    """Fuse frames' clouds: :meth:`add` each, then :meth:`result`.

    ``voxel_size`` > 0: one point per voxel of that size (metres), mean position, color and radius;
    0: every point kept. Raises :class:`DepthCloudError` for a voxel size that is not a positive
    finite number of metres (or 0).
    """

    def __init__(self, voxel_size: float = 0.0):
        try:
            self._accumulator = VoxelAccumulator(voxel_size) if voxel_size != 0 else None
        except ValueError as exc:
            raise DepthCloudError(str(exc)) from None
        self.voxel_size = self._accumulator.voxel_size if self._accumulator is not None else 0.0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.frames = 0
        self.points_in = 0

    def add(self, cloud: CloudArrays) -> None:
        """Add one frame's cloud (its world-space points)."""
        self.add_points(cloud.points_world, cloud.colors, cloud.radii)

    def add_points(self, points_world: np.ndarray, colors: np.ndarray, radii: np.ndarray) -> None:
        self.frames += 1
        self.points_in += len(points_world)
        if self._accumulator is not None:
            self._accumulator.add(points_world, colors, radii)
        else:
            self._parts.append((points_world, colors, radii))

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points_world (N, 3), colors (N, 4), radii (N,))`` of everything added.

        Raises :class:`NoValidDepthError` when nothing was added.
        """
        if self.frames == 0:
            raise NoValidDepthError("no frame was fused")
        if self._accumulator is not None:
            points, colors, radii, _counts = self._accumulator.result()
            return points, colors, radii
        points, colors, radii = (np.concatenate(arrays) for arrays in zip(*self._parts))
        self._parts = [(points, colors, radii)]
        return points, colors, radii
