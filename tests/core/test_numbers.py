"""Every number from a file or the command line is checked for type and range: finite, positive where it must be,
a number and not a boolean (JSON's ``true`` is not a 1 mm lens, ``1e400`` is not a frame rate)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.errors import CameraError
from depth_cloud_addon.core.frames.files import read_sidecar

CAMERA = CameraModel(width_px=8, height_px=6, lens_mm=20.0, frame=1)


@pytest.fixture
def frame(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": np.full(CAMERA.shape, 5.0, np.float32)})
    (tmp_path / "camera_0001.json").write_text(CAMERA.to_json())
    return tmp_path


def run(*argv) -> int:
    """The exit status, of a parse error (argparse's SystemExit) too."""
    try:
        return cli.main([str(a) for a in argv])
    except SystemExit as exc:
        return int(exc.code)


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depth-cloud: error: "), err
    return err[0]


def sidecar_with(folder, text_of_field: dict, capture=None) -> None:
    """camera_0001.json with fields replaced by raw JSON text (so 1e400 and true are written as such)."""
    data = CAMERA.to_dict()
    text = json.dumps({**data, **{k: f"@{k}@" for k in text_of_field}}
                      | ({"capture": {k: f"@capture.{k}@" for k in capture}} if capture else {}))
    for key, raw in text_of_field.items():
        text = text.replace(f'"@{key}@"', raw)
    for key, raw in (capture or {}).items():
        text = text.replace(f'"@capture.{key}@"', raw)
    (folder / "camera_0001.json").write_text(text)


@pytest.mark.parametrize("field, raw, message", [
    ("lens_mm", "true", "lens_mm must be a positive number, got True"),
    ("sensor_width_mm", "false", "sensor_width_mm must be a positive number"),
    ("lens_mm", "1e400", "lens_mm must be a positive number, got inf"),
    ("clip_end", "1e400", "clip_end must be a finite number, got inf"),
    ("clip_start", "true", "clip_start must be a finite number, got True"),
    ("shift_x", "true", "shift_x must be a finite number, got True"),
    ("width_px", "true", "image size must be whole numbers"),
    ("width_px", "8.5", "image size must be whole numbers"),
    ("height_px", '"6"', "image size must be whole numbers"),
    ("frame", "true", "frame must be a whole number"),
    ("cam2world", "[[true,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]", "cam2world must be a finite 4x4 matrix of numbers"),
    ("cam2world", "[[1,0,0,1e400],[0,1,0,0],[0,0,1,0],[0,0,0,1]]", "cam2world must be a finite 4x4 matrix"),
    ("full_width_px", "true", "the crop window must be whole numbers"),
])
def test_camera_numbers_from_a_sidecar(frame, capsys, field, raw, message):
    extra = {"full_height_px": "6"} if field == "full_width_px" else {}
    sidecar_with(frame, {field: raw, **extra})
    with pytest.raises(CameraError, match=message.replace("(", r"\(")):
        read_sidecar(frame / "camera_0001.json")
    assert run("convert", frame / "depth_0001.exr", "-o", frame / "x.ply") == 2
    line = one_error(capsys)
    assert "camera_0001.json" in line and message in line and not (frame / "x.ply").exists()


@pytest.mark.parametrize("capture, message", [
    ({"fps": "1e400"}, "capture.fps must be a finite number > 0, got inf"),
    ({"fps": "true"}, "capture.fps must be a finite number > 0, got True"),
    ({"fps": "0"}, "capture.fps must be a finite number > 0, got 0"),
    ({"samples": "true"}, "capture.samples must be a whole number >= 0"),
    ({"depth_of_field": '{"fstop": 1e400}'}, "capture.depth_of_field.fstop must be a finite number"),
    ({"objects": '[{"name": "A", "matrix_world": [[1,0,0,1e400],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}]'},
     "capture.objects[0].matrix_world must be a 4x4 list of finite numbers"),
])
def test_capture_numbers_from_a_sidecar(frame, capsys, capture, message):
    sidecar_with(frame, {}, capture)
    with pytest.raises(CameraError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_sidecar(frame / "camera_0001.json")


def test_a_frame_whose_sidecar_fps_is_1e400_fails_and_is_named(frame, capsys):
    sidecar_with(frame, {}, {"fps": "1e400"})
    assert run("convert", frame / "depth_####.exr", "--frames", "1", "--format", "npz", "-o",
               frame / "o_####.npz") == 1
    assert "capture.fps must be a finite number > 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--fps", "inf"], "--fps must be a finite number > 0, got inf"),
    (["--fps", "nan"], "--fps must be a finite number > 0"),
    (["--fps", "1e400"], "--fps must be a finite number > 0, got inf"),
    (["--fps", "0"], "--fps must be a finite number > 0"),
    (["--edge-threshold", "inf"], "--edge-threshold must be a finite number > 0"),
    (["--edge-threshold", "nan"], "--edge-threshold must be a finite number > 0"),
    (["--stride", "0"], "--stride must be >= 1"),
    (["--stride", "2.5"], "--stride: invalid int value: '2.5'"),
    (["--stride", "true"], "--stride: invalid int value: 'true'"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--voxel", "nan"], "--voxel must be a finite number of metres >= 0"),
])
def test_command_line_numbers_are_one_line(frame, capsys, argv, message):
    assert run("convert", frame / "depth_0001.exr", *argv, "-o", frame / "x.ply") == 2
    line = one_error(capsys)
    assert message in line, line
    assert not (frame / "x.ply").exists()


@pytest.mark.parametrize("argv, message", [
    (["--stride", "0"], "--stride must be >= 1"),
    (["--voxel", "nan"], "voxel_size must be a finite number of metres >= 0"),
    (["--voxel", "-1"], "voxel_size must be a finite number of metres >= 0"),
    (["--voxel", "1e400"], "voxel_size must be a finite number of metres >= 0"),
])
def test_dataset_numbers_are_one_line(frame, capsys, argv, message):
    assert run("dataset", frame / "depth_0001.exr", *argv, "-o", frame / "ds") == 2
    assert message in one_error(capsys)
    assert not (frame / "ds").exists()
