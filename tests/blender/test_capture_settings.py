"""Renders whose depth does not match their pixels (depth of field, motion blur) are recorded and flagged."""

from __future__ import annotations

import json

import bpy
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import builder, compositor
from tools import scenes


@pytest.fixture
def scene(tmp_path):
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.frame_start, scene.frame_end = 1, 2
    yield scene, tmp_path
    depth_cloud_addon.unregister()


def capture_block(folder, frame: int) -> dict:
    return json.loads((folder / f"camera_{frame:04d}.json").read_text())["capture"]


@pytest.mark.parametrize("setting", ["depth of field", "motion blur"])
def test_the_sidecar_records_it_and_build_and_sequences_warn(scene, setting):
    scene, folder = scene
    if setting == "depth of field":
        scene.camera.data.dof.use_dof = True
        scene.camera.data.dof.aperture_fstop = 1.0
        scene.camera.data.dof.focus_distance = 6.0
    else:
        scene.render.use_motion_blur = True
    assert any(setting in w for w in compositor.doubtful_settings(scene))  # the panel shows it before rendering
    scene.render.filepath = str(folder / "render_")
    bpy.ops.render.render(animation=True)
    capture = capture_block(folder, 1)
    if setting == "depth of field":
        assert capture["depth_of_field"] == {"fstop": 1.0, "focus_distance": 6.0}
    else:
        assert capture["motion_blur"]["shutter"] == pytest.approx(scene.render.motion_blur_shutter)
    scene.frame_set(1)
    assert bpy.ops.depth_cloud.build() == {"FINISHED"}
    message = scene.depth_cloud.last_message
    assert f"{setting} was on" in message and "the Depth pass disagrees with the pixel rays" in message
    bpy.ops.depth_cloud.build(sequence=True)
    scene.frame_set(2)
    assert f"{setting} was on" in builder.find_cloud(scene).depth_cloud_sequence.message


def test_one_click_turns_both_off_and_the_next_capture_is_clean(scene):
    scene, folder = scene
    scene.camera.data.dof.use_dof = True
    scene.render.use_motion_blur = True
    assert len(compositor.doubtful_settings(scene)) == 2
    assert bpy.ops.depth_cloud.exact_capture_settings() == {"FINISHED"}
    assert not scene.camera.data.dof.use_dof and not scene.render.use_motion_blur
    assert compositor.doubtful_settings(scene) == []
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    capture = capture_block(folder, 1)
    assert "depth_of_field" not in capture and "motion_blur" not in capture
    assert capture["depth_files"] == {"depth_0001.exr": "planar"} and capture["fps"] == pytest.approx(24.0)
    assert capture["engine"] == "CYCLES"
    bpy.ops.depth_cloud.build()
    assert "was on" not in scene.depth_cloud.last_message


def test_build_without_a_sidecar_warns_from_the_scene_settings(scene):
    scene, folder = scene
    scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    (folder / "camera_0001.json").unlink()
    scene.render.use_motion_blur = True
    bpy.ops.depth_cloud.build()
    message = scene.depth_cloud.last_message
    assert "no camera sidecar: used the scene camera" in message and "motion blur was on" in message


def test_bake_and_export_report_the_frames_warnings(scene):
    scene, folder = scene
    scene.render.use_motion_blur = True
    scene.render.filepath = str(folder / "render_")
    bpy.ops.render.render(animation=True)
    assert bpy.ops.depth_cloud.bake_sequence(mode="FUSED") == {"FINISHED"}
    assert "motion blur was on" in scene.depth_cloud.last_message and "(frames 1, 2)" in scene.depth_cloud.last_message
    assert bpy.ops.depth_cloud.export_ply(output=str(folder / "c_####.ply"), all_frames=True) == {"FINISHED"}
    message = scene.depth_cloud.last_message
    assert message.startswith("Depth Cloud: exported 2 PLY file(s)") and "motion blur was on" in message


def test_eevees_sample_jitter_is_shown_and_turned_off_for_capture(scene):
    scene, _ = scene
    engines = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
    scene.render.engine = "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"
    scene.eevee.taa_render_samples = 16
    assert [w for w in compositor.doubtful_settings(scene) if w.startswith("EEVEE rendered 16 jittered samples")]
    assert bpy.ops.depth_cloud.exact_capture_settings() == {"FINISHED"}
    assert scene.eevee.taa_render_samples == 1 and compositor.doubtful_settings(scene) == []
    scene.render.engine = "CYCLES"  # Cycles takes depth at the pixel centre: its samples do not matter
    assert compositor.doubtful_settings(scene) == []
