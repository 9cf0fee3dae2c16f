"""Pixel quads tile the image exactly; grid surfaces tear at depth steps. Pure numpy."""

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, backproject_valid, convert_depth, project
from depth_cloud_addon.core.geometry.surfaces import CORNER_OFFSETS, grid_faces, grid_uvs, pixel_quads

POSE = np.array([[0.8, -0.6, 0.0, 1.0], [0.0, 0.0, -1.0, 2.0], [0.6, 0.8, 0.0, 3.0], [0.0, 0.0, 0.0, 1.0]])
CAMERAS = {
    "persp shift aspect": CameraModel(width_px=7, height_px=5, lens_mm=30.0, shift_x=0.1, shift_y=-0.2,
                                      pixel_aspect_x=1.5, cam2world=POSE),
    "ortho": CameraModel(width_px=6, height_px=4, projection="ORTHO", ortho_scale=3.0, shift_x=0.05, cam2world=POSE),
    "equirect": CameraModel(width_px=8, height_px=4, projection="PANO", cam2world=POSE),
    "fisheye": CameraModel(width_px=6, height_px=6, projection="PANO", panorama_type="FISHEYE_EQUIDISTANT",
                           fisheye_fov=3.0, cam2world=POSE),
}


def quads_for(cam, kind, size=1):
    rng = np.random.default_rng(5)
    depth = rng.uniform(2.0, 6.0, cam.shape)
    valid = backproject_valid(depth, cam, depth_kind=kind)
    keep = (valid.rows % size == 0) & (valid.cols % size == 0)
    rows, cols = valid.rows[keep], valid.cols[keep]
    corners = pixel_quads(depth[rows, cols], rows, cols, cam, depth_kind=kind, size=size, dtype=np.float64)
    return depth, rows, cols, corners


@pytest.mark.parametrize("name", sorted(CAMERAS))
@pytest.mark.parametrize("kind", ["planar", "distance"])
def test_each_corner_projects_to_its_pixel_corner(name, kind):
    cam = CAMERAS[name]
    if cam.projection == "PANO" and kind == "planar":
        kind = "distance"  # planar depth of a panorama exists only for forward rays
    depth, rows, cols, corners = quads_for(cam, kind)
    expected = np.stack([cols, rows], -1)[:, None, :] + CORNER_OFFSETS[None]
    got = project(corners, cam)
    ok = np.isfinite(got).all(axis=-1)
    if cam.projection == "PANO" and cam.panorama_type == "EQUIRECTANGULAR":  # the poles have no longitude
        ok &= (expected[..., 1] > 0) & (expected[..., 1] < cam.height_px)
    assert ok.mean() > 0.5
    error = got - expected
    if cam.panorama_type == "EQUIRECTANGULAR" and cam.projection == "PANO":  # x = 0 and x = W are one meridian
        error[..., 0] = (error[..., 0] + cam.width_px / 2) % cam.width_px - cam.width_px / 2
    np.testing.assert_allclose(error[ok], 0.0, atol=1e-7)  # so neighbours share each corner's image point


def test_planar_quads_lie_at_the_pixels_own_depth_and_face_the_camera():
    cam = CAMERAS["persp shift aspect"]
    depth, rows, cols, corners = quads_for(cam, "planar")
    local = (corners - POSE[:3, 3]) @ POSE[:3, :3]  # world -> camera frame
    np.testing.assert_allclose(local[..., 2], np.broadcast_to(-depth[rows, cols][:, None], (len(rows), 4)), atol=1e-12)
    normal = np.cross(local[:, 1] - local[:, 0], local[:, 2] - local[:, 1])
    assert (normal[:, 2] > 0).all()  # counter-clockwise seen from the camera: normals point at it


def test_distance_quads_keep_each_corner_at_the_pixels_distance():
    cam = CAMERAS["persp shift aspect"]
    depth, rows, cols, corners = quads_for(cam, "distance")
    np.testing.assert_allclose(np.linalg.norm(corners - POSE[:3, 3], axis=-1),
                               np.broadcast_to(depth[rows, cols][:, None], (len(rows), 4)), atol=1e-12)
    planar = convert_depth(depth, cam, from_kind="distance", to_kind="planar")
    assert planar.shape == depth.shape  # the same pixels in the other kind, for the record


def test_strided_quads_cover_size_by_size_pixels():
    cam = CAMERAS["persp shift aspect"]
    _, rows, cols, corners = quads_for(cam, "planar", size=2)
    np.testing.assert_allclose(project(corners, cam), np.stack([cols, rows], -1)[:, None, :] + 2 * CORNER_OFFSETS,
                               atol=1e-7)


def test_grid_faces_tear_at_steps_and_uvs_hit_pixel_centres():
    depth = np.array([[1.0, 1.0, 1.0], [1.0, 1.02, 5.0], [1.0, 1.0, 5.0]])
    rows, cols = np.nonzero(np.isfinite(depth))
    faces = grid_faces(rows, cols, depth[rows, cols], depth.shape, max_relative_step=0.05)
    # 2x2 blocks: top-left (1, 1, 1, 1.02) kept; top-right (1, 1, 1.02, 5) torn; bottom-left kept; bottom-right torn.
    assert faces.tolist() == [[3, 4, 1, 0], [6, 7, 4, 3]]
    assert len(grid_faces(rows, cols, depth[rows, cols], depth.shape, max_relative_step=10.0)) == 4
    invalid = depth.copy()
    invalid[0, 0] = np.nan
    keep = np.isfinite(invalid)
    r, c = np.nonzero(keep)
    assert len(grid_faces(r, c, invalid[r, c], depth.shape, max_relative_step=10.0)) == 3
    np.testing.assert_allclose(grid_uvs(np.array([0, 2]), np.array([0, 2]), depth.shape),
                               [[0.5 / 3, 1 - 0.5 / 3], [2.5 / 3, 1 - 2.5 / 3]])
    with pytest.raises(ValueError, match="max_relative_step"):
        grid_faces(rows, cols, depth[rows, cols], depth.shape, max_relative_step=-1)
