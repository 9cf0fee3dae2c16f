"""Ground truth for computer vision under real Blender: picked pixels -> 3D, planar Z / ray distance
files, the panel's pixel readout, camera export. Oracle: ``scene.ray_cast`` and Cycles' Depth pass."""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import probe
from depth_cloud_addon.core import CameraModel, convert_depth, project, read_exr
from tools import scenes


@pytest.fixture
def rendered(tmp_path):
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0, shift_x=0.1,
                            sensor_fit="VERTICAL")
    scene.render.pixel_aspect_y = 1.25
    scenes.standard_objects(cam)
    yield scene, cam, tmp_path
    depth_cloud_addon.unregister()


def render(scene, folder, depth_files="PLANAR", frame=1):
    bpy.ops.depth_cloud.setup_outputs(directory=str(folder), depth_files=depth_files)
    scene.frame_set(frame)
    bpy.ops.render.render(write_still=False)


def ray_cast_at(scene, cam, pixels) -> np.ndarray:
    """Blender's hit for rays through continuous pixel coordinates, built from view_frame."""
    w, h = scenes.render_size(scene)
    tr, br, bl, tl = (np.array(v, dtype=np.float64) for v in cam.data.view_frame(scene=scene))
    matrix = np.array(cam.matrix_world.normalized(), dtype=np.float64)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    hits = []
    for x, y in pixels:
        local = tl + x / w * (tr - tl) + y / h * (bl - tl)
        direction = matrix[:3, :3] @ local
        unit = (direction / np.linalg.norm(direction)).tolist()
        hit, location, *_ = scene.ray_cast(depsgraph, matrix[:3, 3].tolist(), unit)
        hits.append(tuple(location) if hit else (np.nan,) * 3)
    return np.array(hits)


def test_pick_points_match_ray_cast_and_export(rendered):
    scene, cam, folder = rendered
    render(scene, folder)
    # Pixel centres anywhere (tilted surfaces too), and sub-pixel positions on the wall parallel to the image:
    # there the depth of the containing pixel is exact at any sub-pixel position.
    pixels = [(10.5, 30.5), (45.5, 33.5), (32.5, 10.5), (60.9, 1.1), (62.01, 46.99), (58.25, 20.75)]
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for x, y in pixels[3:]:
        hit = ray_cast_at(scene, cam, [(x, y)])[0]
        origin = np.array(cam.matrix_world.translation)
        assert scene.ray_cast(depsgraph, origin.tolist(), (hit - origin).tolist())[4].name == "Wall"
    annotations = folder / "picks.csv"
    annotations.write_text("label,x,y\n" + "".join(f"p{i},{x},{y}\n" for i, (x, y) in enumerate(pixels)))
    export = folder / "picks.json"
    assert bpy.ops.depth_cloud.pick_points(filepath=str(annotations), export_path=str(export)) == {"FINISHED"}
    empties = {o["depth_cloud_label"]: o for o in scene.objects if o.get("depth_cloud_role") == "pick"}
    truth = ray_cast_at(scene, cam, pixels)
    assert sorted(empties) == [f"p{i}" for i in range(len(pixels))]
    for i, expected in enumerate(truth):
        assert np.abs(np.array(empties[f"p{i}"].location) - expected).max() < 2e-5, i
    exported = json.loads(export.read_text())
    rows = exported["points"] if isinstance(exported, dict) else exported
    assert len(rows) == len(pixels)
    camera = CameraModel.from_json((folder / "camera_0001.json").read_text())
    world = np.array([[r["world_x"], r["world_y"], r["world_z"]] for r in rows], dtype=float)
    np.testing.assert_allclose(project(world, camera), np.array(pixels), atol=1e-4)  # round trip in pixels
    assert "6 of 6 pixels have a 3D point" in scene.depth_cloud.last_message


def test_pixels_without_depth_are_reported(rendered):
    scene, cam, folder = rendered
    for obj in list(scene.objects):
        if obj.name == "Wall":
            bpy.data.objects.remove(obj)
    render(scene, folder)
    depth = read_exr(folder / "depth_0001.exr").depth
    row, col = np.argwhere(depth == np.float32(1e10))[0]
    hit_row, hit_col = np.argwhere(depth < 100)[0]
    bpy.ops.depth_cloud.pick_points(pixels=f"{col + 0.5}, {row + 0.5}; {hit_col + 0.5}, {hit_row + 0.5}")
    assert "1 of 2 pixels have a 3D point" in scene.depth_cloud.last_message
    assert "no depth at 0" in scene.depth_cloud.last_message


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "x"),
    ("x,y\n3,abc\n", "abc"),
    ("x,y\n99,1\n", "outside"),
    ("", "empty"),
])
def test_bad_annotation_files_give_a_clear_message(rendered, content, message):
    scene, _, folder = rendered
    render(scene, folder)
    path = folder / "bad.csv"
    path.write_text(content)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.depth_cloud.pick_points(filepath=str(path))
    assert not [o for o in scene.objects if o.get("depth_cloud_role") == "pick"]


