"""Blender's Export and ``depth-cloud convert`` ask the core's one table of output formats: the same output name
gives the same format from both, or the same refusal (an unknown extension, a package this Python lacks).

Run in every Blender venv: where pye57 and laspy are installed (the 4.2 venv, with the format readers) the E57 and
LAS files of both are read back and compared; elsewhere both refuse them in the same words.
"""

from __future__ import annotations

import importlib.util

import bpy
import numpy as np
import pytest
from plyfile import PlyData

import depth_cloud_addon
from depth_cloud_addon import cli
from tests.blender.conftest import render_two_frame_sequence
from tools import scenes

FRAMES = (1, 2)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export_formats")
    scenes.empty_scene()
    depth_cloud_addon.register()
    yield render_two_frame_sequence(folder), folder
    depth_cloud_addon.unregister()


def _both(scene, folder, name: str, capsys):
    """(CLI status, CLI error line or None, operator result or RuntimeError text) for output ``name`` in a
    folder of each's own."""
    capsys.readouterr()
    status = cli.main(["convert", str(folder / "depth_####.exr"), "--frames", f"{FRAMES[0]}-{FRAMES[-1]}", "-o",
                       str(folder / "cli" / name)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("depth-cloud: error: ")]
    try:
        result = bpy.ops.depth_cloud.export_ply(filepath=str(folder / "depth_####.exr"), all_frames=True,
                                                output=str(folder / "blender" / name))
    except RuntimeError as exc:
        result = str(exc)
    return status, (err[0][len("depth-cloud: error: "):] if err else None), result


def _same_refusal(cli_error: str, operator_error: str, name: str) -> None:
    """The operator's report is ``Error: Depth Cloud: <the CLI's line>``, but for the folder each writes into."""
    assert isinstance(operator_error, str) and cli_error is not None
    assert operator_error.strip() == "Error: Depth Cloud: " + cli_error.replace("/cli/", "/blender/")


@pytest.mark.parametrize("name", ["cloud.xyz", "cloud_####.pcd", "cloud_####.PTS", "cloud"])
def test_an_unknown_extension_is_refused_in_the_same_words_by_both(rendered, capsys, name):
    scene, folder = rendered
    status, cli_error, result = _both(scene, folder, name, capsys)
    assert status == 2 and "unknown output format" in cli_error
    assert ".ply, .npz, .usd, .usda, .usdc, .e57, .las, .laz" in cli_error
    _same_refusal(cli_error, result, name)
    assert not (folder / "cli").exists() or not list((folder / "cli").iterdir())
    assert not (folder / "blender").exists() or not list((folder / "blender").iterdir())


def _available(*modules) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def test_e57_is_one_file_of_one_scan_per_frame_from_both_or_the_same_refusal(rendered, capsys):
    scene, folder = rendered
    status, cli_error, result = _both(scene, folder, "cloud.e57", capsys)
    if not _available("pye57"):
        assert status == 2 and "needs the Python package pye57: pip install 'depth-cloud[survey]'" in cli_error
        _same_refusal(cli_error, result, "cloud.e57")
        return
    import pye57

    assert status == 0 and result == {"FINISHED"}, (cli_error, result, scene.depth_cloud.last_message)
    ours, theirs = pye57.E57(str(folder / "blender" / "cloud.e57")), pye57.E57(str(folder / "cli" / "cloud.e57"))
    assert ours.scan_count == theirs.scan_count == len(FRAMES)
    for index in range(len(FRAMES)):
        a, b = ours.read_scan_raw(index), theirs.read_scan_raw(index)
        for key in ("cartesianX", "cartesianY", "cartesianZ", "colorRed", "colorGreen", "colorBlue"):
            np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(ours.get_header(index).translation, theirs.get_header(index).translation)
        assert len(a["cartesianX"]) > 1000


@pytest.mark.parametrize("name", ["cloud_####.las", "cloud_####.laz"])
def test_las_is_a_file_per_frame_from_both_or_the_same_refusal(rendered, capsys, name):
    scene, folder = rendered
    status, cli_error, result = _both(scene, folder, name, capsys)
    needed = ("laspy", "lazrs") if name.endswith(".laz") else ("laspy",)
    if not _available(*needed):
        assert status == 2 and "pip install 'depth-cloud[survey]'" in cli_error
        _same_refusal(cli_error, result, name)
        return
    import laspy

    assert status == 0 and result == {"FINISHED"}, (cli_error, result, scene.depth_cloud.last_message)
    for frame in FRAMES:
        file = name.replace("####", f"{frame:04d}")
        a, b = laspy.read(str(folder / "blender" / file)), laspy.read(str(folder / "cli" / file))
        assert len(a.x) == len(b.x) > 1000
        for dim in ("X", "Y", "Z", "red", "green", "blue"):
            np.testing.assert_array_equal(np.asarray(a[dim]), np.asarray(b[dim]))
        np.testing.assert_array_equal(a.header.offsets, b.header.offsets)


@pytest.mark.parametrize("name", ["cloud_####.ply", "cloud_####.PLY"])
def test_ply_is_a_file_per_frame_from_both(rendered, capsys, name):
    scene, folder = rendered
    status, cli_error, result = _both(scene, folder, name, capsys)
    assert status == 0 and result == {"FINISHED"}, (cli_error, result)
    for frame in FRAMES:
        file = name.replace("####", f"{frame:04d}")
        a = PlyData.read(str(folder / "blender" / file))["vertex"]
        b = PlyData.read(str(folder / "cli" / file))["vertex"]
        assert a.count == b.count > 1000
        for key in ("x", "y", "z", "red", "green", "blue"):
            np.testing.assert_array_equal(a[key], b[key])


def test_what_a_format_cannot_hold_is_refused_in_the_same_words(rendered, capsys):
    scene, folder = rendered
    capsys.readouterr()
    assert cli.main(["convert", str(folder / "depth_####.exr"), "--frames", "1-2", "--normals", "-o",
                     str(folder / "cli" / "n_####.las")]) == 2
    cli_error = capsys.readouterr().err.strip()[len("depth-cloud: error: "):]
    with pytest.raises(RuntimeError) as raised:
        bpy.ops.depth_cloud.export_ply(filepath=str(folder / "depth_####.exr"), all_frames=True, normals=True,
                                       output=str(folder / "blender" / "n_####.las"))
    assert "LAS holds positions and 16-bit sRGB colours only: normals need PLY, NPZ or USD" in cli_error
    _same_refusal(cli_error, str(raised.value), "n_####.las")
