"""``--jobs N``: a pool of worker processes that stop with the command, however it stops.

The pool is a plain :class:`concurrent.futures.ProcessPoolExecutor` given to the core's one frame loop
(:func:`..core.frames.loop.walk_frames`), like any other executor. What is the CLI's own is how its workers end:
with the parent (SIGTERM, SIGINT, SIGKILL of the parent), leaving no temporary file behind.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time

from ..core._parallel import set_threads
from ..core.atomic import remove_stale_temporaries, remove_stale_temporaries_in

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_on_signal(signum, _frame):
    """In a worker: leave quietly (SystemExit), running the atomic writer's cleanup on the way."""
    raise SystemExit(128 + signum)


def worker_init(threads: int, parent_pid: int) -> None:
    """In each ``--jobs`` worker: share the cores, and stop when the parent stops, however it stops.

    The parent's SIGTERM/SIGINT handler terminates the workers; if the parent dies outright (SIGKILL:
    a farm cancelling the task), Linux sends SIGTERM to the worker (``PR_SET_PDEATHSIG``) and, on any
    system, a watchdog thread sees the parent gone within half a second. SIGTERM then removes the
    worker's temporary file (the atomic writer's cleanup) and ends it, closing the pipes it inherited.
    """
    set_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os.kill(os.getpid(), signal.SIGTERM)

    main = threading.main_thread().ident
    assert main is not None  # (the main thread has started: it is running this)

    def watchdog():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        # A process-directed signal may land on any thread, leaving the main thread blocked in a read of the
        # task queue for ever: signal the main thread itself, and leave outright if it is still here after 5 s.
        signal.pthread_kill(main, signal.SIGTERM)
        time.sleep(5.0)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watchdog, name="depth-cloud-parent-watchdog", daemon=True).start()


def _quiet_stopped_pool(args) -> None:
    """Thread exceptions while the pool is stopped: CPython 3.11's ProcessPoolExecutor sets an exception on the
    futures it cancelled when its workers die (``InvalidStateError`` in ``terminate_broken``; fixed in 3.12).
    That one is expected and says nothing to the user; anything else is shown as usual."""
    if not isinstance(args.exc_value, concurrent.futures.InvalidStateError):
        threading.__excepthook__(args)


def stop_workers(outputs=()) -> None:
    """Stop this process's worker processes: SIGTERM (they remove their temporary files), then SIGKILL for any
    still there after 3 s (a signal that landed on one of a worker's other threads leaves its main thread
    blocked); then remove what killed workers left half-written: ``outputs``' temporary files (a folder output set
    aside goes back to its target), then whatever else of theirs is in those folders (:func:`sweep_folders`)."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + 3.0
    for child in children:
        child.join(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
    folders: set[str] = set()
    for output in outputs:  # each folder listed again once, not once per output
        folder = os.path.dirname(os.path.abspath(output))
        remove_stale_temporaries(output, refresh=folder not in folders)  # a folder set aside goes back to its target
        folders.add(folder)
    sweep_folders(sorted(folders))  # the rest they left there: legends, a dataset's files


def sweep_folders(folders) -> int:
    """Remove the temporary files this machine's dead processes left in ``folders`` (run here and on each worker of
    a cluster: each machine knows its own processes only); returns how many."""
    return sum(len(remove_stale_temporaries_in(folder)) for folder in folders if os.path.isdir(folder))


@contextlib.contextmanager
def process_pool(jobs: int, outputs=()):
    """A spawn pool of ``jobs`` worker processes (they start clean: no forked OpenEXR threads; they share the cores).
    On leaving normally, it waits for them; on any exception (stopped, or a bug), it ends the workers first,
    removes what they left half-written among ``outputs``' temporary files, then lets the exception go on."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=worker_init, initargs=(threads, os.getpid()))
    try:
        yield pool
    except BaseException:
        threading.excepthook = _quiet_stopped_pool
        stop_workers(outputs)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
