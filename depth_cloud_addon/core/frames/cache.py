"""A memory-bounded LRU of decoded frames (the live sequence's frame cache). Plain Python; thread-safe
(background decoding puts frames in while the main thread reads them)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .cloud import CloudArrays

__all__ = ["DEFAULT_CACHE_SHARE", "FrameCache", "default_cache_mb", "physical_memory_bytes"]

DEFAULT_CACHE_SHARE = 0.25  # of the machine's RAM


def physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None


def default_cache_mb() -> int:
    """A quarter of this machine's RAM, in MiB (4096 where it cannot be known)."""
    total = physical_memory_bytes()
    return int(total * DEFAULT_CACHE_SHARE / 2**20) if total else 4096


class FrameCache:
    """LRU of :class:`CloudArrays` by key, bounded by the bytes of the arrays it holds."""

    def __init__(self):
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0

    @staticmethod
    def size_of(cloud: CloudArrays) -> int:
        return cloud.nbytes

    def get(self, key):
        with self._lock:
            cloud = self._items.get(key)
            if cloud is not None:
                self._items.move_to_end(key)
            return cloud

    def put(self, key, cloud: CloudArrays, limit_bytes: int, *, evict: bool = True) -> bool:
        """Keep ``cloud`` unless it alone exceeds the limit; evict least recently used frames to fit (or,
        with ``evict`` False, keep it only if it fits beside them: a frame read ahead never pushes out
        the frames in use)."""
        size = self.size_of(cloud)
        if size > limit_bytes:
            return False
        with self._lock:
            if not evict and key not in self._items and self.nbytes + size > limit_bytes:
                return False
            if key in self._items:
                self.nbytes -= self.size_of(self._items.pop(key))
            while self._items and self.nbytes + size > limit_bytes:
                _, old = self._items.popitem(last=False)
                self.nbytes -= self.size_of(old)
            self._items[key] = cloud
            self.nbytes += size
            return True

    def __contains__(self, key) -> bool:
        """Whether ``key`` is cached (without making it the most recently used)."""
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
