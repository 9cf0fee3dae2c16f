"""Captured files never contain the add-on's own clouds, and re-rendering an unchanged scene leaves them
identical; rendering a cloud on purpose still works (capture pauses itself, visibly, meanwhile)."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import builder, compositor
from depth_cloud_addon.core import read_exr
from tools import scenes

CAMERA = dict(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
CAPTURED = ("depth_0001.exr", "color_0001.exr", "camera_0001.json")


@pytest.fixture
def captured(tmp_path):
    """A still rendered through the capture outputs: (scene, folder, {file: bytes})."""
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(**CAMERA)
    scenes.standard_objects(cam)
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    yield scene, tmp_path, snapshot(tmp_path)
    depth_cloud_addon.unregister()


def snapshot(folder) -> dict:
    return {name: (folder / name).read_bytes() for name in CAPTURED}


def render_image(scene, path) -> np.ndarray:
    """A render of the scene as it is (capture outputs left in place), read from its own output file."""
    return read_exr(scenes.render_multilayer(scene, str(path)), require_depth=False).color


@pytest.mark.parametrize("geometry", ["POINTS", "FACES"])
def test_rendering_again_after_build_leaves_the_captured_files_identical(captured, geometry):
    scene, folder, before = captured
    assert bpy.ops.depth_cloud.build(geometry=geometry) == {"FINISHED"}
    assert "capture paused while the cloud renders" in scene.depth_cloud.last_message
    assert compositor.capture_paused(scene)
    status = compositor.capture_status(scene)
    assert status.startswith("Capture paused: 'DepthCloud' would be in the render")
    bpy.ops.render.render(write_still=False)  # F12 again, the cloud in the picture
    assert snapshot(folder) == before
    cloud = builder.find_cloud(scene)
    points = len(cloud.data.vertices) if geometry == "POINTS" else len(cloud.data.polygons)
    assert bpy.ops.depth_cloud.build(geometry=geometry) == {"FINISHED"}  # and the next Build is the same
    assert (len(cloud.data.vertices) if geometry == "POINTS" else len(cloud.data.polygons)) == points


def test_the_cloud_still_renders_on_purpose_while_capture_pauses(captured, tmp_path):
    scene, folder, before = captured
    bpy.ops.depth_cloud.build(geometry="FACES")
    cloud = builder.find_cloud(scene)
    for obj in scene.objects:
        obj.hide_render = obj.type == "MESH" and obj != cloud
    image = render_image(scene, tmp_path / "check.exr")  # the Pixel Faces check through the camera
    captured_color = read_exr(folder / "color_0001.exr", require_depth=False).color
    valid = read_exr(folder / "depth_0001.exr").depth < 1e9
    assert np.abs(image[valid][:, :3] - captured_color[valid][:, :3]).max() < 0.05
    assert snapshot(folder) == before


def test_hiding_the_clouds_from_renders_resumes_capture_with_identical_depth(captured):
    scene, folder, before = captured
    bpy.ops.depth_cloud.build()
    assert bpy.ops.depth_cloud.hide_clouds_from_renders() == {"FINISHED"}
    assert builder.find_cloud(scene).hide_render and not compositor.capture_paused(scene)
    assert compositor.capture_status(scene) is None
    (folder / "camera_0001.json").unlink()
    bpy.ops.render.render(write_still=False)
    np.testing.assert_array_equal(read_exr(folder / "depth_0001.exr").depth,
                                  read_exr_bytes(before["depth_0001.exr"], folder / "before.exr"))
    assert (folder / "camera_0001.json").read_bytes() == before["camera_0001.json"]


def read_exr_bytes(data: bytes, path) -> np.ndarray:
    path.write_bytes(data)
    return read_exr(path).depth


def test_a_cloud_shown_again_by_hand_pauses_the_next_render(captured):
    scene, folder, before = captured
    bpy.ops.depth_cloud.build()
    bpy.ops.depth_cloud.hide_clouds_from_renders()
    builder.find_cloud(scene).hide_render = False  # by hand, in the outliner: no operator saw it
    assert not compositor.capture_paused(scene)
    bpy.ops.render.render(write_still=False)
    assert compositor.capture_paused(scene)
    assert snapshot(folder) == before


def test_a_cloud_in_a_collection_excluded_from_the_layer_does_not_pause(captured):
    scene, folder, _ = captured
    bpy.ops.depth_cloud.build()
    cloud = builder.find_cloud(scene)
    elsewhere = bpy.data.collections.new("Clouds")
    scene.collection.children.link(elsewhere)
    for collection in list(cloud.users_collection):
        collection.objects.unlink(cloud)
    elsewhere.objects.link(cloud)
    bpy.context.view_layer.layer_collection.children["Clouds"].exclude = True
    assert compositor.sync_capture(scene) == [] and not compositor.capture_paused(scene)
    elsewhere.hide_render = False
    bpy.context.view_layer.layer_collection.children["Clouds"].exclude = False
    assert compositor.sync_capture(scene) == [cloud]


def test_animation_render_with_baked_frames_captures_nothing(tmp_path):
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    try:
        cam = scenes.add_camera(**CAMERA)
        scenes.standard_objects(cam)
        scene.frame_start, scene.frame_end = 1, 2
        bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
        scene.render.filepath = str(tmp_path / "render_")
        bpy.ops.render.render(animation=True)
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".exr", ".json")}
        assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME") == {"FINISHED"}
        assert "capture paused" in scene.depth_cloud.last_message
        baked = [o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]
        assert len(baked) == 2 and all(o in compositor.clouds_in_render(scene) for o in baked)
        bpy.ops.render.render(animation=True)
        after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".exr", ".json")}
        assert after == before
    finally:
        depth_cloud_addon.unregister()


def test_a_saved_file_with_a_visible_cloud_opens_paused(captured, tmp_path):
    scene, folder, before = captured
    bpy.ops.depth_cloud.build()
    for node in compositor.our_nodes(compositor.compat.compositor_tree(scene, create=False)[0]).values():
        node.mute = False  # as a file saved before this version
    path = str(tmp_path / "leaky.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    scene = bpy.context.scene
    assert compositor.capture_paused(scene)
    bpy.ops.render.render(write_still=False)
    assert snapshot(folder) == before
