"""backproject / project / convert_depth / camera_rays / valid_depth_mask, pure numpy.

Two kinds of tests:

* Conventions pinned with literal values worked out by hand (pixel centres at +0.5, row 0 at the
  top, Blender camera frame looking down -Z, planar vs distance depth, the OpenCV axis flip).
* Properties checked on a small set of deliberately asymmetric cameras (H != W, fx != fy through the
  pixel aspect, non-zero shift, every sensor fit, ortho, every panorama type) with a non-trivial
  pose, through the reusable ``assert_*`` helpers below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_cloud_addon.core import (
    BACKGROUND_DEPTH,
    BLENDER_TO_OPENCV_AXES,
    CameraModel,
    NoValidDepthError,
    ResolutionMismatchError,
    backproject,
    backproject_valid,
    camera_rays,
    convert_depth,
    pixel_centers,
    pixel_footprint,
    project,
    unproject_pixels,
    valid_depth_mask,
)

PIXEL_ATOL = 1e-9  # px
POINT_ATOL = 1e-9  # m


def rotation(axis, angle):
    """Rotation matrix (Rodrigues) about ``axis`` by ``angle`` radians."""
    k = np.asarray(axis, dtype=np.float64)
    k = k / np.linalg.norm(k)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * kx @ kx


def pose(axis=(0.3, -0.5, 0.8), angle=1.1, translation=(1.5, -2.0, 0.7)):
    m = np.eye(4)
    m[:3, :3] = rotation(axis, angle)
    m[:3, 3] = translation
    return m


POSE = pose()

# Asymmetric cameras; comments say what each one exercises.
CAMERAS = {
    # landscape, AUTO -> horizontal fit, both shifts
    "persp-landscape-shift": CameraModel(width_px=7, height_px=5, lens_mm=35.0, shift_x=0.1, shift_y=-0.05,
                                         cam2world=POSE),
    # portrait AUTO with pixel aspect x 1.5: 5*1.5 = 7.5 < 8 -> vertical fit; fx != fy
    "persp-auto-portrait-aspect-x": CameraModel(width_px=5, height_px=8, lens_mm=30.0, pixel_aspect_x=1.5,
                                                shift_x=0.07, shift_y=0.12, cam2world=POSE),
    # explicit VERTICAL on a landscape image, sensor_height used, pixel aspect y 2
    "persp-vertical-aspect-y": CameraModel(width_px=9, height_px=4, lens_mm=28.0, sensor_fit="VERTICAL",
                                           sensor_height_mm=20.0, pixel_aspect_y=2.0, shift_x=-0.03,
                                           shift_y=0.04, cam2world=POSE),
    # explicit HORIZONTAL on a portrait image
    "persp-horizontal-portrait": CameraModel(width_px=4, height_px=9, lens_mm=20.0, sensor_fit="HORIZONTAL",
                                             shift_y=-0.1, cam2world=POSE),
    "ortho-vertical-aspect-x": CameraModel(width_px=6, height_px=4, projection="ORTHO", ortho_scale=3.5,
                                           sensor_fit="VERTICAL", pixel_aspect_x=1.3, shift_x=0.1, shift_y=0.05,
                                           cam2world=POSE),
    # custom latitude/longitude range that includes backward-facing rays (|lon| > pi/2)
    "pano-equirect-range": CameraModel(width_px=12, height_px=6, projection="PANO",
                                       panorama_type="EQUIRECTANGULAR", latitude_min=-0.6, latitude_max=1.1,
                                       longitude_min=-2.0, longitude_max=1.5, shift_x=0.03, shift_y=-0.02,
                                       cam2world=POSE),
    "pano-fisheye-equidistant": CameraModel(width_px=9, height_px=7, projection="PANO",
                                            panorama_type="FISHEYE_EQUIDISTANT", fisheye_fov=3.0, shift_x=0.02,
                                            cam2world=POSE),
    "pano-fisheye-equisolid-aspect": CameraModel(width_px=10, height_px=7, projection="PANO",
                                                 panorama_type="FISHEYE_EQUISOLID", fisheye_lens_mm=8.0,
                                                 fisheye_fov=3.0, pixel_aspect_x=1.2, shift_y=0.03, cam2world=POSE),
    "pano-fisheye-equisolid-vertical": CameraModel(width_px=6, height_px=9, projection="PANO",
                                                   panorama_type="FISHEYE_EQUISOLID", fisheye_lens_mm=9.0,
                                                   fisheye_fov=math.pi, sensor_fit="VERTICAL", cam2world=POSE),
}


@pytest.fixture(params=list(CAMERAS), ids=list(CAMERAS))
def camera(request):
    return CAMERAS[request.param]


def random_depth(camera, seed=0, low=2.0, high=30.0):
    return np.random.default_rng(seed).uniform(low, high, size=camera.shape)


def to_camera_frame(points_world, camera):
    return (points_world - camera.cam2world[:3, 3]) @ camera.cam2world[:3, :3]


# -- reusable property assertions ------------------------------------------------------------------


def assert_nan_exactly_where(points, invalid):
    """(H, W, 3) points: all three coordinates NaN where ``invalid``, all finite elsewhere."""
    assert points.shape == invalid.shape + (3,), f"got shape {points.shape}"
    np.testing.assert_array_equal(np.isnan(points).all(axis=-1), invalid)
    np.testing.assert_array_equal(np.isfinite(points).all(axis=-1), ~invalid)


def assert_projects_to_pixel_centres(points, camera, mask, space="world"):
    """``project(points)`` equals the pixel-centre grid where ``mask``, NaN elsewhere."""
    pixels = project(points, camera, space=space)
    assert pixels.shape == camera.shape + (2,)
    np.testing.assert_allclose(pixels[mask], pixel_centers(camera)[mask], rtol=0, atol=PIXEL_ATOL)
    assert np.isnan(pixels[~mask]).all()


def assert_points_equal(actual, expected, atol=POINT_ATOL):
    """Same NaN pattern and same finite values."""
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, equal_nan=True)


def assert_depth_definitions(points_world, camera, depth, depth_kind, mask):
    """The points lie at the requested depth: planar = -z in the camera frame, distance = ray length."""
    points_cam = to_camera_frame(points_world, camera)[mask]
    if depth_kind == "planar" or camera.projection == "ORTHO":
        measured = -points_cam[:, 2]
    else:
        measured = np.linalg.norm(points_cam, axis=-1)
    np.testing.assert_allclose(measured, depth[mask], rtol=1e-12)


def forward_facing(camera):
    """(H, W) bool: pixel-centre rays that have a finite direction pointing in front of the camera."""
    _, directions = camera_rays(pixel_centers(camera), camera)
    with np.errstate(invalid="ignore"):
        return directions[..., 2] < 0


# -- literal conventions -----------------------------------------------------------------------


def test_one_pixel_camera_at_identity():
    # Docstring example: planar depth 10 straight down -Z.
    points = backproject(np.array([[10.0]]), CameraModel(width_px=1, height_px=1))
    np.testing.assert_array_equal(points, [[[0.0, 0.0, -10.0]]])


def test_pixel_centres_are_at_plus_half():
    np.testing.assert_array_equal(pixel_centers(CameraModel(width_px=1, height_px=1)), [[[0.5, 0.5]]])
    np.testing.assert_array_equal(
        pixel_centers(CameraModel(width_px=3, height_px=2)),
        [[[0.5, 0.5], [1.5, 0.5], [2.5, 0.5]], [[0.5, 1.5], [1.5, 1.5], [2.5, 1.5]]],
    )
    # A point straight ahead of a 1x1 camera hits the middle of its only pixel.
    np.testing.assert_allclose(project([0.0, 0.0, -5.0], CameraModel(width_px=1, height_px=1)), [0.5, 0.5])


def test_left_column_is_negative_x():
    # 2x1, lens 18 / sensor 36 -> fx = 2 * 18 / 36 = 1 px per unit, cx = 1.
    # Left centre x = 0.5 -> X/-Z = -0.5; right centre 1.5 -> +0.5. Planar depth 4: X = -2 and +2.
    cam = CameraModel(width_px=2, height_px=1, lens_mm=18.0)
    points = backproject(np.array([[4.0, 4.0]]), cam)
    np.testing.assert_allclose(points, [[[-2.0, 0.0, -4.0], [2.0, 0.0, -4.0]]], atol=1e-15)


def test_row_zero_is_the_top():
    # 1x4, AUTO -> vertical fit (1 < 4): viewfac = 4, fx = fy = 4 * 50 / 36 = 50/9, cy = 2.
    # Row 0 centre y = 0.5: Y/-Z = (2 - 0.5) / (50/9) = 0.27 -> Y = +2.7 at planar depth 10.
    # Row 3 centre y = 3.5: Y = -2.7.
    cam = CameraModel(width_px=1, height_px=4, lens_mm=50.0)
    points = backproject(np.full((4, 1), 10.0), cam)
    np.testing.assert_allclose(points[:, 0, 1], [2.7, 0.9, -0.9, -2.7], atol=1e-12)
    np.testing.assert_allclose(points[:, 0, 2], -10.0)
    np.testing.assert_allclose(points[:, 0, 0], 0.0, atol=1e-15)


def test_point_straight_ahead_projects_to_shifted_centre():
    # 64x48 AUTO (horizontal, viewfac 64), shift (0.1, 0.2): x = 32 - 0.1 * 64 = 25.6,
    # y = 24 + 0.2 * 64 = 36.8 (a positive shift_y moves the view up, so the centre moves down).
    cam = CameraModel(width_px=64, height_px=48, shift_x=0.1, shift_y=0.2)
    np.testing.assert_allclose(project([0.0, 0.0, -7.0], cam, space="camera"), [25.6, 36.8], atol=1e-12)


# Hand-worked camera: 4x2, lens 18, sensor 36, pixel aspect 1:2, shift (0.25, 0.125).
# AUTO: 4*1 >= 2*2 -> horizontal, viewfac = 4. fx = 4 * 18 / 36 = 2, ycor = 2 -> fy = 1,
# cx = 2 - 0.25 * 4 = 1, cy = 1 + 0.125 * 4 / 2 = 1.25.
HAND = CameraModel(width_px=4, height_px=2, lens_mm=18.0, pixel_aspect_y=2.0, shift_x=0.25, shift_y=0.125)
# Pixel (col 3, row 1), centre (3.5, 1.5): ray (X, Y, -1) = ((3.5-1)/2, (1.25-1.5)/1, -1) = (1.25, -0.25, -1),
# |ray|^2 = 1.5625 + 0.0625 + 1 = 2.625.
# Pixel (col 0, row 0), centre (0.5, 0.5): ray = (-0.25, 0.75, -1), |ray|^2 = 0.0625 + 0.5625 + 1 = 1.625.


def test_hand_camera_intrinsics_and_rays():
    np.testing.assert_allclose(HAND.intrinsics_px(), (2.0, 1.0, 1.0, 1.25), rtol=1e-15)
    origins, directions = camera_rays(np.array([[3.5, 1.5], [0.5, 0.5]]), HAND)
    np.testing.assert_array_equal(origins, 0.0)
    np.testing.assert_allclose(directions, [[1.25, -0.25, -1.0], [-0.25, 0.75, -1.0]], rtol=1e-15)


def test_hand_camera_convert_depth_literal_ratio():
    planar = np.full((2, 4), 10.0)
    distance = convert_depth(planar, HAND, from_kind="planar", to_kind="distance")
    assert distance[1, 3] == pytest.approx(10.0 * math.sqrt(2.625), rel=1e-14)
    assert distance[0, 0] == pytest.approx(10.0 * math.sqrt(1.625), rel=1e-14)
    # Pixel (col 1, row 0): centre (1.5, 0.5): ray (0.25, 0.75, -1), |ray|^2 = 1.625 as well.
    assert distance[0, 1] == pytest.approx(10.0 * math.sqrt(1.625), rel=1e-14)
    back = convert_depth(distance, HAND, from_kind="distance", to_kind="planar")
    np.testing.assert_allclose(back, planar, rtol=1e-14)
    # The point itself: planar 10 along (1.25, -0.25, -1).
    points = backproject(planar, HAND, space="camera")
    np.testing.assert_allclose(points[1, 3], [12.5, -2.5, -10.0], rtol=1e-14)


def test_hand_camera_distance_depth_backprojects_to_ray_length():
    # Distance 10 * sqrt(2.625) along (1.25, -0.25, -1) is the same point (12.5, -2.5, -10).
    depth = np.full((2, 4), 10.0 * math.sqrt(2.625))
    points = backproject(depth, HAND, depth_kind="distance", space="camera")
    np.testing.assert_allclose(points[1, 3], [12.5, -2.5, -10.0], rtol=1e-14)


def test_orthographic_literal():
    # 4x2 ortho, scale 2 m across 4 px: fx = fy = 2 px/m, cx = 2, cy = 1.
    # Pixel (0, 0) centre (0.5, 0.5): X = (0.5 - 2)/2 = -0.75, Y = (1 - 0.5)/2 = 0.25, Z = -depth.
    cam = CameraModel(width_px=4, height_px=2, projection="ORTHO", ortho_scale=2.0)
    points = backproject(np.full((2, 4), 3.0), cam, space="camera")
    np.testing.assert_allclose(points[0, 0], [-0.75, 0.25, -3.0], rtol=1e-15)
    np.testing.assert_allclose(points[1, 3], [0.75, -0.25, -3.0], rtol=1e-15)


def test_equirectangular_literal():
    # 4x2 full sphere. Pixel (col 1, row 0): u = 1.5/4 = 0.375 -> lon = -pi + 0.375 * 2 pi = -pi/4;
    # v = (2 - 0.5)/2 = 0.75 -> lat = -pi/2 + 0.75 pi = pi/4.
    # dir = (cos lat sin lon, sin lat, -cos lat cos lon) = (-1/2, sqrt(2)/2, -1/2).
    cam = CameraModel(width_px=4, height_px=2, projection="PANO", panorama_type="EQUIRECTANGULAR")
    points = backproject(np.full((2, 4), 2.0), cam, space="camera")
    np.testing.assert_allclose(points[0, 1], [-1.0, math.sqrt(2.0), -1.0], atol=1e-15)
    # Planar depth = distance * (-dir_z) = 2 * 1/2 = 1.
    planar = convert_depth(np.full((2, 4), 2.0), cam, from_kind="distance", to_kind="planar")
    assert planar[0, 1] == pytest.approx(1.0, rel=1e-14)
    # Pixel (col 0, row 0): lon = -pi + 0.125 * 2 pi = -3pi/4 faces backwards: no planar depth.
    assert np.isnan(planar[0, 0])


def test_fisheye_equidistant_literal():
    # 3x3, fov pi. Centre pixel: r = 0 -> straight ahead.
    # Pixel (col 2, row 1): u = 2.5/3, a = 2u - 1 = 2/3, b = 0 -> theta = (2/3)(pi/2) = pi/3,
    # dir = (sin pi/3, 0, -cos pi/3) = (0.866, 0, -0.5); distance 4 -> (2 sqrt 3, 0, -2).
    cam = CameraModel(width_px=3, height_px=3, projection="PANO", panorama_type="FISHEYE_EQUIDISTANT",
                      fisheye_fov=math.pi)
    points = backproject(np.full((3, 3), 4.0), cam, space="camera")
    np.testing.assert_allclose(points[1, 1], [0.0, 0.0, -4.0], atol=1e-15)
    np.testing.assert_allclose(points[1, 2], [2.0 * math.sqrt(3.0), 0.0, -2.0], atol=1e-14)
    # Row 0 is the top here too: pixel (col 1, row 0) looks up by the same angle.
    np.testing.assert_allclose(points[0, 1], [0.0, 2.0 * math.sqrt(3.0), -2.0], atol=1e-14)
    ratio = convert_depth(np.full((3, 3), 4.0), cam, from_kind="distance", to_kind="planar") / 4.0
    assert ratio[1, 2] == pytest.approx(0.5, rel=1e-14)


def test_opencv_axes_constant():
    np.testing.assert_array_equal(BLENDER_TO_OPENCV_AXES, np.diag([1.0, -1.0, -1.0, 1.0]))
    # Blender camera point -> OpenCV camera point, then OpenCV's K (integer pixel centres, so
    # cx - 0.5, cy - 0.5) gives our continuous pixel coordinates minus 0.5.
    fx, fy, cx, cy = HAND.intrinsics_px()
    point_blender = np.array([1.0, 2.0, -5.0, 1.0])
    x_cv, y_cv, z_cv, _ = BLENDER_TO_OPENCV_AXES @ point_blender
    np.testing.assert_array_equal([x_cv, y_cv, z_cv], [1.0, -2.0, 5.0])
    u_cv = fx * x_cv / z_cv + (cx - 0.5)
    v_cv = fy * y_cv / z_cv + (cy - 0.5)
    np.testing.assert_allclose(project(point_blender[:3], HAND, space="camera"), [u_cv + 0.5, v_cv + 0.5],
                               rtol=1e-15)


# -- properties on asymmetric cameras ---------------------------------------------------------------


def test_backproject_then_project_gives_pixel_centres(camera):
    depth = random_depth(camera)
    points = backproject(depth, camera)
    valid = valid_depth_mask(depth, camera)
    assert valid.sum() >= camera.width_px * camera.height_px // 3
    if camera.projection != "PANO" or camera.panorama_type == "EQUIRECTANGULAR":
        assert valid.all()  # only fisheyes have pixels without a ray
    assert_nan_exactly_where(points, ~valid)
    assert_projects_to_pixel_centres(points, camera, valid)
    assert_depth_definitions(points, camera, depth, camera.natural_depth_kind(), valid)


def test_backproject_recovers_points_on_pixel_rays(camera):
    # Points built without backproject: pixel-centre rays times a random parameter.
    origins, directions = camera_rays(pixel_centers(camera), camera)
    t = np.random.default_rng(1).uniform(1.0, 20.0, size=camera.shape)
    points_cam = origins + t[..., None] * directions
    has_ray = np.isfinite(points_cam).all(axis=-1)
    points_world = points_cam @ camera.cam2world[:3, :3].T + camera.cam2world[:3, 3]
    assert_projects_to_pixel_centres(points_world, camera, has_ray)
    # The "right depth" straight from the definitions of the two kinds.
    planar = -points_cam[..., 2] if camera.projection != "ORTHO" else t
    distance = np.linalg.norm(points_cam - origins, axis=-1)
    front = has_ray & (planar > 0)
    for kind, depth in (("planar", planar), ("distance", distance)):
        usable = front if kind == "planar" else has_ray
        depth = np.where(usable, depth, np.nan)
        got = backproject(depth, camera, depth_kind=kind)
        expected = np.where(usable[..., None], points_world, np.nan)
        assert_points_equal(got, expected)


def test_project_then_rays_recovers_off_grid_points(camera):
    # Continuous pixel coordinates anywhere in the image (not centres), through rays and back.
    rng = np.random.default_rng(2)
    pixels = rng.uniform([0.0, 0.0], [camera.width_px, camera.height_px], size=(50, 2))
    origins, directions = camera_rays(pixels, camera)
    has_ray = np.isfinite(directions).all(axis=-1)
    assert has_ray.sum() >= 20
    points_cam = origins[has_ray] + rng.uniform(1.0, 20.0, size=(has_ray.sum(), 1)) * directions[has_ray]
    np.testing.assert_allclose(project(points_cam, camera, space="camera"), pixels[has_ray], atol=PIXEL_ATOL)


def test_planar_and_distance_give_the_same_points(camera):
    distance = random_depth(camera, seed=3)
    planar = convert_depth(distance, camera, from_kind="distance", to_kind="planar")
    from_distance = backproject(distance, camera, depth_kind="distance", allow_empty=True)
    from_planar = backproject(planar, camera, depth_kind="planar", allow_empty=True)
    front = forward_facing(camera)
    # Rays that do not face forward have no planar depth: NaN there, same points elsewhere.
    assert_nan_exactly_where(from_planar, ~front)
    assert_points_equal(from_planar, np.where(front[..., None], from_distance, np.nan))
    # And the other way round.
    again = convert_depth(planar, camera, from_kind="planar", to_kind="distance")
    np.testing.assert_allclose(again[front], distance[front], rtol=1e-13)


def test_convert_depth_ratio_is_ray_length_over_forward_component(camera):
    planar = np.full(camera.shape, 5.0)
    distance = convert_depth(planar, camera, from_kind="planar", to_kind="distance")
    _, directions = camera_rays(pixel_centers(camera), camera)
    front = forward_facing(camera)
    if camera.projection == "ORTHO":
        expected = np.ones(camera.shape)
    else:
        with np.errstate(invalid="ignore"):
            expected = np.linalg.norm(directions, axis=-1) / -directions[..., 2]
    np.testing.assert_allclose((distance / 5.0)[front], expected[front], rtol=1e-14)
    assert np.isnan(distance[~front]).all()
    if camera.projection == "PERSP":
        assert (distance[front] > 5.0).all()  # no pixel centre lies on the optical axis here


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_convert_depth_keeps_float_dtype(camera, dtype):
    depth = random_depth(camera, seed=4).astype(dtype)
    out = convert_depth(depth, camera, from_kind="planar", to_kind="distance")
    assert out.dtype == dtype
    reference = convert_depth(depth.astype(np.float64), camera, from_kind="planar", to_kind="distance")
    np.testing.assert_allclose(out, reference, rtol=1e-6, equal_nan=True)


def test_convert_depth_same_kind_only_cleans_invalid_values():
    cam = CAMERAS["persp-landscape-shift"]
    depth = np.full(cam.shape, 3.0)
    depth[0, 0], depth[1, 1], depth[2, 2] = np.nan, -1.0, BACKGROUND_DEPTH
    out = convert_depth(depth, cam, from_kind="planar", to_kind="planar")
    expected = depth.copy()
    expected[0, 0] = expected[1, 1] = expected[2, 2] = np.nan
    np.testing.assert_array_equal(out, expected)


def test_orthographic_planar_equals_distance():
    cam = CAMERAS["ortho-vertical-aspect-x"]
    depth = random_depth(cam, seed=5)
    np.testing.assert_array_equal(convert_depth(depth, cam, from_kind="planar", to_kind="distance"), depth)
    np.testing.assert_array_equal(convert_depth(depth, cam, from_kind="distance", to_kind="planar"), depth)
    np.testing.assert_array_equal(backproject(depth, cam, depth_kind="planar"),
                                  backproject(depth, cam, depth_kind="distance"))
    # Parallel rays: every point is depth along -Z from its own origin on the image plane.
    points_cam = backproject(depth, cam, space="camera")
    np.testing.assert_allclose(-points_cam[..., 2], depth, rtol=1e-15)


def test_camera_and_world_spaces_agree(camera):
    depth = random_depth(camera, seed=6)
    in_camera = backproject(depth, camera, space="camera")
    in_world = backproject(depth, camera, space="world")
    expected_world = in_camera @ camera.cam2world[:3, :3].T + camera.cam2world[:3, 3]
    assert_points_equal(in_world, expected_world)
    px_world = project(in_world, camera, space="world")
    px_camera = project(in_camera, camera, space="camera")
    np.testing.assert_allclose(px_world, px_camera, atol=PIXEL_ATOL, equal_nan=True)


def test_auto_depth_kind_is_the_natural_kind(camera):
    depth = random_depth(camera, seed=7)
    np.testing.assert_array_equal(backproject(depth, camera),
                                  backproject(depth, camera, depth_kind=camera.natural_depth_kind()))


def test_perspective_rays_have_unit_planar_length_and_panorama_rays_unit_length(camera):
    _, directions = camera_rays(pixel_centers(camera), camera)
    has_ray = np.isfinite(directions).all(axis=-1)
    if camera.projection == "PANO":
        np.testing.assert_allclose(np.linalg.norm(directions[has_ray], axis=-1), 1.0, rtol=1e-15)
    else:
        np.testing.assert_array_equal(directions[..., 2], -1.0)


def test_scaled_camera_object_gives_the_same_points():
    cam = CAMERAS["persp-vertical-aspect-y"]
    scaled = cam.cam2world.copy()
    scaled[:3, :3] = scaled[:3, :3] @ np.diag([1.7, 0.6, 2.0])
    depth = random_depth(cam, seed=8)
    np.testing.assert_allclose(backproject(depth, cam.replace(cam2world=scaled)), backproject(depth, cam),
                               atol=1e-12)


def test_backproject_dtype_option(camera):
    depth = random_depth(camera, seed=9)
    points32 = backproject(depth, camera, dtype=np.float32)
    assert points32.dtype == np.float32 and points32.shape == camera.shape + (3,)
    np.testing.assert_allclose(points32, backproject(depth, camera), rtol=1e-6, atol=1e-5, equal_nan=True)


# -- invalid depth -------------------------------------------------------------------------------


INVALID_CAMERA = CameraModel(width_px=4, height_px=3, lens_mm=30.0, shift_x=0.05, clip_start=0.5, clip_end=100.0,
                             cam2world=POSE)
INVALID_DEPTH = np.array([
    [np.nan, np.inf, -np.inf, 0.0],
    [-2.0, BACKGROUND_DEPTH, 2e10, 150.0],  # negative, Blender background, beyond it, above clip_end
    [0.2, 5.0, 100.0, 0.5],  # below clip_start, fine, == clip_end, == clip_start (both ends inclusive)
])
INVALID_EXPECTED = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_invalid_depth_gives_nan_and_keeps_shape(dtype):
    depth = INVALID_DEPTH.astype(dtype)
    np.testing.assert_array_equal(valid_depth_mask(depth, INVALID_CAMERA), ~INVALID_EXPECTED)
    points = backproject(depth, INVALID_CAMERA)
    assert_nan_exactly_where(points, INVALID_EXPECTED)
    assert_projects_to_pixel_centres(points, INVALID_CAMERA, ~INVALID_EXPECTED)
    distance = convert_depth(depth, INVALID_CAMERA, from_kind="planar", to_kind="distance")
    # convert_depth drops non-finite, <= 0 and background values but not the clip range.
    expected_nan = np.isnan(INVALID_DEPTH) | ~(INVALID_DEPTH > 0) | (INVALID_DEPTH >= BACKGROUND_DEPTH)
    np.testing.assert_array_equal(np.isnan(distance), expected_nan)
    assert np.isfinite(distance[1, 3]) and np.isfinite(distance[2, 0])


def test_clip_range_is_measured_in_planar_depth_for_perspective():
    # HAND pixel (0, 0): distance/planar = sqrt(1.625) = 1.2748. With clip_end 100, distance 120 is
    # planar 94.1 (kept) and distance 130 is planar 101.98 (dropped); planar 100 at (1, 3) is kept.
    cam = HAND.replace(clip_end=100.0)
    distance = np.full(cam.shape, 50.0)
    distance[0, 0], distance[0, 1] = 120.0, 130.0
    mask = valid_depth_mask(distance, cam, depth_kind="distance")
    assert mask[0, 0] and not mask[0, 1]
    assert mask.sum() == 7


def test_clip_range_is_measured_in_distance_for_panoramas():
    # 4x2 equirectangular, pixel (col 1, row 0): planar = distance / 2 (see the literal test).
    # Planar 60 is distance 120 > clip_end 100: dropped, although 60 itself is in range.
    cam = CameraModel(width_px=4, height_px=2, projection="PANO", clip_end=100.0)
    planar = np.full(cam.shape, 40.0)
    planar[0, 1] = 60.0
    mask = valid_depth_mask(planar, cam, depth_kind="planar")
    assert not mask[0, 1]
    # Backward-facing columns 0 and 3 have no planar depth at all; columns 1, 2 of row 1 are fine.
    np.testing.assert_array_equal(mask, [[False, False, True, False], [False, True, True, False]])
    assert valid_depth_mask(np.full(cam.shape, 99.0), cam).all()
    assert not valid_depth_mask(np.full(cam.shape, 101.0), cam).any()


def test_fisheye_equidistant_pixels_outside_the_circle_are_nan():
    # 5x5, fov pi: corner centre u = 0.1 -> a = -0.8, b = +-0.8, r = 1.13 > 1 (outside);
    # pixel (col 1, row 0): a = -0.4, b = 0.8, r = 0.89 (inside). Exactly the 4 corners have no ray.
    cam = CameraModel(width_px=5, height_px=5, projection="PANO", panorama_type="FISHEYE_EQUIDISTANT",
                      fisheye_fov=math.pi, cam2world=POSE)
    outside = np.zeros((5, 5), dtype=bool)
    outside[[0, 0, 4, 4], [0, 4, 0, 4]] = True
    depth = np.full((5, 5), 3.0)
    np.testing.assert_array_equal(valid_depth_mask(depth, cam), ~outside)
    points = backproject(depth, cam)
    assert_nan_exactly_where(points, outside)
    assert_projects_to_pixel_centres(points, cam, ~outside)


def test_fisheye_equisolid_image_circle():
    # 10x7 AUTO (10 > 7): sensor 36 x 36*7/10 = 25.2 mm; lens 10.5, fov pi: r_max = 2 * 10.5 * sin(pi/4) = 14.85 mm.
    # Row 3 (v = 0.5, b = 0): col 0 u = 0.05 -> a = -0.45 * 36 = -16.2 (outside),
    # col 1 u = 0.15 -> a = -12.6 (inside), col 9 a = +16.2 (outside).
    cam = CameraModel(width_px=10, height_px=7, projection="PANO", panorama_type="FISHEYE_EQUISOLID",
                      fisheye_lens_mm=10.5, fisheye_fov=math.pi)
    mask = valid_depth_mask(np.full((7, 10), 2.0), cam)
    np.testing.assert_array_equal(mask[3], [False] + [True] * 8 + [False])
    # Corner (0, 0): a = -16.2, b = (3/7) * 25.2 = 10.8, r = 19.5 > 14.85.
    assert not mask[0, 0]
    points = backproject(np.full((7, 10), 2.0), cam, space="camera")
    # Col 1, row 3: theta = 2 asin(12.6 / 21) = 2 asin(0.6); dir = (-sin theta, 0, -cos theta).
    theta = 2.0 * math.asin(0.6)
    np.testing.assert_allclose(points[3, 1], [-2.0 * math.sin(theta), 0.0, -2.0 * math.cos(theta)], atol=1e-14)


def test_all_invalid_raises_unless_allow_empty(camera):
    depth = np.full(camera.shape, BACKGROUND_DEPTH)
    with pytest.raises(NoValidDepthError, match=f"{camera.width_px}x{camera.height_px}"):
        backproject(depth, camera)
    points = backproject(depth, camera, allow_empty=True)
    assert_nan_exactly_where(points, np.ones(camera.shape, dtype=bool))


@pytest.mark.parametrize("bad", [np.nan, 0.0, -1.0, 5000.0])
def test_other_all_invalid_maps_raise(bad):
    with pytest.raises(NoValidDepthError):
        backproject(np.full(INVALID_CAMERA.shape, bad), INVALID_CAMERA)


# -- argument errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(12,), (3, 4, 1), ()])
def test_depth_of_wrong_ndim_raises_value_error_with_shape(shape):
    depth = np.ones(shape)
    for call in (
        lambda: backproject(depth, INVALID_CAMERA),
        lambda: valid_depth_mask(depth, INVALID_CAMERA),
        lambda: convert_depth(depth, INVALID_CAMERA, from_kind="planar", to_kind="distance"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert str(shape) in str(info.value)
        assert not isinstance(info.value, ResolutionMismatchError)


@pytest.mark.parametrize("shape", [(5, 7), (8, 6)], ids=["smaller", "transposed"])
def test_depth_of_wrong_size_raises_resolution_mismatch(shape):
    cam = CameraModel(width_px=8, height_px=6)
    depth = np.ones(shape)
    for call in (
        lambda: backproject(depth, cam),
        lambda: valid_depth_mask(depth, cam),
        lambda: convert_depth(depth, cam, from_kind="planar", to_kind="distance"),
    ):
        with pytest.raises(ResolutionMismatchError) as info:
            call()
        message = str(info.value)
        assert f"{shape[1]}x{shape[0]}" in message and "8x6" in message


def test_points_and_pixels_of_wrong_shape_raise_value_error_with_shape():
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        project(np.zeros((5, 2)), INVALID_CAMERA)
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        camera_rays(np.zeros((4, 3)), INVALID_CAMERA)


def test_unknown_depth_kind_and_space_raise_value_error():
    depth = np.full(INVALID_CAMERA.shape, 5.0)
    with pytest.raises(ValueError, match="'z'"):
        backproject(depth, INVALID_CAMERA, depth_kind="z")
    with pytest.raises(ValueError, match="'z'"):
        valid_depth_mask(depth, INVALID_CAMERA, depth_kind="z")
    with pytest.raises(ValueError, match="'auto'"):
        convert_depth(depth, INVALID_CAMERA, from_kind="auto", to_kind="planar")
    with pytest.raises(ValueError, match="'ray'"):
        convert_depth(depth, INVALID_CAMERA, from_kind="planar", to_kind="ray")
    with pytest.raises(ValueError, match="'local'"):
        backproject(depth, INVALID_CAMERA, space="local")
    with pytest.raises(ValueError, match="'local'"):
        project(np.zeros(3), INVALID_CAMERA, space="local")


# -- degenerate sizes ----------------------------------------------------------------------------

DEGENERATE_KINDS = {
    "persp": dict(),
    "ortho": dict(projection="ORTHO", ortho_scale=2.0),
    "equirect": dict(projection="PANO", panorama_type="EQUIRECTANGULAR", longitude_min=-1.0, longitude_max=1.2),
    "equidistant": dict(projection="PANO", panorama_type="FISHEYE_EQUIDISTANT"),
    "equisolid": dict(projection="PANO", panorama_type="FISHEYE_EQUISOLID"),
}


@pytest.mark.parametrize("kind", list(DEGENERATE_KINDS))
@pytest.mark.parametrize("width, height", [(1, 1), (1, 3), (3, 1)])
def test_degenerate_sizes(width, height, kind):
    cam = CameraModel(width_px=width, height_px=height, shift_x=0.05, cam2world=POSE, **DEGENERATE_KINDS[kind])
    depth = np.arange(1.0, 1.0 + width * height).reshape(height, width) + 2.0
    points = backproject(depth, cam)
    assert points.shape == (height, width, 3)
    assert np.isfinite(points).all()  # every pixel of these tiny images has a ray
    assert_projects_to_pixel_centres(points, cam, np.ones((height, width), dtype=bool))
    assert_depth_definitions(points, cam, depth, cam.natural_depth_kind(), np.ones(depth.shape, dtype=bool))


def test_one_by_three_columns_and_rows_are_not_swapped():
    # 3 wide x 1 tall: only x varies. 1 wide x 3 tall: only y varies, top row up.
    wide = backproject(np.full((1, 3), 2.0), CameraModel(width_px=3, height_px=1), space="camera")
    tall = backproject(np.full((3, 1), 2.0), CameraModel(width_px=1, height_px=3), space="camera")
    assert wide[0, 0, 0] < 0 < wide[0, 2, 0]
    np.testing.assert_array_equal(wide[..., 1], 0.0)
    assert tall[0, 0, 1] > 0 > tall[2, 0, 1]
    np.testing.assert_array_equal(tall[..., 0], 0.0)


# -- project ---------------------------------------------------------------------------------------


def test_points_behind_or_at_a_perspective_camera_project_to_nan():
    cam = CAMERAS["persp-landscape-shift"]
    points_cam = np.array([
        [0.0, 0.0, 5.0],  # behind
        [1.0, -2.0, 0.5],  # behind, off-axis
        [1.0, 1.0, 0.0],  # in the camera plane
        [0.0, 0.0, 0.0],  # the centre
        [np.nan, np.nan, np.nan],  # an invalid point as backproject writes it
        [0.3, 0.2, -4.0],  # in front: finite
    ])
    pixels = project(points_cam, cam, space="camera")
    assert np.isnan(pixels[:5]).all()
    assert np.isfinite(pixels[5]).all()
    # The same through the pose (rows whose camera-frame z stays clearly non-zero after the round trip).
    robust = [0, 1, 4, 5]
    points_world = points_cam[robust] @ cam.cam2world[:3, :3].T + cam.cam2world[:3, 3]
    np.testing.assert_allclose(project(points_world, cam), pixels[robust], atol=PIXEL_ATOL, equal_nan=True)


@pytest.mark.parametrize(
    "name",
    ["persp-landscape-shift", "ortho-vertical-aspect-x", "pano-equirect-range", "pano-fisheye-equisolid-vertical"],
)
def test_partly_nan_point_projects_to_nan(name):
    # project() documents "NaN points give NaN": a point with any NaN coordinate has no pixel.
    pixels = project(np.array([[np.nan, 0.0, -1.0], [0.0, np.nan, -1.0]]), CAMERAS[name], space="camera")
    assert np.isnan(pixels).all(), pixels


def test_fisheye_points_outside_the_field_of_view_project_to_nan():
    cam = CAMERAS["pano-fisheye-equidistant"]  # fov 3.0 rad: half angle 1.5 rad from -Z
    inside = [math.sin(1.45), 0.0, -math.cos(1.45)]
    outside = [math.sin(1.55), 0.0, -math.cos(1.55)]
    pixels = project(np.array([inside, outside, [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]), cam, space="camera")
    assert np.isfinite(pixels[0]).all()
    assert np.isnan(pixels[1:]).all()


def test_project_keeps_leading_shape_and_off_image_coordinates():
    cam = INVALID_CAMERA
    points = np.random.default_rng(10).normal(size=(2, 5, 3)) - [0.0, 0.0, 5.0]
    assert project(points, cam, space="camera").shape == (2, 5, 2)
    # Far off to the side: returned as is, outside [0, W].
    fx, _, cx, _ = cam.intrinsics_px()
    x = project([100.0, 0.0, -1.0], cam, space="camera")[0]
    assert x == pytest.approx(cx + 100.0 * fx)


def test_pixel_footprint_pinned():
    # 64 px across a 36 mm sensor at 50 mm: one pixel spans 36/50/64 = 0.01125 m per metre of depth.
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0)
    footprint = pixel_footprint(np.full((48, 64), 10.0), cam)
    np.testing.assert_allclose(footprint, 0.1125, rtol=1e-6)
    # Ray distance is converted to planar first: same footprint for the same points.
    distance = convert_depth(np.full((48, 64), 10.0), cam, from_kind="planar", to_kind="distance")
    np.testing.assert_allclose(pixel_footprint(distance, cam, depth_kind="distance"), 0.1125, rtol=1e-6)
    # Non-square pixels: the square of equal area, sqrt(w * h).
    wide = cam.replace(pixel_aspect_x=2.0)
    fx, fy, _, _ = wide.intrinsics_px()
    np.testing.assert_allclose(pixel_footprint(np.full((48, 64), 4.0), wide), 4.0 / np.sqrt(fx * fy), rtol=1e-6)
    # Orthographic: independent of depth; equirectangular at the equator: 2 pi / W radians per pixel.
    ortho = CameraModel(width_px=64, height_px=48, projection="ORTHO", ortho_scale=6.4)
    np.testing.assert_allclose(pixel_footprint(np.full((48, 64), 3.0), ortho), 0.1, rtol=1e-6)
    pano = CameraModel(width_px=64, height_px=32, projection="PANO")
    assert pixel_footprint(np.full((32, 64), 10.0), pano)[16, 0] == pytest.approx(10 * 2 * np.pi / 64, rel=2e-3)
    invalid = np.full((48, 64), 1e10)
    assert np.isnan(pixel_footprint(invalid, cam)).all()


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_backproject_valid_equals_the_dense_grid_in_any_chunking(name):
    cam = CAMERAS[name]
    rng = np.random.default_rng(3)
    depth = rng.uniform(2.0, 9.0, cam.shape)
    depth[0, 0], depth[-1, -1] = np.nan, 1e10
    mask = rng.random(cam.shape) < 0.7
    dense = backproject(depth, cam, dtype=np.float64)
    for chunk_px in (1, 7, 1 << 18):
        sparse = backproject_valid(depth, cam, mask=mask, dtype=np.float64, chunk_px=chunk_px)
        keep = np.isfinite(dense[..., 0]) & mask
        assert sparse.rows.dtype == np.int32 and (sparse.rows.size, sparse.cols.size) == (keep.sum(), keep.sum())
        np.testing.assert_array_equal(keep[sparse.rows, sparse.cols], True)
        np.testing.assert_allclose(sparse.points, dense[sparse.rows, sparse.cols], rtol=0, atol=1e-12)
        np.testing.assert_allclose(sparse.footprint, pixel_footprint(depth, cam)[sparse.rows, sparse.cols],
                                   rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_unproject_pixels_round_trips_sub_pixel_coordinates(name):
    cam = CAMERAS[name]
    rng = np.random.default_rng(11)
    depth = rng.uniform(2.0, 9.0, cam.shape)
    pixels = np.stack([rng.uniform(0, cam.width_px, 200), rng.uniform(0, cam.height_px, 200)], axis=-1)
    points = unproject_pixels(pixels, depth, cam)
    ok = np.isfinite(points).all(axis=-1)
    assert ok.mean() > 0.3  # fisheyes: only inside the image circle
    np.testing.assert_allclose(project(points[ok], cam), pixels[ok], atol=1e-6)
    # At a pixel centre it is exactly backproject's point; the depth comes from the containing pixel.
    centres = pixel_centers(cam)[[0, -1], [0, -1]]
    np.testing.assert_allclose(unproject_pixels(centres, depth, cam), backproject(depth, cam)[[0, -1], [0, -1]],
                               atol=1e-9, equal_nan=True)


def test_unproject_pixels_takes_the_containing_pixels_depth_and_nan_outside():
    cam = CameraModel(width_px=4, height_px=2, lens_mm=50.0)
    depth = np.array([[5.0, 6.0, 7.0, 1e10], [5.0, 6.0, 7.0, 8.0]])
    pixels = np.array([[1.99, 0.2], [2.0, 0.2], [3.5, 0.5], [-0.01, 1.0], [4.0, 1.0], [np.nan, 1.0]])
    points = unproject_pixels(pixels, depth, cam, space="camera")
    assert points[0, 2] == -6.0 and points[1, 2] == -7.0  # x = 1.99 is in pixel 1, x = 2.0 in pixel 2
    assert np.isnan(points[2:]).all()  # background, left of the image, right edge (exclusive), NaN input


# -- a camera cropped to a render region (Crop to Border) ------------------------------------------

# Full cameras of every kind, each cropped to an off-centre window: (x0, y0, width, height) in pixels
# of the full image, rows from the top. The windows change the aspect (a portrait crop of a landscape
# image), so the sensor fit has to come from the full image.
CROP_CASES = {
    "persp-auto-shift-aspect-x": (CameraModel(width_px=23, height_px=17, lens_mm=35.0, shift_x=0.11, shift_y=-0.06,
                                              pixel_aspect_x=1.25, cam2world=POSE), (5, 3, 7, 11)),
    "persp-vertical-aspect-y": (CameraModel(width_px=21, height_px=14, lens_mm=28.0, sensor_fit="VERTICAL",
                                            sensor_height_mm=20.0, pixel_aspect_y=1.5, shift_x=-0.04, shift_y=0.07,
                                            cam2world=POSE), (9, 0, 12, 5)),
    "ortho-auto-shift": (CameraModel(width_px=20, height_px=15, projection="ORTHO", ortho_scale=4.5, shift_x=0.1,
                                     shift_y=0.05, cam2world=POSE), (2, 6, 6, 9)),
    "pano-equirect-range": (CameraModel(width_px=24, height_px=12, projection="PANO", panorama_type="EQUIRECTANGULAR",
                                        latitude_min=-0.6, latitude_max=1.1, longitude_min=-2.0, longitude_max=1.5,
                                        shift_x=0.03, shift_y=-0.02, cam2world=POSE), (3, 2, 17, 7)),
    "pano-fisheye-equidistant": (CameraModel(width_px=19, height_px=15, projection="PANO",
                                             panorama_type="FISHEYE_EQUIDISTANT", fisheye_fov=3.0, shift_x=0.02,
                                             cam2world=POSE), (0, 4, 12, 11)),
    "pano-fisheye-equisolid-aspect": (CameraModel(width_px=20, height_px=14, projection="PANO",
                                                  panorama_type="FISHEYE_EQUISOLID", fisheye_lens_mm=8.0,
                                                  fisheye_fov=3.0, pixel_aspect_x=1.2, shift_y=0.03, cam2world=POSE),
                                      (6, 1, 5, 13)),
}


@pytest.fixture(params=list(CROP_CASES), ids=list(CROP_CASES))
def cropped(request):
    """(full camera, cropped camera, (rows, cols) slices of the full image that the crop covers)."""
    full, (x0, y0, width, height) = CROP_CASES[request.param]
    crop = full.crop(x0, y0, width, height)
    return full, crop, (slice(y0, y0 + height), slice(x0, x0 + width))


def test_cropped_camera_pixel_is_the_full_cameras_pixel(cropped):
    full, crop, window = cropped
    assert crop.shape == (window[0].stop - window[0].start, window[1].stop - window[1].start)
    assert crop.full_size_px == (full.width_px, full.height_px) and crop.uncropped() == full
    # The ray of the cropped image's pixel (c, r) is the full image's pixel (c + x0, r + y0) ray.
    crop_origins, crop_directions = camera_rays(pixel_centers(crop), crop)
    full_origins, full_directions = camera_rays(pixel_centers(full), full)
    np.testing.assert_allclose(crop_directions, full_directions[window], rtol=0, atol=1e-12)
    np.testing.assert_allclose(crop_origins, full_origins[window], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(crop_directions), np.isnan(full_directions[window]))
    if full.projection != "PANO":
        fx, fy, cx, cy = full.intrinsics_px()
        np.testing.assert_allclose(crop.intrinsics_px(), (fx, fy, cx - crop.crop_x0_px, cy - crop.crop_y0_px),
                                   rtol=0, atol=1e-12)
        assert crop.effective_sensor_fit() == full.effective_sensor_fit()


def test_cropped_camera_backprojects_and_projects_like_the_full_camera(cropped):
    full, crop, window = cropped
    depth = random_depth(full, seed=5)
    depth[window[0].start, window[1].start] = 1e10  # background inside the window stays invalid
    for kind in ("planar", "distance"):
        np.testing.assert_array_equal(valid_depth_mask(depth[window], crop, depth_kind=kind),
                                      valid_depth_mask(depth, full, depth_kind=kind)[window])
        points = backproject(depth[window], crop, depth_kind=kind)
        assert_points_equal(points, backproject(depth, full, depth_kind=kind)[window], atol=1e-9)
        valid = np.isfinite(points[..., 0])
        assert valid.sum() > 0.3 * valid.size
        # project() gives the cropped image's pixel centres: the full image's less the crop origin.
        assert_projects_to_pixel_centres(points, crop, valid)
        offset = (crop.crop_x0_px, crop.crop_y0_px)
        np.testing.assert_allclose(project(points, full)[valid] - offset, pixel_centers(crop)[valid], atol=PIXEL_ATOL)
    np.testing.assert_allclose(convert_depth(depth[window], crop, from_kind="planar", to_kind="distance"),
                               convert_depth(depth, full, from_kind="planar", to_kind="distance")[window],
                               rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(pixel_footprint(depth[window], crop), pixel_footprint(depth, full)[window],
                               rtol=1e-9, equal_nan=True)
    # Sub-pixel coordinates of the cropped image are those of the full image less the crop origin.
    rng = np.random.default_rng(4)
    pixels = np.stack([rng.uniform(0, crop.width_px, 50), rng.uniform(0, crop.height_px, 50)], axis=-1)
    offset = np.array([crop.crop_x0_px, crop.crop_y0_px], dtype=np.float64)
    np.testing.assert_allclose(unproject_pixels(pixels, depth[window], crop),
                               unproject_pixels(pixels + offset, depth, full), atol=1e-9, equal_nan=True)


def test_a_crop_at_the_origin_is_not_the_full_camera():
    # Same top-left pixel, smaller image: the principal point stays, the sensor fit does not change.
    full = CameraModel(width_px=40, height_px=30, lens_mm=50.0, shift_x=0.1)
    crop = full.crop(0, 0, 10, 30)  # a portrait crop of a landscape image: still a horizontal fit
    assert crop.effective_sensor_fit() == "HORIZONTAL"
    assert crop.intrinsics_px() == full.intrinsics_px()
    assert crop.replace(full_width_px=None, full_height_px=None).intrinsics_px() != full.intrinsics_px()


def test_region_without_crop_to_border_reads_as_background_outside():
    # Render Region without Crop to Border writes the full image; Blender's passes hold 1e11 (its
    # "10e10" pass default) outside the region, measured in 4.2, 4.5 and 5.0: no points there.
    cam = CameraModel(width_px=8, height_px=6, lens_mm=35.0, cam2world=POSE)
    depth = np.full(cam.shape, 1e11, dtype=np.float32)
    depth[1:4, 2:7] = 5.0
    points = backproject(depth, cam)
    assert_nan_exactly_where(points, depth != 5.0)
    assert backproject_valid(depth, cam).rows.size == 15


@pytest.mark.parametrize(
    "size, window, shape, says, not_says",
    [
        # A cropped camera given the whole image: Crop to Border, not the percentage.
        ((64, 48), (8, 4, 37, 34), (48, 64),
         ("37x34 px render region of a 64x48 px image", "without Render Region or Crop to Border"), ("percentage",)),
        # An uncropped camera given a smaller image: a render region or a lower percentage.
        ((64, 48), None, (34, 37), ("render region with Crop to Border", "percentage"), ()),
        # Larger than the camera's image: either setting.
        ((32, 24), None, (48, 64), ("render region", "percentage"), ()),
        ((64, 48), (8, 4, 37, 34), (20, 20), ("render region", "percentage"), ()),
    ],
    ids=["cropped-camera-full-image", "smaller-image", "larger-image", "cropped-camera-other-size"],
)
def test_size_mismatch_names_the_render_region_and_the_percentage(size, window, shape, says, not_says):
    camera = CameraModel(width_px=size[0], height_px=size[1])
    if window is not None:
        camera = camera.crop(*window)
    with pytest.raises(ResolutionMismatchError) as info:
        backproject(np.ones(shape), camera)
    message = str(info.value)
    assert f"is {shape[1]}x{shape[0]} px but the camera renders {camera.width_px}x{camera.height_px} px" in message
    for text in says:
        assert text in message, message
    for text in not_says:
        assert text not in message, message
