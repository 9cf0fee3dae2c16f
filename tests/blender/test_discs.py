"""Discs (issue 25): a cloud that looks like the scene from other viewpoints, and Points that cover their pixel.

The main test renders tools/orbit.py's textured set (view-independent emission textures) through a capture camera,
builds the cloud with the add-on, renders it from cameras orbited 10 and 25 degrees about the set and compares it
with renders of the real set from there, over the pixels the capture camera saw (see tools/orbit.py). The others
check the discs' normals against Blender's own Normal pass, and Discs in sequences, bakes and the panel.
"""

from __future__ import annotations

import bpy
import numpy as np
import plyfile
import pytest

from depth_cloud_addon.blender import builder, frames, panel, sequence
from depth_cloud_addon.core import CameraModel, read_exr
from depth_cloud_addon.core.formats.exr import read_channels
from depth_cloud_addon.core.frames.cloud import BuildOptions, cloud_arrays, read_cloud
from depth_cloud_addon.core.frames.passes import read_passes
from tests.blender.conftest import render_two_frame_sequence
from tests.blender.test_addon import LayoutRecorder
from tools import orbit, scenes

#: The table of the orbit test, printed at the end of the run (conftest.pytest_terminal_summary).
ORBIT_TABLE: list[str] = []


def test_discs_look_like_the_set_from_orbited_cameras_and_points_cover_their_pixel(tmp_path):
    figures = orbit.run(tmp_path, geometries=("POINTS", "DISCS"))
    ORBIT_TABLE.extend(orbit.table(figures))
    assert all(m.pixels.sum() > 20_000 for m in figures.measured)  # most of the orbit views is measured
    discs = figures.rows["Discs"]
    for k, angle in enumerate(orbit.ANGLES):
        holes, psnr = discs[2 * k], discs[2 * k + 1]
        assert holes <= 0.5, (angle, holes)
        assert psnr >= 30.0 and psnr >= figures.ideal[k] - 3.0, (angle, psnr, figures.ideal[k])
    # Through the capture camera a round point of the default Point Size covers its pixel (pi/4 of it before).
    assert figures.coverage["Points"] >= 99.0, figures.coverage
    assert figures.coverage["Discs"] >= 99.0, figures.coverage


