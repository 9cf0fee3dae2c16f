"""PLY export read back by Blender's own PLY importer, and the Export PLY operator on a sequence."""

import bpy
import numpy as np
import pytest

import depth_cloud_addon
from depth_cloud_addon.core import CameraModel, backproject, read_exr
from tests.blender.conftest import render_two_frame_sequence
from tools import scenes


@pytest.fixture
def sequence(tmp_path):
    scenes.empty_scene()
    depth_cloud_addon.register()
    yield render_two_frame_sequence(tmp_path), tmp_path
    depth_cloud_addon.unregister()


def test_export_ply_range_imports_back_into_blender(sequence):
    scene, folder = sequence
    pattern = str(folder / "ply" / "cloud_####.ply")
    assert bpy.ops.depth_cloud.export_ply(output=pattern, all_frames=True, normals=True, radius=True) == {"FINISHED"}
    for frame in (1, 2):
        camera = CameraModel.from_json((folder / f"camera_{frame:04d}.json").read_text())
        points = backproject(read_exr(folder / f"depth_{frame:04d}.exr").depth, camera).reshape(-1, 3)
        points = points[np.isfinite(points[:, 0])].astype(np.float32)
        before = set(bpy.data.objects)
        bpy.ops.wm.ply_import(filepath=str(folder / "ply" / f"cloud_{frame:04d}.ply"))
        imported = (set(bpy.data.objects) - before).pop()
        positions = np.empty(len(imported.data.vertices) * 3, np.float32)
        imported.data.vertices.foreach_get("co", positions)
        assert len(imported.data.vertices) == len(points)
        np.testing.assert_array_equal(positions.reshape(-1, 3), points)
    assert "exported 2 PLY file(s)" in scene.depth_cloud.last_message


def test_export_ply_reports_missing_frames(sequence):
    scene, folder = sequence
    (folder / "depth_0002.exr").unlink()
    bpy.ops.depth_cloud.export_ply(output=str(folder / "c_####.ply"), all_frames=True)
    assert "exported 1 PLY file(s)" in scene.depth_cloud.last_message
    assert "1 failed: frame 2: no depth file for frame 2" in scene.depth_cloud.last_message


def test_cli_takes_the_camera_from_a_blend_file(sequence):
    scene, folder = sequence
    (folder / "camera_0002.json").unlink()  # no sidecar: the camera must come from the .blend at frame 2
    blend = str(folder / "shot.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    from depth_cloud_addon import cli

    out = folder / "from_blend.ply"
    assert cli.main(["convert", str(folder / "depth_0002.exr"), "--blend", blend, "--camera-object", "Camera",
                     "--frame", "2", "-o", str(out)]) == 0
    scene = bpy.context.scene
    scene.frame_set(2)
    camera = CameraModel.from_blender(scene.objects["Camera"], scene)
    points = backproject(read_exr(folder / "depth_0002.exr").depth, camera).reshape(-1, 3)
    from plyfile import PlyData

    vertex = PlyData.read(str(out))["vertex"]
    np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], -1),
                                  points[np.isfinite(points[:, 0])].astype(np.float32))
    assert cli.main(["convert", str(folder / "depth_0002.exr"), "--blend", str(folder / "nope.blend"),
                     "-o", str(out)]) == 2


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("name", ["depth_0001.exr", "color_0001.exr", "camera_0001.json"])
def test_export_ply_never_writes_over_an_input(sequence, name):
    scene, folder = sequence
    before = _snapshot(folder)
    # By its name, no output format is .exr or .json: refused before anything is read.
    with pytest.raises(RuntimeError, match=r"unknown output format \(\.(exr|json)\)"):
        bpy.ops.depth_cloud.export_ply(output=str(folder / name))
    assert _snapshot(folder) == before
    # A .ply that is the input under another name (a link) is the input all the same.
    (folder / "cloud_0001.ply").symlink_to(folder / name)
    before = _snapshot(folder)
    with pytest.raises(RuntimeError, match="the output is an input of this job"):
        bpy.ops.depth_cloud.export_ply(output=str(folder / "cloud_####.ply"))
    assert _snapshot(folder) == before and (folder / "cloud_0001.ply").is_symlink()
    assert "nothing exported" in scene.depth_cloud.last_message


@pytest.mark.parametrize("name", ["depth_0001.exr", "camera_0001.json"])
def test_convert_depth_never_writes_over_an_input(sequence, name):
    scene, folder = sequence
    before = _snapshot(folder)
    with pytest.raises(RuntimeError, match="the output is an input of this job"):
        bpy.ops.depth_cloud.convert_depth(filepath=str(folder / "depth_0001.exr"), output=str(folder / name))
    assert _snapshot(folder) == before


def test_cli_blend_option_rejects_a_file_that_is_not_a_blend(sequence, capsys):
    _, folder = sequence
    fake = folder / "fake.blend"
    fake.write_bytes(b"not a blend file")
    from depth_cloud_addon import cli

    assert cli.main(["convert", str(folder / "depth_0001.exr"), "--blend", str(fake), "-o",
                     str(folder / "x.ply")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"depth-cloud: error: {fake}: cannot open as a .blend file"), err
    assert not (folder / "x.ply").exists()
