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


def test_cameras_writes_opencv_k_and_nerfstudio_transforms(frames, monkeypatch):
    out = frames / "export"
    monkeypatch.chdir(frames)  # --images as typed in the frames' folder: recorded relative to export/
    assert run("cameras", "--camera", frames / "camera_####.json", "--frames", "1-3", "--images",
               "color_####.exr", "-o", "export") == 0
    cameras = json.loads((out / "cameras.json").read_text())
    fx, fy, cx, cy = CAMERA.intrinsics_px()
    assert [f["frame"] for f in cameras["frames"]] == [1, 2, 3]
    np.testing.assert_allclose(cameras["frames"][0]["K"], [[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]])
    transforms = json.loads((out / "transforms.json").read_text())
    assert [f["file_path"] for f in transforms["frames"]] == ["../color_0001.exr", "../color_0002.exr",
                                                               "../color_0003.exr"]
    assert transforms["cx"] == pytest.approx(cx)  # nerfstudio puts pixel centres at +0.5, like us


# -- convert -------------------------------------------------------------------------------------------

from plyfile import PlyData  # noqa: E402  (an independent PLY reader)

from depth_cloud_addon.core import backproject, pixel_footprint  # noqa: E402
from depth_cloud_addon.core.formats.ply import linear_to_srgb8  # noqa: E402
from depth_cloud_addon.core.frames.cloud import cloud_arrays  # noqa: E402


@pytest.fixture
def colored(frames):
    """color_0001..0003.exr beside the depth files."""
    rng = np.random.default_rng(1)
    for frame in (1, 2, 3):
        rgba = rng.uniform(0, 1, (*CAMERA.shape, 4)).astype(np.float32)
        write_exr(frames / f"color_{frame:04d}.exr", {c: rgba[..., i] for i, c in enumerate("RGBA")})
    return frames


def test_convert_writes_what_an_independent_reader_reads_back_exactly(colored):
    out = colored / "cloud.ply"
    assert run("convert", colored / "depth_0001.exr", "--normals", "--radius", "-o", out) == 0
    vertex = PlyData.read(str(out))["vertex"]
    depth = read_exr(colored / "depth_0001.exr").depth
    color = read_exr(colored / "color_0001.exr", require_depth=False).color
    camera = CAMERA.replace(frame=1)
    valid = depth < 1e9
    points = backproject(depth, camera).astype(np.float32)[valid]
    assert vertex.count == valid.sum() == CAMERA.width_px * CAMERA.height_px - 1
    np.testing.assert_array_equal(np.stack([vertex["x"], vertex["y"], vertex["z"]], -1), points)
    np.testing.assert_array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], -1),
                                  linear_to_srgb8(color[valid][:, :3]))
    # radius: a round point of it covers its pixel (the circle around the footprint's square)
    np.testing.assert_allclose(vertex["radius"], pixel_footprint(depth, camera)[valid] / np.sqrt(2), rtol=1e-6)
    normals = np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], -1)
    towards_camera = camera.cam2world[:3, 3] - points
    np.testing.assert_allclose(normals, towards_camera / np.linalg.norm(towards_camera, axis=1, keepdims=True),
                               atol=1e-6)
    assert vertex["red"].dtype == np.uint8 and vertex["x"].dtype == np.float32


def test_convert_linear_float_colors_and_npz(colored):
    assert run("convert", colored / "depth_0002.exr", "--colors", "linear", "-o", colored / "lin.ply") == 0
    vertex = PlyData.read(str(colored / "lin.ply"))["vertex"]
    color = read_exr(colored / "color_0002.exr", require_depth=False).color
    assert vertex["red"].dtype == np.float32
    np.testing.assert_array_equal(vertex["green"], color[..., 1].ravel()[1:])  # pixel (0, 0) is background
    assert run("convert", colored / "depth_0002.exr", "--format", "npz", "-o", colored / "c.npz") == 0
    with np.load(colored / "c.npz") as data:
        assert set(data.files) == {"points", "colors", "radii", "pixels", "camera", "job"}
        assert data["points"].shape == (47, 3) and data["pixels"][0].tolist() == [1, 0]  # (col, row)
        assert CameraModel.from_json(str(data["camera"])) == CAMERA.replace(frame=2)


