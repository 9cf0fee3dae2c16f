"""The extension's workflow under real Blender: set up outputs -> Cycles render -> Build Point Cloud.

The add-on is enabled from this checkout (``depth_cloud_addon.register()``); the installed-zip path
is covered by test_extension_install. Ground truth: ``scene.ray_cast`` through pixel centres from
``Camera.view_frame`` and the EXRs Blender wrote.
"""

from __future__ import annotations

import os

import bpy
import numpy as np
import pytest

from depth_cloud_addon.blender import builder, compat, compositor, panel
from depth_cloud_addon.core import CameraModel, backproject, read_exr, write_exr
from depth_cloud_addon.core.frames.cloud import cloud_arrays
from tools import scenes

CAMERA = dict(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05))


@pytest.fixture
def scene_with_camera(addon):
    scene = bpy.context.scene
    cam = scenes.add_camera(lens=35.0, shift_x=0.1, **CAMERA)
    scenes.standard_objects(cam)
    return scene, cam


def render(scene, frame: int) -> None:
    scene.frame_set(frame)
    bpy.ops.render.render(write_still=False)


def vertex_colors(obj) -> np.ndarray:
    colors = np.empty(len(obj.data.vertices) * 4, np.float32)
    obj.data.color_attributes[builder.COLOR_ATTRIBUTE].data.foreach_get("color", colors)
    return colors.reshape(-1, 4)


