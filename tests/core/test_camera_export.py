"""Camera export (depth_cloud_addon.core.formats.camera_export) in plain Python: no bpy, no mathutils.

Intrinsics are pinned with literal values worked out by hand (see tests/core/test_camera.py for
Blender's viewplane formulas); OpenCV's K is ours minus 0.5 in cx and cy (integer pixel centres).
The projection identity ``K @ world2cam_opencv @ X == core.project(X) - 0.5`` is checked for random
points, poses and camera settings. The nerfstudio layout is checked against nerfstudio's own ray
equations, re-written here from ``nerfstudio/cameras/cameras.py`` (``get_image_coords`` with
``pixel_offset=0.5``, then ``((x - cx) / fx, -(y - cy) / fy, -1)``, or the equirectangular formula).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from depth_cloud_addon.core import BLENDER_TO_OPENCV_AXES, CameraError, CameraModel, project
from depth_cloud_addon.core.formats.camera_export import (
    CONVENTION,
    camera_record,
    export_cameras,
    extrinsics,
    nerfstudio_transforms,
    opencv_intrinsics,
    write_json,
)
from depth_cloud_addon.core.geometry.panorama import pixel_to_direction
from depth_cloud_addon.core.geometry.projection import camera_rays, pixel_centers
from tests.core.test_camera import pose  # the shared test poses

FX_64_50_36 = 64 * 50 / 36  # 88.888...


def assert_K(camera, fx, fy, cx, cy):
    K = opencv_intrinsics(camera)
    np.testing.assert_allclose(K, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], rtol=1e-12, atol=1e-12)


def points_in_front(camera, n, rng, depth=(0.5, 30.0), margin=0.3):
    """World points whose projections fall in (or a little beyond) the image, at random planar depths."""
    x = rng.uniform(-margin, 1 + margin, n) * camera.width_px
    y = rng.uniform(-margin, 1 + margin, n) * camera.height_px
    _, directions = camera_rays(np.stack([x, y], axis=-1), camera)
    cam = directions * rng.uniform(*depth, n)[:, None]  # perspective rays have planar length 1
    return cam @ camera.cam2world[:3, :3].T + camera.cam2world[:3, 3]


def project_opencv(points_world, K, world2cam_opencv):
    """OpenCV's pinhole projection x ~ K [R|t] X, written out."""
    homogeneous = np.concatenate([points_world, np.ones((len(points_world), 1))], axis=1)
    x = (K @ world2cam_opencv[:3] @ homogeneous.T).T
    return x[:, :2] / x[:, 2:3]


# -- opencv_intrinsics: literal values -----------------------------------------------------------


def test_K_default_landscape_literal():
    # 64x48, lens 50, sensor 36, AUTO -> horizontal: fx = fy = 64 * 50 / 36; centre (31.5, 23.5) in OpenCV.
    assert_K(CameraModel(width_px=64, height_px=48, lens_mm=50.0, sensor_width_mm=36.0),
             FX_64_50_36, FX_64_50_36, 31.5, 23.5)


def test_K_unshifted_principal_point_is_half_of_size_minus_one():
    for w, h in ((64, 48), (48, 64), (33, 17), (1, 1), (1, 3), (3, 1)):
        K = opencv_intrinsics(CameraModel(width_px=w, height_px=h))
        assert (K[0, 2], K[1, 2]) == ((w - 1) / 2, (h - 1) / 2)


def test_K_shift_moves_principal_point():
    # viewfac = 64 (horizontal fit): cx = 32 - 0.1 * 64 = 25.6 -> 25.1 (OpenCV);
    # cy = 24 + (-0.05) * 64 = 20.8 -> 20.3. Positive shift_y moves the image content down (cy up).
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, shift_x=0.1, shift_y=-0.05)
    assert_K(cam, FX_64_50_36, FX_64_50_36, 25.1, 20.3)


