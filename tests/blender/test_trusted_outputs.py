"""In Blender, the same trust as the command line (one core: Export, Export Dataset and Build go through it).

A Cycles capture of two frames with Extra Passes (Object Index, Cryptomatte):

* a passes file left from an earlier render (Extra Passes turned off, the frame rendered again) is not read: Build
  warns and gives no labels of objects that are not in the render;
* Export refuses an output whose files would be one of the frame's inputs (its object_id legend);
* Export Dataset stages its folder, refuses a folder that holds the frames, one that another run holds, and
  leaves no other shot's model beside the new one.
"""

from __future__ import annotations

import json
import math
import os
import shutil

import bpy
import numpy as np
import pytest

import depth_cloud_addon
from tools import scenes


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trusted")
    scene = scenes.empty_scene(32, 24)
    scenes.add_camera(location=(0.0, -6.0, 1.0), rotation=(math.radians(80), 0.0, 0.0), lens=30.0)
    scenes.add_plane("Floor", 20.0, (0.5, 0.5, 0.5), location=(0.0, 0.0, -1.0)).pass_index = 3
    scenes.add_cube("Gone", 1.5, (0.8, 0.1, 0.1), location=(0.0, 0.0, 0.0)).pass_index = 7
    scene.frame_start, scene.frame_end = 1, 2
    depth_cloud_addon.register()
    try:
        assert bpy.ops.depth_cloud.setup_outputs(directory=str(folder), extra_passes={"OBJECT_INDEX",
                                                                                      "CRYPTOMATTE"}) == {"FINISHED"}
        bpy.ops.render.render(animation=True)
        yield scene, folder
    finally:
        depth_cloud_addon.unregister()


def test_a_stale_passes_file_is_not_read_into_a_build(capture):
    scene, folder = capture
    assert (folder / "passes_0001.exr").is_file()
    scene.frame_set(1)
    pattern = str(folder / "depth_####.exr")
    assert bpy.ops.depth_cloud.build(filepath=pattern, attributes={"OBJECT_ID"}) == {"FINISHED"}
    assert "object_id" in bpy.context.active_object.data.attributes  # this render's labels
    bpy.data.objects.remove(bpy.context.active_object)  # (a cloud in the render would pause the capture)
    # Extra Passes off, "Gone" removed, frame 1 rendered again: its old passes file stays beside it.
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(folder), extra_passes=set()) == {"FINISHED"}
    bpy.data.objects.remove(bpy.data.objects["Gone"])
    stale_time = os.stat(folder / "passes_0001.exr").st_mtime_ns
    scene.frame_start = scene.frame_end = 1
    bpy.ops.render.render(animation=True)
    assert os.stat(folder / "passes_0001.exr").st_mtime_ns == stale_time  # not written again
    sidecar = json.loads((folder / "camera_0001.json").read_text())
    assert "passes" not in sidecar.get("capture", {})
    assert bpy.ops.depth_cloud.build(filepath=pattern, attributes={"OBJECT_ID"}) == {"FINISHED"}
    mesh = bpy.context.active_object.data
    assert "object_id" not in mesh.attributes  # no label of "Gone", which is not in this render
    assert "passes_0001.exr is not of this render" in scene.depth_cloud.last_message
    bpy.data.objects.remove(bpy.context.active_object)
    scene.frame_start, scene.frame_end = 1, 2


def test_export_refuses_an_output_whose_legend_is_an_input(capture, tmp_path):
    scene, folder = capture
    shutil.copyfile(folder / "depth_0002.exr", tmp_path / "shot.legend.exr")
    shutil.copyfile(folder / "camera_0002.json", tmp_path / "shot.legend.json")  # NAME.json: its sidecar
    before = (tmp_path / "shot.legend.json").read_bytes()
    scene.frame_set(2)
    with pytest.raises(RuntimeError, match="is an input of this job"):
        bpy.ops.depth_cloud.export_ply(filepath=str(tmp_path / "shot.legend.exr"), output=str(tmp_path / "shot.ply"),
                                       attributes={"OBJECT_ID"})
    assert (tmp_path / "shot.legend.json").read_bytes() == before and not (tmp_path / "shot.ply").exists()


def test_export_dataset_refuses_the_frames_folder_and_a_held_one(capture, tmp_path):
    from depth_cloud_addon.core.atomic import folder_lock

    scene, folder = capture
    listing = sorted(os.listdir(folder))
    with pytest.raises(RuntimeError, match="the output folder holds an input of this job"):
        bpy.ops.depth_cloud.export_dataset(filepath=str(folder / "depth_####.exr"), directory=str(folder))
    assert sorted(os.listdir(folder)) == listing
    with folder_lock(tmp_path / "held"), pytest.raises(RuntimeError, match="another depth-cloud run is writing it"):
        bpy.ops.depth_cloud.export_dataset(filepath=str(folder / "depth_####.exr"), directory=str(tmp_path / "held"))
    assert not (tmp_path / "held").exists()


def test_export_dataset_replaces_its_folder_whole(capture, tmp_path):
    scene, folder = capture
    out = tmp_path / "dataset"
    assert bpy.ops.depth_cloud.export_dataset(filepath=str(folder / "depth_####.exr"), directory=str(out),
                                              colmap_format="BINARY") == {"FINISHED"}
    assert bpy.ops.depth_cloud.export_dataset(filepath=str(folder / "depth_####.exr"), directory=str(out),
                                              colmap_format="TEXT") == {"FINISHED"}
    assert sorted(os.listdir(out / "colmap" / "sparse" / "0")) == ["cameras.txt", "images.txt", "points3D.txt"]
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".")) == []  # nothing staged is left
    points = (out / "colmap" / "sparse" / "0" / "points3D.txt").read_text().splitlines()
    tracks = [len(line.split()[8:]) // 2 for line in points if not line.startswith("#")]
    assert tracks and min(tracks) >= 2  # COLMAP refines them
    assert np.isfinite([float(line.split()[7]) for line in points if not line.startswith("#")]).all()
