"""View layers: Set Up captures the layer the user picks, and says which."""

from __future__ import annotations

import json

import bpy
import pytest

import depth_cloud_addon
from depth_cloud_addon.core import read_exr
from tools import scenes


@pytest.fixture
def two_layers(tmp_path):
    """The standard objects; the view layer "Other" excludes a collection holding the sphere."""
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    extra = bpy.data.collections.new("Extra")
    scene.collection.children.link(extra)
    sphere = next(o for o in scene.objects if o.type == "MESH" and "Sphere" in o.name)
    for collection in list(sphere.users_collection):
        collection.objects.unlink(sphere)
    extra.objects.link(sphere)
    other = scene.view_layers.new("Other")
    other.layer_collection.children["Extra"].exclude = True
    yield scene, tmp_path
    depth_cloud_addon.unregister()


def test_set_up_captures_the_chosen_layer_and_the_sidecar_names_it(two_layers):
    scene, folder = two_layers
    first = scene.view_layers[0].name
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(folder)) == {"FINISHED"}
    assert f"view layer '{first}'" in scene.depth_cloud.last_message
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    with_sphere = read_exr(folder / "depth_0001.exr").depth
    assert json.loads((folder / "camera_0001.json").read_text())["capture"]["view_layer"] == first
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(folder), view_layer="Other") == {"FINISHED"}
    assert "view layer 'Other'" in scene.depth_cloud.last_message and scene.depth_cloud.view_layer == "Other"
    bpy.ops.render.render(write_still=False)
    without = read_exr(folder / "depth_0001.exr").depth
    assert json.loads((folder / "camera_0001.json").read_text())["capture"]["view_layer"] == "Other"
    changed = (with_sphere != without).sum()
    assert 20 < changed < with_sphere.size // 2  # the sphere's pixels, and only those


def test_an_unknown_layer_is_refused_with_the_names_there_are(two_layers):
    scene, folder = two_layers
    with pytest.raises(RuntimeError, match="has no view layer 'Nope' \\(it has '.*', 'Other'\\)"):
        bpy.ops.depth_cloud.setup_outputs(directory=str(folder), view_layer="Nope")


def test_build_reads_the_captured_layer_of_a_multilayer_render_or_the_one_asked_for(two_layers):
    scene, folder = two_layers
    bpy.ops.depth_cloud.setup_outputs(directory=str(folder / "capture"), view_layer="Other")
    scene.frame_set(1)
    path = scenes.render_multilayer(scene, str(folder / "render.exr"))  # both view layers, one file
    first = scene.view_layers[0].name
    assert bpy.ops.depth_cloud.build(filepath=path) == {"FINISHED"}  # default: the layer Set Up captures
    assert "view layer 'Other'" in scene.depth_cloud.last_message
    without_sphere = len(bpy.context.active_object.data.vertices)
    assert bpy.ops.depth_cloud.build(filepath=path, view_layer=first) == {"FINISHED"}
    assert f"view layer '{first}'" in scene.depth_cloud.last_message
    with_sphere = len(bpy.context.active_object.data.vertices)
    assert with_sphere == without_sphere  # the wall behind fills the frame: same count, other points
    with pytest.raises(RuntimeError, match="no view layer 'Nope'; view layers in the file: "):
        bpy.ops.depth_cloud.build(filepath=path, view_layer="Nope")
    depth_first = read_exr(path, view_layer=first).depth
    depth_other = read_exr(path, view_layer="Other").depth
    assert (depth_first != depth_other).sum() > 20