def evaluated_point_cloud(obj) -> dict:
    """The point cloud Geometry Nodes make of ``obj``: world positions, radii and material."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    for instance in depsgraph.object_instances:
        if instance.object.original == obj and instance.object.type == "POINTCLOUD":
            data = instance.object.data
            n = len(data.points)
            positions, radius = np.empty(n * 3, np.float32), np.empty(n, np.float32)
            data.attributes["position"].data.foreach_get("vector", positions)
            data.attributes["radius"].data.foreach_get("value", radius)
            matrix = np.array(instance.matrix_world, dtype=np.float64)
            return {"positions": positions.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3], "radius": radius,
                    "material": data.materials[0].original}
    raise AssertionError(f"{obj.name} evaluates to no point cloud")


def user_compositor(scene):
    """A user's own compositor: the image (Render Layers; 5.3: the effect's Group Input) -> Blur -> output,
    plus a File Output of their own."""
    tree, _ = compat.compositor_tree(scene, create=True)
    source = next(n for n in tree.nodes if n.bl_idname in ("CompositorNodeRLayers", "NodeGroupInput"))
    output = next(n for n in tree.nodes if n.bl_idname in ("CompositorNodeComposite", "NodeGroupOutput"))
    blur = tree.nodes.new("CompositorNodeBlur")
    blur.name, blur.location = "User Blur", (150.0, 60.0)
    tree.links.new(source.outputs["Image"], blur.inputs[0])
    tree.links.new(blur.outputs[0], output.inputs[0])
    mine, _ = compat.new_file_output(tree, "//mine/", "mine_####", "RGBA")
    mine.name = "User File Output"
    tree.links.new(blur.outputs[0], mine.inputs[0])
    return tree


def snapshot(tree):
    nodes = {n.name: (n.bl_idname, tuple(n.location), n.label) for n in tree.nodes if compositor.TAG not in n}
    links = {(link.from_node.name, link.from_socket.identifier, link.to_node.name, link.to_socket.identifier)
             for link in tree.links if compositor.TAG not in link.from_node and compositor.TAG not in link.to_node}
    return nodes, links


def test_setup_is_non_destructive_idempotent_and_removable(addon, tmp_path):
    scene = bpy.context.scene
    tree = user_compositor(scene)
    before = snapshot(tree)
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    ours = compositor.our_nodes(tree)
    assert set(ours) == {"frame", "render_layers", "depth", "color"}
    assert ours["frame"].label == compositor.FRAME_LABEL
    assert all(ours[role].parent == ours["frame"] for role in ("render_layers", "depth", "color"))
    assert snapshot(tree) == before
    assert scene.view_layers[0].use_pass_z
    count = len(tree.nodes)
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path / "other")) == {"FINISHED"}
    assert len(tree.nodes) == count  # twice adds nothing; the folder is updated
    assert compositor.output_directory(scene) == str(tmp_path / "other") + "/"
    assert bpy.ops.depth_cloud.remove_outputs() == {"FINISHED"}
    assert snapshot(tree) == before and len(tree.nodes) == len(before[0])
    assert compat.compositor_tree(scene, create=False)[0] == tree
    assert not bpy.ops.depth_cloud.remove_outputs.poll()


def test_setup_in_a_scene_without_compositor_then_remove_restores_it(addon, tmp_path):
    scene = bpy.context.scene
    assert compat.compositor_tree(scene, create=False)[0] is None or not scene.use_nodes
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    tree, _ = compat.compositor_tree(scene, create=False)
    assert len(compositor.our_nodes(tree)) == 4
    tree_name = tree.name
    bpy.ops.depth_cloud.remove_outputs()
    if hasattr(scene, "compositor_effects"):  # 5.3: the effect Set Up added is gone with its group
        assert len(scene.compositor_effects) == 0 and tree_name not in bpy.data.node_groups
    elif hasattr(scene, "compositing_node_group"):
        assert scene.compositing_node_group is None and tree_name not in bpy.data.node_groups
    else:
        assert not scene.use_nodes


def test_render_then_build_matches_ray_cast_and_exr_colors(scene_with_camera, tmp_path):
    scene, cam = scene_with_camera
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    render(scene, 2)
    assert {"depth_0002.exr", "color_0002.exr", "camera_0002.json"} <= set(os.listdir(tmp_path))
    assert bpy.ops.depth_cloud.build() == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj is builder.find_cloud(scene) and obj.select_get()
    assert "camera from camera_0002.json" in scene.depth_cloud.last_message

    origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
    truth, _ = scenes.ray_cast_grid(scene, origins, directions)
    hit = np.isfinite(truth[..., 0])
    points = scenes.vertex_positions_world(obj)
    assert len(points) == hit.sum() == scene.render.resolution_x * scene.render.resolution_y
    assert np.abs(points - truth[hit]).max() < 2e-5
    color = read_exr(tmp_path / "color_0002.exr", require_depth=False).color
    np.testing.assert_array_equal(vertex_colors(obj), color[hit])
    # It renders as points: the evaluated geometry is a point cloud, same positions, radius = the circle around
    # the pixel's footprint (a round point of it covers its pixel), with the material that emits Color.
    cloud = evaluated_point_cloud(obj)
    np.testing.assert_allclose(cloud["positions"], points, atol=1e-6)
    camera = CameraModel.from_blender(cam, scene)
    fx, fy, _, _ = camera.intrinsics_px()
    depth = read_exr(tmp_path / "depth_0002.exr").depth[hit]
    np.testing.assert_allclose(cloud["radius"], depth / np.sqrt(fx * fy) / np.sqrt(2), rtol=1e-5)
    assert cloud["material"] == builder.points_material()


def test_point_size_scales_the_rendered_radius_and_a_rebuild_changes_it(scene_with_camera, tmp_path):
    """The Point Size reaches the Geometry Nodes modifier's input (an ID property up to 5.1, the modifier's
    ``properties.inputs`` from 5.2) and so the evaluated points' radius."""
    scene, _ = scene_with_camera
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    render(scene, 1)
    radius = None
    for size in (2.5, 0.5):
        assert bpy.ops.depth_cloud.build(point_size=size) == {"FINISHED"}
        obj = bpy.context.active_object
        modifiers = [m for m in obj.modifiers if m.type == "NODES"]
        assert len(modifiers) == 1  # a rebuild reuses the modifier
        identifier = modifiers[0].node_group.interface.items_tree[builder.POINT_SIZE_INPUT].identifier
        assert compat.modifier_input(modifiers[0], identifier) == pytest.approx(size)
        if radius is None:
            radius = np.empty(len(obj.data.vertices), np.float32)
            obj.data.attributes[builder.RADIUS_ATTRIBUTE].data.foreach_get("value", radius)
        np.testing.assert_allclose(evaluated_point_cloud(obj)["radius"], size * radius, rtol=1e-6)