def test_K_shift_with_vertical_fit_uses_the_height():
    # 40x60 AUTO -> vertical, viewfac = 60: cx = 20 - 0.25 * 60 = 5 -> 4.5; cy = 30 - 0.1 * 60 = 24 -> 23.5.
    cam = CameraModel(width_px=40, height_px=60, lens_mm=30.0, shift_x=0.25, shift_y=-0.1)
    assert_K(cam, 60 * 30 / 36, 60 * 30 / 36, 4.5, 23.5)


def test_K_pixel_aspect_x_gives_fx_ne_fy():
    # aspect 2:1, AUTO horizontal (128 >= 48): fx = 88.89, fy = 2 fx; shift_y 0.1 -> cy = 24 + 0.1 * 64 * 2 = 36.8.
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, pixel_aspect_x=2.0, shift_y=0.1)
    assert_K(cam, FX_64_50_36, 2 * FX_64_50_36, 31.5, 36.3)


def test_K_pixel_aspect_y_flips_auto_fit():
    # aspect 1:2: 64 < 96 -> VERTICAL, viewfac = 96: fx = 96 * 50 / 36 = 133.33, fy = 66.67;
    # shift 0.1, 0.1: cx = 32 - 9.6 = 22.4 -> 21.9, cy = 24 + 0.1 * 96 / 2 = 28.8 -> 28.3.
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, pixel_aspect_y=2.0, shift_x=0.1, shift_y=0.1)
    assert_K(cam, 96 * 50 / 36, 96 * 50 / 36 / 2, 21.9, 28.3)


def test_K_vertical_fit_uses_sensor_height():
    # VERTICAL: viewfac = 48, sensor_height 24: fx = 48 * 50 / 24 = 100.
    cam = CameraModel(width_px=64, height_px=48, lens_mm=50.0, sensor_height_mm=24.0, sensor_fit="VERTICAL")
    assert_K(cam, 100.0, 100.0, 31.5, 23.5)


def test_K_horizontal_fit_on_portrait():
    # 48x64 HORIZONTAL: viewfac = 48: fx = 48 * 50 / 36 = 66.67.
    cam = CameraModel(width_px=48, height_px=64, lens_mm=50.0, sensor_fit="HORIZONTAL")
    assert_K(cam, 48 * 50 / 36, 48 * 50 / 36, 23.5, 31.5)


def test_K_auto_fit_portrait_fits_sensor_width_to_the_height():
    # 48x64 AUTO -> vertical, viewfac = 64, sensor_width 36 (AUTO always uses sensor_width): fx = 88.89.
    cam = CameraModel(width_px=48, height_px=64, lens_mm=50.0, sensor_width_mm=36.0, sensor_height_mm=24.0)
    assert_K(cam, FX_64_50_36, FX_64_50_36, 23.5, 31.5)


def test_K_refuses_orthographic_and_panoramic_cameras():
    with pytest.raises(CameraError, match="orthographic.*camera_record"):
        opencv_intrinsics(CameraModel(width_px=8, height_px=6, projection="ORTHO"))
    for kind in ("EQUIRECTANGULAR", "FISHEYE_EQUIDISTANT", "FISHEYE_EQUISOLID"):
        with pytest.raises(CameraError, match=f"panoramic.*{kind}.*camera_record"):
            opencv_intrinsics(CameraModel(width_px=8, height_px=4, projection="PANO", panorama_type=kind))
    with pytest.raises(CameraError, match="expected a CameraModel"):
        opencv_intrinsics({"width_px": 8})


# -- projection identity -------------------------------------------------------------------------

CAMERA_VARIANTS = [
    dict(width_px=64, height_px=48, lens_mm=50.0),
    dict(width_px=48, height_px=64, lens_mm=24.0, shift_x=-0.2, shift_y=0.15),
    dict(width_px=64, height_px=48, lens_mm=35.0, sensor_fit="VERTICAL", sensor_height_mm=20.0, shift_x=0.1,
         shift_y=-0.05, pixel_aspect_y=1.7),
    dict(width_px=50, height_px=70, lens_mm=85.0, sensor_fit="HORIZONTAL", pixel_aspect_x=2.5, shift_y=0.3),
    dict(width_px=33, height_px=17, lens_mm=12.0, pixel_aspect_x=1.3, pixel_aspect_y=1.1, shift_x=0.4),
]


