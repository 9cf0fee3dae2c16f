"""Which files hold a frame: # patterns, the set-up's naming, sidecars. Plain Python, no Blender."""

import json
import os

import numpy as np
import pytest

from depth_cloud_addon.core import (
    CameraError,
    CameraModel,
    DepthCloudError,
    FrameSpecError,
    MissingFrameError,
    write_exr,
)
from depth_cloud_addon.core.frames.files import (
    camera_sidecar_path,
    converted_depth_path,
    find_frame_files,
    frame_files_of,
    frame_inputs,
    frame_path,
    parse_frames,
    read_camera_sidecar,
    setup_file,
    write_camera_sidecar,
)


@pytest.mark.parametrize("pattern, frame, expected", [
    ("/r/depth_####.exr", 7, "/r/depth_0007.exr"),
    ("/r/depth_#.exr", 12, "/r/depth_12.exr"),
    ("/r/shot##/d_######.exr", 3, "/r/shot##/d_000003.exr"),  # the last run is the frame
    ("/r/still.exr", 3, "/r/still.exr"),
    ("/r/depth_####.exr", -1, "/r/depth_-001.exr"),            # as Blender writes negative frames
])
def test_frame_path(pattern, frame, expected):
    assert frame_path(pattern, frame) == expected


def test_setup_naming_finds_color_and_camera(tmp_path):
    for name in ("depth_0003.exr", "color_0003.exr", "camera_0003.json"):
        (tmp_path / name).write_bytes(b"")
    found = find_frame_files(str(tmp_path), 3, from_setup=True)
    assert found.depth_path == str(tmp_path / "depth_0003.exr")
    assert found.color_path == str(tmp_path / "color_0003.exr")
    assert found.camera_path == camera_sidecar_path(str(tmp_path), 3) == str(tmp_path / "camera_0003.json")


def test_other_names_use_a_json_beside_the_file(tmp_path):
    (tmp_path / "shot_010.exr").write_bytes(b"")
    assert find_frame_files(str(tmp_path / "shot_###.exr"), 10, from_setup=False).camera_path is None
    (tmp_path / "shot_010.json").write_text("{}")
    found = find_frame_files(str(tmp_path / "shot_###.exr"), 10, from_setup=False)
    assert (found.color_path, found.camera_path) == (None, str(tmp_path / "shot_010.json"))


def test_missing_depth_file_names_the_frame_and_path(tmp_path):
    with pytest.raises(DepthCloudError, match=r"no depth file for frame 4: .*depth_0004.exr does not exist \(render"):
        find_frame_files(str(tmp_path), 4, from_setup=True)


# -- frame specs, sidecars, the camera rule ----------------------------------------------------------

CAMERA = CameraModel(width_px=4, height_px=3, frame=7)


@pytest.mark.parametrize("text, expected", [
    ("1-3", [1, 2, 3]), ("7", [7]), ("1-2,5,8-9", [1, 2, 5, 8, 9]), (" 2 - 3 ", [2, 3]),
    ("-3--1", [-3, -2, -1]), ("-1-1", [-1, 0, 1]),  # Blender renders negative frames too
    ("1..3", [1, 2, 3]), ("1..2,5", [1, 2, 5]), ("-2..-1", [-2, -1]),  # Flamenco's notation
])
def test_parse_frames(text, expected):
    assert parse_frames(text) == expected


@pytest.mark.parametrize("text", ["3-1", "", "a", "1-", "1,,2", "1-2-3", "1.5", "1...3", "3..1"])
def test_bad_frame_specs_say_what_is_expected(text):
    with pytest.raises(FrameSpecError, match="expected ranges like 1-240"):
        parse_frames(text)


def test_setup_names_follow_blenders_frame_runs(tmp_path):
    assert setup_file(tmp_path, "color", -1) == str(tmp_path / "color_-001.exr")
    assert setup_file(tmp_path, "camera", 12) == str(tmp_path / "camera_0012.json")
    assert converted_depth_path(tmp_path / "depth_0003.exr", "distance") == str(tmp_path / "distance_0003.exr")
    assert converted_depth_path(tmp_path / "shot.exr", "planar") == str(tmp_path / "planar_shot.exr")


