"""Surface discs (core/geometry/normals.py): normals of the surface each pixel sees, never across a depth break, and
radii that cover the pixel's footprint on the surface. Pure numpy, against analytic planes and spheres."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, backproject_valid
from depth_cloud_addon.core.frames.cloud import cloud_arrays, thin_cloud
from depth_cloud_addon.core.geometry.normals import MAX_STRETCH, surface_discs
from depth_cloud_addon.core.geometry.projection import camera_rays, covering_radius, pixel_centers

POSE = np.array([[0.8, -0.6, 0.0, 1.0], [0.0, 0.0, -1.0, 2.0], [0.6, 0.8, 0.0, 3.0], [0.0, 0.0, 0.0, 1.0]])
CAMERAS = {
    "persp": CameraModel(width_px=48, height_px=36, lens_mm=30.0, cam2world=POSE),
    "persp shift aspect": CameraModel(width_px=41, height_px=29, lens_mm=24.0, shift_x=0.1, shift_y=-0.15,
                                      pixel_aspect_x=1.5, cam2world=POSE),
    "ortho": CameraModel(width_px=40, height_px=30, projection="ORTHO", ortho_scale=6.0, cam2world=POSE),
    "equirect": CameraModel(width_px=96, height_px=48, projection="PANO", cam2world=POSE),
}


def plane_depth(camera: CameraModel, normal_cam, distance: float, kind: str) -> np.ndarray:
    """(H, W) depth of ``kind`` of the plane ``n . X = -distance`` (camera frame) seen through each pixel centre;
    inf where the ray misses it (parallel, or behind)."""
    origins, rays = camera_rays(pixel_centers(camera), camera)
    n = np.asarray(normal_cam, np.float64) / np.linalg.norm(normal_cam)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-distance - origins @ n) / (rays @ n)
        hit = origins + t[..., None] * rays
    if kind == "planar":
        depth = -hit[..., 2]
    else:
        depth = np.linalg.norm(hit - origins, axis=-1) if camera.projection != "ORTHO" else -hit[..., 2]
    return np.where((t > 0) & np.isfinite(depth) & (depth > 0), depth, np.inf).astype(np.float32)


def discs_of(camera: CameraModel, depth: np.ndarray, kind: str, stride: int = 1, space: str = "camera", normals=None):
    mask = np.zeros(depth.shape, bool)
    mask[::stride, ::stride] = True
    valid = backproject_valid(depth, camera, depth_kind=kind, space=space, mask=mask)
    discs = surface_discs(depth[valid.rows, valid.cols], valid.rows, valid.cols, camera, depth_kind=kind,
                          footprints=valid.footprint * stride, stride=stride, space=space, normals=normals)
    return valid, discs.normals, discs.radii


def towards_camera(points_cam: np.ndarray, camera: CameraModel) -> np.ndarray:
    if camera.projection == "ORTHO":
        return np.broadcast_to([0.0, 0.0, 1.0], points_cam.shape)
    return -points_cam / np.linalg.norm(points_cam, axis=1, keepdims=True)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def assert_discs_cover(points: np.ndarray, normals: np.ndarray, radii: np.ndarray, samples: np.ndarray) -> None:
    """Every sample point (on the surface) lies within some disc: at most its radius from its centre, in its plane."""
    for chunk in np.array_split(samples, max(1, len(samples) // 500)):
        offset = chunk[:, None, :] - points[None, :, :]
        along = np.einsum("sdk,dk->sd", offset, normals)
        in_plane = np.sqrt(np.maximum(np.einsum("sdk,sdk->sd", offset, offset) - along ** 2, 0.0))
        covered = (in_plane <= radii[None, :] * (1 + 1e-4)) & (np.abs(along) <= 1e-3 * radii[None, :] + 1e-6)
        assert covered.any(axis=1).all(), f"{(~covered.any(axis=1)).sum()} of {len(chunk)} samples uncovered"


@pytest.mark.parametrize("name", sorted(CAMERAS))
@pytest.mark.parametrize("kind", ["planar", "distance"])
@pytest.mark.parametrize("tilt_deg", [0.0, 50.0, 80.0])
def test_a_plane_gets_its_normal_at_every_pixel_even_at_a_grazing_angle(name, kind, tilt_deg):
    camera = CAMERAS[name]
    if camera.projection == "PANO" and kind == "planar":
        kind = "distance"
    tilt = np.radians(tilt_deg)
    n = np.array([0.0, np.sin(tilt), np.cos(tilt)])  # facing the camera, tilted up by tilt_deg
    depth = plane_depth(camera, n, 4.0, kind)
    valid, found, radii = discs_of(camera, depth, kind)
    assert len(found) > 200
    assert angle_deg(found, np.broadcast_to(n, found.shape)).max() < 0.05  # degrees
    assert (np.sum(found * towards_camera(valid.points, camera), axis=1) > 0).all()
    np.testing.assert_allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-6)
    assert (radii > 0).all() and (radii <= MAX_STRETCH * valid.footprint).all()


@pytest.mark.parametrize("kind", ["planar", "distance"])
def test_a_plane_facing_the_camera_gets_round_points(kind):
    camera = CAMERAS["persp"]
    depth = np.full(camera.shape, 5.0, np.float32) if kind == "planar" else plane_depth(camera, (0, 0, 1), 5.0, kind)
    valid, found, radii = discs_of(camera, depth, kind)
    np.testing.assert_allclose(found, np.broadcast_to([0.0, 0.0, 1.0], found.shape), atol=2e-5)  # float32 steps
    np.testing.assert_allclose(radii, covering_radius(valid.footprint), rtol=1e-5)  # f / sqrt(2)


@pytest.mark.parametrize("name", ["persp", "persp shift aspect", "ortho"])
@pytest.mark.parametrize("tilt_deg", [0.0, 45.0, 75.0, 85.0])
def test_the_discs_of_an_oblique_plane_cover_it(name, tilt_deg):
    """The discs' union covers the plane (no gap from any viewpoint), at grazing angles too (up to where the
    footprint stretches beyond MAX_STRETCH, near the plane's horizon), and no disc is larger than half the longer
    diagonal of the footprint between its neighbours' points (central differences; the perspective discs take the
    derivative at the centre, smaller where the steps grow, and still cover)."""
    camera = CAMERAS[name]
    tilt = np.radians(tilt_deg)
    n = np.array([np.sin(tilt) * 0.6, np.sin(tilt) * 0.8, np.cos(tilt)])
    depth = plane_depth(camera, n, 4.0, "planar")
    valid, found, radii = discs_of(camera, depth, "planar")
    # Surface points seen through random positions inside the image (away from its border pixels).
    rng = np.random.default_rng(int(tilt_deg))
    pixels = rng.uniform([1.0, 1.0], [camera.width_px - 1.0, camera.height_px - 1.0], (3000, 2))
    origins, rays = camera_rays(pixels, camera)
    t = (-4.0 - origins @ n) / (rays @ n)
    samples = origins + t[:, None] * rays
    near = (t > 0) & (-samples[:, 2] < 40.0)  # the plane passes 4 m from the camera; its horizon is farther
    assert near.sum() > 1000
    assert_discs_cover(valid.points.astype(np.float64), found.astype(np.float64), radii.astype(np.float64),
                       samples[near])
    # Not larger than needed: the footprint's half diagonal, from the neighbours' points (central differences).
    grid = np.full((*camera.shape, 3), np.nan)
    grid[valid.rows, valid.cols] = valid.points
    inner = ((valid.rows > 0) & (valid.rows < camera.height_px - 1)
             & (valid.cols > 0) & (valid.cols < camera.width_px - 1))
    r, c = valid.rows[inner], valid.cols[inner]
    tx, ty = (grid[r, c + 1] - grid[r, c - 1]) / 2, (grid[r + 1, c] - grid[r - 1, c]) / 2
    half_diagonal = 0.5 * np.maximum(np.linalg.norm(tx + ty, axis=1), np.linalg.norm(tx - ty, axis=1))
    uncapped = np.isfinite(half_diagonal) & (np.maximum(np.linalg.norm(tx, axis=1), np.linalg.norm(ty, axis=1))
                                             < MAX_STRETCH * valid.footprint[inner])
    assert uncapped.sum() > 0.5 * len(radii)
    ratio = radii[inner][uncapped] / half_diagonal[uncapped]
    assert ratio.max() < 1.002 and ratio.min() > 0.6, (ratio.min(), ratio.max())  # a derivative at the centre


@pytest.mark.parametrize("kind", ["planar", "distance"])
def test_no_disc_leans_across_a_depth_break(kind):
    """A near plane in front of a far one, both seen obliquely: every pixel, those on the silhouette too, gets its
    own plane's normal, and no radius reaches across the gap."""
    camera = CAMERAS["persp"]
    near_n, far_n = np.array([0.3, 0.0, 1.0]), np.array([-0.4, 0.5, 1.0])
    near, far = plane_depth(camera, near_n, 3.0, kind), plane_depth(camera, far_n, 6.0, kind)
    depth = far.copy()
    left = np.arange(camera.width_px) < 20
    depth[:, left] = near[:, left]
    depth[:5] = np.inf  # and some background
    valid, found, radii = discs_of(camera, depth, kind)
    is_near = left[valid.cols]
    want = np.where(is_near[:, None], near_n / np.linalg.norm(near_n), far_n / np.linalg.norm(far_n))
    assert angle_deg(found, want).max() < 0.05
    assert (radii <= MAX_STRETCH * valid.footprint).all()
    edge = np.isin(valid.cols, (19, 20))
    assert (radii[edge] < 3 * valid.footprint[edge]).all()  # the gap is metres, the footprints millimetres


