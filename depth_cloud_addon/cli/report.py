"""What every ``depth-cloud`` command says and how it ends: the messages on stderr and the exit statuses.

Exit status: 0 every frame written (or already complete); 1 some frames of a sequence failed (each listed, the
others written); 2 bad input or arguments (one line ``depth-cloud: error: ...``, nothing written); 128+N stopped by
signal N. Warnings do not change it: one line each, ``depth-cloud: warning: ... (frames N, ...)``.
"""

from __future__ import annotations

import signal
import sys
import time

from ..core import DepthCloudError
from ..core.atomic import remove_stale_temporaries
from ..core.frames.loop import FrameReport, failure_message

EXIT_OK, EXIT_FAILED_FRAMES, EXIT_BAD_INPUT = 0, 1, 2


class CliError(Exception):
    """A problem with the command line or its inputs: one line for the user, exit status 2."""


class Stopped(Exception):
    """SIGTERM, SIGINT or SIGHUP: stop cleanly (temporary files removed), exit status 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def raise_stopped(signum, _frame):
    raise Stopped(signum)


def stopped_message(exc: Stopped) -> str:
    return f"depth-cloud: stopped by {exc}: the outputs written so far are complete, none is half-written"


def bad_input(exc: DepthCloudError | OSError, output=None) -> CliError:
    """A core error (or ``output`` that cannot be written: an ``OSError`` names it, not its temporary file) as the
    one line of exit status 2."""
    return CliError(failure_message(exc, output))


def complete_already(output, overwrite: bool, is_complete, made_from: str = "inputs and options") -> bool:
    """Whether the one ``output`` of a run is there already, complete and of the same job (``is_complete()``), so
    the run has nothing to do (said on stderr); never with ``overwrite``. What dead runs left of it goes first."""
    remove_stale_temporaries(output)
    if overwrite or not is_complete():
        return False
    note(f"{output} is complete already, from the same {made_from} (use --overwrite)")
    return True


def say(kind: str, lines, label: str = "") -> None:
    """One stderr line per message: ``depth-cloud: KIND: [LABEL: ]message``."""
    for line in lines:
        print(f"depth-cloud: {kind}: {label}{line}", file=sys.stderr)


def note(line: str) -> None:
    """A line of the tool's own on stderr: ``depth-cloud: line``."""
    print(f"depth-cloud: {line}", file=sys.stderr)


def layer_note(layers) -> str:
    """``", view layer 'A'"`` for the view layers read (none: the files hold one layer)."""
    layers = sorted({layer for layer in layers if layer})
    return f", view layer {', '.join(repr(v) for v in layers)}" if layers else ""


def finish(report: FrameReport, *, summary: str | None = None, notes=()) -> int:
    """The end of a walk over frames: each warning once with its frames, each failed frame, then ``summary``;
    exit status 1 when a frame failed, else 0."""
    say("warning", report.warning_lines() + list(notes))
    for failure in report.failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    if summary:
        note(summary)
    return EXIT_FAILED_FRAMES if report.failed else EXIT_OK




class Progress:
    """One status line on stderr: frames done, points per second, time left (a line per frame when not a tty)."""

    def __init__(self, total: int, *, shown: bool = True):
        self.total, self.done, self.points, self.start = total, 0, 0, time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.shown = shown

    def update(self, points: int = 0) -> None:
        self.done += 1
        self.points += points
        if not self.shown:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        line = (f"frames {self.done}/{self.total}, {self.points / max(elapsed, 1e-9) / 1e6:.1f} Mpoints/s, "
                f"{int(left // 60)}:{int(left % 60):02d} left")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown and self.tty and self.done:
            print(file=sys.stderr)
