"""CameraModel (depth_cloud_addon.core.geometry.camera) in plain Python: no bpy, no mathutils.

Intrinsics are pinned with literal values worked out by hand from Blender's viewplane
(``BKE_camera_params_compute_viewplane``): with ``viewfac`` = W for a horizontal fit and
``ycor * H`` for a vertical one (``ycor = pixel_aspect_y / pixel_aspect_x``),

    fx = viewfac * lens / sensor        (ortho: viewfac / ortho_scale)
    fy = fx / ycor                      (a pixel is ycor times as tall as it is wide in the viewplane)
    cx = W/2 - shift_x * viewfac
    cy = H/2 + shift_y * viewfac / ycor

The pixel-aspect values below were also checked once against ``Camera.view_frame`` of bpy 5.0.
``from_blender`` is exercised with plain ``types.SimpleNamespace`` stand-ins: it is documented as
duck-typed (attributes only), so this is the reading it promises, not a mock of bpy.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from depth_cloud_addon.core import CameraError, CameraModel, DepthCloudError, render_size_px
from depth_cloud_addon.core.geometry import camera as camera_module


def rotation(axis, angle):
    """Rotation matrix (Rodrigues) about ``axis`` by ``angle`` radians."""
    k = np.asarray(axis, dtype=np.float64)
    k = k / np.linalg.norm(k)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * kx @ kx


def pose(axis=(0.3, -0.5, 0.8), angle=1.1, translation=(1.5, -2.0, 0.7), scale=(1.0, 1.0, 1.0)):
    """4x4 cam2world with a rotation, a translation and an optional per-axis scale."""
    m = np.eye(4)
    m[:3, :3] = rotation(axis, angle) @ np.diag(scale)
    m[:3, 3] = translation
    return m


def assert_intrinsics(camera, fx, fy, cx, cy):
    np.testing.assert_allclose(camera.intrinsics_px(), (fx, fy, cx, cy), rtol=1e-12, atol=1e-12)


# -- intrinsics ----------------------------------------------------------------------------------


def test_intrinsics_default_landscape_auto_fits_width():
    # 64x48, AUTO -> horizontal (64 >= 48): viewfac = 64, sensor = sensor_width 36.
    # fx = 64 * 50 / 36 = 88.888...; square pixels: fy = fx; centre (32, 24).
    assert_intrinsics(CameraModel(width_px=64, height_px=48, lens_mm=50.0), 64 * 50 / 36, 64 * 50 / 36, 32.0, 24.0)


def test_intrinsics_vertical_fit_uses_sensor_height():
    # VERTICAL: viewfac = ycor * H = 48, sensor = sensor_height 24 -> fx = 48 * 50 / 24 = 100.
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, sensor_height_mm=24.0, sensor_fit="VERTICAL")
    assert cam.effective_sensor_fit() == "VERTICAL"
    assert_intrinsics(cam, 100.0, 100.0, 32.0, 24.0)


def test_intrinsics_auto_portrait_uses_sensor_width_along_the_height():
    # 48x64 AUTO -> vertical fit (48 < 64): viewfac = 64, but AUTO's sensor size is still
    # sensor_width (36), not sensor_height: fx = 64 * 50 / 36 = 88.888... (not 64*50/24 = 133.3).
    cam = CameraModel(width_px=48, height_px=64, lens_mm=50.0, sensor_width_mm=36.0, sensor_height_mm=24.0)
    assert cam.effective_sensor_fit() == "VERTICAL"
    assert cam.sensor_size_mm() == 36.0
    assert_intrinsics(cam, 64 * 50 / 36, 64 * 50 / 36, 24.0, 32.0)


def test_intrinsics_horizontal_fit_on_portrait_image():
    # 48x64 HORIZONTAL: viewfac = W = 48, sensor_width 36 -> fx = 48 * 50 / 36 = 66.666...
    cam = CameraModel(width_px=48, height_px=64, lens_mm=50.0, sensor_fit="HORIZONTAL")
    assert_intrinsics(cam, 48 * 50 / 36, 48 * 50 / 36, 24.0, 32.0)


def test_intrinsics_shift_moves_principal_point_by_shift_times_viewfac():
    # 64x48 AUTO (horizontal, viewfac 64): cx = 32 - 0.1 * 64 = 25.6; cy = 24 + 0.2 * 64 = 36.8.
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, shift_x=0.1, shift_y=0.2)
    assert_intrinsics(cam, 64 * 50 / 36, 64 * 50 / 36, 25.6, 36.8)


def test_intrinsics_shift_with_vertical_fit():
    # 40x60 AUTO -> vertical, viewfac = 60: cx = 20 - 0.25 * 60 = 5; cy = 30 - 0.1 * 60 = 24.
    cam = CameraModel(width_px=40, height_px=60, lens_mm=30.0, shift_x=0.25, shift_y=-0.1)
    assert_intrinsics(cam, 60 * 30 / 36, 60 * 30 / 36, 5.0, 24.0)


def test_intrinsics_pixel_aspect_x():
    # 64x48, aspect 2:1. AUTO compares 64*2 = 128 with 48*1 -> horizontal, viewfac = 64.
    # ycor = 1/2 so fy = fx / ycor = fx * aspect_x / aspect_y = 2 * 88.888... = 177.777...
    # (bpy 5.0 view_frame: fx 88.8889, fy 177.7778.)
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, pixel_aspect_x=2.0)
    assert cam.pixel_aspect_ratio == 0.5
    assert_intrinsics(cam, 64 * 50 / 36, 2 * 64 * 50 / 36, 32.0, 24.0)


def test_intrinsics_pixel_aspect_y_flips_auto_fit_and_scales_shift():
    # 64x48, aspect 1:2. AUTO compares 64*1 = 64 with 48*2 = 96 -> VERTICAL although W > H.
    # ycor = 2, viewfac = ycor * H = 96, AUTO sensor = sensor_width 36: fx = 96 * 50 / 36 = 133.33,
    # fy = fx / 2 = 66.67. Shift 0.1, 0.1: cx = 32 - 0.1 * 96 = 22.4, cy = 24 + 0.1 * 96 / 2 = 28.8.
    # (bpy 5.0 view_frame: 133.3333, 66.6667, 22.4, 28.8.)
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, pixel_aspect_y=2.0, shift_x=0.1, shift_y=0.1)
    assert cam.effective_sensor_fit() == "VERTICAL"
    assert_intrinsics(cam, 96 * 50 / 36, 96 * 50 / 36 / 2, 22.4, 28.8)


def test_auto_fit_compares_aspect_corrected_sizes():
    # 40x48 is portrait in pixels, but with aspect_x 1.5 it is 60 wide vs 48 tall -> horizontal.
    # viewfac = 40: fx = 40 * 50 / 36 = 55.56 (a plain H-fit would give 48 * 50 / 36 = 66.67);
    # fy = fx * 1.5 = 83.33.
    cam = CameraModel(width_px=40, height_px=48, lens_mm=50.0, pixel_aspect_x=1.5)
    assert cam.effective_sensor_fit() == "HORIZONTAL"
    assert_intrinsics(cam, 40 * 50 / 36, 1.5 * 40 * 50 / 36, 20.0, 24.0)
    # Equal aspect-corrected sizes count as horizontal (Blender: sizex >= sizey).
    assert CameraModel(width_px=30, height_px=60, pixel_aspect_x=2.0).effective_sensor_fit() == "HORIZONTAL"


def test_intrinsics_orthographic_uses_ortho_scale():
    # 64x48 ortho, scale 4 m across the fitted (horizontal) side: fx = 64 / 4 = 16 px/m.
    cam = CameraModel(width_px=64, height_px=48, projection="ORTHO", ortho_scale=4.0, lens_mm=10.0)
    assert_intrinsics(cam, 16.0, 16.0, 32.0, 24.0)
    # Vertical fit with aspect_y 2: viewfac = 2 * 48 = 96, fx = 96 / 4 = 24, fy = 12 (= 48 px / 4 m).
    cam = cam.replace(sensor_fit="VERTICAL", pixel_aspect_y=2.0)
    assert_intrinsics(cam, 24.0, 12.0, 32.0, 24.0)


def test_intrinsics_of_panorama_raise():
    with pytest.raises(CameraError, match="panoramic"):
        CameraModel(width_px=8, height_px=4, projection="PANO").intrinsics_px()


def test_natural_depth_kind():
    assert CameraModel(width_px=2, height_px=2).natural_depth_kind() == "planar"
    assert CameraModel(width_px=2, height_px=2, projection="ORTHO").natural_depth_kind() == "planar"
    assert CameraModel(width_px=2, height_px=2, projection="PANO").natural_depth_kind() == "distance"


def test_shape_is_rows_then_columns():
    assert CameraModel(width_px=7, height_px=3).shape == (3, 7)


# -- render size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "res_x, res_y, percentage, expected",
    [
        (1920, 1080, 100, (1920, 1080)),
        (1920, 1080, 50, (960, 540)),
        (1920, 1080, 33, (633, 356)),  # 63360 // 100, 35640 // 100 (floor, not round: 356.4)
        (1001, 999, 50, (500, 499)),  # 500.5 -> 500, 499.5 -> 499
        (64, 48, 150, (96, 72)),
    ],
)
def test_render_size_px_integer_division(res_x, res_y, percentage, expected):
    assert render_size_px(res_x, res_y, percentage) == expected


# -- serialisation -------------------------------------------------------------------------------


def _json_roundtrip(camera):
    return CameraModel.from_dict(json.loads(json.dumps(camera.to_dict())))


@pytest.mark.parametrize(
    "camera",
    [
        CameraModel(width_px=7, height_px=5, lens_mm=35.5, shift_x=0.1, shift_y=-0.05, pixel_aspect_y=1.3,
                    cam2world=pose(), clip_start=0.01, clip_end=250.0, frame=12, name="Camera.001"),
        CameraModel(width_px=6, height_px=4, projection="ORTHO", ortho_scale=3.5, sensor_fit="VERTICAL",
                    cam2world=pose(angle=2.9)),
        CameraModel(width_px=12, height_px=6, projection="PANO", panorama_type="EQUIRECTANGULAR",
                    latitude_min=-0.6, latitude_max=1.1, longitude_min=-2.0, longitude_max=1.5, cam2world=pose()),
        CameraModel(width_px=10, height_px=7, projection="PANO", panorama_type="FISHEYE_EQUISOLID",
                    fisheye_lens_mm=8.0, fisheye_fov=2.9, cam2world=pose(axis=(1.0, 2.0, -0.5), angle=0.4)),
    ],
    ids=["persp", "ortho", "equirect", "equisolid"],
)
def test_to_dict_json_from_dict_roundtrip_is_exact(camera):
    d = camera.to_dict()
    assert d["format"] == "depth_cloud.camera" and d["version"] == 1
    assert isinstance(d["cam2world"], list) and len(d["cam2world"]) == 4  # 4 row lists
    back = _json_roundtrip(camera)
    assert back == camera
    np.testing.assert_array_equal(back.cam2world, camera.cam2world)  # bit for bit, not just close
    for name in ("panorama_type", "fisheye_fov", "fisheye_lens_mm", "latitude_min", "latitude_max",
                 "longitude_min", "longitude_max", "frame", "name"):
        assert getattr(back, name) == getattr(camera, name), name
    assert CameraModel.from_json(camera.to_json()) == camera


def _euler_xyz_pose(x_deg, y_deg, z_deg):
    """Blender's XYZ Euler rotation (Rz @ Ry @ Rx), a plain orthonormal matrix with no scale."""
    m = np.eye(4)
    m[:3, :3] = (rotation((0, 0, 1), math.radians(z_deg)) @ rotation((0, 1, 0), math.radians(y_deg))
                 @ rotation((1, 0, 0), math.radians(x_deg)))
    m[:3, 3] = (1.0, 2.0, 3.0)
    return m