def test_build_options_stride_range_and_camera_space(scene_with_camera, tmp_path):
    scene, cam = scene_with_camera
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    render(scene, 1)
    image = read_exr(tmp_path / "depth_0001.exr")
    camera = CameraModel.from_blender(cam, scene)
    bpy.ops.depth_cloud.build(stride=2, use_depth_range=True, depth_near=0.0, depth_far=7.0)
    obj = bpy.context.active_object
    keep = np.zeros(image.depth.shape, bool)
    keep[::2, ::2] = image.depth[::2, ::2] <= 7.0
    expected = backproject(image.depth, camera)[keep]
    assert 0 < len(obj.data.vertices) == keep.sum() < image.depth.size / 4
    assert np.abs(scenes.vertex_positions_world(obj) - expected).max() < 1e-5

    bpy.ops.depth_cloud.build(space="CAMERA")
    obj = bpy.context.active_object
    assert obj.parent is not None and obj.parent.get(builder.ROLE) == "camera_empty"
    bpy.context.view_layer.update()
    assert np.abs(scenes.vertex_positions_world(obj) - backproject(image.depth, camera).reshape(-1, 3)).max() < 1e-5
    assert len([o for o in scene.objects if o.get(builder.ROLE) == "cloud"]) == 1
    bpy.ops.depth_cloud.build(space="WORLD")  # back to world space: our empty goes, nothing else
    assert bpy.context.active_object.parent is None
    assert not [o for o in scene.objects if o.get(builder.ROLE) == "camera_empty"]


def test_sidecar_keeps_the_rendered_camera_after_the_animation_changes(scene_with_camera, tmp_path):
    scene, cam = scene_with_camera
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    render(scene, 1)
    rendered_camera = CameraModel.from_blender(cam, scene)
    image = read_exr(tmp_path / "depth_0001.exr")
    cam.location.x += 2.0  # the user edits the camera after rendering
    cam.data.lens = 50.0
    bpy.ops.depth_cloud.build()
    obj = bpy.context.active_object
    expected = backproject(image.depth, rendered_camera).reshape(-1, 3)
    np.testing.assert_allclose(scenes.vertex_positions_world(obj), expected, atol=1e-5)
    os.remove(tmp_path / "camera_0001.json")
    bpy.ops.depth_cloud.build()
    assert "no camera sidecar: used the scene camera 'Camera' at frame 1" in scene.depth_cloud.last_message


def test_rebuild_never_touches_a_users_object(scene_with_camera, tmp_path):
    scene, _ = scene_with_camera
    user_obj = scenes.add_plane(builder.CLOUD_NAME, 1.0, (1, 1, 1))  # the user's object has "our" name
    user_mesh = user_obj.data
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    render(scene, 1)
    bpy.ops.depth_cloud.build()
    first = bpy.context.active_object
    bpy.ops.depth_cloud.build(stride=4)
    assert bpy.context.active_object == first and first != user_obj
    assert user_obj.name == builder.CLOUD_NAME and user_obj.data == user_mesh and len(user_mesh.vertices) == 4
    assert len(first.data.vertices) == 12 * 16