@pytest.mark.parametrize("variant", range(len(CAMERA_VARIANTS)))
def test_opencv_projection_reproduces_project_minus_half(variant):
    rng = np.random.default_rng(variant)
    cam2world = pose(axis=rng.normal(size=3), angle=rng.uniform(0.2, 3.0), translation=rng.normal(size=3) * 5,
                     scale=rng.uniform(0.3, 3.0, 3))  # the scale must not matter
    camera = CameraModel(cam2world=cam2world, **CAMERA_VARIANTS[variant])
    points = points_in_front(camera, 200, rng)
    ours = project(points, camera) - 0.5
    theirs = project_opencv(points, opencv_intrinsics(camera), extrinsics(camera)["world2cam_opencv"])
    assert np.max(np.abs(theirs - ours)) <= 1e-9


def test_opencv_camera_frame_z_is_planar_depth():
    rng = np.random.default_rng(7)
    camera = CameraModel(width_px=64, height_px=48, cam2world=pose())
    points = points_in_front(camera, 50, rng)
    cam_blender = points @ camera.world2cam[:3, :3].T + camera.world2cam[:3, 3]
    w2c = extrinsics(camera)["world2cam_opencv"]
    cam_opencv = points @ w2c[:3, :3].T + w2c[:3, 3]
    np.testing.assert_allclose(cam_opencv, cam_blender * [1, -1, -1], atol=1e-12)
    assert np.all(cam_opencv[:, 2] > 0)


# -- extrinsics ----------------------------------------------------------------------------------


def test_extrinsics_inverse_pairs_and_axis_relations():
    camera = CameraModel(width_px=8, height_px=6, cam2world=pose(scale=(2.0, 0.5, 3.0)))
    e = extrinsics(camera)
    assert set(e) == {"cam2world_opencv", "world2cam_opencv", "cam2world_blender", "world2cam_blender"}
    for kind in ("opencv", "blender"):
        c2w, w2c = e[f"cam2world_{kind}"], e[f"world2cam_{kind}"]
        assert c2w.shape == w2c.shape == (4, 4)
        np.testing.assert_allclose(c2w @ w2c, np.eye(4), atol=1e-12)
        np.testing.assert_allclose(w2c @ c2w, np.eye(4), atol=1e-12)
        np.testing.assert_allclose(c2w[:3, :3].T @ c2w[:3, :3], np.eye(3), atol=1e-12)  # scale removed
        assert np.linalg.det(c2w[:3, :3]) == pytest.approx(1.0)
        np.testing.assert_array_equal(c2w[3], [0, 0, 0, 1])
    np.testing.assert_allclose(e["cam2world_opencv"], e["cam2world_blender"] @ BLENDER_TO_OPENCV_AXES, atol=0)
    np.testing.assert_array_equal(e["cam2world_blender"], camera.cam2world)
    # Same centre; x axes equal; OpenCV y (down) and z (forward) are Blender's -y (up) and -z (backward).
    c_cv, c_bl = e["cam2world_opencv"], e["cam2world_blender"]
    np.testing.assert_array_equal(c_cv[:3, 3], c_bl[:3, 3])
    np.testing.assert_array_equal(c_cv[:3, 0], c_bl[:3, 0])
    np.testing.assert_array_equal(c_cv[:3, 1], -c_bl[:3, 1])
    np.testing.assert_array_equal(c_cv[:3, 2], -c_bl[:3, 2])


