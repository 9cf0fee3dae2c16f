"""Render Region with Crop to Border: the cropped EXRs Blender writes give exact points.

Measured facts these tests pin (Blender 4.2, 4.5 and 5.0 agree):

* The window: each border value times the size after the resolution percentage, in float32,
  truncated; border y runs from the bottom. The EXR Blender writes has exactly the window's size, and
  its pixels are the full render's pixels in that window, bit for bit (same samples): the cropped
  image's pixel (c, r) *is* the full image's pixel (c + x0, r + y0).
* Without Crop to Border the image stays full size and the passes hold Blender's pass default
  outside the region: depth 1e11 (background), color 0.

The oracle is Blender, independent of our crop arithmetic: the windows are literal measured values,
perspective and orthographic rays come from ``Camera.view_frame`` of the full frame (cut to the
window), panoramic rays from the *uncropped* camera (whose mapping test_accuracy checks), and the
``Pos`` AOV (what Cycles hit for each pixel) must project to the cropped image's pixel centres.
Tolerances and the silhouette exclusion are test_accuracy's.
"""

from __future__ import annotations

import json
import math

import bpy
import numpy as np
import pytest

from depth_cloud_addon.blender import builder
from depth_cloud_addon.core import CameraModel, ResolutionMismatchError, backproject, pixel_centers, project, read_exr
from depth_cloud_addon.core.geometry.projection import camera_rays
from tests.blender.test_accuracy import CAMERA_LOCATION, CAMERA_ROTATION, _interior, assert_matches_ray_cast
from tools import scenes

#: Border (min_x, max_x, min_y, max_y) used by the accuracy configurations, and its measured window
#: (x0, y0 from the top, width, height) in a 64x48 px image.
BORDER = (0.13, 0.71, 0.21, 0.93)
WINDOW_64x48 = (8, 4, 37, 34)


def window_of(camera: CameraModel) -> tuple[int, int, int, int]:
    return camera.crop_x0_px, camera.crop_y0_px, camera.width_px, camera.height_px


def pos_aov(path) -> np.ndarray:
    return read_exr(path, color_layer=f"ViewLayer.{scenes.POS_AOV}").color[..., :3]


def scene_with_camera(resolution=(64, 48), percentage=100, render_settings=None, camera_settings=None,
                      kind="objects"):
    scene = scenes.empty_scene(*resolution)
    scene.render.resolution_percentage = percentage
    for key, value in (render_settings or {}).items():
        setattr(scene.render, key, value)
    cam = scenes.add_camera(location=CAMERA_LOCATION, rotation=CAMERA_ROTATION, **(camera_settings or {}))
    bpy.context.view_layer.update()
    if kind == "objects":
        scenes.standard_objects(cam)
    else:
        scenes.room_around(cam)
    return scene, cam


# -- the window ---------------------------------------------------------------------------------------

WINDOWS = {
    # name: (resolution, percentage, border, measured window)
    "64x48": ((64, 48), 100, (0.13, 0.71, 0.13, 0.71), (8, 14, 37, 28)),
    "64x48 at 50%": ((64, 48), 50, (0.13, 0.71, 0.13, 0.71), (4, 7, 18, 14)),
    "64x48 asymmetric y": ((64, 48), 100, BORDER, WINDOW_64x48),
    "64x48 at 50% asymmetric y": ((64, 48), 50, BORDER, (4, 2, 18, 17)),
    "67x53 at 33%": ((67, 53), 33, (0.111, 0.777, 0.05, 0.6), (2, 7, 15, 10)),
    # float32 products: f32(0.29) * 100 = 29, f32(0.57) * 100 = 57, f32(0.58) * 100 = 58 (float64: 28, 56, 57)
    "100x100 float32": ((100, 100), 100, (0.29, 0.57, 0.07, 0.58), (29, 42, 28, 51)),
}


@pytest.mark.parametrize("name", list(WINDOWS))
def test_the_cropped_exr_is_the_full_renders_window(name, tmp_path):
    resolution, percentage, border, window = WINDOWS[name]
    scene, cam = scene_with_camera(resolution, percentage, camera_settings=dict(lens=30.0, shift_x=0.07))
    full_path = scenes.render_multilayer(scene, str(tmp_path / "full.exr"))
    scenes.set_render_region(scene, *border)
    crop_path = scenes.render_multilayer(scene, str(tmp_path / "crop.exr"))
    camera = CameraModel.from_blender(cam, scene)
    assert window_of(camera) == window
    assert camera.full_size_px == scenes.render_size(scene)
    x0, y0, w, h = window
    image = read_exr(crop_path)
    assert image.depth.shape == camera.shape == (h, w)
    full = read_exr(full_path)
    np.testing.assert_array_equal(image.depth, full.depth[y0:y0 + h, x0:x0 + w])
    np.testing.assert_array_equal(pos_aov(crop_path), pos_aov(full_path)[y0:y0 + h, x0:x0 + w])


