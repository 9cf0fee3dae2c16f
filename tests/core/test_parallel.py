"""parallel_chunks: slices on the shared pool's threads, or inline within one_thread (background decodes)."""

from __future__ import annotations

import threading

from depth_cloud_addon.core import _parallel


def _threads_used(n: int) -> set[str]:
    names, lock = set(), threading.Lock()

    def work(start, stop):
        with lock:
            names.add(threading.current_thread().name)

    _parallel.parallel_chunks(n, work, threads=2)
    return names


def test_large_work_goes_to_the_pool_and_one_thread_keeps_it_inline():
    n = 4 * _parallel.MIN_ROWS_PER_THREAD
    assert all(name.startswith("depth-cloud") for name in _threads_used(n))
    here = threading.current_thread().name
    with _parallel.one_thread():
        assert _threads_used(n) == {here}
        with _parallel.one_thread():  # nested: still inline, and restored on the way out
            assert _threads_used(n) == {here}
        assert _threads_used(n) == {here}
    assert here not in _threads_used(n)


def test_one_thread_is_per_thread():
    n, seen = 4 * _parallel.MIN_ROWS_PER_THREAD, []
    with _parallel.one_thread():
        other = threading.Thread(target=lambda: seen.append(_threads_used(n)))
        other.start()
        other.join()
    assert seen and all(name.startswith("depth-cloud") for name in seen[0])