def test_extrinsics_identity_camera_literal():
    # A camera at the origin with identity matrix_world looks down world -Z with world +Y up.
    e = extrinsics(CameraModel(width_px=4, height_px=3))
    np.testing.assert_array_equal(e["cam2world_blender"], np.eye(4))
    np.testing.assert_array_equal(e["cam2world_opencv"], np.diag([1.0, -1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(e["world2cam_opencv"], np.diag([1.0, -1.0, -1.0, 1.0]))


# -- records ---------------------------------------------------------------------------------------


def test_pinhole_record():
    camera = CameraModel(width_px=64, height_px=48, lens_mm=50.0, shift_x=0.1, shift_y=-0.05, cam2world=pose(),
                         frame=7, name="Cam")
    r = camera_record(camera, image_path="images/0007.png", depth_path="depth/0007.exr")
    assert r["model"] == "pinhole"
    assert (r["frame"], r["name"], r["width"], r["height"]) == (7, "Cam", 64, 48)
    assert r["fx"] == pytest.approx(FX_64_50_36) and r["fy"] == pytest.approx(FX_64_50_36)
    assert r["cx"] == pytest.approx(25.1) and r["cy"] == pytest.approx(20.3)
    np.testing.assert_array_equal(r["K"], opencv_intrinsics(camera))
    assert r["distortion"] == [0.0] * 5
    for key, matrix in extrinsics(camera).items():
        np.testing.assert_array_equal(r[key], matrix)
    assert r["depth_kind"] == "planar"
    assert (r["image_path"], r["depth_path"]) == ("images/0007.png", "depth/0007.exr")
    assert "integer" in r["convention"]["K"] and "(W-1)/2" in r["convention"]["K"]
    assert r["convention"] == CONVENTION
    assert CameraModel.from_dict(r["blender_camera"]) == camera


def test_orthographic_record_formula_reproduces_project():
    # 64x48 ortho, scale 4 m: 16 px/m; vertical fit with aspect_y 2 is covered by the random check below.
    camera = CameraModel(width_px=64, height_px=48, projection="ORTHO", ortho_scale=4.0)
    r = camera_record(camera)
    assert r["model"] == "orthographic" and "K" not in r
    assert (r["pixels_per_metre_x"], r["pixels_per_metre_y"], r["cx"], r["cy"]) == (16.0, 16.0, 31.5, 23.5)
    assert "no division by Z" in r["note"]

    rng = np.random.default_rng(3)
    camera = CameraModel(width_px=40, height_px=56, projection="ORTHO", ortho_scale=3.0, sensor_fit="VERTICAL",
                         pixel_aspect_y=1.4, shift_x=0.1, shift_y=-0.2, cam2world=pose())
    r = camera_record(camera)
    points = rng.normal(size=(100, 3)) * 4
    w2c = np.array(r["world2cam_opencv"])
    X, Y, _ = (points @ w2c[:3, :3].T + w2c[:3, 3]).T
    formula = np.stack([r["cx"] + r["pixels_per_metre_x"] * X, r["cy"] + r["pixels_per_metre_y"] * Y], axis=-1)
    assert np.max(np.abs(formula - (project(points, camera) - 0.5))) <= 1e-9


@pytest.mark.parametrize("kind, model, keys", [
    ("EQUIRECTANGULAR", "equirectangular", ("latitude_min", "latitude_max", "longitude_min", "longitude_max")),
    ("FISHEYE_EQUIDISTANT", "fisheye_equidistant", ("fisheye_fov",)),
    ("FISHEYE_EQUISOLID", "fisheye_equisolid", ("fisheye_fov", "fisheye_lens_mm", "sensor_width_mm",
                                                 "sensor_height_mm", "sensor_fit")),
])
def test_panoramic_records(kind, model, keys):
    camera = CameraModel(width_px=32, height_px=16, projection="PANO", panorama_type=kind, cam2world=pose(),
                         latitude_min=-1.0, fisheye_fov=3.0)
    r = camera_record(camera)
    assert r["model"] == model
    assert "not a pinhole" in r["note"]
    assert not {"K", "fx", "fy", "cx", "cy"} & set(r)
    for key in keys + ("shift_x", "shift_y"):
        assert r[key] == getattr(camera, key)
    assert r["depth_kind"] == "distance"
    assert CameraModel.from_dict(r["blender_camera"]) == camera


def test_equirectangular_note_formula_matches_our_mapping():
    camera = CameraModel(width_px=32, height_px=16, projection="PANO", latitude_min=-1.0, latitude_max=0.8,
                         longitude_min=-2.0, longitude_max=2.5, shift_x=0.05, shift_y=-0.1)
    r = camera_record(camera)
    x, y = pixel_centers(camera)[..., 0], pixel_centers(camera)[..., 1]
    u, v = x / 32 + r["shift_x"], (16 - y) / 16 + r["shift_y"]
    lon = r["longitude_min"] + u * (r["longitude_max"] - r["longitude_min"])
    lat = r["latitude_min"] + v * (r["latitude_max"] - r["latitude_min"])
    formula = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), -np.cos(lat) * np.cos(lon)], axis=-1)
    np.testing.assert_allclose(formula, pixel_to_direction(x, y, camera), atol=1e-12)