def test_undo_after_build_restores_the_previous_state(addon, tmp_path):
    """Ctrl-Z after Build. The UI pushes an undo step after an UNDO operator; headless we push it
    ourselves (bpy-as-a-module crashes on undo right after a render, and on ``op(..., undo=True)``,
    so this test builds from a file and does not render)."""
    write_exr(tmp_path / "depth_0001.exr", {"V": np.full((48, 64), 5.0, np.float32)})
    scenes.add_camera()
    assert "UNDO" in bpy.types.DEPTH_CLOUD_OT_build.bl_options
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window, screen=window.screen, area=window.screen.areas[0]):
        bpy.ops.ed.undo_push(message="before build")
        bpy.ops.depth_cloud.build(filepath=str(tmp_path / "depth_####.exr"))
        assert len(builder.find_cloud(bpy.context.scene).data.vertices) == 48 * 64
        bpy.ops.ed.undo_push(message="Build Point Cloud")
        bpy.ops.ed.undo()
        assert builder.find_cloud(bpy.context.scene) is None
        bpy.ops.ed.redo()
        assert len(builder.find_cloud(bpy.context.scene).data.vertices) == 48 * 64


@pytest.mark.parametrize("problem, message", [
    ("no_setup", "no depth file given and no outputs set up"),
    ("missing_frame", "no depth file for frame 7"),
    ("corrupt", "not an OpenEXR file"),
    ("no_camera", "no camera sidecar next to the depth file and the scene has no camera"),
    ("resolution", "64x48 px but the camera renders 32x24 px"),
])
def test_bad_input_is_reported_and_changes_nothing(scene_with_camera, tmp_path, problem, message):
    scene, cam = scene_with_camera
    objects_before = set(bpy.data.objects)
    filepath = ""
    if problem != "no_setup":
        bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
        render(scene, 1)
        os.remove(tmp_path / "camera_0001.json")
    if problem == "missing_frame":
        scene.frame_set(7)
    elif problem == "corrupt":
        (tmp_path / "bad.exr").write_text("not an exr")
        filepath = str(tmp_path / "bad.exr")
    elif problem == "no_camera":
        objects_before.discard(cam)
        bpy.data.objects.remove(cam)
    elif problem == "resolution":
        scene.render.resolution_percentage = 50
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.depth_cloud.build(filepath=filepath)
    assert set(bpy.data.objects) == objects_before
    assert message in scene.depth_cloud.last_message


def test_operators_are_searchable_and_explain_themselves(addon):
    for name in ("setup_outputs", "remove_outputs", "build"):
        op = getattr(bpy.ops.depth_cloud, name)
        rna = op.get_rna_type()
        assert rna.name and len(rna.description) > 30, name
        assert {"REGISTER", "UNDO"} <= set(getattr(bpy.types, op.idname()).bl_options)
    assert not bpy.ops.depth_cloud.remove_outputs.poll()


class LayoutRecorder:
    """Stands in for the UILayout Blender passes to Panel.draw (headless Blender draws no regions).

    It checks what the real layout would: every prop exists on its data, every operator is registered.
    """

    def __init__(self, calls):
        self.calls = calls

    def box(self):
        return self

    def row(self, align=False):
        return self

    def column(self, align=False):
        return self

    def label(self, text="", icon="NONE"):
        self.calls.append(("label", text))

    def prop(self, data, name, text=None):
        assert name in data.bl_rna.properties, name
        self.calls.append(("prop", name))

    def prop_search(self, data, name, search_data, search_name, text=None):
        assert name in data.bl_rna.properties, name
        assert search_name in search_data.bl_rna.properties, search_name
        self.calls.append(("prop", name))

    def operator(self, idname, text=None, icon="NONE"):
        module, name = idname.split(".")
        op = getattr(getattr(bpy.ops, module), name)
        op.get_rna_type()  # raises if not registered
        self.calls.append(("operator", idname))
        return op.get_rna_type().bl_rna.properties and type("Props", (), {})()


