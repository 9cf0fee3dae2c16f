"""CloudArrays.take: a Build frees each of the cloud's arrays once it is written (issue 15's peak memory)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel
from depth_cloud_addon.core.cloud import cloud_arrays


def _cloud():
    camera = CameraModel(width_px=32, height_px=24, lens_mm=30.0)
    depth = np.full((24, 32), 3.0, np.float32)
    depth[:4] = np.inf  # background rows: the cloud gathers (no views of the image)
    color = np.random.default_rng(1).random((24, 32, 4), dtype=np.float32)
    return cloud_arrays(depth, color, camera)


def test_take_returns_the_array_and_the_cloud_keeps_an_empty_one():
    cloud = _cloud()
    points, colors = cloud.points, cloud.colors
    assert cloud.take("points") is points and cloud.take("colors") is colors
    assert cloud.points.shape == (0, 3) and cloud.points.dtype == np.float32
    assert cloud.colors.shape == (0, 4) and cloud.radii.shape == (20 * 32,)
    assert cloud.nbytes == sum(a.nbytes for a in (cloud.radii, cloud.rows, cloud.cols, cloud.depths))
    with pytest.raises(ValueError, match="no array 'camera'"):
        cloud.take("camera")


def test_a_taken_array_is_freed_when_its_taker_drops_it():
    cloud = _cloud()
    refs = {name: weakref.ref(getattr(cloud, name)) for name in ("points", "colors", "radii", "rows", "cols")}
    for name in refs:
        cloud.take(name)  # not kept: as the builder does, write then drop
    gc.collect()
    assert {name: ref() is None for name, ref in refs.items()} == dict.fromkeys(refs, True)