def test_roundtrip_is_exact_for_an_euler_rotation():
    cam = CameraModel(width_px=4, height_px=3, cam2world=_euler_xyz_pose(10.0, 45.0, 30.0))
    assert cam.replace() == cam
    assert _json_roundtrip(cam) == cam


def test_equality_sees_a_tiny_pose_difference():
    a = CameraModel(width_px=4, height_px=3, cam2world=pose())
    moved = a.cam2world.copy()
    moved[0, 3] += 1e-12
    assert a != a.replace(cam2world=moved)
    assert a != a.replace(latitude_min=-1.0)
    assert a == a.replace()


def test_from_dict_without_format_and_version_is_accepted():
    cam = CameraModel.from_dict({"width_px": 3, "height_px": 2, "projection": "ORTHO", "cam2world": np.eye(4).tolist()})
    assert cam.shape == (2, 3) and cam.projection == "ORTHO"


def _valid_dict():
    return CameraModel(width_px=4, height_px=3).to_dict()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(focal_length=50.0), "focal_length"),  # unknown key is named
        (dict(format="something.else"), "format"),
        (dict(version=2), "version"),
        (dict(lens_mm=-35.0), "lens_mm"),
        (dict(lens_mm=float("nan")), "lens_mm"),
        (dict(ortho_scale=0.0), "ortho_scale"),
        (dict(clip_start=5.0, clip_end=1.0), "clip_start"),
        (dict(projection="CUSTOM"), "CUSTOM"),
        (dict(sensor_fit="DIAGONAL"), "DIAGONAL"),
        (dict(projection="PANO", panorama_type="MIRRORBALL"), "MIRRORBALL"),
        (dict(width_px="wide"), "image size must be whole numbers"),
        (dict(height_px=0), "1x1"),
        (dict(cam2world=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "(3, 3)"),
        (dict(cam2world=[[1.0, 0.0], [0.0, 1.0, 0.0]]), "invalid camera description"),  # ragged
    ],
)
def test_from_dict_bad_values_raise_camera_error(change, message):
    d = _valid_dict()
    d.update(change)
    with pytest.raises(CameraError) as info:
        CameraModel.from_dict(d)
    assert message in str(info.value)


