"""The one frame loop: walk a sequence's frames, keep each frame's result, failure or warnings, and report them
grouped by frame. Pure Python.

Every entry point that walks frames goes through here: the CLI's commands (``convert`` in its three forms,
``depth``, ``cameras``, ``dataset``) and Blender's Export, Export Dataset and Bake. A frame whose work raises
:class:`DepthCloudError` (bad input) or ``OSError`` (an output that cannot be written: the one message of
:func:`..errors.cannot_write`) is a failed frame, listed with its message; the others go on. Anything else is a bug
and propagates.

``walk_frames(items, work, executor=...)`` runs ``work(item)`` for each item, inline or as tasks of any
:class:`concurrent.futures.Executor` (a process pool, Dask's ``client.get_executor()``, ...): the engine is the
caller's choice and the results are the same. Outcomes come back in the items' order.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import DepthCloudError, cannot_write

__all__ = ["FrameOutcome", "FrameReport", "compact_frames", "failure_message", "run_frame", "walk_frames",
           "warned_frames"]


def compact_frames(frames, limit: int = 8) -> str:
    """Frame numbers as ranges: ``frames 1-3, 7, 9-2000000 (2,000,003 frames)`` (at most ``limit`` ranges, then
    ``...``); one frame: ``frame 7``."""
    numbers = sorted(set(frames))
    if len(numbers) == 1:
        return f"frame {numbers[0]}"
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    shown = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:limit]) + (", ..." if len(runs) > limit else "")
    return f"frames {shown} ({len(numbers):,} frames)"


#: A count in a warning, ``N of M``: the frames' counts of one warning are added up (one line for a sequence).
_COUNT = re.compile(r"(\d[\d,]*) of (\d[\d,]*)")


def warned_frames(warned: dict) -> list[str]:
    """``{warning: [frames]}`` as one line each: the warning and the frames it concerns (the first ten; a single
    file's warning, frame None, alone). Warnings that differ only in their counts (``N of M points``) are one line,
    with the counts added up."""
    grouped: dict[str, list] = {}  # the warning with its counts taken out -> [counts, frames]
    for warning, frames in warned.items():
        key = _COUNT.sub("{} of {}", warning.replace("{", "{{").replace("}", "}}"))
        counts = [tuple(int(v.replace(",", "")) for v in m) for m in _COUNT.findall(warning)]
        entry = grouped.setdefault(key, [None, []])
        entry[0] = counts if entry[0] is None else [(a + c, b + d) for (a, b), (c, d) in zip(entry[0], counts)]
        entry[1] += frames
    lines = []
    for key, (counts, frames) in grouped.items():
        warning = key.format(*(f"{v:,}" for pair in counts for v in pair))
        frames = [f for f in frames if f is not None]
        shown = ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")
        lines.append(f"{warning} (frame{'s' if len(frames) > 1 else ''} {shown})" if frames else warning)
    return lines


@dataclass(frozen=True)
class FrameOutcome:
    """What one frame's work gave: its ``value``, or the ``error`` line that says why it failed; its ``warnings``
    (the value's own ``warnings``, when it has them)."""

    frame: int | None
    value: Any = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    count: int = 1  # the frames it stands for: more than 1 for frames that failed alike, named in ``error``

    @property
    def ok(self) -> bool:
        return self.error is None


def failure_message(error: BaseException, output=None) -> str:
    """The line for a frame that failed: a :class:`DepthCloudError`'s message, or for an ``OSError`` the one
    "cannot write" message of ``output`` (else of the file the error names)."""
    if isinstance(error, OSError) and not isinstance(error, DepthCloudError):
        where = output if output is not None else (error.filename or "the output")
        return str(cannot_write(os.fspath(where), error))
    return str(error)


def run_frame(work: Callable[[Any], Any], item, frame: int | None = None, output=None) -> FrameOutcome:
    """``work(item)`` as one frame's outcome: :class:`DepthCloudError` and ``OSError`` become its ``error`` (see
    :func:`failure_message`; ``output`` names the file an ``OSError`` is about). Module-level and picklable, so an
    executor's worker runs it and only the outcome travels back."""
    try:
        value = work(item)
    except (DepthCloudError, OSError) as exc:
        return FrameOutcome(frame, error=failure_message(exc, output))
    return FrameOutcome(frame, value, warnings=tuple(getattr(value, "warnings", None) or ()))


@dataclass
class FrameReport:
    """The outcomes of a walk over frames, in the order they were added."""

    outcomes: list[FrameOutcome] = field(default_factory=list)

    def add(self, outcome: FrameOutcome) -> FrameOutcome:
        self.outcomes.append(outcome)
        return outcome

    def record(self, frame: int | None, work: Callable[[Any], Any], item=None, *, output=None,
               keep_value: bool = True) -> FrameOutcome:
        """Run one frame here (:func:`run_frame`) and add its outcome, for loops that step a frame at a time (a modal
        operator); returns the outcome with its value (kept in the report only with ``keep_value``)."""
        outcome = run_frame(work, frame if item is None else item, frame, output)
        self.add(outcome if keep_value else dataclasses.replace(outcome, value=None))
        return outcome

    def fail(self, frame: int | None, error: BaseException | str, output=None) -> FrameOutcome:
        """Add a failed frame (an error met outside :meth:`record`)."""
        message = error if isinstance(error, str) else failure_message(error, output)
        return self.add(FrameOutcome(frame, error=message))

    def fail_frames(self, frames, why: str) -> FrameOutcome | None:
        """Add frames that failed for one reason (e.g. thousands of frames without a file) as one outcome whose
        line names them compactly (``frames 9-2000000 (1,999,992 frames): why``); None when ``frames`` is empty."""
        frames = list(frames)
        if not frames:
            return None
        return self.add(FrameOutcome(None, error=f"{compact_frames(frames)}: {why}", count=len(frames)))

    @property
    def failed_count(self) -> int:
        """The frames that failed (a compact outcome of :meth:`fail_frames` counts its frames)."""
        return sum(o.count for o in self.outcomes if not o.ok)

    @property
    def done(self) -> list[FrameOutcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[FrameOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def values(self) -> list:
        return [o.value for o in self.outcomes if o.ok]

    @property
    def failures(self) -> list[str]:
        """One line per failed frame: ``frame N: why`` (a single file: ``why``)."""
        return [o.error if o.frame is None else f"frame {o.frame}: {o.error}" for o in self.outcomes
                if o.error is not None]  # the failed ones (self.failed), narrowed for the type checker

    @property
    def warned(self) -> dict[str, list]:
        """warning -> the frames it concerns (each warning once)."""
        grouped: dict[str, list] = {}
        for outcome in self.outcomes:
            for warning in outcome.warnings:
                grouped.setdefault(warning, []).append(outcome.frame)
        return grouped

    def warning_lines(self) -> list[str]:
        """One line per warning, naming its frames."""
        return warned_frames(self.warned)


def walk_frames(items: Iterable, work: Callable[[Any], Any], *, frame_of: Callable[[Any], int | None] = lambda i: i,
                output_of: Callable[[Any], Any] | None = None,
                executor: concurrent.futures.Executor | None = None,
                report: FrameReport | None = None, on_outcome: Callable[[FrameOutcome], None] | None = None,
                stop: Callable[[], bool] | None = None, keep_values: bool = True) -> FrameReport:
    """The one frame loop: ``work(item)`` for each of ``items`` (frame numbers, or per-frame jobs with
    ``frame_of(item)`` their frame), its outcome added to ``report`` (a new :class:`FrameReport` by default) and
    passed to ``on_outcome`` (progress, or using the value: fusing it, adding it to a file) in the caller's thread,
    in the items' order. ``output_of(item)`` names the file an ``OSError`` of that frame is about.

    ``keep_values=False``: the report keeps each frame's outcome without its value once ``on_outcome`` has used it
    (a fusion of many frames holds one cloud at a time).
    ``executor``: run the work as its tasks (``work`` and the items must then be picklable); None runs it here.
    A task's value is let go once ``on_outcome`` has had it, so ``keep_values=False`` streams on any engine.
    ``stop()``: checked before each frame; once true, the frames not started are left (tasks not started are
    cancelled) and the report holds the frames done. An exception in the caller's thread (Ctrl-C, a signal, a bug)
    cancels the tasks not started and propagates.
    """
    report = report if report is not None else FrameReport()
    items = list(items)

    def output(item):
        return output_of(item) if output_of is not None else None

    def done(outcome: FrameOutcome) -> None:
        if on_outcome is not None:
            on_outcome(outcome)
        report.add(outcome if keep_values or outcome.value is None else dataclasses.replace(outcome, value=None))

    if executor is None:
        for item in items:
            if stop is not None and stop():
                break
            done(run_frame(work, item, frame_of(item), output(item)))
        return report
    futures: list = [executor.submit(run_frame, work, item, frame_of(item), output(item)) for item in items]
    try:
        for index, future in enumerate(futures):
            if stop is not None and stop():
                break
            outcome = future.result()
            futures[index] = None  # the value is the caller's now: with keep_values=False nothing holds it
            done(outcome)
    finally:
        for future in futures:
            if future is not None:
                future.cancel()  # those not done: not started (or, on a cluster, any not finished)
    return report
