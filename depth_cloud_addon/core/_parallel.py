"""Run independent numpy work on slices of a large array in threads (numpy releases the GIL)."""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

_POOL: ThreadPoolExecutor | None = None
#: Below this many rows one thread is faster than handing work out.
MIN_ROWS_PER_THREAD = 1 << 17
#: Threads to use (None: one per core). Worker processes that share the cores set it lower.
THREADS: int | None = None


def set_threads(threads: int) -> None:
    """Use ``threads`` threads for numpy work and OpenEXR decoding in this process."""
    global THREADS
    THREADS = max(1, int(threads))
    import OpenEXR

    OpenEXR.set_global_thread_count(THREADS)


_local = threading.local()


@contextlib.contextmanager
def one_thread():
    """Within this block, this thread's :func:`parallel_chunks` run inline: for work that already runs
    beside other work on every core (frames decoded in the background), where handing chunks to the
    shared pool only makes the threads wait for each other."""
    before = getattr(_local, "inline", False)
    _local.inline = True
    try:
        yield
    finally:
        _local.inline = before


def parallel_chunks(n: int, work, *, threads: int | None = None) -> None:
    """Call ``work(start, stop)`` over ``[0, n)`` split into one contiguous slice per thread.

    ``work`` must only write its own slice. With one core, or little work, it runs inline.
    """
    global _POOL
    threads = threads or THREADS or os.cpu_count() or 1
    threads = max(1, min(threads, n // MIN_ROWS_PER_THREAD))
    if threads == 1 or getattr(_local, "inline", False):
        work(0, n)
        return
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count(), thread_name_prefix="depth-cloud")
    bounds = [n * i // threads for i in range(threads + 1)]
    for future in [_POOL.submit(work, a, b) for a, b in zip(bounds[:-1], bounds[1:])]:
        future.result()


_BACKGROUND: ThreadPoolExecutor | None = None


class Later:
    """A value computed in a background thread (work that releases the GIL: decoding a file), taken once with
    :meth:`take`, which waits for it and re-raises what it raised. After ``take`` nothing here holds the value,
    so the caller frees it by dropping its own reference. Within :func:`one_thread`, the work runs at once."""

    def __init__(self, work):
        global _BACKGROUND
        future: Future = Future()
        if getattr(_local, "inline", False):
            try:
                future.set_result(work())
            except BaseException as exc:  # re-raised by take(), as from a thread
                future.set_exception(exc)
        else:
            if _BACKGROUND is None:
                _BACKGROUND = ThreadPoolExecutor(max_workers=os.cpu_count(), thread_name_prefix="depth-cloud-later")
            future = _BACKGROUND.submit(work)
        self._future: Future | None = future

    def take(self):
        future, self._future = self._future, None
        if future is None:
            raise RuntimeError("a Later value is taken once")
        return future.result()
