"""The one fusion: the world-space points of many frames in one cloud, streamed a frame at a time.

Used by Bake (Fused Cloud), by ``depth-cloud convert --fuse`` and by ``depth-cloud merge``. With a voxel
size, each frame is reduced into an :class:`~.voxel.ExactVoxelAccumulator` as it arrives: memory is bounded
by the occupied voxels (144 bytes each), not by the number of frames, and the sums are exact, so the frames
can be fused in chunks on many machines (partial grids, below) and merged into the same bytes as one machine
fusing every frame. Without a voxel size, every point is kept. No temporary files.

Partial grids
-------------
``depth-cloud convert FRAMES --frames A-B --fuse --voxel S --partial -o chunk.npz`` writes the voxel sums of
frames A-B instead of a cloud; ``depth-cloud merge chunk_*.npz -o fused.ply`` adds them up and writes the
fused cloud. A partial grid is an uncompressed NumPy ``.npz`` (``np.savez``, read with ``np.load`` and no
pickle), written atomically, holding:

* ``format`` str: ``"depth-cloud partial voxel grid"``.
* ``version`` int64: 1 (:data:`PARTIAL_VERSION`; a reader refuses other versions).
* ``voxel_size`` float64: the voxel size S, metres (``--voxel``).
* ``origin`` (3,) float64: the corner of voxel (0, 0, 0) in the world frame (0, 0, 0 for the CLI).
* ``channels`` (K,) str: the summed channels, ``x y z red green blue alpha radius`` (K = 8) for the CLI;
  in general ``x y z``, optionally ``red green blue [alpha]``, optionally ``radius``.
* ``fraction_bits`` int64: 32, the sums' fixed point (see ``sums_hi``).
* ``keys`` (M,) int64: the occupied voxels' keys, strictly ascending (21 bits per axis, index + 2**20, x
  highest: :func:`~.voxel.voxel_keys`, :func:`~.voxel.unpack_voxel_keys`).
* ``counts`` (M,) int64: the points in each voxel (>= 1).
* ``sums_hi``, ``sums_lo`` (K, M) int64: the exact sum of channel k over voxel m's points is
  ``sums_hi[k, m] + sums_lo[k, m] / 2**32``, with ``0 <= sums_lo < 2**32`` (so ``sums_hi`` is its floor;
  one representation per value). Each point's value ``v`` counts as ``rint(v * 2**32) / 2**32``, which is
  ``v`` itself for a float32 of magnitude 2**-9 or more. Mean = sum / count; positions are world metres,
  colors linear premultiplied RGBA, radii metres (the fused radius is at least S / sqrt(2), the covering radius of a
  voxel's face).
* ``points_added`` int64: the points summed (``counts.sum()``).
* ``frames`` (F,) int64: the chunk's frame numbers; ``fused`` (F,) bool: whether each is in the sums (False:
  it failed, and the chunk's run said so and exited 1).
* ``frame_jobs`` str: a JSON list, one object per frame, of what made it (its input files' paths, sizes and
  modification times, the camera given, the build options, the version): the CLI's job fingerprint of the
  frame without its export options. ``merge`` adds its own export options and derives the fused output's job
  id from them: the one ``convert --fuse`` records for the same frames, so ``merge`` writes the same bytes.
* ``job`` str: the partial's own fingerprint. A re-run of the chunk skips a partial that records the same job
  and holds all its frames (unless ``--overwrite``), as ``convert`` skips complete outputs.

Merging is exact and independent of order and split: every point's values are integers once rounded, integer
sums are associative, and each voxel sum has one representation, so the merged grid -- and the cloud written
from it -- is the same bytes whichever partials hold which frames and in whichever order they are merged,
and the same as ``convert --fuse --voxel S`` of all the frames on one machine. Partials of another voxel size
or origin, other channels or another format version, or that share a frame, are refused
(:class:`PartialGridError`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import cast

import numpy as np

from ..atomic import atomic_write
from ..errors import DepthCloudError, NoValidDepthError
from ..geometry.voxel import SUM_FRACTION_BITS, ExactVoxelAccumulator
from .cloud import CloudArrays

__all__ = ["PARTIAL_FORMAT", "PARTIAL_VERSION", "Fusion", "PartialGrid", "PartialGridError", "check_partials",
           "merge_partials", "partial_complete", "read_partial", "write_partial"]

#: The ``format`` tag and ``version`` of a partial grid file.
PARTIAL_FORMAT = "depth-cloud partial voxel grid"
PARTIAL_VERSION = 1


class PartialGridError(DepthCloudError):
    """A file is not a partial grid this version reads, or partial grids cannot be merged."""


class Fusion:
    """Fuse frames' clouds: :meth:`add` each, then :meth:`result`.

    ``voxel_size`` > 0: one point per voxel of that size (metres), mean position, color and radius, from exact
    sums (:attr:`grid`, an :class:`~.voxel.ExactVoxelAccumulator`); 0: every point kept. Raises
    :class:`DepthCloudError` for a voxel size that is not a positive finite number of metres (or 0).
    """

    def __init__(self, voxel_size: float = 0.0):
        try:
            self.grid = ExactVoxelAccumulator(voxel_size) if voxel_size != 0 else None
        except ValueError as exc:
            raise DepthCloudError(str(exc)) from None
        self.voxel_size = self.grid.voxel_size if self.grid is not None else 0.0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.frames = 0
        self.points_in = 0

    def add(self, cloud: CloudArrays) -> None:
        """Add one frame's cloud (its world-space points)."""
        self.add_points(cloud.points_world, cloud.colors, cloud.radii)

    def add_points(self, points_world: np.ndarray, colors: np.ndarray, radii: np.ndarray) -> None:
        if self.grid is not None:
            self.grid.add(points_world, colors, radii)  # first: a frame it refuses is not counted
        else:
            self._parts.append((points_world, colors, radii))
        self.frames += 1
        self.points_in += len(points_world)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points_world (N, 3), colors (N, 4), radii (N,))`` of everything added.

        Raises :class:`NoValidDepthError` when nothing was added.
        """
        if self.frames == 0:
            raise NoValidDepthError("no frame was fused")
        if self.grid is not None:
            points, colors, radii, _counts = self.grid.result()
            return points, colors, radii
        points, colors, radii = (np.concatenate(arrays) for arrays in zip(*self._parts))
        self._parts = [(points, colors, radii)]
        return points, colors, radii


@dataclass
class PartialGrid:
    """A partial grid file's content (see the module docstring): the ``grid`` (None when read without it),
    the chunk's ``frames``, which of them were ``fused``, their ``frame_jobs`` and the partial's ``job``."""

    path: str
    voxel_size: float
    origin: tuple[float, float, float]
    channels: tuple[str, ...]
    points_added: int
    frames: list[int]
    fused: list[bool]
    frame_jobs: list
    job: str
    grid: ExactVoxelAccumulator | None = None


def write_partial(path, grid: ExactVoxelAccumulator, frames, fused, frame_jobs, job: str) -> None:
    """Write ``grid`` with the chunk's ``frames``, ``fused`` flags and ``frame_jobs`` (JSON-able, one per
    frame) as a partial grid file, atomically (the folder is created if needed)."""
    path = os.fspath(path)
    frames, fused, frame_jobs = [int(f) for f in frames], [bool(f) for f in fused], list(frame_jobs)
    if not (len(frames) == len(fused) == len(frame_jobs)):
        raise ValueError(f"frames, fused and frame_jobs must have one entry per frame, got "
                         f"{len(frames)}, {len(fused)} and {len(frame_jobs)}")
    if grid.channels is None:
        raise ValueError("nothing was added to the grid: a partial grid holds at least one frame")
    arrays = grid.arrays()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        np.savez(f, format=np.array(PARTIAL_FORMAT), version=np.array(PARTIAL_VERSION, np.int64),
                 voxel_size=np.array(grid.voxel_size, np.float64), origin=grid.origin.astype(np.float64),
                 channels=np.array(grid.channels), fraction_bits=np.array(SUM_FRACTION_BITS, np.int64),
                 keys=arrays["keys"], counts=arrays["counts"], sums_hi=arrays["sums_hi"],
                 sums_lo=arrays["sums_lo"], points_added=np.array(grid.points_added, np.int64),
                 frames=np.array(frames, np.int64).reshape(-1), fused=np.array(fused, bool).reshape(-1),
                 frame_jobs=np.array(json.dumps(frame_jobs, sort_keys=True, separators=(",", ":"))),
                 job=np.array(job))


_HEADER = ("format", "version", "voxel_size", "origin", "channels", "fraction_bits", "points_added", "frames",
           "fused", "frame_jobs", "job")
_GRID = ("keys", "counts", "sums_hi", "sums_lo")


def read_partial(path, *, grid: bool = True) -> PartialGrid:
    """Read a partial grid file (with ``grid=False`` only its small arrays, not the voxels).

    Raises :class:`PartialGridError` (naming the file) for a missing, truncated or foreign file, another
    format version, or arrays that do not make a grid.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data.files or str(data["format"]) != PARTIAL_FORMAT:
                raise PartialGridError(f"{path}: not a partial voxel grid (convert --fuse --voxel S --partial "
                                       "writes them)")
            missing = [name for name in _HEADER + (_GRID if grid else ()) if name not in data.files]
            if missing:
                raise PartialGridError(f"{path}: a partial voxel grid without {', '.join(missing)}")
            if int(data["version"]) != PARTIAL_VERSION:
                raise PartialGridError(f"{path}: partial grid format version {int(data['version'])}; this "
                                       f"depth-cloud reads version {PARTIAL_VERSION}")
            if int(data["fraction_bits"]) != SUM_FRACTION_BITS:
                raise PartialGridError(f"{path}: sums with {int(data['fraction_bits'])} fraction bits, not "
                                       f"{SUM_FRACTION_BITS}")
            header = {name: data[name] for name in _HEADER}
            arrays = {name: data[name] for name in _GRID} if grid else None
    except PartialGridError:
        raise
    except FileNotFoundError:
        raise PartialGridError(f"{path}: no such file") from None
    except Exception as exc:  # a truncated or foreign file: zipfile.BadZipFile, OSError, ValueError, KeyError
        raise PartialGridError(f"{path}: not a readable partial voxel grid ({type(exc).__name__}: {exc})") from None
    try:
        frames = [int(f) for f in header["frames"].reshape(-1)]
        fused = [bool(f) for f in header["fused"].reshape(-1)]
        frame_jobs = json.loads(str(header["frame_jobs"]))
        if not (isinstance(frame_jobs, list) and len(frames) == len(fused) == len(frame_jobs)):
            raise ValueError("frames, fused and frame_jobs differ in length")
        origin = cast(tuple[float, float, float], tuple(float(v) for v in header["origin"]))  # write_partial stores 3
        partial = PartialGrid(path, float(header["voxel_size"]), origin,
                              tuple(str(c) for c in header["channels"]), int(header["points_added"]), frames,
                              fused, frame_jobs, str(header["job"]))
        if arrays is not None:
            partial.grid = ExactVoxelAccumulator.from_arrays(partial.voxel_size, partial.origin, partial.channels,
                                                             points_added=partial.points_added, **arrays)
    except (ValueError, TypeError) as exc:
        raise PartialGridError(f"{path}: a damaged partial voxel grid: {exc}") from None
    return partial