def test_export_cameras_layout_and_path_checks():
    cams = [CameraModel(width_px=8, height_px=6, frame=i, cam2world=pose(angle=0.1 * i)) for i in range(3)]
    out = export_cameras(cams, image_paths=[f"img/{i}.png" for i in range(3)], depth_paths=None)
    assert out["convention"] == CONVENTION
    assert [f["frame"] for f in out["frames"]] == [0, 1, 2]
    assert [f["image_path"] for f in out["frames"]] == ["img/0.png", "img/1.png", "img/2.png"]
    assert all("depth_path" not in f for f in out["frames"])
    with pytest.raises(CameraError, match="image_paths: got 2 path"):
        export_cameras(cams, image_paths=["a", "b"])
    assert export_cameras([])["frames"] == []


# -- nerfstudio ----------------------------------------------------------------------------------


def nerfstudio_perspective_directions(meta, frame_index):
    """Camera-frame ray directions of every pixel, as nerfstudio's Cameras.generate_rays computes them."""
    frame = meta["frames"][frame_index]
    get = lambda key: frame[key] if key in frame else meta[key]  # noqa: E731
    h, w = get("h"), get("w")
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    y, x = rows + 0.5, cols + 0.5  # get_image_coords(pixel_offset=0.5)
    a, b = (x - get("cx")) / get("fl_x"), (y - get("cy")) / get("fl_y")
    return np.stack([a, -b, -np.ones_like(a)], axis=-1)  # "Switch from OpenCV to OpenGL": y *= -1; z = -1


