"""The live sequence's frame cache: an LRU bounded by the bytes it holds. Plain Python."""

import numpy as np

from depth_cloud_addon.core.frames.cache import FrameCache
from depth_cloud_addon.core.frames.cloud import CloudArrays


def test_frame_cache_is_lru_and_bounded():
    cache = FrameCache()
    n = 100
    cloud = CloudArrays(np.zeros((n, 3), np.float32), np.zeros((n, 4), np.float32), np.zeros(n, np.float32),
                        np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, np.float32), "planar",
                        1, None, "world")
    size = FrameCache.size_of(cloud)
    assert size == n * (12 + 16 + 4 + 8 + 4)
    for key in "abc":
        assert cache.put(key, cloud, limit_bytes=2 * size)
    assert len(cache) == 2 and cache.get("a") is None  # "a" was the least recently used
    cache.get("b")
    cache.put("d", cloud, limit_bytes=2 * size)
    assert cache.get("b") is cloud and cache.get("c") is None and cache.nbytes == 2 * size
    assert not cache.put("e", cloud, limit_bytes=size - 1)  # one frame larger than the limit is not kept