def test_panel_draws_its_workflow(scene_with_camera, tmp_path):
    assert panel.VIEW3D_PT_depth_cloud.bl_label == "Depth → Point Cloud"
    assert panel.VIEW3D_PT_depth_cloud.bl_space_type == "VIEW_3D" and panel.VIEW3D_PT_depth_cloud.bl_region_type == "UI"
    calls = []
    drawer = type("Drawer", (), {"layout": LayoutRecorder(calls)})()
    panel.VIEW3D_PT_depth_cloud.draw(drawer, bpy.context)
    assert ("operator", "depth_cloud.setup_outputs") in calls and ("operator", "depth_cloud.build") in calls
    assert ("label", "Not set up") in calls
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    calls.clear()
    panel.VIEW3D_PT_depth_cloud.draw(drawer, bpy.context)
    assert ("label", f"Writing to {tmp_path}/") in calls and ("prop", "view_layer") in calls
    assert ("operator", "depth_cloud.hide_clouds_from_renders") not in calls
    assert ("operator", "depth_cloud.exact_capture_settings") not in calls
    scene, _ = scene_with_camera
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    bpy.ops.depth_cloud.build()
    scene.camera.data.dof.use_dof = True
    calls.clear()
    panel.VIEW3D_PT_depth_cloud.draw(drawer, bpy.context)
    text = " ".join(t for kind, t in calls if kind == "label")
    assert "Capture paused: 'DepthCloud' would be in the render" in text and "depth of field" in text
    assert ("operator", "depth_cloud.hide_clouds_from_renders") in calls
    assert ("operator", "depth_cloud.exact_capture_settings") in calls


def test_cloud_renders_as_colored_points_in_cycles(scene_with_camera, tmp_path):
    """Rendered alone through the same camera, each pixel-centre ray hits its own point's sphere, so the
    1-sample Combined pass reproduces the captured colors."""
    scene, cam = scene_with_camera
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path / "frames"))
    render(scene, 1)
    bpy.ops.depth_cloud.build()
    cloud = bpy.context.active_object
    captured = read_exr(tmp_path / "frames" / "color_0001.exr", require_depth=False).color
    bpy.ops.depth_cloud.remove_outputs()
    for obj in scene.objects:
        obj.hide_render = obj.type == "MESH" and obj != cloud
    image = read_exr(scenes.render_multilayer(scene, str(tmp_path / "cloud.exr")))
    close = np.all(np.abs(image.color - captured) < 1e-4, axis=-1)
    assert close.mean() > 0.95, close.mean()