def test_plane_at_10m_reads_10_in_every_depth_file(tmp_path):
    """A plane parallel to the image at 10 m: Depth pass, the converted distance map converted back, and the
    distance map against Blender's own ray lengths."""
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    try:
        cam = scenes.add_camera(location=(1.0, -2.0, 0.5), rotation=(1.2, 0.1, 0.4), lens=24.0, shift_y=0.15)
        scenes.add_plane("Plane10", 100.0, (0.5, 0.5, 0.5), tuple(cam.matrix_world @ scenes.Vector((0, 0, -10.0))),
                         cam.rotation_euler)
        render(scene, tmp_path, depth_files="BOTH")
        camera = CameraModel.from_json((tmp_path / "camera_0001.json").read_text())
        planar = read_exr(tmp_path / "depth_0001.exr").depth
        assert np.abs(planar - 10.0).max() <= 1e-5
        np.testing.assert_array_equal(read_exr(tmp_path / "planar_0001.exr").depth, planar)
        distance = read_exr(tmp_path / "distance_0001.exr").depth
        origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
        hits, _ = scenes.ray_cast_grid(scene, origins, directions)
        assert np.abs(distance - np.linalg.norm(hits - origins, axis=-1)).max() <= 1e-5
        assert distance.max() > 11.0  # the corners are well beyond 10 m
        back = convert_depth(distance, camera, from_kind="distance", to_kind="planar")
        assert np.abs(back - 10.0).max() <= 1e-5
    finally:
        depth_cloud_addon.unregister()


def test_convert_depth_operator_on_a_sequence(rendered):
    scene, _, folder = rendered
    bpy.ops.depth_cloud.setup_outputs(directory=str(folder))
    scene.frame_start, scene.frame_end = 1, 2
    scene.render.filepath = str(folder / "render_")
    bpy.ops.render.render(animation=True)
    result = bpy.ops.depth_cloud.convert_depth(filepath=str(folder / "depth_####.exr"), to_kind="DISTANCE")
    assert result == {"FINISHED"}
    for frame in (1, 2):
        camera = CameraModel.from_json((folder / f"camera_{frame:04d}.json").read_text())
        expected = convert_depth(read_exr(folder / f"depth_{frame:04d}.exr").depth, camera,
                                 from_kind="planar", to_kind="distance")
        np.testing.assert_array_equal(read_exr(folder / f"distance_{frame:04d}.exr").depth, expected)


def test_panel_pixel_readout(rendered):
    scene, cam, folder = rendered
    render(scene, folder)
    scene.depth_cloud.probe_pixel = (45.5, 33.5)
    assert bpy.ops.depth_cloud.probe_pixel() == {"FINISHED"}
    world = ray_cast_at(scene, cam, [(45.5, 33.5)])[0]
    assert scene.depth_cloud.probe_result.startswith(f"world ({world[0]:.4f}, {world[1]:.4f}, {world[2]:.4f}) m")
    point, _, _ = probe.probe(scene, (45.5, 33.5))
    assert np.abs(point - world).max() < 2e-5


def test_export_cameras_writes_opencv_and_nerfstudio_files(rendered):
    scene, cam, folder = rendered
    render(scene, folder)
    scene.frame_start = scene.frame_end = 1
    assert bpy.ops.depth_cloud.export_cameras(directory=str(folder) + "/") == {"FINISHED"}
    cameras = json.loads((folder / "cameras.json").read_text())
    record = cameras["frames"][0]
    camera = CameraModel.from_json((folder / "camera_0001.json").read_text())
    fx, fy, cx, cy = camera.intrinsics_px()
    np.testing.assert_allclose(np.array(record["K"]), [[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]], atol=1e-9)
    transforms = json.loads((folder / "transforms.json").read_text())
    assert transforms["frames"][0]["file_path"].endswith("color_0001.exr")