# -- accuracy against ray_cast -------------------------------------------------------------------------

CONFIGS = {
    "crop persp VERTICAL shift aspect-y": (
        (64, 48), 100, dict(pixel_aspect_y=1.5),
        dict(sensor_fit="VERTICAL", sensor_height=20.0, lens=28.0, shift_x=0.12, shift_y=-0.07), "objects"),
    "crop persp AUTO 50% aspect-x 1.25": (
        (128, 96), 50, dict(pixel_aspect_x=1.25), dict(lens=24.0, shift_x=-0.08, shift_y=0.05), "objects"),
    "crop ortho VERTICAL shift aspect-x": (
        (64, 48), 100, dict(pixel_aspect_x=1.3),
        dict(type="ORTHO", ortho_scale=9.0, sensor_fit="VERTICAL", shift_x=0.1, shift_y=0.05), "objects"),
    "crop pano equirectangular shift": (
        (64, 48), 100, dict(),
        dict(type="PANO", panorama_type="EQUIRECTANGULAR", latitude_min=-1.2, latitude_max=1.0, longitude_min=-2.5,
             longitude_max=2.8, shift_x=0.05, shift_y=-0.03), "room"),
    "crop pano fisheye equidistant": (
        (64, 48), 100, dict(),
        dict(type="PANO", panorama_type="FISHEYE_EQUIDISTANT", fisheye_fov=math.radians(160.0), shift_x=0.04), "room"),
    "crop pano fisheye equisolid asp-x": (
        (64, 48), 100, dict(pixel_aspect_x=1.2),
        dict(type="PANO", panorama_type="FISHEYE_EQUISOLID", fisheye_lens=8.0, fisheye_fov=math.radians(170.0)),
        "room"),
}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def rendered(request, tmp_path_factory):
    resolution, percentage, render_settings, camera_settings, kind = CONFIGS[request.param]
    scene, cam = scene_with_camera(resolution, percentage, render_settings, camera_settings, kind)
    scenes.set_render_region(scene, *BORDER)
    path = scenes.render_multilayer(scene, str(tmp_path_factory.mktemp("crop") / "crop.exr"))
    camera = CameraModel.from_blender(cam, scene)
    # Rays through the window's pixel centres, from Blender's full frame (or the uncropped camera).
    x0, y0, w, h = WINDOW_64x48
    window = (slice(y0, y0 + h), slice(x0, x0 + w))
    scene.render.use_crop_to_border = False
    full = CameraModel.from_blender(cam, scene)
    scene.render.use_crop_to_border = True
    assert not full.is_cropped and full.shape == (48, 64)
    if full.projection == "PANO":
        _, directions = camera_rays(pixel_centers(full), full)
        directions = directions[window]
        no_ray = ~np.isfinite(directions[..., 0])
        directions = np.where(no_ray[..., None], (0.0, 0.0, -1.0), directions) @ full.cam2world[:3, :3].T
        origins = np.broadcast_to(full.cam2world[:3, 3], directions.shape)
    else:
        origins, directions = (rays[window] for rays in scenes.pixel_rays_from_view_frame(scene, cam))
        no_ray = np.zeros((h, w), bool)
    hits, object_ids = scenes.ray_cast_grid(scene, np.ascontiguousarray(origins), np.ascontiguousarray(directions))
    hits[no_ray] = np.nan
    object_ids[no_ray] = -1
    return dict(name=request.param, camera=camera, image=read_exr(path), hits=hits, object_ids=object_ids,
                cam_location=np.array(cam.matrix_world.translation))


def test_the_camera_is_cropped_to_the_measured_window(rendered):
    camera = rendered["camera"]
    assert window_of(camera) == WINDOW_64x48 and camera.full_size_px == (64, 48)
    assert rendered["image"].depth.shape == camera.shape


def test_cropped_points_match_ray_cast(rendered):
    camera, hits = rendered["camera"], rendered["hits"]
    assert_matches_ray_cast(rendered, backproject(rendered["image"].depth, camera), hits)