def disc_normals(obj) -> np.ndarray:
    """(N, 3) world-space normals of a discs cloud: its ``disc_rotation`` quaternions turning +Z."""
    q = np.empty(len(obj.data.vertices) * 4, np.float32)
    obj.data.attributes[builder.ROTATION_ATTRIBUTE].data.foreach_get("value", q)
    w, x, y, z = q.reshape(-1, 4).T.astype(np.float64)
    local = np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], -1)
    return local @ np.array(obj.matrix_world)[:3, :3].T


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_discs_face_blenders_normals_from_the_pass_or_estimated(addon, tmp_path):
    """With the Normal pass captured, each disc faces along it (the side the camera sees); without it, the core's
    estimate from the neighbouring points agrees with Blender's normals on the flat surfaces."""
    scene = scenes.configure_scene(addon, 128, 96)
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), extra_passes={"NORMAL"})
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    assert bpy.ops.depth_cloud.build(geometry="DISCS") == {"FINISHED"}
    obj = bpy.context.active_object
    assert scene.depth_cloud.last_message.startswith("Depth Cloud: ") and " discs from frame 1" in \
        scene.depth_cloud.last_message
    inputs = frames.frame_inputs(scene, str(tmp_path), True, 1)
    cloud = read_cloud(inputs, BuildOptions(discs=True))
    shown = disc_normals(obj)
    assert len(shown) == len(cloud.rows) > 5000
    np.testing.assert_allclose(shown, cloud.normals, atol=2e-5)  # the mesh shows the core's discs (float32)
    normal_pass = read_passes(read_channels(tmp_path / "passes_0001.exr")).normal
    from_pass = normal_pass[cloud.rows, cloud.cols].astype(np.float64)
    towards = cloud.camera.cam2world[:3, 3] - cloud.points
    from_pass *= np.sign(np.sum(from_pass * towards, -1))[:, None]
    assert np.percentile(angles_deg(cloud.normals, from_pass), 99.9) < 0.05  # the pass, normalised
    # Export with Discs: the surfel layout, the same discs.
    assert bpy.ops.depth_cloud.export_ply(output=str(tmp_path / "out" / "discs.ply"), discs=True) == {"FINISHED"}
    vertex = plyfile.PlyData.read(str(tmp_path / "out" / "discs.ply"))["vertex"]
    np.testing.assert_array_equal(np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], -1), cloud.normals)
    np.testing.assert_array_equal(vertex["radius"], cloud.radii)

    # Without the pass: estimated from the depth. Compared where Blender's normal is one plane's (its 3x3
    # neighbourhood agrees within 0.5 degrees: inside a face, away from creases and silhouettes).
    depth = read_exr(tmp_path / "depth_0001.exr").depth
    estimated = cloud_arrays(depth, None, CameraModel.from_blender(cam, scene), discs=True)
    assert (estimated.rows == cloud.rows).all()
    padded = np.pad(normal_pass, ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    h, w = depth.shape
    flat = np.ones((h, w), bool)
    for dr in range(3):
        for dc in range(3):
            with np.errstate(invalid="ignore"):
                flat &= angles_deg(padded[dr:dr + h, dc:dc + w], normal_pass) < 0.5
    inside = flat[cloud.rows, cloud.cols]
    error = angles_deg(estimated.normals, from_pass)[inside]
    assert inside.sum() > 3000 and np.median(error) < 0.02 and np.percentile(error, 99) < 0.05, \
        (inside.sum(), np.median(error), np.percentile(error, 99))

    # Color By works on discs (the instances' attributes): Normal, rendered through the capture camera.
    assert bpy.ops.depth_cloud.build(geometry="DISCS", attributes={"NORMAL"}) == {"FINISHED"}
    assert bpy.ops.depth_cloud.color_by(mode="NORMAL") == {"FINISHED"}
    obj = bpy.context.active_object
    for other in scene.objects:
        other.hide_render = other.type == "MESH" and other != obj
    scene.render.use_compositing = False
    rendered = read_exr(scenes.render_multilayer(scene, str(tmp_path / "by_normal.exr")), require_depth=False).color
    normal = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.attributes["normal"].data.foreach_get("vector", normal)
    expected = normal.reshape(-1, 3) * 0.5 + 0.5
    difference = np.abs(rendered[cloud.rows, cloud.cols, :3] - expected)[inside]
    assert np.percentile(difference, 99) < 1e-3, np.percentile(difference, 99)


class Recorder(LayoutRecorder):
    """The panel's layout, recording what each operator button sets."""

    def operator(self, idname, text=None, icon="NONE"):
        super().operator(idname, text, icon)
        button = type("Button", (), {})()
        self.calls.append(("button", idname, text, button))
        return button


def test_discs_in_sequences_playback_bakes_and_the_panel(addon, tmp_path, monkeypatch):
    scene = render_two_frame_sequence(tmp_path)
    calls: list = []
    panel.VIEW3D_PT_depth_cloud.draw(type("Drawer", (), {"layout": Recorder(calls)})(), bpy.context)
    assert [c[2] for c in calls if c[0] == "button" and getattr(c[3], "geometry", None) == "DISCS"] == ["Discs"]

    assert bpy.ops.depth_cloud.build(sequence=True, geometry="DISCS") == {"FINISHED"}
    obj = bpy.context.active_object
    settings = obj.depth_cloud_sequence
    assert settings.geometry == "DISCS" and sequence.build_options(settings).discs
    groups = {m.node_group.name for m in obj.modifiers if m.type == "NODES"}
    assert groups == {builder.DISCS_GROUP_NAME}
    for frame in (2, 1):  # the live cloud shows each frame's discs
        scene.frame_set(frame)
        expected = read_cloud(frames.frame_inputs(scene, str(tmp_path), True, frame), BuildOptions(discs=True))
        np.testing.assert_allclose(scenes.vertex_positions_world(obj), expected.points, atol=1e-5)
        np.testing.assert_allclose(disc_normals(obj), expected.normals, atol=2e-5)

    # Playing: thinned to 1 pixel in 2x2, the discs keep their normals and grow to cover the rest.
    full = read_cloud(frames.frame_inputs(scene, str(tmp_path), True, 1), BuildOptions(discs=True))
    width, height = scenes.render_size(scene)
    monkeypatch.setattr(sequence, "PLAYBACK_POINTS", width * height // 4)
    sequence.on_playback_start(scene)
    try:
        scene.frame_set(1)
        keep = (full.rows % 2 == 0) & (full.cols % 2 == 0)
        assert len(obj.data.vertices) == keep.sum() < len(full.rows) / 3
        radii = np.empty(keep.sum(), np.float32)
        obj.data.attributes[builder.RADIUS_ATTRIBUTE].data.foreach_get("value", radii)
        np.testing.assert_allclose(radii, 2 * full.radii[keep], rtol=1e-6)
        np.testing.assert_allclose(disc_normals(obj), full.normals[keep], atol=2e-5)
        assert "(1 pixel in 2x2 while playing)" in settings.message
    finally:
        sequence.on_playback_stop(scene)
    assert len(obj.data.vertices) == len(full.rows)

    # Bake: one object of discs per frame; a fused cloud is made of points.
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME", geometry="DISCS") == {"FINISHED"}
    baked = [o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]
    assert len(baked) == 2
    for o in baked:
        assert builder.ROTATION_ATTRIBUTE in o.data.attributes
        assert [m.node_group.name for m in o.modifiers if m.type == "NODES"] == [builder.DISCS_GROUP_NAME]
    with pytest.raises(RuntimeError, match="a fused cloud is made of points"):
        bpy.ops.depth_cloud.bake_sequence(mode="FUSED", geometry="DISCS")

    # The same object built as Points again: the points' modifier only, and no disc rotations left.
    bpy.ops.depth_cloud.build(geometry="POINTS")
    points = builder.find_cloud(scene)
    assert [m.node_group.name for m in points.modifiers if m.type == "NODES"] == [builder.NODE_GROUP_NAME]
    assert builder.ROTATION_ATTRIBUTE not in points.data.attributes