def test_cloud_renders_as_colored_points_in_eevee(tmp_path):
    """Points, then discs. EEVEE runs in a subprocess: without a usable OpenGL it aborts the process instead of
    raising."""
    import json
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "scripts", "eevee_cloud.py")
    run = subprocess.run([sys.executable, script, str(tmp_path / "eevee.exr")], capture_output=True, text=True,
                         timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["engine"].startswith("BLENDER_EEVEE")
    red, green = np.array(result["left"]), np.array(result["right"])
    assert red[0] > 0.8 and red[1] == red[2] == 0.0, red   # premultiplied: alpha ~0.9 at the disc edges
    assert green[1] > 0.8 and green[0] == green[2] == 0.0, green
    # Discs: instances whose colours the material reads on the instancer (EEVEE too); they cover every pixel.
    red, green = np.array(result["discs_left"]), np.array(result["discs_right"])
    assert red[0] > 0.99 and red[1] == red[2] == 0.0, red
    assert green[1] > 0.99 and green[0] == green[2] == 0.0, green
    assert result["discs_covered"] > 0.999, result


def test_no_sidecar_when_the_compositor_does_not_run(scene_with_camera, tmp_path):
    scene, _ = scene_with_camera
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.render.use_compositing = False  # e.g. a preview render: no EXRs, so no camera either
    render(scene, 1)
    assert not any(tmp_path.iterdir())
    scene.render.use_compositing = True
    render(scene, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["camera_0001.json", "color_0001.exr", "depth_0001.exr"]


def test_python_exits_cleanly_after_register_and_unregister(tmp_path):
    """bpy 4.2 segfaults at exit after unregistering a PropertyGroup that has methods (or a property
    with an update callback); the add-on avoids both. Checked in a fresh process."""
    import subprocess
    import sys

    code = ("import os, sys, tempfile; os.environ['BLENDER_USER_RESOURCES'] = tempfile.mkdtemp(); "
            f"sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(__file__)))!r}); "
            "import bpy, depth_cloud_addon; depth_cloud_addon.register(); depth_cloud_addon.unregister(); "
            "print('done')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "done" in run.stdout, (run.returncode, run.stderr[-1500:])


def test_a_sequence_needs_a_source_but_may_start_on_a_frame_not_rendered_yet(scene_with_camera, tmp_path):
    scene, _ = scene_with_camera
    objects_before = set(bpy.data.objects)
    with pytest.raises(RuntimeError, match="no depth file given and no outputs set up"):
        bpy.ops.depth_cloud.build(sequence=True)
    assert set(bpy.data.objects) == objects_before
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    assert bpy.ops.depth_cloud.build(sequence=True) == {"FINISHED"}  # frame 1 is not rendered yet
    cloud = builder.find_cloud(scene)
    assert cloud.depth_cloud_sequence.enabled and len(cloud.data.vertices) == 0
    assert "no depth file for frame 1" in cloud.depth_cloud_sequence.message


def test_a_build_that_releases_the_arrays_writes_the_same_mesh(scene_with_camera, tmp_path):
    """Build frees each array once written (peak memory, issue 15): same vertices, colours and radii as a
    write from arrays that stay, both as a new mesh and written over a mesh of the same size."""
    scene, cam = scene_with_camera
    path = scenes.render_multilayer(scene, str(tmp_path / "frame.exr"))
    image = read_exr(path)
    camera = CameraModel.from_blender(cam, scene)
    kept = cloud_arrays(image.depth, image.color, camera)
    expected = {"position": kept.points.ravel(), builder.COLOR_ATTRIBUTE: kept.colors.ravel(),
                builder.RADIUS_ATTRIBUTE: kept.radii}
    for rebuild in (False, True):  # a new mesh, then the same-size mesh written over
        released = cloud_arrays(image.depth, image.color, camera)
        obj = builder.build_cloud(bpy.context, released, release=True)
        assert released.nbytes == 0 and len(released.points) == 0
        mesh = obj.data
        assert len(mesh.vertices) == len(kept.points) > 1000
        for name, values in expected.items():
            got = np.empty(values.size, np.float32)
            attribute = mesh.attributes[name]
            attribute.data.foreach_get({"FLOAT_VECTOR": "vector", "FLOAT_COLOR": "color"}.get(attribute.data_type,
                                                                                           "value"), got)
            np.testing.assert_array_equal(got, values, err_msg=f"{name}, rebuild={rebuild}")


def test_the_preferences_attach_when_enabled_as_a_plain_addon_and_take_effect(tmp_path):
    """Enabled as a plain add-on (the package on sys.path), the preferences live under "depth_cloud_addon"; Frame
    Cache and Points While Playing change what sequences use."""
    from depth_cloud_addon.blender import sequence
    from depth_cloud_addon.blender.preferences import PLAYBACK_POINTS

    scenes.empty_scene()
    assert bpy.ops.preferences.addon_enable(module="depth_cloud_addon") == {"FINISHED"}
    try:
        prefs = bpy.context.preferences.addons["depth_cloud_addon"].preferences
        assert prefs is not None and prefs.playback_points == PLAYBACK_POINTS
        assert sequence.playback_points() == PLAYBACK_POINTS
        prefs.playback_points, prefs.cache_mb = 250_000, 64
        assert sequence.playback_points() == 250_000 and sequence.cache_limit_bytes() == 64 * 2**20
    finally:
        bpy.ops.preferences.addon_disable(module="depth_cloud_addon")