def test_nerfstudio_shared_intrinsics_layout():
    cams = [CameraModel(width_px=64, height_px=48, lens_mm=50.0, cam2world=pose(angle=0.2 * i), frame=i)
            for i in range(3)]
    meta = nerfstudio_transforms(cams, [f"images/{i:04d}.png" for i in range(3)],
                                 depth_paths=[f"depth/{i:04d}.exr" for i in range(3)])
    assert meta["camera_model"] == "OPENCV"
    # nerfstudio's cx, cy put pixel centres at +0.5: an unshifted camera has cx = W/2, not (W-1)/2.
    assert (meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"]) == (FX_64_50_36, FX_64_50_36, 32.0, 24.0)
    assert (meta["w"], meta["h"]) == (64, 48)
    assert all(meta[k] == 0.0 for k in ("k1", "k2", "k3", "k4", "p1", "p2"))
    assert len(meta["frames"]) == 3
    for i, frame in enumerate(meta["frames"]):
        assert set(frame) == {"file_path", "transform_matrix", "depth_file_path"}
        assert frame["file_path"] == f"images/{i:04d}.png" and frame["depth_file_path"] == f"depth/{i:04d}.exr"
        np.testing.assert_array_equal(frame["transform_matrix"], cams[i].cam2world)  # OpenGL/Blender axes
    json.dumps(meta, allow_nan=False)


def test_nerfstudio_per_frame_intrinsics_when_they_differ():
    cams = [CameraModel(width_px=64, height_px=48, lens_mm=50.0),
            CameraModel(width_px=64, height_px=48, lens_mm=35.0, shift_x=0.1, pixel_aspect_x=1.5),
            CameraModel(width_px=48, height_px=64, lens_mm=50.0)]
    meta = nerfstudio_transforms(cams, ["a.png", "b.png", "c.png"])
    assert meta["camera_model"] == "OPENCV"
    assert not {"fl_x", "fl_y", "cx", "cy", "w", "h"} & set(meta)
    for camera, frame in zip(cams, meta["frames"]):
        fx, fy, cx, cy = camera.intrinsics_px()
        assert (frame["fl_x"], frame["fl_y"], frame["cx"], frame["cy"]) == (fx, fy, cx, cy)
        assert (frame["w"], frame["h"]) == (camera.width_px, camera.height_px)
        assert frame["k1"] == frame["p2"] == 0.0
        assert "depth_file_path" not in frame


def test_nerfstudio_rays_match_ours():
    cams = [CameraModel(width_px=64, height_px=48, lens_mm=35.0, shift_x=0.12, shift_y=-0.07),
            CameraModel(width_px=40, height_px=56, lens_mm=50.0, sensor_fit="VERTICAL", pixel_aspect_y=1.6,
                        shift_y=0.2)]
    meta = nerfstudio_transforms(cams, ["a.png", "b.png"])
    for i, camera in enumerate(cams):
        _, ours = camera_rays(pixel_centers(camera), camera)
        np.testing.assert_allclose(nerfstudio_perspective_directions(meta, i), ours, atol=1e-12)


def test_nerfstudio_equirectangular_full_sphere():
    camera = CameraModel(width_px=64, height_px=32, projection="PANO", panorama_type="EQUIRECTANGULAR",
                         cam2world=pose())
    meta = nerfstudio_transforms([camera], ["pano.png"])
    assert meta["camera_model"] == "EQUIRECTANGULAR"
    assert (meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"], meta["w"], meta["h"]) == (32.0, 32.0, 32.0, 16.0,
                                                                                            64, 32)
    np.testing.assert_array_equal(meta["frames"][0]["transform_matrix"], camera.cam2world)
    # nerfstudio's equirectangular rays (cameras.py): coord = ((x - cx) / fx, -(y - cy) / fy),
    # theta = -pi coord_x, phi = pi (0.5 - coord_y), d = (-sin theta sin phi, cos phi, -cos theta sin phi).
    y, x = np.mgrid[0:32, 0:64].astype(np.float64) + 0.5
    theta = -np.pi * (x - meta["cx"]) / meta["fl_x"]
    phi = np.pi * (0.5 + (y - meta["cy"]) / meta["fl_y"])
    theirs = np.stack([-np.sin(theta) * np.sin(phi), np.cos(phi), -np.cos(theta) * np.sin(phi)], axis=-1)
    np.testing.assert_allclose(theirs, pixel_to_direction(x, y, camera), atol=1e-12)


def test_nerfstudio_refusals():
    ortho = CameraModel(width_px=8, height_px=6, projection="ORTHO")
    with pytest.raises(CameraError, match="orthographic"):
        nerfstudio_transforms([ortho], ["a.png"])
    for kind in ("FISHEYE_EQUIDISTANT", "FISHEYE_EQUISOLID"):
        with pytest.raises(CameraError, match=kind):
            nerfstudio_transforms([CameraModel(width_px=8, height_px=8, projection="PANO", panorama_type=kind)],
                                  ["a.png"])
    partial = CameraModel(width_px=8, height_px=4, projection="PANO", latitude_min=-1.0)
    with pytest.raises(CameraError, match="full sphere"):
        nerfstudio_transforms([partial], ["a.png"])
    shifted = CameraModel(width_px=8, height_px=4, projection="PANO", shift_x=0.1)
    with pytest.raises(CameraError, match="shift"):
        nerfstudio_transforms([shifted], ["a.png"])
    pano, persp = CameraModel(width_px=8, height_px=4, projection="PANO"), CameraModel(width_px=8, height_px=4)
    with pytest.raises(CameraError, match="mix EQUIRECTANGULAR and OPENCV"):
        nerfstudio_transforms([pano, persp], ["a.png", "b.png"])
    with pytest.raises(CameraError, match="needs image_paths"):
        nerfstudio_transforms([persp], None)
    with pytest.raises(CameraError, match="image_paths: got 2"):
        nerfstudio_transforms([persp], ["a.png", "b.png"])
    with pytest.raises(CameraError, match="every frame or none"):
        nerfstudio_transforms([persp, persp], ["a.png", "b.png"], depth_paths=["a.exr", None])
    with pytest.raises(CameraError, match="at least one camera"):
        nerfstudio_transforms([], [])


# -- JSON ----------------------------------------------------------------------------------------


def test_write_json_round_trip(tmp_path):
    cams = [CameraModel(width_px=64, height_px=48, lens_mm=50.0, cam2world=pose(scale=(2, 2, 2)), frame=1),
            CameraModel(width_px=64, height_px=48, projection="ORTHO", frame=2),
            CameraModel(width_px=64, height_px=32, projection="PANO", frame=3)]
    data = export_cameras(cams, image_paths=["a.png", "b.png", "c.png"], depth_paths=["a.exr", "b.exr", "c.exr"])
    path = tmp_path / "cameras.json"
    write_json(path, data)
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n "format"')  # indent=1
    back = json.loads(text)
    assert back == json.loads(json.dumps(data))
    for camera, frame in zip(cams, back["frames"]):
        assert CameraModel.from_dict(frame["blender_camera"]) == camera
    np.testing.assert_array_equal(back["frames"][0]["K"], opencv_intrinsics(cams[0]))
    assert os.listdir(tmp_path) == ["cameras.json"]  # no temporary file left


def test_write_json_numpy_values_and_atomic_failure(tmp_path):
    path = tmp_path / "t.json"
    write_json(path, {"m": np.eye(2), "x": np.float32(0.5), "n": np.int64(3)})
    assert json.loads(path.read_text()) == {"m": [[1.0, 0.0], [0.0, 1.0]], "x": 0.5, "n": 3}
    before = path.read_text()
    with pytest.raises(ValueError):
        write_json(path, {"bad": float("nan")})  # strict JSON: NaN is refused, the old file stays
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["t.json"]


def test_nerfstudio_json_round_trip(tmp_path):
    cams = [CameraModel(width_px=64, height_px=48, cam2world=pose(angle=0.3 * i)) for i in range(2)]
    meta = nerfstudio_transforms(cams, ["images/0.png", "images/1.png"])
    write_json(tmp_path / "transforms.json", meta)
    assert json.loads((tmp_path / "transforms.json").read_text()) == meta


# -- a camera cropped to a render region (Crop to Border) ------------------------------------------


def test_K_of_a_cropped_camera_moves_the_principal_point_by_the_crop_origin():
    # 64x48 at 50 mm, 37x34 crop at (8, 4): fx, fy stay; cx = 31.5 - 8, cy = 23.5 - 4 (OpenCV).
    full = CameraModel(width_px=64, height_px=48, lens_mm=50.0)
    assert_K(full.crop(8, 4, 37, 34), FX_64_50_36, FX_64_50_36, 23.5, 19.5)
    # With shift and pixel aspect: the full camera's K less the crop origin.
    full = CameraModel(width_px=64, height_px=48, lens_mm=35.0, sensor_fit="VERTICAL", sensor_height_mm=20.0,
                       shift_x=0.1, shift_y=-0.05, pixel_aspect_y=1.7, cam2world=pose())
    crop = full.crop(13, 9, 30, 21)
    expected = opencv_intrinsics(full) - [[0, 0, 13], [0, 0, 9], [0, 0, 0]]
    np.testing.assert_allclose(opencv_intrinsics(crop), expected, rtol=0, atol=1e-12)
    # And K projects world points to the cropped image's OpenCV pixels.
    points = points_in_front(full, 200, np.random.default_rng(8))
    theirs = project_opencv(points, opencv_intrinsics(crop), extrinsics(crop)["world2cam_opencv"])
    assert np.max(np.abs(theirs - (project(points, full) - 0.5 - [13, 9]))) <= 1e-9


def test_records_of_a_cropped_camera_describe_the_cropped_image():
    full = CameraModel(width_px=64, height_px=48, lens_mm=50.0, shift_x=0.1, cam2world=pose(), frame=2)
    crop = full.crop(8, 4, 37, 34)
    r = camera_record(crop)
    assert (r["width"], r["height"]) == (37, 34)
    assert {k: r["crop"][k] for k in ("x0", "y0", "full_width", "full_height")} == dict(
        x0=8, y0=4, full_width=64, full_height=48)
    full_record = camera_record(full)
    assert "crop" not in full_record
    assert (r["cx"], r["cy"]) == pytest.approx((full_record["cx"] - 8, full_record["cy"] - 4), abs=1e-12)
    assert r["fx"] == full_record["fx"] and r["fy"] == full_record["fy"]
    assert CameraModel.from_dict(r["blender_camera"]) == crop
    ortho = CameraModel(width_px=64, height_px=48, projection="ORTHO", ortho_scale=4.0).crop(8, 4, 37, 34)
    r = camera_record(ortho)
    assert (r["cx"], r["cy"], r["pixels_per_metre_x"]) == (23.5, 19.5, 16.0)


def test_panorama_note_formula_holds_for_a_cropped_camera():
    camera = CameraModel(width_px=32, height_px=16, projection="PANO", latitude_min=-1.0, latitude_max=0.8,
                         longitude_min=-2.0, longitude_max=2.5, shift_x=0.05, shift_y=-0.1).crop(5, 3, 20, 9)
    r = camera_record(camera)
    assert "crop.x0" in r["note"] and "full_width" in r["note"]
    x, y = pixel_centers(camera)[..., 0] + r["crop"]["x0"], pixel_centers(camera)[..., 1] + r["crop"]["y0"]
    full_w, full_h = r["crop"]["full_width"], r["crop"]["full_height"]
    u, v = x / full_w + r["shift_x"], (full_h - y) / full_h + r["shift_y"]
    lon = r["longitude_min"] + u * (r["longitude_max"] - r["longitude_min"])
    lat = r["latitude_min"] + v * (r["latitude_max"] - r["latitude_min"])
    formula = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), -np.cos(lat) * np.cos(lon)], axis=-1)
    np.testing.assert_allclose(formula, camera_rays(pixel_centers(camera), camera)[1], atol=1e-12)


