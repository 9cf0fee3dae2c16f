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

On any engine
-------------
:func:`fuse_frames` fuses a sequence in chunks of frames, each chunk a task of any
:class:`concurrent.futures.Executor` (a ``--jobs`` process pool, a Dask cluster's ``client.get_executor()``, ...)
or run here: a task (:func:`fuse_chunk`) reads its frames and returns their exact voxel sums and outcomes, and
the sums are combined as they come by a tree merge (a binary counter: pairs of equal size, so at most about
log2(chunks) grids are held). The sums being exact, the grid is the same bits as one :class:`Fusion` fed every
frame here, whatever the chunks, the engine and the order in which the tasks finish.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ..atomic import atomic_write
from ..errors import DepthCloudError, NoValidDepthError
from ..geometry.voxel import SUM_FRACTION_BITS, ExactVoxelAccumulator
from .cloud import CloudArrays
from .files import pattern_of
from .loop import FrameOutcome, FrameReport, run_frame, walk_frames

__all__ = ["PARTIAL_FORMAT", "PARTIAL_VERSION", "FusedChunk", "Fusion", "PartialGrid", "PartialGridError",
           "check_partials", "fuse_chunk", "fuse_frames", "merge_partials", "partial_complete", "partial_source",
           "read_partial", "write_partial"]

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

    ``origin`` (world metres, None: 0, 0, 0): the corner of the voxel grid, and the point the result's positions
    are relative to; far from the world origin (georeferenced sets), an origin near the points keeps both the
    voxel indices in range and the float32 results exact: each frame's positions are computed again in float64
    from its depth (:meth:`.cloud.CloudArrays.positions`). ``precise``: results in float64 (for LAS), from those
    float64 positions too.
    """

    def __init__(self, voxel_size: float = 0.0, origin=None, *, precise: bool = False):
        origin_array = np.zeros(3) if origin is None else np.asarray(origin, np.float64)
        try:
            self.grid = ExactVoxelAccumulator(voxel_size, origin_array) if voxel_size != 0 else None
        except ValueError as exc:
            raise DepthCloudError(str(exc)) from None
        self.origin = origin_array
        self.precise = precise
        self.voxel_size = self.grid.voxel_size if self.grid is not None else 0.0
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.frames = 0
        self.points_in = 0

    def add(self, cloud: CloudArrays) -> None:
        """Add one frame's cloud (its world-space points; in float64 from its depth with an origin or ``precise``)."""
        if not (self.precise or self.origin.any()):
            self.add_points(cloud.points_world, cloud.colors, cloud.radii)
        elif self.grid is not None:
            self.add_points(cloud.positions() if cloud.space == "world" else cloud.points_world, cloud.colors,
                            cloud.radii)
        else:  # kept as they will be written: relative to the origin
            self._parts.append((cloud.positions(self.origin, np.float64 if self.precise else np.float32),
                                cloud.colors, cloud.radii))
            self.frames += 1
            self.points_in += len(cloud.rows)

    def add_points(self, points_world: np.ndarray, colors: np.ndarray, radii: np.ndarray) -> None:
        if self.grid is not None:
            self.grid.add(points_world, colors, radii)  # first: a frame it refuses is not counted
        else:
            relative = points_world - self.origin if self.origin.any() else points_world
            self._parts.append((relative, colors, radii))
        self.frames += 1
        self.points_in += len(points_world)

    def merge(self, grid: ExactVoxelAccumulator, frames: int) -> None:
        """Add the exact voxel sums of ``frames`` frames fused elsewhere (:func:`fuse_frames`, a chunk's task)."""
        if self.grid is None:
            raise ValueError("Fusion.merge: only a fusion with a voxel size takes voxel sums")
        self.grid.merge(grid)
        self.frames += frames
        self.points_in += grid.points_added

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points (N, 3), colors (N, 4), radii (N,))`` of everything added; the points are world positions
        minus :attr:`origin`, float32 (float64 when ``precise``).

        Raises :class:`NoValidDepthError` when nothing was added.
        """
        if self.frames == 0:
            raise NoValidDepthError("no frame was fused")
        if self.grid is not None:
            points, colors, radii, _counts = self.grid.result(
                relative_to=self.origin if self.origin.any() else None,
                dtype=np.float64 if self.precise else np.float32)
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
        for name, kinds in (("frames", "iu"), ("fused", "b"), ("version", "iu"), ("points_added", "iu"),
                            ("voxel_size", "f"), ("origin", "f")):
            if header[name].dtype.kind not in kinds:
                raise ValueError(f"{name} holds {header[name].dtype} values")
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


def partial_source(partial: PartialGrid) -> str | None:
    """The input sequence a partial grid's frames were read from: the depth file of its first frame's job
    (``frame_jobs[k]["inputs"][0]``, see ``depth-cloud convert``) as a ``#`` pattern
    (:func:`.files.pattern_of`); None when its frame jobs do not say."""
    for frame, description in zip(partial.frames, partial.frame_jobs):
        try:
            return pattern_of(str(description["inputs"][0][0]), frame)
        except (KeyError, IndexError, TypeError):
            continue
    return None


def check_partials(partials: list[PartialGrid], *, force: bool = False) -> None:
    """Raise :class:`PartialGridError` unless the partials can be merged: the same voxel size, origin and
    channels, no frame in two of them (it would count twice), and (unless ``force``) frames read from one input
    sequence (:func:`partial_source`): partials of two shots are not one fusion."""
    if not partials:
        raise PartialGridError("no partial grid to merge")
    first = partials[0]
    if not force:
        sources: dict[str, str] = {}
        for partial in partials:
            source = partial_source(partial)
            if source is not None:
                sources.setdefault(source, partial.path)
        if len(sources) > 1:
            (a, path_a), (b, path_b) = list(sources.items())[:2]
            raise PartialGridError(f"{path_a} and {path_b} are partials of different jobs: their frames were read "
                                   f"from {a} and from {b} (use --force to merge them anyway)")
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


def merge_partials(paths, *, force: bool = False) -> tuple[ExactVoxelAccumulator, list[PartialGrid]]:
    """The exact sum of the partial grids at ``paths`` (any order: same result), and their headers.

    Reads the headers first and checks them (:func:`check_partials`, ``force`` as there), then reads and adds one
    grid at a time (memory: the merged grid plus one partial). Raises :class:`PartialGridError`.
    """
    headers = [read_partial(path, grid=False) for path in paths]
    check_partials(headers, force=force)
    merged = ExactVoxelAccumulator(headers[0].voxel_size, headers[0].origin)
    for header in headers:
        partial = read_partial(header.path)
        if (partial.job, partial.frames) != (header.job, header.frames):
            raise PartialGridError(f"{header.path}: changed while it was being merged")
        assert partial.grid is not None  # read with its grid
        merged.merge(partial.grid)
    return merged, headers


# -- on any engine: chunks of frames as tasks, combined by a tree merge ------------------------------------------


@dataclass(frozen=True)
class FusedChunk:
    """What one chunk of frames gives (:func:`fuse_chunk`): each frame's outcome (its ``value``: the number of
    points the frame added), the exact voxel sums of the frames fused (None: none was), and the ``error`` that
    stopped the fusion (a voxel grid too fine for the scene, ...), if any."""

    outcomes: tuple[FrameOutcome, ...]
    grid: ExactVoxelAccumulator | None
    error: DepthCloudError | None = None


def fuse_chunk(work: Callable[[Any], CloudArrays], voxel_size: float, frames, *, origin=None,
               precise: bool = False) -> FusedChunk:
    """Fuse one chunk: ``frames`` are ``(frame, item, output)``, ``work(item)`` gives the frame's cloud (a frame
    whose work fails is an outcome with its error, as in :func:`.loop.run_frame`), added as :meth:`Fusion.add`
    adds it (``origin``, ``precise``). Module-level and picklable (with a picklable ``work``): a task of any
    executor, which sends back only the sums and the outcomes."""
    fusion = Fusion(voxel_size, origin, precise=precise)
    grid = fusion.grid
    assert grid is not None  # chunks are fused on a voxel grid (voxel_size > 0)
    outcomes: list[FrameOutcome] = []
    for frame, item, output in frames:
        outcome = run_frame(work, item, frame, output)
        if outcome.ok:
            cloud = outcome.value
            try:
                fusion.add(cloud)
            except DepthCloudError as exc:  # the grid is unchanged; no frame after it is fused (as in Fusion)
                return FusedChunk(tuple(outcomes), grid if grid.channels is not None else None, exc)
            outcome = dataclasses.replace(outcome, value=cloud.count)
        outcomes.append(outcome)
    return FusedChunk(tuple(outcomes), grid if grid.channels is not None else None)


class _TreeMerge:
    """Exact voxel grids added as they come and merged in pairs of equal rank (a binary counter)."""

    def __init__(self, voxel_size: float, origin=None):
        self.voxel_size, self.origin = voxel_size, np.zeros(3) if origin is None else np.asarray(origin, np.float64)
        self.ranks: list[ExactVoxelAccumulator | None] = []

    def add(self, grid: ExactVoxelAccumulator) -> None:
        rank = 0
        while rank < len(self.ranks) and self.ranks[rank] is not None:
            held = self.ranks[rank]
            assert held is not None  # (checked in the loop's condition)
            held.merge(grid)
            grid, self.ranks[rank] = held, None
            rank += 1
        if rank == len(self.ranks):
            self.ranks.append(None)
        self.ranks[rank] = grid

    def result(self) -> ExactVoxelAccumulator:
        total = ExactVoxelAccumulator(self.voxel_size, self.origin)
        for grid in self.ranks:
            if grid is not None:
                total.merge(grid)
        return total


def fuse_frames(items: Iterable, work: Callable[[Any], CloudArrays], voxel_size: float, *, origin=None,
                precise: bool = False, frame_of: Callable[[Any], int | None] = lambda i: i,
                output_of: Callable[[Any], Any] | None = None,
                executor: concurrent.futures.Executor | None = None, chunk_size: int = 1,
                report: FrameReport | None = None, on_outcome: Callable[[FrameOutcome], None] | None = None,
                ) -> tuple[ExactVoxelAccumulator, FrameReport]:
    """Fuse every item's cloud (``work(item)``) into one exact voxel grid of ``voxel_size``, in chunks of
    ``chunk_size`` items, each chunk a task of ``executor`` (any :class:`concurrent.futures.Executor`; None: here),
    combined by a tree merge (see the module docstring): the same bits as a :class:`Fusion` of every frame with
    the same ``origin`` and ``precise``.

    Each frame's outcome (value: its number of points) goes to ``report`` and ``on_outcome``, in the items'
    order, a chunk at a time. A frame that fails is left out and listed; an error of the fusion itself (a grid
    too fine for the scene) raises :class:`DepthCloudError` and cancels the chunks not done. ``work`` and the
    items must be picklable for an executor of other processes.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    report = report if report is not None else FrameReport()
    frames = [(frame_of(item), item, output_of(item) if output_of is not None else None) for item in items]
    chunks = [frames[start:start + chunk_size] for start in range(0, len(frames), chunk_size)]
    tree = _TreeMerge(voxel_size, origin)

    def done(chunk_outcome: FrameOutcome) -> None:
        chunk = chunk_outcome.value
        if not chunk_outcome.ok:  # fuse_chunk keeps its frames' errors: not reached unless the chunk itself failed
            raise DepthCloudError(chunk_outcome.error)
        for outcome in chunk.outcomes:
            report.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if chunk.grid is not None:
            tree.add(chunk.grid)
        if chunk.error is not None:
            raise chunk.error

    walk_frames(chunks, functools.partial(fuse_chunk, work, voxel_size, origin=origin, precise=precise),
                frame_of=lambda chunk: None,
                executor=executor, on_outcome=done, keep_values=False)
    return tree.result(), report