def test_cropped_aov_positions_project_to_the_cropped_pixel_centres(rendered):
    camera = rendered["camera"]
    aov = pos_aov(rendered["image"].path).astype(np.float64)
    interior = _interior(rendered["object_ids"])
    offsets = project(aov, camera) - pixel_centers(camera)
    assert np.abs(offsets[interior]).max() < 2e-4, np.abs(offsets[interior]).max()
    assert np.median(np.abs(offsets[interior])) < 2e-5


# -- a region without Crop to Border ---------------------------------------------------------------


def test_a_region_without_crop_writes_the_full_image_with_background_outside(tmp_path):
    scene, cam = scene_with_camera(camera_settings=dict(lens=30.0, shift_x=0.07))
    scenes.set_render_region(scene, *BORDER, crop=False)
    image = read_exr(scenes.render_multilayer(scene, str(tmp_path / "region.exr")))
    camera = CameraModel.from_blender(cam, scene)
    assert not camera.is_cropped and image.depth.shape == camera.shape == (48, 64)
    x0, y0, w, h = WINDOW_64x48
    inside = np.zeros(camera.shape, bool)
    inside[y0:y0 + h, x0:x0 + w] = True
    # Blender's pass default outside the region, not a hit: 1e11 in 4.2-5.0, 1e10 (Cycles' "no hit") from 5.2.
    assert (image.depth[~inside] == (1e11 if bpy.app.version < (5, 2) else 1e10)).all()
    points = backproject(image.depth, camera)
    assert np.isnan(points[~inside]).all()
    origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
    hits, object_ids = scenes.ray_cast_grid(scene, origins, directions)
    interior = _interior(object_ids) & inside
    assert np.isfinite(points[interior]).all() and interior.sum() > 0.3 * inside.sum()
    assert np.median(np.linalg.norm(points - hits, axis=-1)[interior]) <= 2e-5


# -- Build of a cropped render -------------------------------------------------------------------------


def test_build_of_a_cropped_render(addon, tmp_path):
    scene = scenes.configure_scene(bpy.context.scene)
    scene.render.pixel_aspect_y = 1.25
    cam = scenes.add_camera(location=CAMERA_LOCATION, rotation=CAMERA_ROTATION, lens=35.0, shift_x=0.1, shift_y=-0.04)
    scenes.standard_objects(cam)
    scenes.set_render_region(scene, *BORDER)
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    x0, y0, w, h = WINDOW_64x48
    assert read_exr(tmp_path / "depth_0001.exr").depth.shape == (h, w)
    # The sidecar the render handler wrote records the crop.
    sidecar = json.loads((tmp_path / "camera_0001.json").read_text())
    assert (sidecar["width_px"], sidecar["height_px"]) == (w, h)
    assert (sidecar["full_width_px"], sidecar["full_height_px"], sidecar["crop_x0_px"], sidecar["crop_y0_px"]) == (
        64, 48, x0, y0)

    origins, directions = (rays[y0:y0 + h, x0:x0 + w] for rays in scenes.pixel_rays_from_view_frame(scene, cam))
    truth, _ = scenes.ray_cast_grid(scene, np.ascontiguousarray(origins), np.ascontiguousarray(directions))
    hit = np.isfinite(truth[..., 0])
    assert hit.all()  # the back wall fills the region
    assert bpy.ops.depth_cloud.build() == {"FINISHED"}
    assert "camera from camera_0001.json" in scene.depth_cloud.last_message
    points = scenes.vertex_positions_world(builder.find_cloud(scene))
    assert len(points) == hit.sum() == w * h
    assert np.abs(points - truth[hit]).max() < 2e-5
    # Pixel Faces: one quad per pixel of the cropped image.
    assert bpy.ops.depth_cloud.build(geometry="FACES") == {"FINISHED"}
    assert len(builder.find_cloud(scene).data.polygons) == w * h
    # Without the sidecar, Build falls back to the scene camera, cropped the same way.
    (tmp_path / "camera_0001.json").unlink()
    assert bpy.ops.depth_cloud.build(geometry="POINTS") == {"FINISHED"}
    np.testing.assert_array_equal(scenes.vertex_positions_world(builder.find_cloud(scene)), points)
    # A genuine mismatch (the region changed after the render) is reported, naming the region.
    scenes.set_render_region(scene, 0.1, 0.9, 0.1, 0.9)
    with pytest.raises(RuntimeError, match="render region"):
        bpy.ops.depth_cloud.build()
    with pytest.raises(ResolutionMismatchError, match="render region"):
        backproject(read_exr(tmp_path / "depth_0001.exr").depth, CameraModel.from_blender(cam, scene))