@pytest.mark.parametrize("missing", ["width_px", "height_px", "projection", "cam2world"])
def test_from_dict_missing_required_key(missing):
    d = _valid_dict()
    del d[missing]
    with pytest.raises(CameraError, match=missing):
        CameraModel.from_dict(d)


def test_from_dict_and_from_json_reject_non_dicts():
    with pytest.raises(CameraError, match="list"):
        CameraModel.from_dict([1, 2, 3])
    with pytest.raises(CameraError, match="JSON"):
        CameraModel.from_json("{not json")
    assert issubclass(CameraError, DepthCloudError)


# -- constructor validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(projection="PERSPECTIVE"), "PERSPECTIVE"),
        (dict(sensor_fit="auto"), "auto"),
        (dict(projection="PANO", panorama_type="FISHEYE_LENS_POLYNOMIAL"), "FISHEYE_LENS_POLYNOMIAL"),
        (dict(lens_mm=0.0), "lens_mm"),
        (dict(lens_mm=-50.0), "lens_mm"),
        (dict(sensor_width_mm=0.0), "sensor_width_mm"),
        (dict(pixel_aspect_y=-1.0), "pixel_aspect_y"),
        (dict(fisheye_fov=float("inf")), "fisheye_fov"),
        (dict(clip_start=10.0, clip_end=10.0), "clip_start < clip_end"),
        (dict(clip_start=20.0, clip_end=10.0), "clip_start < clip_end"),
        (dict(clip_start=-0.1), "clip_start"),
        (dict(width_px=0), "0x3"),
        (dict(height_px=0), "4x0"),
        (dict(cam2world=np.diag([1.0, 0.0, 1.0, 1.0])), "zero-length axis"),
        (dict(cam2world=np.full((4, 4), np.nan)), "finite"),
    ],
)
def test_constructor_rejects_bad_values(kwargs, message):
    base = dict(width_px=4, height_px=3)
    base.update(kwargs)
    with pytest.raises(CameraError) as info:
        CameraModel(**base)
    assert message in str(info.value)