def test_convert_geometry_discs_writes_the_surfel_layout(tmp_path, capsys):
    """--geometry discs: PLY nx ny nz and radius (the layout surfel tools read), NPZ normals and radii: each point's
    disc from the core; a format without normals (LAS) and --fuse are refused before any work."""
    camera = CameraModel(width_px=24, height_px=18, lens_mm=30.0)
    depth = np.broadcast_to(np.linspace(4.0, 9.0, 18, dtype=np.float32)[:, None], (18, 24)).copy()  # a sloping floor
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    (tmp_path / "camera_0001.json").write_text(camera.replace(frame=1).to_json())
    expected = cloud_arrays(depth, None, camera.replace(frame=1), discs=True)
    assert run("convert", tmp_path / "depth_0001.exr", "--geometry", "discs", "-o", tmp_path / "discs.ply") == 0
    vertex = PlyData.read(str(tmp_path / "discs.ply"))["vertex"]
    assert [p.name for p in vertex.properties][:7] == ["x", "y", "z", "nx", "ny", "nz", "red"]
    np.testing.assert_array_equal(np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], -1), expected.normals)
    np.testing.assert_array_equal(vertex["radius"], expected.radii)
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], -1).astype(np.float64)
    facing = np.sum(expected.normals * (camera.cam2world[:3, 3] - points), axis=1)
    assert (facing > 0).all() and (expected.radii > pixel_footprint(depth, camera).ravel() / np.sqrt(2)).mean() > 0.9
    assert run("convert", tmp_path / "depth_0001.exr", "--geometry", "discs", "-o", tmp_path / "discs.npz") == 0
    with np.load(tmp_path / "discs.npz") as data:
        np.testing.assert_array_equal(data["normals"], expected.normals)
        np.testing.assert_array_equal(data["radii"], expected.radii)
    capsys.readouterr()
    assert run("convert", tmp_path / "depth_0001.exr", "--geometry", "discs", "-o", tmp_path / "d.las") == 2
    assert "LAS" in capsys.readouterr().err and not (tmp_path / "d.las").exists()
    assert run("convert", tmp_path / "depth_0001.exr", "--geometry", "discs", "--fuse", "-o", tmp_path / "f.ply") == 2
    assert "a fused cloud is made of points" in capsys.readouterr().err


def test_convert_sequence_jobs_resume_and_exit_status(colored, capsys):
    out = colored / "out" / "cloud_####.ply"
    args = ["convert", colored / "depth_####.exr", "--frames", "1-3", "-o", out]
    assert run(*args, "--jobs", "2") == 0
    first = {f: (colored / "out" / f"cloud_{f:04d}.ply").read_bytes() for f in (1, 2, 3)}
    err = capsys.readouterr().err
    assert "frames 3/3" in err and "3 of 3 frame(s) written, 0 failed" in err
    # A truncated output is redone, complete ones are skipped; --jobs 1 writes the same bytes.
    (colored / "out" / "cloud_0002.ply").write_bytes(first[2][:100])
    assert run(*args) == 0
    assert "2 frame(s) already complete" in capsys.readouterr().err
    assert (colored / "out" / "cloud_0002.ply").read_bytes() == first[2]
    # A missing frame fails alone: exit status 1, the others are written, the failure is named.
    (colored / "depth_0003.exr").unlink()
    assert run(*args, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "failed: frame 3: " in err and "depth_0003.exr: no such file" in err
    assert "2 of 3 frame(s) written, 1 failed" in err
    assert sorted(p.name for p in (colored / "out").iterdir()) == ["cloud_0001.ply", "cloud_0002.ply",
                                                                   "cloud_0003.ply"]


def test_convert_without_a_camera_is_bad_input(tmp_path, capsys):
    write_exr(tmp_path / "lonely.exr", {"V": np.full((2, 2), 3.0, np.float32)})
    assert run("convert", tmp_path / "lonely.exr", "-o", tmp_path / "x.ply") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no camera: give --camera CAMERA.json" in err[0]
    assert not (tmp_path / "x.ply").exists()


def test_convert_fuses_a_sequence_into_one_file_with_optional_voxels(colored, capsys):
    out = colored / "fused.ply"
    assert run("convert", colored / "depth_####.exr", "--frames", "1-3", "--fuse", "-o", out) == 0
    vertex = PlyData.read(str(out))["vertex"]
    assert vertex.count == 3 * 47
    assert not list(colored.glob(".fuse-*"))  # the per-frame temporaries are gone
    assert run("convert", colored / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", "0.5",
               "--overwrite", "-o", out) == 0
    points = np.concatenate([backproject(read_exr(colored / f"depth_{f:04d}.exr").depth, CAMERA.replace(frame=f))
                             .reshape(-1, 3)[1:] for f in (1, 2, 3)]).astype(np.float32).astype(np.float64)
    occupied = {tuple(v) for v in np.floor(points / 0.5).astype(np.int64)}
    assert PlyData.read(str(out))["vertex"].count == len(occupied)
    assert run("convert", colored / "depth_0001.exr", "--fuse", "-o", out) == 2
    assert "--fuse writes one file from a sequence" in capsys.readouterr().err


# -- outputs never overwrite inputs; bad options before any work; fusion without temporary files --------


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command, output", [
    # --format: by the extension alone these are refused already (no output format is .exr or .json)
    (["convert", "{d}/depth_0001.exr", "--format", "ply"], "depth_0001.exr"),
    (["convert", "{d}/depth_0001.exr", "--format", "ply"], "color_0001.exr"),
    (["convert", "{d}/depth_0001.exr", "--format", "npz"], "camera_0001.json"),
    (["convert", "{d}/depth_0001.exr", "--format", "ply"], "sub/../depth_0001.exr"),   # resolves to the input
    (["depth", "{d}/depth_0001.exr", "--camera", "{d}/camera_0001.json", "--to", "distance"], "depth_0001.exr"),
    (["depth", "{d}/depth_0001.exr", "--camera", "{d}/camera_0001.json", "--to", "distance"], "camera_0001.json"),
])
def test_an_output_that_names_an_input_is_refused(colored, capsys, command, output):
    (colored / "sub").mkdir()
    before = _snapshot(colored)
    argv = [a.format(d=colored) for a in command] + ["-o", str(colored / output)]
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the output is an input of this job" in err[0], err
    assert _snapshot(colored) == before  # nothing touched


