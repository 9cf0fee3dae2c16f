"""Every depth file says what it holds, under real Blender and Cycles: the converted files the render
handler writes carry ``depthCloud.depthKind`` in their EXR header, the sidecar records the kind of every
depth file of the frame, and Build / Convert Depth read a ``distance_NNNN.exr`` as ray distance."""

from __future__ import annotations

import json

import bpy
import numpy as np
import OpenEXR
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import builder
from depth_cloud_addon.blender.operators import base, groundtruth
from depth_cloud_addon.core import CameraModel, convert_depth, read_exr
from tools import scenes

ATTRIBUTE = "depthCloud.depthKind"


@pytest.fixture
def rendered(tmp_path):
    """A perspective render (lens shift, non-square pixels) of the standard objects; ``render(depth_files)``."""
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0, shift_x=0.1)
    scene.render.pixel_aspect_y = 1.25
    scenes.standard_objects(cam)

    def render(depth_files="PLANAR"):
        bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path), depth_files=depth_files)
        scene.frame_set(1)
        bpy.ops.render.render(write_still=False)

    yield scene, tmp_path, render
    depth_cloud_addon.unregister()


@pytest.fixture
def levels(monkeypatch):
    """The report levels of the ground-truth operators (the real ``finish``, recorded; ``finish_range`` too)."""
    seen = []
    real = base.finish

    def finish(self, context, level, message):
        seen.append(level)
        return real(self, context, level, message)

    monkeypatch.setattr(base, "finish", finish)
    monkeypatch.setattr(groundtruth, "finish", finish)
    return seen


def header_kind(path):
    with OpenEXR.File(str(path), header_only=True) as f:
        return f.header().get(ATTRIBUTE)


def test_a_distance_render_labels_the_converted_file_and_records_both_in_the_sidecar(rendered):
    _, folder, render = rendered
    render("DISTANCE")
    kind = header_kind(folder / "distance_0001.exr")
    assert isinstance(kind, str) and kind == "distance"
    assert read_exr(folder / "distance_0001.exr").depth_kind == "distance"
    assert read_exr(folder / "depth_0001.exr").depth_kind is None  # Blender's File Output node cannot label it
    capture = json.loads((folder / "camera_0001.json").read_text())["capture"]
    assert capture["depth_files"] == {"depth_0001.exr": "planar", "distance_0001.exr": "distance"}


def test_build_from_the_distance_file_gives_the_points_of_the_depth_file(rendered):
    scene, folder, render = rendered
    render("DISTANCE")
    assert bpy.ops.depth_cloud.build(filepath=str(folder / "depth_0001.exr")) == {"FINISHED"}
    from_depth = scenes.vertex_positions_world(builder.find_cloud(scene))
    assert bpy.ops.depth_cloud.build(filepath=str(folder / "distance_0001.exr")) == {"FINISHED"}
    from_distance = scenes.vertex_positions_world(builder.find_cloud(scene))
    assert from_depth.shape == from_distance.shape and len(from_depth) > 1000
    assert np.abs(from_distance - from_depth).max() <= 1e-5


def test_convert_depth_operator_labels_its_output(rendered, levels):
    scene, folder, render = rendered
    render("PLANAR")
    assert not (folder / "distance_0001.exr").exists()
    result = bpy.ops.depth_cloud.convert_depth(filepath=str(folder / "depth_0001.exr"), to_kind="DISTANCE")
    assert result == {"FINISHED"} and levels == ["INFO"]
    assert header_kind(folder / "distance_0001.exr") == "distance"
    camera = CameraModel.from_json((folder / "camera_0001.json").read_text())
    expected = convert_depth(read_exr(folder / "depth_0001.exr").depth, camera, from_kind="planar",
                             to_kind="distance")
    np.testing.assert_array_equal(read_exr(folder / "distance_0001.exr").depth, expected)
    # ... and converting that file back gives planar depth, not a relabelled copy
    back = folder / "back_0001.exr"
    assert bpy.ops.depth_cloud.convert_depth(filepath=str(folder / "distance_0001.exr"), to_kind="PLANAR",
                                             output=str(back)) == {"FINISHED"}
    assert header_kind(back) == "planar"
    planar = read_exr(folder / "depth_0001.exr").depth
    valid = planar < 1e9
    np.testing.assert_allclose(read_exr(back).depth[valid], planar[valid], rtol=1e-6)


def test_convert_depth_never_writes_over_a_file_of_the_frame(rendered):
    """The frame's passes file is one of its files, as the colour and the sidecar are (the CLI's `depth` too)."""
    scene, folder, render = rendered
    render("PLANAR")
    passes = folder / "passes_0001.exr"
    passes.write_bytes(b"the frame's passes")
    with pytest.raises(RuntimeError, match="passes_0001.exr: the output is an input of this job"):
        bpy.ops.depth_cloud.convert_depth(filepath=str(folder / "depth_0001.exr"), to_kind="DISTANCE",
                                          output=str(passes))
    assert passes.read_bytes() == b"the frame's passes"


def test_converting_a_distance_file_to_distance_warns_and_writes_a_labelled_copy(rendered, levels):
    scene, folder, render = rendered
    render("DISTANCE")
    copy = folder / "copy_0001.exr"
    result = bpy.ops.depth_cloud.convert_depth(filepath=str(folder / "distance_0001.exr"), to_kind="DISTANCE",
                                               output=str(copy))
    assert result == {"FINISHED"} and levels == ["WARNING"]
    assert "distance_0001.exr is already distance depth: written unchanged" in scene.depth_cloud.last_message
    assert header_kind(copy) == "distance"
    np.testing.assert_array_equal(read_exr(copy).depth, read_exr(folder / "distance_0001.exr").depth)