def test_persp_camera_ignores_panorama_type():
    # Blender camera data always carries a panorama type; it only matters for PANO cameras.
    cam = CameraModel(width_px=4, height_px=3, projection="PERSP", panorama_type="MIRRORBALL")
    assert cam.intrinsics_px()[0] == pytest.approx(4 * 50 / 36)


# -- pose ----------------------------------------------------------------------------------------


def test_cam2world_scale_is_removed_per_axis():
    r = rotation((0.3, -0.5, 0.8), 1.1)
    scaled = pose(scale=(1.7, 0.6, 2.0), translation=(4.0, -5.0, 6.0))
    cam = CameraModel(width_px=4, height_px=3, cam2world=scaled)
    np.testing.assert_allclose(cam.cam2world[:3, :3], r, atol=1e-15)
    np.testing.assert_array_equal(cam.cam2world[:3, 3], [4.0, -5.0, 6.0])
    np.testing.assert_array_equal(cam.cam2world[3], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(np.linalg.norm(cam.cam2world[:3, :3], axis=0), 1.0, atol=1e-15)
    # The caller's array is not modified.
    np.testing.assert_allclose(np.linalg.norm(scaled[:3, :3], axis=0), [1.7, 0.6, 2.0])


def test_cam2world_mirror_scale_keeps_the_mirror():
    cam = CameraModel(width_px=2, height_px=2, cam2world=np.diag([-3.0, 1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(cam.cam2world, np.diag([-1.0, 1.0, 1.0, 1.0]))


@pytest.mark.parametrize("scale", [(1.0, 1.0, 1.0), (1.7, 0.6, 2.0)])
def test_world2cam_is_the_inverse_of_cam2world(scale):
    cam = CameraModel(width_px=4, height_px=3, cam2world=pose(scale=scale))
    np.testing.assert_allclose(cam.world2cam @ cam.cam2world, np.eye(4), atol=1e-14)
    np.testing.assert_allclose(cam.cam2world @ cam.world2cam, np.eye(4), atol=1e-14)
    # The camera centre maps to the camera-frame origin.
    centre = np.append(cam.cam2world[:3, 3], 1.0)
    np.testing.assert_allclose(cam.world2cam @ centre, [0.0, 0.0, 0.0, 1.0], atol=1e-14)


# -- from_blender (duck-typed) -------------------------------------------------------------------


def _blender_objects(data_type="PERSP", **data_changes):
    matrix = pose(scale=(1.7, 0.6, 2.0), translation=(0.3, -7.0, 1.5))
    data = SimpleNamespace(
        type=data_type, lens=35.0, sensor_width=32.0, sensor_height=18.0, sensor_fit="VERTICAL",
        shift_x=0.125, shift_y=-0.0625, ortho_scale=7.5, clip_start=0.25, clip_end=80.0,
        panorama_type="FISHEYE_EQUISOLID", fisheye_fov=2.75, fisheye_lens=9.5,
        latitude_min=-1.25, latitude_max=1.0, longitude_min=-2.5, longitude_max=2.75,
    )
    for key, value in data_changes.items():
        setattr(data, key, value)
    camera_object = SimpleNamespace(name="ShotCam", data=data, matrix_world=[list(row) for row in matrix])
    render = SimpleNamespace(resolution_x=1920, resolution_y=1080, resolution_percentage=33,
                             pixel_aspect_x=1.0, pixel_aspect_y=1.25)
    scene = SimpleNamespace(render=render, frame_current=17)
    return camera_object, scene, matrix


def test_from_blender_reads_camera_render_settings_and_pose():
    camera_object, scene, matrix = _blender_objects()
    cam = CameraModel.from_blender(camera_object, scene)
    assert (cam.width_px, cam.height_px) == (633, 356)  # 1920x1080 at 33 %
    assert cam.projection == "PERSP" and cam.sensor_fit == "VERTICAL"
    assert (cam.lens_mm, cam.sensor_width_mm, cam.sensor_height_mm) == (35.0, 32.0, 18.0)
    assert (cam.shift_x, cam.shift_y) == (0.125, -0.0625)
    assert (cam.pixel_aspect_x, cam.pixel_aspect_y) == (1.0, 1.25)
    assert (cam.ortho_scale, cam.clip_start, cam.clip_end) == (7.5, 0.25, 80.0)
    assert cam.frame == 17 and cam.name == "ShotCam"
    # matrix_world is read as rows: the translation is the last column of the rows given.
    np.testing.assert_array_equal(cam.cam2world[:3, 3], [0.3, -7.0, 1.5])
    np.testing.assert_allclose(cam.cam2world[:3, :3], rotation((0.3, -0.5, 0.8), 1.1), atol=1e-15)
    # Panorama settings of a perspective camera are not read (defaults stay).
    assert cam.panorama_type == "EQUIRECTANGULAR" and cam.fisheye_lens_mm == 10.5
    # VERTICAL, ycor 1.25: viewfac = 1.25 * 356 = 445, fx = 445 * 35 / 18, fy = fx / 1.25.
    fx = 445.0 * 35.0 / 18.0
    assert_intrinsics(cam, fx, fx / 1.25, 633 / 2 - 0.125 * 445.0, 356 / 2 - 0.0625 * 445.0 / 1.25)


def test_from_blender_reads_panorama_settings():
    camera_object, scene, _ = _blender_objects("PANO")
    cam = CameraModel.from_blender(camera_object, scene)
    assert cam.projection == "PANO" and cam.panorama_type == "FISHEYE_EQUISOLID"
    assert (cam.fisheye_fov, cam.fisheye_lens_mm) == (2.75, 9.5)
    assert (cam.latitude_min, cam.latitude_max, cam.longitude_min, cam.longitude_max) == (-1.25, 1.0, -2.5, 2.75)


def test_from_blender_unsupported_panorama_raises():
    camera_object, scene, _ = _blender_objects("PANO", panorama_type="MIRRORBALL")
    with pytest.raises(CameraError, match="MIRRORBALL"):
        CameraModel.from_blender(camera_object, scene)


@pytest.mark.parametrize(
    "data",
    [None, SimpleNamespace(vertices=[], polygons=[])],  # an Empty (no data) and a mesh
    ids=["empty", "mesh"],
)
def test_from_blender_non_camera_object_raises(data):
    _, scene, _ = _blender_objects()
    obj = SimpleNamespace(name="Cube", data=data, matrix_world=np.eye(4).tolist())
    with pytest.raises(CameraError, match="'Cube' is not a camera"):
        CameraModel.from_blender(obj, scene)


# -- render region with Crop to Border -----------------------------------------------------------


@pytest.mark.parametrize(
    "size, border, expected",
    [
        # Measured: the EXR size Blender 4.2/4.5/5.0 writes, and the offset at which its pixels equal the
        # full render's bit for bit. (x0, y0 from the top, width, height); border y runs from the bottom.
        ((64, 48), (0.13, 0.71, 0.13, 0.71), (8, 14, 37, 28)),   # x 8.32..45.44, y 6.24..34.08: rows 14..41
        ((32, 24), (0.13, 0.71, 0.13, 0.71), (4, 7, 18, 14)),    # 64x48 at 50 %
        ((64, 48), (0.13, 0.71, 0.21, 0.93), (8, 4, 37, 34)),
        ((32, 24), (0.13, 0.71, 0.21, 0.93), (4, 2, 18, 17)),
        ((22, 17), (0.111, 0.777, 0.05, 0.6), (2, 7, 15, 10)),   # 67x53 at 33 %
        # float32 products, not float64: f32(0.7) * 100 = 70.0 (float64: 69.99999) ...
        ((100, 100), (0.3, 0.7, 0.3, 0.7), (30, 30, 40, 40)),
        # ... f32(0.29) * 100 = 29.0 (float64: 28.99999), f32(0.58) * 100 = 58.0 (float64: 57.99999)
        ((100, 100), (0.29, 0.57, 0.07, 0.58), (29, 42, 28, 51)),
        ((64, 48), (0.0, 1.0, 0.0, 1.0), (0, 0, 64, 48)),
        ((64, 48), (0.5, 0.52, 0.2, 0.9), (32, 5, 1, 34)),       # one column (Blender writes 1x34)
    ],
)
def test_render_region_px_is_blenders_window(size, border, expected):
    assert camera_module.render_region_px(*size, *border) == expected


@pytest.mark.parametrize("border", [(0.71, 0.13, 0.21, 0.93), (0.5, 0.505, 0.2, 0.9), (0.2, 0.9, 0.5, 0.5)])
def test_an_empty_render_region_raises_like_blender(border):
    # Blender refuses these ("Image too small"): inverted, or narrower than one pixel.
    with pytest.raises(CameraError, match="holds no pixel"):
        camera_module.render_region_px(64, 48, *border)


def _cropped_objects(use_border=True, use_crop_to_border=True, border=(0.13, 0.71, 0.21, 0.93)):
    camera_object, scene, matrix = _blender_objects()
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
    scene.render.use_border, scene.render.use_crop_to_border = use_border, use_crop_to_border
    (scene.render.border_min_x, scene.render.border_max_x,
     scene.render.border_min_y, scene.render.border_max_y) = border
    return camera_object, scene


def test_from_blender_reads_the_render_region_with_crop_to_border():
    cam = CameraModel.from_blender(*_cropped_objects())
    assert (cam.width_px, cam.height_px, cam.shape) == (37, 34, (34, 37))
    assert (cam.full_width_px, cam.full_height_px, cam.crop_x0_px, cam.crop_y0_px) == (64, 48, 8, 4)
    assert cam.is_cropped and cam.full_size_px == (64, 48)
    full = CameraModel.from_blender(*_cropped_objects(use_border=False))
    assert not full.is_cropped and full.shape == (48, 64) and cam.uncropped() == full
    fx, fy, cx, cy = full.intrinsics_px()
    assert_intrinsics(cam, fx, fy, cx - 8, cy - 4)


@pytest.mark.parametrize("use_border, use_crop_to_border", [(True, False), (False, True)])
def test_from_blender_without_both_settings_is_the_full_image(use_border, use_crop_to_border):
    # A region without Crop to Border renders the full image (background outside the region).
    cam = CameraModel.from_blender(*_cropped_objects(use_border, use_crop_to_border))
    assert cam.shape == (48, 64) and not cam.is_cropped
    assert (cam.full_width_px, cam.full_height_px, cam.crop_x0_px, cam.crop_y0_px) == (None, None, 0, 0)


def test_from_blender_with_an_empty_render_region_raises():
    with pytest.raises(CameraError, match="holds no pixel"):
        CameraModel.from_blender(*_cropped_objects(border=(0.5, 0.505, 0.2, 0.9)))


def cropped_camera(**changes):
    """A 37x34 px crop at (8, 4) of a 64x48 px render (built per test: the fields are what is tested)."""
    return CameraModel(width_px=37, height_px=34, full_width_px=64, full_height_px=48, crop_x0_px=8, crop_y0_px=4,
                       lens_mm=35.0, shift_x=0.1, pixel_aspect_y=1.25, cam2world=pose(), frame=3, **changes)


@pytest.mark.parametrize(
    "changes",
    [dict(), dict(projection="ORTHO"), dict(projection="PANO", panorama_type="FISHEYE_EQUISOLID")],
    ids=["persp", "ortho", "equisolid"],
)
def test_crop_window_round_trips(changes):
    camera = cropped_camera(**changes)
    d = camera.to_dict()
    assert (d["full_width_px"], d["full_height_px"], d["crop_x0_px"], d["crop_y0_px"]) == (64, 48, 8, 4)
    assert (d["width_px"], d["height_px"]) == (37, 34)
    back = _json_roundtrip(camera)
    assert back == camera and back.is_cropped
    if camera.projection != "PANO":
        assert back.intrinsics_px() == camera.intrinsics_px()
    assert CameraModel.from_json(camera.to_json()) == camera


def test_uncropped_dicts_are_as_before_and_old_dicts_load():
    cam = CameraModel(width_px=64, height_px=48, cam2world=pose())
    d = cam.to_dict()
    assert not {"full_width_px", "full_height_px", "crop_x0_px", "crop_y0_px"} & set(d)
    # A sidecar written before the crop fields existed: not cropped.
    old = _valid_dict()
    assert "full_width_px" not in old
    loaded = CameraModel.from_dict(old)
    assert not loaded.is_cropped and loaded.full_size_px == (loaded.width_px, loaded.height_px)
    # Explicitly uncropped values (nulls, or a window that is the whole image) are the same camera.
    assert CameraModel.from_dict({**d, "full_width_px": None, "full_height_px": None}) == cam
    assert CameraModel.from_dict({**d, "full_width_px": 64, "full_height_px": 48, "crop_x0_px": 0}) == cam
    assert cam.crop(0, 0, 64, 48) == cam and cam.uncropped() == cam
    # replace() of an uncropped camera's size keeps it uncropped (no stale full size).
    assert not cam.replace(width_px=4, height_px=3).is_cropped


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(crop_x0_px=28), "does not lie inside"),           # 28 + 37 > 64
        (dict(crop_y0_px=-1), "does not lie inside"),
        (dict(full_width_px=30), "does not lie inside"),        # smaller than the image
        (dict(full_height_px=None), "both full_width_px and full_height_px"),
        (dict(crop_x0_px=2.5), "whole numbers"),
        (dict(full_width_px="wide"), "whole numbers"),
    ],
)
def test_bad_crop_windows_raise_camera_error(changes, message):
    with pytest.raises(CameraError, match=message):
        CameraModel.from_dict({**cropped_camera().to_dict(), **changes})


def test_an_offset_without_a_full_size_raises():
    with pytest.raises(CameraError, match="does not lie inside"):
        CameraModel(width_px=64, height_px=48, crop_x0_px=3)
