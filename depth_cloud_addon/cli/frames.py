"""The frame arguments every command shares: ``--frames``, ``#`` patterns, and the options that read frames."""

from __future__ import annotations

import sys
from typing import overload

from ..core import DepthCloudError
from ..core.formats.outputs import OUTPUT_FORMATS
from ..core.frames.files import existing_frames, frame_path, parse_frames
from ..core.frames.loop import FrameReport, walk_frames
from ..core.geometry.projection import DEPTH_KINDS as CORE_DEPTH_KINDS
from .report import CliError, finish

DEPTH_KINDS = ("auto", *CORE_DEPTH_KINDS)  # "auto": the file's record, else what Cycles writes for the camera


def frame_numbers(spec: str | None, patterns: dict, *, output: str | None = None, one_output: bool = False,
                  one_output_hint: str = "") -> list[int | None]:
    """The frame numbers of ``--frames``, or ``[None]`` for a single file (then no ``#`` in any of ``patterns``,
    ``{option name: value}``). A sequence whose ``output`` has no ``#`` would write every frame to the same file:
    refused, unless the output holds every frame (``one_output``: a fused cloud, a USD point cache, ...)."""
    if spec is None:
        for name, value in patterns.items():
            if "#" in (value or ""):
                raise CliError(f"{name} {value!r} has a # frame pattern: give --frames")
        return [None]
    try:
        numbers: list[int | None] = list(parse_frames(spec))
    except DepthCloudError as exc:
        raise CliError(f"--frames {exc}") from None
    if output is not None and not one_output and len(numbers) > 1 and "#" not in output:
        raise CliError(f"output {output!r} has no # for the frame number: every frame would be written to the same "
                       "file; use a pattern such as 'out/cloud_####.ply'" + one_output_hint)
    return numbers


#: More missing frames than this are one compact line, found by listing the folder once (fewer: each its own line).
COMPACT_MISSING = 10


def present_frames(numbers: list, pattern: str | None, what: str, report: FrameReport | None = None
                   ) -> tuple[list, FrameReport]:
    """The frames of ``numbers`` whose ``what`` file (the ``#`` ``pattern``) exists, and a report that holds the
    others when they are many (:data:`COMPACT_MISSING`): one failure line naming them as ranges, so a range far
    larger than the frames present (``--frames 1-2000000`` with 8 frames) is answered at once."""
    report = report if report is not None else FrameReport()
    if numbers == [None] or pattern is None or "#" not in pattern:
        return numbers, report
    present = existing_frames(pattern, numbers)
    if len(numbers) - len(present) <= COMPACT_MISSING:
        return numbers, report  # each missing frame fails with its own line, as any frame
    kept = set(present)
    report.fail_frames((n for n in numbers if n not in kept), f"no {what} file ({pattern})")
    return present, report


@overload
def at(pattern: str, frame: int | None) -> str: ...
@overload
def at(pattern: None, frame: int | None) -> None: ...
def at(pattern: str | None, frame: int | None) -> str | None:
    """``pattern`` with its ``#`` run filled for ``frame`` (a single file: as it is)."""
    if pattern is None or frame is None:
        return pattern
    return frame_path(pattern, frame)


def check_stride(stride: int) -> None:
    """``--stride`` is a whole number >= 1 (bad input, exit 2, before any work)."""
    if stride < 1:
        raise CliError(f"--stride must be >= 1, got {stride}")


def add_frames(parser) -> None:
    parser.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")


def add_layer(parser, extra: str = "") -> None:
    parser.add_argument("--layer", metavar="NAME", help="multilayer render EXRs: the view layer to read (default: the "
                                                        "first in the file)" + extra)


def add_depth_kind(parser, flag: str = "--depth-kind", dest: str | None = None) -> None:
    parser.add_argument(flag, dest=dest, choices=DEPTH_KINDS, default="auto",
                        help="kind of the depth files (auto: what each file's header records, else the sidecar's "
                             "capture.depth_files, else what Cycles writes for the camera)")


def add_format(parser) -> None:
    """``--format``: its choices and help from the core's table of output formats."""
    described = "; ".join(f"{f.name} {'/'.join(f.extensions)}: {f.holds}" for f in OUTPUT_FORMATS)
    parser.add_argument("--format", choices=tuple(f.name for f in OUTPUT_FORMATS), default=None,
                        help=f"the output's format (default: by its extension; another extension is refused): "
                             f"{described}")


def read_frames(numbers: list, read, what: str, report: FrameReport | None = None) -> FrameReport:
    """``read(frame)`` of every frame, through the frame loop (into ``report``, which may hold frames failed
    already). A single file's problem is bad input (exit 2); a sequence goes on past failed frames, and fails
    (listing them) only when none could be read."""
    report = walk_frames(numbers, read, report=report)
    if numbers == [None] and report.failed:
        raise CliError(report.failed[0].error)
    if not report.done:
        for failure in report.failures:
            print(f"depth-cloud: failed: {failure}", file=sys.stderr)
        raise CliError(f"no {what} could be read ({report.failed_count:,} frame(s) failed); nothing written")
    return report


def sequence_end(report: FrameReport, total: int, what: str) -> int:
    """The end of a command that walked ``total`` frames: warnings, failures and ``N of M WHAT(s) written``
    (for a sequence, or when a frame failed); exit status 1 when a frame failed."""
    summary = None
    failed = report.failed_count
    if total > 1 or failed:
        summary = f"{total - failed:,} of {total:,} {what}(s) written, {failed:,} failed"
    return finish(report, summary=summary)
