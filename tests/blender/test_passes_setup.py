"""Set Up EXR Outputs with Extra Passes: our passes node is remade, removed and never touches the user's nodes."""

import bpy


def test_extra_passes_can_change_and_go_without_touching_the_users_nodes(addon, tmp_path):
    """Set Up again with other passes remakes only our passes node; without passes it is gone; Remove takes it
    too; nothing of the user's tree changes."""
    from depth_cloud_addon.blender import compat, compositor

    scene = bpy.context.scene
    tree, _ = compat.compositor_tree(scene, create=True)
    user = tree.nodes.new("CompositorNodeBlur")
    user.name = "User Blur"
    count = len(tree.nodes)
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), extra_passes={"NORMAL"}) == {"FINISHED"}
    assert compositor.our_nodes(tree)["passes"][compositor.PASSES_PROPERTY] == ["NORMAL"]
    with_passes = len(tree.nodes)
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), extra_passes={"NORMAL"}) == {"FINISHED"}
    assert len(tree.nodes) == with_passes and "already set up" in scene.depth_cloud.last_message
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), extra_passes={"OBJECT_INDEX", "MOTION"}) \
        == {"FINISHED"}
    assert list(compositor.our_nodes(tree)["passes"][compositor.PASSES_PROPERTY]) == ["OBJECT_INDEX", "MOTION"]
    assert compositor.captured_passes(scene) == ("OBJECT_INDEX", "MOTION")
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), extra_passes=set()) == {"FINISHED"}
    assert "passes" not in compositor.our_nodes(tree) and compositor.captured_passes(scene) == ()
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), extra_passes={"CRYPTOMATTE"}) == {"FINISHED"}
    assert bpy.ops.depth_cloud.remove_outputs() == {"FINISHED"}
    assert "User Blur" in tree.nodes and len(tree.nodes) == count