def test_nerfstudio_cropped_perspective_and_equirectangular():
    crop = CameraModel(width_px=64, height_px=48, lens_mm=35.0, shift_x=0.12, pixel_aspect_x=1.3).crop(8, 4, 37, 34)
    meta = nerfstudio_transforms([crop], ["crop.png"])
    assert (meta["w"], meta["h"]) == (37, 34)
    assert (meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"]) == crop.intrinsics_px()
    np.testing.assert_allclose(nerfstudio_perspective_directions(meta, 0),
                               camera_rays(pixel_centers(crop), crop)[1], atol=1e-12)
    pano = CameraModel(width_px=64, height_px=32, projection="PANO", cam2world=pose()).crop(10, 5, 40, 20)
    meta = nerfstudio_transforms([pano], ["pano.png"])
    assert (meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"], meta["w"], meta["h"]) == (32.0, 32.0, 22.0, 11.0,
                                                                                            40, 20)
    y, x = np.mgrid[0:20, 0:40].astype(np.float64) + 0.5
    theta = -np.pi * (x - meta["cx"]) / meta["fl_x"]
    phi = np.pi * (0.5 + (y - meta["cy"]) / meta["fl_y"])
    theirs = np.stack([-np.sin(theta) * np.sin(phi), np.cos(phi), -np.cos(theta) * np.sin(phi)], axis=-1)
    np.testing.assert_allclose(theirs, pixel_to_direction(x, y, pano), atol=1e-12)
