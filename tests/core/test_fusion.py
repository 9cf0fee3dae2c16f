"""One fusion for Bake and ``convert --fuse``: streamed frame by frame, the same as fusing everything at once."""

from __future__ import annotations

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, DepthCloudError, NoValidDepthError, backproject
from depth_cloud_addon.core.frames.cloud import cloud_arrays
from depth_cloud_addon.core.frames.fusion import Fusion
from depth_cloud_addon.core.geometry.voxel import voxel_downsample

CAMERA = CameraModel(width_px=16, height_px=12, lens_mm=30.0)


def _frames(n: int = 3):
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, 3] = (0.3 * i, -0.1 * i, 2.0)
        camera = CAMERA.replace(frame=i + 1, cam2world=pose)
        depth = rng.uniform(2.0, 6.0, CAMERA.shape).astype(np.float32)
        color = rng.uniform(0.0, 1.0, (*CAMERA.shape, 4)).astype(np.float32)
        out.append((depth, color, camera))
    return out


def test_streamed_voxel_fusion_equals_downsampling_everything_at_once():
    fusion = Fusion(0.25)
    clouds = [cloud_arrays(d, c, cam) for d, c, cam in _frames()]
    for cloud in clouds:
        fusion.add(cloud)
    points, colors, radii = fusion.result()
    expected = voxel_downsample(np.concatenate([c.points for c in clouds]),
                                np.concatenate([c.colors for c in clouds]),
                                np.concatenate([c.radii for c in clouds]), voxel_size=0.25)
    np.testing.assert_allclose(points, expected[0], atol=1e-6)
    np.testing.assert_allclose(colors, expected[1], atol=1e-6)
    np.testing.assert_allclose(radii, expected[2], atol=1e-6)
    assert fusion.frames == 3 and fusion.points_in == 3 * 16 * 12 and len(points) < fusion.points_in


def test_fusion_without_voxels_keeps_every_point_in_order():
    fusion = Fusion()
    clouds = [cloud_arrays(d, c, cam) for d, c, cam in _frames()]
    for cloud in clouds:
        fusion.add(cloud)
    points, colors, _ = fusion.result()
    np.testing.assert_array_equal(points, np.concatenate([c.points for c in clouds]))
    np.testing.assert_array_equal(colors, np.concatenate([c.colors for c in clouds]))


def test_camera_space_clouds_are_fused_in_world_space():
    depth, color, camera = _frames(2)[1]
    fusion = Fusion()
    fusion.add(cloud_arrays(depth, color, camera, space="camera"))
    world = backproject(depth, camera).reshape(-1, 3)
    np.testing.assert_allclose(fusion.result()[0], world, atol=1e-5)


@pytest.mark.parametrize("voxel", [-1.0, float("nan"), float("inf"), "big"])
def test_a_bad_voxel_size_is_bad_input(voxel):
    with pytest.raises(DepthCloudError, match="voxel_size must be a finite number > 0"):
        Fusion(voxel)


def test_nothing_fused_is_an_error():
    with pytest.raises(NoValidDepthError, match="no frame was fused"):
        Fusion(0.1).result()


def test_points_in_both_frames_agree():
    depth, color, camera = _frames(2)[1]
    world = cloud_arrays(depth, color, camera, space="world")
    cam = cloud_arrays(depth, color, camera, space="camera")
    np.testing.assert_allclose(cam.points_world, world.points, atol=1e-5)
    np.testing.assert_allclose(world.points_cam, cam.points, atol=1e-5)
    assert world.points_world is world.points and cam.points_cam is cam.points