def test_a_sequence_never_writes_over_its_inputs(colored, capsys):
    before = _snapshot(colored)
    assert run("convert", colored / "depth_####.exr", "--frames", "1-2", "--format", "ply", "-o",
               colored / "color_####.exr") == 1
    err = capsys.readouterr().err
    assert err.count("the output is an input of this job") == 2 and "0 of 2 frame(s) written, 2 failed" in err
    assert _snapshot(colored) == before


@pytest.mark.parametrize("voxel", ["-1", "nan", "inf", "0", "1e-30"])
def test_a_bad_voxel_size_exits_2_before_any_work(colored, capsys, voxel):
    out = colored / "fused.ply"
    status = run("convert", colored / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", voxel, "-o", out)
    err = capsys.readouterr().err.strip().splitlines()
    if voxel == "0":  # 0 means no voxels: every point kept
        assert status == 0 and PlyData.read(str(out))["vertex"].count == 3 * 47
        return
    assert status == 2 and err[-1].startswith("depth-cloud: error: --voxel"), err
    assert not out.exists()
    if voxel != "1e-30":  # known bad before any frame is read; 1e-30 only against the points' extent
        assert len(err) == 1, err


def test_two_fusions_into_one_folder_at_once_do_not_collide(colored):
    outputs = [colored / "a.ply", colored / "b.ply"]
    argv = [[sys.executable, "-m", "depth_cloud_addon.cli", "convert", str(colored / "depth_####.exr"), "--frames",
             "1-3", "--fuse", "-o", str(out)] for out in outputs]
    runs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for a in argv]
    for process in runs:
        assert process.wait(timeout=120) == 0, process.stderr.read()
    assert PlyData.read(str(outputs[0]))["vertex"].count == PlyData.read(str(outputs[1]))["vertex"].count == 3 * 47
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    assert sorted(p.name for p in colored.iterdir() if p.suffix not in (".exr", ".json")) == ["a.ply", "b.ply"]


def test_cameras_goes_on_past_an_unreadable_sidecar_and_lists_it(frames, capsys):
    (frames / "camera_0002.json").write_bytes(b'{"name": "\xe9"}')
    assert run("cameras", "--camera", frames / "camera_####.json", "--frames", "1-3", "-o", frames / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "failed:" in line] == [
        f"depth-cloud: failed: frame 2: {frames / 'camera_0002.json'}: not a camera file (not UTF-8 text)"]
    assert err[-1] == "depth-cloud: 2 of 3 camera(s) written, 1 failed"
    assert [f["frame"] for f in json.loads((frames / "out" / "cameras.json").read_text())["frames"]] == [1, 3]
    assert run("cameras", "--camera", frames / "camera_0002.json", "-o", frames / "out2") == 2  # a single one


def test_a_missing_depth_file_is_reported_as_missing_not_as_no_camera(tmp_path, capsys):
    assert run("convert", tmp_path / "depth_0001.exr", "-o", tmp_path / "x.ply") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "depth_0001.exr: no such file" in err[0] and "camera" not in err[0], err
