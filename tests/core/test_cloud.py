"""CloudArrays.take (a Build frees each array once written) and thin_cloud (sequences while playing)."""

from __future__ import annotations

import dataclasses
import gc
import weakref

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, NoValidDepthError
from depth_cloud_addon.core.frames.cloud import cloud_arrays, thin_cloud


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


@pytest.mark.parametrize("stride, factor", [(1, 2), (1, 3), (2, 2), (3, 4)])
def test_thin_cloud_is_the_cloud_read_at_the_larger_stride(stride, factor):
    camera = CameraModel(width_px=37, height_px=23, lens_mm=30.0)
    rng = np.random.default_rng(stride * 10 + factor)
    depth = rng.uniform(2.0, 9.0, (23, 37)).astype(np.float32)
    depth[rng.random((23, 37)) < 0.2] = np.inf  # background holes
    color = rng.random((23, 37, 4), dtype=np.float32)
    thin = thin_cloud(cloud_arrays(depth, color, camera, stride=stride), factor)
    direct = cloud_arrays(depth, color, camera, stride=stride * factor)
    assert thin.stride == direct.stride == stride * factor and len(thin.points) == len(direct.points) > 5
    for name in ("points", "colors", "rows", "cols", "depths"):
        np.testing.assert_array_equal(getattr(thin, name), getattr(direct, name), err_msg=name)
    np.testing.assert_allclose(thin.radii, direct.radii, rtol=2e-7)  # (f s / sqrt 2) k vs f (s k) / sqrt 2, float32


def test_thin_cloud_keeps_attributes_in_step_and_refuses_an_empty_result():
    cloud = dataclasses.replace(_cloud(), attributes={"object_index": np.arange(20 * 32, dtype=np.int32)})
    thin = thin_cloud(cloud, 4)
    np.testing.assert_array_equal(thin.attributes["object_index"], thin.rows * 32 + thin.cols - 4 * 32)
    assert thin_cloud(cloud, 1) is cloud
    with pytest.raises(NoValidDepthError, match="stride 64"):
        thin_cloud(cloud, 64)  # rows 4..23 hold no multiple of 64