def test_sidecar_round_trip_and_clear_errors(tmp_path):
    path = write_camera_sidecar(tmp_path / "camera_0007.json", CAMERA)
    assert read_camera_sidecar(path) == CAMERA
    (tmp_path / "latin1.json").write_bytes(b'{"name": "\xe9"}')
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "bad.json").write_text("{nope")
    for name, message in (("missing.json", "no such camera file"), ("latin1.json", "not UTF-8"),
                          ("folder.json", "cannot read the camera file")):
        with pytest.raises(DepthCloudError, match=message) as info:
            read_camera_sidecar(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name))
    with pytest.raises(CameraError, match=r"bad\.json: camera JSON is not valid JSON"):
        read_camera_sidecar(tmp_path / "bad.json")


def test_the_camera_rule_given_then_sidecar_then_fallback(tmp_path):
    depth = tmp_path / "depth_0007.exr"
    write_exr(depth, {"V": np.ones((3, 4), np.float32)})
    other = CAMERA.replace(lens_mm=85.0)
    fallback = CAMERA.replace(lens_mm=24.0)
    files = frame_files_of(depth)
    with pytest.raises(DepthCloudError, match="no camera sidecar"):
        frame_inputs(files, 7)
    inputs = frame_inputs(files, 7, fallback=lambda: (fallback, "the scene camera"))
    assert inputs.camera == fallback and inputs.uses_fallback_camera and inputs.camera_note == "the scene camera"
    (tmp_path / "camera_0007.json").write_text(json.dumps(CAMERA.to_dict()))
    files = frame_files_of(depth)
    inputs = frame_inputs(files, 7, fallback=lambda: (fallback, "the scene camera"))
    assert inputs.camera == CAMERA and not inputs.uses_fallback_camera
    assert inputs.camera_note == "camera from camera_0007.json"
    assert frame_inputs(files, 7, camera=other).camera == other


def test_the_signature_changes_when_an_input_changes(tmp_path):
    depth = tmp_path / "depth_0007.exr"
    write_exr(depth, {"V": np.ones((3, 4), np.float32)})
    write_camera_sidecar(tmp_path / "camera_0007.json", CAMERA)
    before = frame_inputs(frame_files_of(depth), 7).signature
    stat = os.stat(depth)
    os.utime(depth, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert frame_inputs(frame_files_of(depth), 7).signature != before


@pytest.mark.parametrize("which", ["depth_0007.exr", "color_0007.exr", "camera_0007.json", "passes_0007.exr"])
def test_a_file_replaced_by_another_with_the_same_time_changes_the_signature(tmp_path, which):
    """The live cache keys frames on this: a file of another content whose modification time was kept (a copy with
    `cp -p`, a sync tool) must not show the old frame."""
    depth = tmp_path / "depth_0007.exr"
    write_exr(depth, {"V": np.ones((3, 4), np.float32)})
    write_exr(tmp_path / "color_0007.exr", {c: np.ones((3, 4), np.float32) for c in "RGBA"})
    write_exr(tmp_path / "passes_0007.exr", {"IndexOB.V": np.ones((3, 4), np.float32)})
    write_camera_sidecar(tmp_path / "camera_0007.json", CAMERA)
    before = frame_inputs(frame_files_of(depth), 7).signature
    target = tmp_path / which
    stat = os.stat(target)
    replacement = tmp_path / "replacement"
    replacement.write_bytes(target.read_bytes() + b" ")  # another size
    os.replace(replacement, target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(target).st_mtime_ns == stat.st_mtime_ns
    assert frame_inputs(frame_files_of(depth), 7).signature != before


def test_explicit_files_win_over_the_ones_beside(tmp_path):
    depth = tmp_path / "depth_0001.exr"
    write_exr(depth, {"V": np.ones((3, 4), np.float32)})
    (tmp_path / "color_0001.exr").write_bytes(b"")
    files = frame_files_of(depth)
    assert files.color_path == str(tmp_path / "color_0001.exr") and files.camera_path is None
    files = frame_files_of(depth, color_path=tmp_path / "mine.exr", camera_path=tmp_path / "cam.json")
    assert (files.color_path, files.camera_path) == (str(tmp_path / "mine.exr"), str(tmp_path / "cam.json"))
    with pytest.raises(MissingFrameError, match="depth_0002.exr: no such file"):
        frame_files_of(tmp_path / "depth_0002.exr")


def test_converted_depth_files_find_the_frames_sidecar_and_color(tmp_path):
    for name in ("distance_0004.exr", "planar_0004.exr", "color_0004.exr", "camera_0004.json"):
        (tmp_path / name).write_bytes(b"")
    for name in ("distance_0004.exr", "planar_0004.exr"):
        files = frame_files_of(tmp_path / name)
        assert files.camera_path == str(tmp_path / "camera_0004.json")
        assert files.color_path == str(tmp_path / "color_0004.exr")
