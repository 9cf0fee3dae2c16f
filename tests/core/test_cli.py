"""The depth-cloud command line: exact conversions, # sequences, one-line errors with exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, convert_depth, read_exr, write_exr

CAMERA = CameraModel(width_px=8, height_px=6, lens_mm=20.0, shift_x=0.1, pixel_aspect_y=1.3)


@pytest.fixture
def frames(tmp_path):
    """depth_0001..0003.exr (planar) with camera_0001..0003.json."""
    for frame in (1, 2, 3):
        depth = np.full(CAMERA.shape, 5.0 + frame, np.float32)
        depth[0, 0] = 1e10
        write_exr(tmp_path / f"depth_{frame:04d}.exr", {"V": depth})
        (tmp_path / f"camera_{frame:04d}.json").write_text(CAMERA.replace(frame=frame).to_json())
    return tmp_path


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def test_depth_single_file_matches_the_core(frames):
    out = frames / "distance.exr"
    assert run("depth", frames / "depth_0001.exr", "--camera", frames / "camera_0001.json", "--to", "distance",
               "-o", out) == 0
    depth = read_exr(frames / "depth_0001.exr").depth
    expected = convert_depth(depth, CAMERA, from_kind="planar", to_kind="distance")
    got = read_exr(out).depth
    np.testing.assert_array_equal(got, expected)  # bit-exact float32, NaN where nothing was hit
    assert np.isnan(got[0, 0]) and got[3, 4] > 6.0


def test_depth_sequence_with_patterns(frames):
    assert run("depth", frames / "depth_####.exr", "--camera", frames / "camera_####.json", "--frames", "1-3",
               "--to", "distance", "-o", frames / "distance_####.exr") == 0
    for frame in (1, 2, 3):
        back = convert_depth(read_exr(frames / f"distance_{frame:04d}.exr").depth, CAMERA,
                             from_kind="distance", to_kind="planar")
        np.testing.assert_allclose(back[1:, 1:], 5.0 + frame, rtol=1e-6)


@pytest.mark.parametrize("argv, message", [
    (["depth", "{d}/missing.exr", "--camera", "{d}/camera_0001.json", "--to", "distance", "-o", "{d}/o.exr"],
     "missing.exr: no such file"),
    (["depth", "{d}/depth_0001.exr", "--camera", "{d}/nope.json", "--to", "distance", "-o", "{d}/o.exr"],
     "nope.json: no such camera file"),
    (["depth", "{d}/depth_####.exr", "--camera", "{d}/camera_0001.json", "--to", "distance", "-o", "{d}/o.exr"],
     "has a # frame pattern: give --frames"),
    (["depth", "{d}/depth_####.exr", "--camera", "{d}/camera_####.json", "--frames", "3-1", "--to", "planar",
      "-o", "{d}/o_####.exr"], "--frames '3-1': expected ranges"),
    (["depth", "{d}/depth_0001.exr", "--camera", "{d}/bad.json", "--to", "distance", "-o", "{d}/o.exr"],
     "bad.json: camera JSON is not valid JSON"),
    (["depth", "{d}/depth_0001.exr", "--camera", "{d}/small.json", "--to", "distance", "-o", "{d}/o.exr"],
     "depth map is 8x6 px but the camera renders 4x3 px"),
])
def test_bad_input_is_one_line_and_exit_status_2(frames, capsys, argv, message):
    (frames / "bad.json").write_text("{not json")
    (frames / "small.json").write_text(json.dumps(CAMERA.replace(width_px=4, height_px=3).to_dict()))
    before = sorted(p.name for p in frames.iterdir())
    assert run(*(a.format(d=frames) for a in argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depth-cloud: error: ") and message in err[0], err
    assert sorted(p.name for p in frames.iterdir()) == before  # no partial output


def test_installed_entry_point_runs_without_blender(frames):
    """`python -m depth_cloud_addon.cli` with bpy and mathutils made unimportable."""
    code = ("import sys; sys.modules['bpy'] = None; sys.modules['mathutils'] = None; "
            "from depth_cloud_addon.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "depth", str(frames / "depth_0002.exr"), "--camera",
                             str(frames / "camera_0002.json"), "--to", "distance", "-o", str(frames / "x.exr")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (frames / "x.exr").is_file()


def test_cameras_writes_opencv_k_and_nerfstudio_transforms(frames):
    out = frames / "export"
    assert run("cameras", "--camera", frames / "camera_####.json", "--frames", "1-3", "--images",
               "color_####.exr", "-o", out) == 0
    cameras = json.loads((out / "cameras.json").read_text())
    fx, fy, cx, cy = CAMERA.intrinsics_px()
    assert [f["frame"] for f in cameras["frames"]] == [1, 2, 3]
    np.testing.assert_allclose(cameras["frames"][0]["K"], [[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]])
    transforms = json.loads((out / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == ["color_0001.exr", "color_0002.exr", "color_0003.exr"]
    assert transforms["cx"] == pytest.approx(cx)  # nerfstudio puts pixel centres at +0.5, like us
