"""Back-projection accuracy against Blender itself, for every camera configuration we promise.

For each configuration a small scene is rendered with Cycles (64x48-ish, 1 sample) into a multilayer
EXR. The oracle is Blender, independent of our camera model:

* ``scene.ray_cast`` through pixel centres built from ``Camera.view_frame(scene=...)`` for
  perspective and orthographic cameras. Panoramic cameras have no view frame, so their rays come
  from our mapping and the ray_cast hit distance is compared with the *rendered* depth (a wrong
  mapping samples a different surface point and fails).
* The ``Pos`` AOV: the world position Cycles hit for that pixel's (only) sample, which is also the
  sample the Depth pass records. ``project(Pos)`` must be the pixel centre to 1e-4 px for every
  pixel: an exact, independent check of the mapping for all camera types.

Cycles traces sample 0 through the pixel centre only up to an offset proportional to the pixel
filter width (about (+0.0005, -0.0005) px at the default 1.5 px Blackman-Harris, from its filter
table); the scenes use the narrowest filter (0.01 px) so that offset (~3e-6 px) stays far below the
error budget even on tilted surfaces.
"""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, backproject, convert_depth, pixel_centers, project, read_exr
from depth_cloud_addon.core.geometry.projection import camera_rays
from tests.blender.conftest import ACCURACY_ROWS
from tools import scenes

# name: (render settings, camera data settings, scene kind)
CONFIGS = {
    "persp AUTO landscape 35mm": (dict(), dict(lens=35.0), "objects"),
    "persp AUTO portrait": (dict(resolution_x=48, resolution_y=64), dict(lens=30.0), "objects"),
    "persp VERTICAL shift aspect-y 1.5": (
        dict(pixel_aspect_y=1.5),
        dict(sensor_fit="VERTICAL", sensor_height=20.0, lens=28.0, shift_x=0.12, shift_y=-0.07),
        "objects"),
    "persp HORIZONTAL fov 50% aspect-x 1.25": (
        dict(resolution_x=128, resolution_y=96, resolution_percentage=50, pixel_aspect_x=1.25),
        dict(sensor_fit="HORIZONTAL", lens_unit="FOV", angle=math.radians(70.0), shift_y=0.1), "objects"),
    "persp AUTO portrait 50% shift": (
        dict(resolution_x=96, resolution_y=128, resolution_percentage=50),
        dict(lens=24.0, shift_x=-0.08, shift_y=0.05), "objects"),
    "ortho VERTICAL shift aspect-x 1.3": (
        dict(pixel_aspect_x=1.3), dict(type="ORTHO", ortho_scale=9.0, sensor_fit="VERTICAL", shift_x=0.1, shift_y=0.05),
        "objects"),
    "ortho AUTO portrait": (dict(resolution_x=48, resolution_y=64), dict(type="ORTHO", ortho_scale=7.0), "objects"),
    "pano equirectangular range shift": (
        dict(), dict(type="PANO", panorama_type="EQUIRECTANGULAR", latitude_min=-1.2, latitude_max=1.0,
                     longitude_min=-2.5, longitude_max=2.8, shift_x=0.05, shift_y=-0.03), "room"),
    "pano fisheye equidistant 160deg": (
        dict(), dict(type="PANO", panorama_type="FISHEYE_EQUIDISTANT", fisheye_fov=math.radians(160.0), shift_x=0.04),
        "room"),
    "pano fisheye equisolid AUTO": (
        dict(), dict(type="PANO", panorama_type="FISHEYE_EQUISOLID", fisheye_lens=8.0, fisheye_fov=math.radians(170.0)),
        "room"),
    "pano fisheye equisolid VERTICAL shift": (
        dict(resolution_x=48, resolution_y=64),
        dict(type="PANO", panorama_type="FISHEYE_EQUISOLID", fisheye_lens=9.0, fisheye_fov=math.radians(180.0),
             sensor_fit="VERTICAL", shift_y=0.05), "room"),
}

CAMERA_LOCATION = (0.3, -7.0, 1.5)
CAMERA_ROTATION = (1.45, 0.02, 0.05)


def _build_and_render(name, render_settings, camera_settings, kind, out_dir):
    scene = scenes.empty_scene()
    for key, value in render_settings.items():
        setattr(scene.render, key, value)
    cam = scenes.add_camera(location=CAMERA_LOCATION, rotation=CAMERA_ROTATION, **camera_settings)
    cam.scale = (1.7, 0.6, 2.0)  # the renderer ignores the camera's scale; so must we
    bpy.context.view_layer.update()
    if kind == "objects":
        scenes.standard_objects(cam)
    else:
        scenes.room_around(cam)
    path = scenes.render_multilayer(scene, str(out_dir / f"{name.replace(' ', '_')}.exr"))
    return scene, cam, path


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def rendered(request, tmp_path_factory):
    render_settings, camera_settings, kind = CONFIGS[request.param]
    scene, cam, path = _build_and_render(request.param, render_settings, camera_settings, kind,
                                         tmp_path_factory.mktemp("accuracy"))
    image = read_exr(path)
    camera = CameraModel.from_blender(cam, scene)
    if camera.projection == "PANO":
        origins, directions = camera_rays(pixel_centers(camera), camera)
        rotation, location = camera.cam2world[:3, :3], camera.cam2world[:3, 3]
        no_ray = ~np.isfinite(directions[..., 0])
        directions = np.where(no_ray[..., None], (0.0, 0.0, -1.0), directions) @ rotation.T
        origins = np.broadcast_to(location, directions.shape)
    else:
        no_ray = np.zeros(camera.shape, bool)
        origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
    hits, object_ids = scenes.ray_cast_grid(scene, origins, directions)
    hits[no_ray] = np.nan
    object_ids[no_ray] = -1
    return dict(name=request.param, scene=scene, cam=cam, camera=camera, image=image, hits=hits,
                object_ids=object_ids, cam_location=np.array(cam.matrix_world.translation))


