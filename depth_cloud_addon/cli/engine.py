"""Where a command's frames run: here, one after the other (the default); in ``--jobs N`` worker processes of this
machine (:mod:`.workers`); or as tasks of a Dask cluster, ``--scheduler tcp://HOST:PORT`` (:mod:`.cluster`, the
optional extra ``depth-cloud[dask]``).

Each engine is a :class:`concurrent.futures.Executor` handed to the core, which walks the frames the same way on
any of them (``core.frames.loop.walk_frames``, ``core.frames.fusion.fuse_frames``, ``export_dataset``): the same
outputs, byte for byte, the same resume rules, progress line, warnings and failed frames. What is the engine's
own is how it starts (an unreachable scheduler, workers that cannot see the files: one line, exit 2, before any
frame is written) and how it stops (SIGTERM, Ctrl-C: its tasks cancelled, no temporary file left).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .report import CliError
from .workers import process_pool


@dataclass(frozen=True)
class Workers:
    """A running engine: its ``executor`` (None: here, inline) and how many tasks it runs at once (``slots``)."""

    executor: concurrent.futures.Executor | None
    slots: int = 1


@dataclass(frozen=True)
class Engine:
    """``--jobs`` and ``--scheduler``, checked: a bad value, both at once, or ``--scheduler`` without Dask
    installed is one line and exit status 2 before any work."""

    jobs: int = 1
    scheduler: str | None = None

    @classmethod
    def from_args(cls, args) -> Engine:
        jobs, scheduler = getattr(args, "jobs", 1), getattr(args, "scheduler", None)
        if jobs < 1:
            raise CliError(f"--jobs must be >= 1, got {jobs}")
        if scheduler is not None:
            if jobs != 1:
                raise CliError("--jobs with --scheduler: the cluster's workers run the frames; give one of them")
            from .cluster import require_distributed

            require_distributed()
        return cls(jobs, scheduler)

    @property
    def remote(self) -> bool:
        """The frames run on other machines (which see the files at absolute paths only)."""
        return self.scheduler is not None

    def resolve(self, args, names) -> argparse.Namespace:
        """``args`` with the paths ``names`` absolute when the frames run on a cluster (its workers do not share
        this shell's folder); ``args`` itself is not changed."""
        if not self.remote:
            return args
        resolved = copy.copy(args)
        for name in names:
            value = getattr(args, name, None)
            if value is not None:
                setattr(resolved, name, os.path.abspath(value))
        return resolved

    @contextlib.contextmanager
    def start(self, *, inputs=(), outputs=()) -> Iterator[Workers]:
        """The engine, running while the block runs. ``inputs``: files the frames read; ``outputs``: files they
        write (a cluster's workers must see both; what killed workers left half-written there is removed)."""
        if self.scheduler is not None:
            from .cluster import cluster_workers

            with cluster_workers(self.scheduler, inputs=inputs, outputs=outputs) as (executor, slots):
                yield Workers(executor, slots)
        elif self.jobs > 1:
            with process_pool(self.jobs, list(outputs)) as pool:  # stopped: what the workers left half-written goes
                yield Workers(pool, self.jobs)
        else:
            yield Workers(None)


def add_engine(parser, what: str = "frames", *, jobs: bool = True) -> None:
    """``--jobs`` (unless the command has its own) and ``--scheduler``."""
    if jobs:
        parser.add_argument("--jobs", type=int, default=1, help=f"worker processes for the {what} of a sequence")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help=f"run the {what} as tasks of this Dask cluster (its workers see the files at the same "
                             "paths; needs pip install 'depth-cloud[dask]')")
