"""Blender 5.3's compositor: a stack of effects, each running a node group that takes the image before it on a
Group Input, each on or off for renders. Set Up keeps its nodes in one effect, finds them whichever effect is
active, and a render that does not run them writes no sidecar (no stale depth/camera pair)."""

from __future__ import annotations

import bpy
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import compat, compositor
from tools import scenes

pytestmark = pytest.mark.skipif("compositor_effects" not in bpy.types.Scene.bl_rna.properties,
                                reason="the compositor effects stack is Blender 5.3's")

CAMERA = dict(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)


@pytest.fixture
def scene():
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(**CAMERA)
    scenes.standard_objects(cam)
    yield scene
    depth_cloud_addon.unregister()


def user_effect(scene, name: str):
    """An effect of the user's: its image -> Blur -> output."""
    tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="INPUT", socket_type="NodeSocketColor")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    source, output = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    blur = tree.nodes.new("CompositorNodeBlur")
    tree.links.new(source.outputs["Image"], blur.inputs[0])
    tree.links.new(blur.outputs[0], output.inputs[0])
    effect = scene.compositor_effects.new(name)
    effect.node_group = tree
    return effect


def render(scene, frame: int) -> None:
    scene.frame_set(frame)
    bpy.ops.render.render(write_still=False)


def test_set_up_adds_an_effect_that_passes_the_image_on_and_remove_takes_it_away(scene, tmp_path):
    assert len(scene.compositor_effects) == 0
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    assert len(scene.compositor_effects) == 1
    effect = scene.compositor_effects[0]
    tree = effect.node_group
    assert effect.enable_for_render and compositor.capture_tree(scene) == tree
    assert set(compositor.our_nodes(tree)) == {"frame", "render_layers", "depth", "color"}
    # The image before the effect goes on unchanged: Group Input -> Group Output, nothing else on that path.
    links = {(link.from_node.bl_idname, link.to_node.bl_idname) for link in tree.links
             if link.to_node.bl_idname == "NodeGroupOutput"}
    assert links == {("NodeGroupInput", "NodeGroupOutput")}
    render(scene, 1)
    assert {p.name for p in tmp_path.iterdir()} == {"depth_0001.exr", "color_0001.exr", "camera_0001.json"}
    name = tree.name
    assert bpy.ops.depth_cloud.remove_outputs() == {"FINISHED"}
    assert len(scene.compositor_effects) == 0 and name not in bpy.data.node_groups


def test_set_up_uses_the_active_effect_and_finds_its_nodes_when_another_becomes_active(scene, tmp_path):
    first, second = user_effect(scene, "Glare"), user_effect(scene, "Grade")
    scene.compositor_effects.active = first
    user_nodes = {n.name for n in first.node_group.nodes}
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    assert len(scene.compositor_effects) == 2  # no effect added
    assert compositor.our_nodes(first.node_group) and not compositor.our_nodes(second.node_group)
    assert user_nodes < {n.name for n in first.node_group.nodes}
    scene.compositor_effects.active = second
    assert compositor.capture_tree(scene) == first.node_group
    assert compositor.output_directory(scene) == str(tmp_path) + "/"
    render(scene, 2)
    assert {"depth_0002.exr", "camera_0002.json"} <= {p.name for p in tmp_path.iterdir()}
    # Set Up again while the other effect is active refreshes the same nodes.
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    assert not compositor.our_nodes(second.node_group)
    assert bpy.ops.depth_cloud.remove_outputs() == {"FINISHED"}
    assert {n.name for n in first.node_group.nodes} == user_nodes and len(scene.compositor_effects) == 2


def test_set_up_skips_an_active_effect_that_is_off_for_renders(scene, tmp_path):
    off = user_effect(scene, "Preview only")
    off.enable_for_render = False
    scene.compositor_effects.active = off
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    assert not compositor.our_nodes(off.node_group)
    tree = compositor.capture_tree(scene)
    assert compat.tree_renders(scene, tree) and len(scene.compositor_effects) == 2
    render(scene, 1)
    assert {"depth_0001.exr", "camera_0001.json"} <= {p.name for p in tmp_path.iterdir()}


def test_an_effect_turned_off_for_renders_writes_no_sidecar_and_the_panel_says_so(scene, tmp_path):
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    render(scene, 1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"depth_0001.exr", "color_0001.exr", "camera_0001.json"}
    scene.compositor_effects[0].enable_for_render = False
    assert not compositor.capture_runs(scene)
    status = compositor.capture_status(scene)
    assert status is not None and "off for renders" in status and scene.compositor_effects[0].name in status
    render(scene, 1)
    render(scene, 2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written, nothing rewritten
    scene.compositor_effects[0].enable_for_render = True
    assert compositor.capture_status(scene) is None
    render(scene, 2)
    assert {"depth_0002.exr", "camera_0002.json"} <= {p.name for p in tmp_path.iterdir()}