def test_a_sphere_gets_its_normals_and_its_limb_no_fins():
    camera = CameraModel(width_px=240, height_px=180, lens_mm=35.0)  # the sphere 47 px across
    centre, radius = np.array([0.2, -0.1, -5.0]), 1.0
    origins, rays = camera_rays(pixel_centers(camera), camera)
    d = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    b = d @ centre
    disc = b * b - (centre @ centre - radius * radius)
    t = b - np.sqrt(np.where(disc > 0, disc, np.nan))
    depth = np.where(disc > 0, t * -d[..., 2], np.inf).astype(np.float32)  # planar
    valid, found, radii = discs_of(camera, depth, "planar")
    truth = valid.points - centre
    error = angle_deg(found, truth)
    # Central differences on a sphere: exact to first order, worst where the surface turns edge-on.
    assert np.median(error) < 0.1 and np.percentile(error, 95) < 3.0 and error.max() < 20.0, \
        (np.median(error), np.percentile(error, 95), error.max())
    # At the limb the surface is edge-on: its discs stay within the surface's own spacing (capped).
    assert (radii <= MAX_STRETCH * valid.footprint).all()


@pytest.mark.parametrize("background", [True, False], ids=["some background", "every pixel valid"])
@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_pixels_in_any_order_get_the_same_discs(name, background):
    """surface_discs takes rows, cols in any order (a PixelSet gives them row-major), every pixel valid or not: the
    same disc per pixel, in the order given."""
    camera = CAMERAS[name]
    depth = plane_depth(camera, [0.3, -0.2, 1.0], 4.0, "distance")
    if background:
        depth[: camera.height_px // 3] = np.inf
    valid = backproject_valid(depth, camera, depth_kind="distance", space="world")
    rows, cols, depths = valid.rows, valid.cols, depth[valid.rows, valid.cols]
    shuffle = np.random.default_rng(7).permutation(len(rows))
    inputs = dict(camera=camera, depth_kind="distance", space="world")
    in_order = surface_discs(depths, rows, cols, footprints=valid.footprint, **inputs)
    shuffled = surface_discs(depths[shuffle], rows[shuffle], cols[shuffle], footprints=valid.footprint[shuffle],
                             **inputs)
    for field in dataclasses.fields(in_order):
        np.testing.assert_array_equal(getattr(in_order, field.name)[shuffle], getattr(shuffled, field.name))
    assert np.isfinite(in_order.rotations).all() and (in_order.radii > 0).all()


def test_a_lone_pixel_faces_the_camera_as_a_round_point():
    camera = CAMERAS["persp"]
    depth = np.full(camera.shape, np.inf, np.float32)
    depth[10, 12] = 4.0
    depth[20, 30] = 7.0
    valid, found, radii = discs_of(camera, depth, "planar")
    np.testing.assert_allclose(found, towards_camera(valid.points, camera), atol=1e-6)
    np.testing.assert_allclose(radii, covering_radius(valid.footprint), rtol=1e-6)


def test_given_normals_orient_the_discs_towards_the_camera():
    camera = CAMERAS["persp"]
    depth = plane_depth(camera, (0.0, 0.5, 1.0), 4.0, "planar")
    valid, estimated, radii = discs_of(camera, depth, "planar", space="world")
    given = np.tile([0.0, 0.0, 1.0], (len(valid.rows), 1)).astype(np.float32)
    given[::2] *= -1  # half of them facing away: turned towards the camera
    given[1] = np.nan  # unknown: the estimate
    _, found, radii_given = discs_of(camera, depth, "planar", space="world", normals=given)
    towards = camera.cam2world[:3, 3] - valid.points
    facing = np.sign(np.sum(given * towards, axis=1))
    np.testing.assert_allclose(found[2:], given[2:] * facing[2:, None], atol=1e-6)
    np.testing.assert_allclose(found[1], estimated[1], atol=1e-6)
    # The footprint laid into each given disc's plane along the pixel's ray: still covered seen from the camera.
    assert (radii_given > 0).all() and np.isfinite(radii_given).all()
    np.testing.assert_allclose(radii_given[1], radii[1], rtol=1e-6)


@pytest.mark.parametrize("stride", [2, 3])
def test_strided_discs_use_the_strided_neighbours(stride):
    camera = CAMERAS["persp shift aspect"]
    n = np.array([0.2, 0.6, 1.0])
    depth = plane_depth(camera, n, 3.0, "planar")
    depth[12:18, 12:25] = depth[20:, 30:33] = depth[:, :2] = np.inf  # holes: one-sided steps beside them
    valid, found, radii = discs_of(camera, depth, "planar", stride=stride)
    assert (valid.rows % stride == 0).all() and len(found) > 50
    known = np.pad(np.isfinite(depth)[::stride, ::stride], 1)
    r, c = valid.rows // stride + 1, valid.cols // stride + 1
    both_axes = (known[r, c - 1] | known[r, c + 1]) & (known[r - 1, c] | known[r + 1, c])  # a tangent each way
    assert both_axes.sum() > 0.8 * len(found)
    assert angle_deg(found[both_axes], np.broadcast_to(n, found[both_axes].shape)).max() < 0.05
    _, _, full_radii = discs_of(camera, depth, "planar", stride=1)
    assert np.median(radii) > (stride - 0.5) * np.median(full_radii)  # steps of `stride` pixels


def test_cloud_arrays_carry_the_discs_in_their_space_and_thinning_keeps_them():
    camera = CAMERAS["persp"]
    n_cam = np.array([0.0, 0.5, 1.0]) / np.linalg.norm([0.0, 0.5, 1.0])
    depth = plane_depth(camera, n_cam, 4.0, "planar")
    color = np.ones((*camera.shape, 4), np.float32)
    world = cloud_arrays(depth, color, camera, discs=True)
    local = cloud_arrays(depth, color, camera, space="camera", discs=True)
    points = cloud_arrays(depth, color, camera)
    assert points.normals is None and world.normals.shape == (len(world.rows), 3)
    np.testing.assert_allclose(world.normals, local.normals @ camera.cam2world[:3, :3].T, atol=1e-6)
    np.testing.assert_allclose(local.normals, np.broadcast_to(n_cam, local.normals.shape), atol=1e-4)
    np.testing.assert_array_equal(world.radii, local.radii)
    assert np.median(world.radii) > 1.05 * np.median(points.radii)  # the oblique plane stretches the discs
    assert world.nbytes == points.nbytes + sum(getattr(world, name).nbytes
                                               for name in ("normals", "disc_rotations", "disc_scales"))
    thin = thin_cloud(world, 2)
    keep = (world.rows % 2 == 0) & (world.cols % 2 == 0)
    np.testing.assert_array_equal(thin.normals, world.normals[keep])
    np.testing.assert_allclose(thin.radii, world.radii[keep] * 2)
    copy = dataclasses.replace(world)
    normals = copy.normals
    assert copy.take("normals") is normals and copy.normals.shape == (0, 3)
    with pytest.raises(ValueError, match="no normals"):
        points.take("normals")


def test_points_cover_their_pixel_and_a_voxel_its_face():
    camera = CAMERAS["persp"]
    depth = np.random.default_rng(3).uniform(2.0, 9.0, camera.shape).astype(np.float32)
    cloud = cloud_arrays(depth, None, camera, stride=2)
    valid = backproject_valid(depth, camera, depth_kind="planar")
    footprint = np.full(camera.shape, np.nan, np.float32)
    footprint[valid.rows, valid.cols] = valid.footprint
    np.testing.assert_allclose(cloud.radii, footprint[cloud.rows, cloud.cols] * 2 / np.sqrt(2), rtol=1e-6)
    assert covering_radius(np.float32(2.0)).dtype == np.float32
    assert covering_radius(2.0) == pytest.approx(2.0 ** 0.5)


def quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices of (N, 4) unit quaternions (w, x, y, z)."""
    w, x, y, z = np.asarray(q, np.float64).T
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                     np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                     np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


@pytest.mark.parametrize("space", ["world", "camera"])
@pytest.mark.parametrize("name", ["persp", "ortho", "equirect"])
def test_the_ellipse_drawn_covers_the_footprint_and_faces_along_the_normal(name, space):
    """Blender draws each disc as an ellipse (``disc_rotations``, ``disc_scales``): its +Z is the normal, and the
    footprint's corners (a quarter of the way to the diagonal neighbours' points, on the plane) lie inside it: exactly
    for an orthographic camera, within the difference between the derivative at the centre and the steps (a few %)
    for perspective and panoramic ones, away from where the steps outgrow MAX_STRETCH (the plane's horizon)."""
    camera = CAMERAS[name]
    n = np.array([0.3, 0.55, 1.0])
    kind = "distance" if camera.projection == "PANO" else "planar"
    depth = plane_depth(camera, n, 4.0, kind)
    cloud = cloud_arrays(depth, None, camera, depth_kind=kind, space=space, discs=True)
    matrices = quaternion_matrices(cloud.disc_rotations)
    np.testing.assert_allclose(matrices[:, :, 2], cloud.normals, atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(matrices), 1.0, atol=1e-5)
    grid = np.full((*camera.shape, 3), np.nan)
    grid[cloud.rows, cloud.cols] = cloud.points
    inner = ((cloud.rows > 0) & (cloud.rows < camera.height_px - 1) & (cloud.cols > 0)
             & (cloud.cols < camera.width_px - 1))
    r, c = cloud.rows[inner], cloud.cols[inner]
    centre = grid[r, c]
    alpha, beta = cloud.disc_scales[inner, 0].astype(np.float64), cloud.disc_scales[inner, 1].astype(np.float64)
    valid = backproject_valid(depth, camera, depth_kind=kind, space=space)
    f = valid.footprint[inner]
    steps = np.stack([np.linalg.norm(grid[r + dr, c + dc] - centre, axis=1)
                      for dr in (-1, 0, 1) for dc in (-1, 0, 1)], -1)
    uncapped = (steps < 0.5 * MAX_STRETCH * f[:, None]).all(axis=1)
    if camera.projection == "PANO":  # away from the poles, where an equirectangular pixel is far from square, and
        # from the plane's grazing part, where its steps double from one pixel to the next (1 / distance is not
        # affine on a plane seen by a panorama: the tangents there come from unequal steps)
        uncapped &= (np.abs(r + 0.5 - camera.height_px / 2) < camera.height_px / 3) & (steps.max(axis=1) < 3 * f)
    tolerance = {"ORTHO": 1e-3, "PERSP": 0.12, "PANO": 0.3}[camera.projection]
    for dr, dc in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        # The corner shared with the diagonal neighbour: a quarter of the way to the four points around it.
        corner = (grid[r, c] + grid[r + dr, c] + grid[r, c + dc] + grid[r + dr, c + dc]) / 4
        local = np.einsum("nji,nj->ni", matrices[inner], corner - centre)  # R^T (corner - P)
        ok = np.isfinite(local).all(axis=1) & uncapped
        assert ok.sum() > 100
        inside = (local[ok, 0] / alpha[ok]) ** 2 + (local[ok, 1] / beta[ok]) ** 2
        assert inside.max() <= 1.0 + tolerance, inside.max()
        assert np.abs(local[ok, 2]).max() < 1e-3 * np.maximum(alpha, beta)[ok].max()


def test_discs_do_not_stand_out_sideways_at_a_silhouette():
    """A plane seen at 75 degrees (its footprints stretched up the image) ends at a silhouette down the image: its
    last column's ellipses reach past the column's edge by about a fifth of a pixel (more where the ellipse's near end
    comes closer to the camera: 0.52 px at most), where a round disc as large as the stretched footprint would stand
    out by a pixel and more."""
    camera = CAMERAS["persp"]
    tilt = np.radians(75.0)
    near = plane_depth(camera, np.array([0.0, np.sin(tilt), np.cos(tilt)]), 2.0, "planar")
    far = np.full(camera.shape, 40.0, np.float32)
    edge = 24
    depth = np.where(np.arange(camera.width_px) < edge, near, far).astype(np.float32)
    cloud = cloud_arrays(depth, None, camera, space="camera", discs=True)
    last = (cloud.cols == edge - 1) & np.isfinite(near[cloud.rows, cloud.cols]) & (cloud.rows > 2) \
        & (cloud.rows < camera.height_px - 3)
    assert last.sum() > 10
    matrices = quaternion_matrices(cloud.disc_rotations[last])
    angles = np.linspace(0.0, 2 * np.pi, 73)
    boundary = (np.cos(angles)[None, :, None] * (matrices[:, None, :, 0] * cloud.disc_scales[last, None, 0:1])
                + np.sin(angles)[None, :, None] * (matrices[:, None, :, 1] * cloud.disc_scales[last, None, 1:2])
                + cloud.points[last, None, :])
    from depth_cloud_addon.core import project

    reach = project(boundary.reshape(-1, 3), camera, space="camera")[:, 0].max() - edge
    assert reach < 0.6, reach
    circle = cloud.radii[last] / cloud.points[last, 2].__abs__() * camera.intrinsics_px()[0]
    assert np.median(circle) - 0.5 > 1.0  # the circle of the same footprint would reach a pixel and more past it


@pytest.mark.parametrize("name", ["persp", "persp shift aspect", "ortho"])
@pytest.mark.parametrize("tilt_deg", [0.0, 45.0, 75.0, 85.0])
def test_the_ellipses_drawn_cover_an_oblique_plane(name, tilt_deg):
    """The union of the ellipses Blender draws covers the plane, as the circles of the radii do (see
    test_the_discs_of_an_oblique_plane_cover_it)."""
    camera = CAMERAS[name]
    tilt = np.radians(tilt_deg)
    n = np.array([np.sin(tilt) * 0.6, np.sin(tilt) * 0.8, np.cos(tilt)])
    depth = plane_depth(camera, n, 4.0, "planar")
    cloud = cloud_arrays(depth, None, camera, space="camera", discs=True)
    rng = np.random.default_rng(int(tilt_deg) + 1)
    pixels = rng.uniform([1.0, 1.0], [camera.width_px - 1.0, camera.height_px - 1.0], (3000, 2))
    origins, rays = camera_rays(pixels, camera)
    t = (-4.0 - origins @ n) / (rays @ n)
    samples = (origins + t[:, None] * rays)[(t > 0) & (-(origins + t[:, None] * rays)[:, 2] < 40.0)]
    assert len(samples) > 1000
    matrices = quaternion_matrices(cloud.disc_rotations)
    centres = cloud.points.astype(np.float64)
    scales = cloud.disc_scales.astype(np.float64)
    for chunk in np.array_split(samples, max(1, len(samples) // 300)):
        local = np.einsum("dji,sdj->sdi", matrices, chunk[:, None, :] - centres[None])
        inside = (local[..., 0] / scales[None, :, 0]) ** 2 + (local[..., 1] / scales[None, :, 1]) ** 2
        covered = (inside <= 1 + 1e-4) & (np.abs(local[..., 2]) <= 1e-3 * scales[None, :, 0] + 1e-6)
        assert covered.any(axis=1).all(), f"{(~covered.any(axis=1)).sum()} of {len(chunk)} samples uncovered"


def test_read_cloud_orients_discs_by_the_captured_normal_pass_else_estimates_and_says_so(tmp_path):
    from depth_cloud_addon.core import write_exr
    from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
    from depth_cloud_addon.core.frames.files import CaptureInfo, frame_files_of, frame_inputs, write_camera_sidecar

    camera = CAMERAS["persp"].replace(frame=1)
    n_cam = np.array([0.0, 0.5, 1.0]) / np.linalg.norm([0.0, 0.5, 1.0])
    depth = plane_depth(camera, n_cam, 4.0, "planar")
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    write_camera_sidecar(tmp_path / "camera_0001.json", camera, CaptureInfo(passes=("NORMAL",)))
    tilted = np.array([0.3, 0.1, 0.9]) / np.linalg.norm([0.3, 0.1, 0.9])  # not the plane's: the pass wins
    world = (camera.cam2world[:3, :3] @ tilted).astype(np.float32)
    inputs = frame_inputs(frame_files_of(tmp_path / "depth_0001.exr"), 1)
    # The sidecar says the Normal pass was captured, but its file is missing: estimated, and said so.
    cloud = read_cloud(inputs, BuildOptions(discs=True))
    assert any("the discs' normals are estimated from the depth" in w for w in cloud.warnings), cloud.warnings
    np.testing.assert_allclose(cloud.normals, np.broadcast_to(camera.cam2world[:3, :3] @ n_cam, cloud.normals.shape),
                               atol=1e-4)
    write_exr(tmp_path / "passes_0001.exr", {f"Normal.{c}": np.full(depth.shape, world[k], np.float32)
                                             for k, c in enumerate("XYZ")})
    inputs = frame_inputs(frame_files_of(tmp_path / "depth_0001.exr"), 1)
    cloud = read_cloud(inputs, BuildOptions(discs=True))
    assert not cloud.warnings
    np.testing.assert_allclose(cloud.normals, np.broadcast_to(world, cloud.normals.shape), atol=1e-6)
    local = read_cloud(inputs, BuildOptions(discs=True, space="camera"))
    np.testing.assert_allclose(local.normals, np.broadcast_to(tilted, local.normals.shape), atol=1e-6)