def partial_complete(path, job: str) -> bool:
    """True if ``path`` is a partial grid this version reads, records ``job`` and holds every one of its frames
    (one with failed frames is not complete: a re-run tries them again). Never raises."""
    try:
        partial = read_partial(path, grid=False)
    except DepthCloudError:
        return False
    return partial.job == job and all(partial.fused)


def check_partials(partials: list[PartialGrid]) -> None:
    """Raise :class:`PartialGridError` unless the partials can be merged: the same voxel size, origin and
    channels, and no frame in two of them (it would count twice)."""
    if not partials:
        raise PartialGridError("no partial grid to merge")
    first = partials[0]
    owner: dict[int, str] = {}
    for partial in partials:
        if partial.voxel_size != first.voxel_size:
            raise PartialGridError(f"{partial.path} has voxel size {partial.voxel_size!r} m but {first.path} has "
                                   f"{first.voxel_size!r} m: the partials of one fusion share --voxel")
        if partial.origin != first.origin:
            raise PartialGridError(f"{partial.path} has its grid origin at {list(partial.origin)} but {first.path} "
                                   f"at {list(first.origin)}")
        if partial.channels != first.channels:
            raise PartialGridError(f"{partial.path} sums {' '.join(partial.channels)} but {first.path} sums "
                                   f"{' '.join(first.channels)}")
        for frame in partial.frames:
            if frame in owner:
                raise PartialGridError(f"frame {frame} is in both {owner[frame]} and {partial.path}: it would "
                                       "count twice")
            owner[frame] = partial.path


def merge_partials(paths) -> tuple[ExactVoxelAccumulator, list[PartialGrid]]:
    """The exact sum of the partial grids at ``paths`` (any order: same result), and their headers.

    Reads the headers first and checks them (:func:`check_partials`), then reads and adds one grid at a time
    (memory: the merged grid plus one partial). Raises :class:`PartialGridError`.
    """
    headers = [read_partial(path, grid=False) for path in paths]
    check_partials(headers)
    merged = ExactVoxelAccumulator(headers[0].voxel_size, headers[0].origin)
    for header in headers:
        partial = read_partial(header.path)
        if (partial.job, partial.frames) != (header.job, header.frames):
            raise PartialGridError(f"{header.path}: changed while it was being merged")
        assert partial.grid is not None  # read with its grid
        merged.merge(partial.grid)
    return merged, headers