def _interior(object_ids: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood shows one object (no silhouette, no background next to them)."""
    padded = np.pad(object_ids, 1, mode="edge")
    same = np.ones(object_ids.shape, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            same &= padded[1 + dy:1 + dy + object_ids.shape[0], 1 + dx:1 + dx + object_ids.shape[1]] == object_ids
    return same & (object_ids >= 0)


def test_points_match_ray_cast(rendered):
    camera, hits = rendered["camera"], rendered["hits"]
    assert_matches_ray_cast(rendered, backproject(rendered["image"].depth, camera), hits)


def assert_matches_ray_cast(rendered, points, hits) -> None:
    """``points`` (H, W, 3, NaN if invalid) against Blender's ray-cast ``hits`` away from silhouettes:
    validity agrees (background NaN, hits points), and the error is at the micrometre level; the row goes
    into the accuracy table printed at the end of the run."""
    camera, object_ids = rendered["camera"], rendered["object_ids"]
    valid = np.isfinite(points[..., 0])
    interior = _interior(object_ids)
    assert np.array_equal(valid[interior], np.isfinite(hits[..., 0])[interior])
    assert not valid[(object_ids == -1) & _interior(object_ids == -1)].any()
    assert interior.sum() > 0.3 * camera.width_px * camera.height_px
    err = np.linalg.norm(points - hits, axis=-1)[interior]
    dist = np.linalg.norm(hits - rendered["cam_location"], axis=-1)[interior]
    median, p95, rel = float(np.median(err)), float(np.percentile(err, 95)), float(np.median(err / dist))
    ACCURACY_ROWS.append((rendered["name"], int(interior.sum()), median, p95, rel))
    assert median <= 2e-5 and rel <= 2e-6, (median, rel)
    assert p95 <= 2e-4, p95


def test_aov_positions_project_to_pixel_centres(rendered):
    camera = rendered["camera"]
    aov = read_exr(rendered["image"].path, color_layer=f"ViewLayer.{scenes.POS_AOV}").color[..., :3]
    interior = _interior(rendered["object_ids"])
    offsets = project(aov.astype(np.float64), camera) - pixel_centers(camera)
    # Cycles maps in float32; 2e-4 px is its precision at a 180-degree fisheye's rim.
    assert np.abs(offsets[interior]).max() < 2e-4, np.abs(offsets[interior]).max()
    assert np.median(np.abs(offsets[interior])) < 2e-5


def test_round_trip_and_depth_kinds(rendered):
    camera, depth = rendered["camera"], rendered["image"].depth
    points_cam = backproject(depth, camera, space="camera")
    valid = np.isfinite(points_cam[..., 0])
    pixels = project(points_cam, camera, space="camera")
    assert np.abs(pixels[valid] - pixel_centers(camera)[valid]).max() < 1e-6
    # The same points from the other depth kind, converted exactly at the pixel centres.
    other = "distance" if camera.natural_depth_kind() == "planar" else "planar"
    converted = convert_depth(depth.astype(np.float64), camera, from_kind=camera.natural_depth_kind(), to_kind=other)
    again = backproject(converted, camera, depth_kind=other, space="camera")
    both = valid & np.isfinite(again[..., 0])
    # Planar depth exists only for rays that face forward (all of them unless panoramic).
    faces_forward = camera_rays(pixel_centers(camera), camera)[1][..., 2] < 0
    assert np.array_equal(both, valid & faces_forward)
    assert np.abs(again[both] - points_cam[both]).max() < 1e-9 * max(1.0, np.nanmax(np.abs(points_cam)))


def test_plane_at_10m_reads_10_in_planar_and_converted_distance(tmp_path):
    """A plane parallel to the image at 10 m: planar Z is 10.000 everywhere, corners included."""
    scene = scenes.empty_scene()
    cam = scenes.add_camera(location=(1.0, -2.0, 0.5), rotation=(1.2, 0.1, 0.4), lens=20.0, shift_x=0.2,
                            shift_y=-0.1, sensor_fit="VERTICAL")
    scene.render.pixel_aspect_y = 1.2
    bpy.context.view_layer.update()
    scenes.add_plane("Plane10", 200.0, (0.5, 0.5, 0.5), tuple(cam.matrix_world @ scenes.Vector((0, 0, -10.0))),
                     cam.rotation_euler)
    image = read_exr(scenes.render_multilayer(scene, str(tmp_path / "plane.exr")))
    camera = CameraModel.from_blender(cam, scene)
    # 4.2-5.0 write 10.000000 within 1e-5; 5.1, 5.2 and 5.3 carry the float32 rounding of the hit point (measured
    # 1.05e-5 m at most, about 11 float32 steps at 10 m): still planar (the corners' distance is > 10.5 m).
    assert np.abs(image.depth - 10.0).max() <= (1e-5 if bpy.app.version < (5, 1) else 2e-5)
    assert np.median(np.abs(image.depth - 10.0)) <= 5e-6
    # Ray distances measured by Blender (ray_cast along view_frame rays), converted to planar Z.
    origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
    hits, _ = scenes.ray_cast_grid(scene, origins, directions)
    distance = np.linalg.norm(hits - origins, axis=-1).astype(np.float32)
    assert distance.max() > 10.5  # the corners really are farther away than 10 m
    planar = convert_depth(distance, camera, from_kind="distance", to_kind="planar")
    assert planar.dtype == np.float32
    assert np.abs(planar - 10.0).max() <= 1e-5
    points = backproject(distance, camera, depth_kind="distance")
    assert np.abs(points - hits).max() <= 2e-5
