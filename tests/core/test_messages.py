"""The messages a new user meets: one line each, and the command answers what was asked.

Partials of different jobs refused by ``merge`` (unless ``--force``); a frame range far larger than the frames
present answered at once in a few lines; any path the OS accepts (names that are not UTF-8) accepted; ``cameras
--images`` recorded relative to the output folder; the README's computer-vision recipe (an ``object_id`` legend
into a folder that does not exist yet) and no legend left when the output cannot be written; every format in
``--help``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from plyfile import PlyData

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.formats.outputs import OUTPUT_FORMATS
from depth_cloud_addon.core.frames.files import CaptureInfo, write_camera_sidecar
from depth_cloud_addon.core.frames.passes import cryptomatte_float_bits, murmur3_32

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAMERA = CameraModel(width_px=16, height_px=12, lens_mm=30.0)


def write_shot(folder, frames=(1, 2, 3), depth=5.0, passes=False):
    os.makedirs(folder, exist_ok=True)
    for frame in frames:
        write_exr(os.path.join(folder, f"depth_{frame:04d}.exr"), {"V": np.full(CAMERA.shape, depth, np.float32)})
        write_exr(os.path.join(folder, f"color_{frame:04d}.exr"),
                  {c: np.full(CAMERA.shape, 0.5, np.float32) for c in "RGBA"})
        capture = None
        if passes:
            ids = np.full(CAMERA.shape, murmur3_32("Box"), np.uint32)
            write_exr(os.path.join(folder, f"passes_{frame:04d}.exr"), {
                "CryptoObject00.r": cryptomatte_float_bits(ids).view(np.float32),
                "CryptoObject00.g": np.ones(CAMERA.shape), "CryptoObject00.b": np.zeros(CAMERA.shape),
                "CryptoObject00.a": np.zeros(CAMERA.shape)},
                attributes={"cryptomatte/3ae39a5/name": "CryptoObject",
                            "cryptomatte/3ae39a5/manifest": json.dumps({"Box": f"{murmur3_32('Box'):08x}"})})
            capture = CaptureInfo(passes=("CRYPTOMATTE",))
        pose = np.eye(4)
        pose[:3, 3] = (0.1 * frame, 0.0, 0.0)
        write_camera_sidecar(os.path.join(folder, f"camera_{frame:04d}.json"),
                             CAMERA.replace(frame=frame, cam2world=pose), capture)
    return folder


def run(*argv) -> int:
    try:
        return cli.main([str(a) for a in argv])
    except SystemExit as exc:
        return int(exc.code)


def err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# -- merge: partials of one job -----------------------------------------------------------------------------


def test_merge_refuses_partials_of_different_jobs_unless_forced(tmp_path, capsys):
    a, b = write_shot(tmp_path / "shot_a"), write_shot(tmp_path / "shot_b", frames=(4, 5), depth=7.0)
    assert run("convert", a / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", "0.5", "--partial",
               "-o", tmp_path / "a.npz") == 0
    assert run("convert", b / "depth_####.exr", "--frames", "4-5", "--fuse", "--voxel", "0.5", "--partial",
               "-o", tmp_path / "b.npz") == 0
    capsys.readouterr()
    assert run("merge", tmp_path / "a.npz", tmp_path / "b.npz", "-o", tmp_path / "m.ply") == 2
    line, = err_lines(capsys)
    assert "are partials of different jobs" in line and "shot_a/depth_####.exr" in line and "--force" in line
    assert not (tmp_path / "m.ply").exists()
    assert run("merge", tmp_path / "a.npz", tmp_path / "b.npz", "--force", "-o", tmp_path / "m.ply") == 0
    assert PlyData.read(str(tmp_path / "m.ply"))["vertex"].count > 0
    # chunks of one job still merge without --force
    assert run("convert", a / "depth_####.exr", "--frames", "3", "--fuse", "--voxel", "0.5", "--partial",
               "-o", tmp_path / "a3.npz") == 0
    assert run("convert", a / "depth_####.exr", "--frames", "1-2", "--fuse", "--voxel", "0.5", "--partial",
               "-o", tmp_path / "a12.npz") == 0
    assert run("merge", tmp_path / "a3.npz", tmp_path / "a12.npz", "-o", tmp_path / "one.ply") == 0


def test_merge_refuses_sums_beyond_the_documented_limit_no_int64_wrap(tmp_path, capsys):
    shot = write_shot(tmp_path / "shot")
    for frames, name in (("1-2", "p1.npz"), ("3", "p2.npz")):
        assert run("convert", shot / "depth_####.exr", "--frames", frames, "--fuse", "--voxel", "0.5", "--partial",
                   "-o", tmp_path / name) == 0
    for name in ("p1.npz", "p2.npz"):  # edited: sums near 2**62, which would wrap int64 when added
        with np.load(tmp_path / name) as data:
            arrays = dict(data)
        arrays["sums_hi"] = arrays["sums_hi"].copy()
        arrays["sums_hi"][0] = (1 << 62) - 1
        np.savez(tmp_path / name, **arrays)
    capsys.readouterr()
    assert run("merge", tmp_path / "p1.npz", tmp_path / "p2.npz", "-o", tmp_path / "m.ply") == 2
    line, = err_lines(capsys)
    assert "p1.npz" in line and "exceed the limit" in line
    assert not (tmp_path / "m.ply").exists()


# -- frame ranges far larger than the frames present --------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["convert", "{d}/depth_####.exr", "-o", "{d}/out/c_####.ply"],
    ["convert", "{d}/depth_####.exr", "--fuse", "-o", "{d}/out/fused.ply"],
    ["depth", "{d}/depth_####.exr", "--camera", "{d}/camera_####.json", "--to", "distance", "-o", "{d}/out/d_####.exr"],
    ["cameras", "--camera", "{d}/camera_####.json", "-o", "{d}/out/cams"],
    ["dataset", "{d}/depth_####.exr", "-o", "{d}/out/ds"],
])
def test_a_range_of_two_million_frames_with_eight_present_is_answered_at_once(tmp_path, command):
    write_shot(tmp_path, frames=range(1, 9))
    argv = [a.format(d=tmp_path) for a in command] + ["--frames", "1-2000000"]
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    elapsed = time.monotonic() - start
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr[-2000:]
    assert len(lines) <= 20, lines[:30]
    assert any("frames 9-2000000 (1,999,992 frames): no " in line for line in lines), lines
    assert elapsed < 60, elapsed  # (4 minutes and 4 million lines before)


# -- paths the OS accepts -----------------------------------------------------------------------------------


def test_names_that_are_not_utf8_are_accepted(tmp_path):
    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/sh\xffot")
    write_shot(folder, frames=(1, 2))
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/o\xfeut")
    commands = [["convert", f"{folder}/depth_####.exr", "--frames", "1-2", "-o", f"{out}/c_\udcfd####.ply"],
                ["convert", f"{folder}/depth_0001.exr", "-o", f"{out}/one.npz"],
                ["convert", f"{folder}/depth_####.exr", "--frames", "1-2", "--fuse", "-o", f"{out}/fused.ply"],
                ["depth", f"{folder}/depth_####.exr", "--camera", f"{folder}/camera_####.json", "--frames", "1-2",
                 "--to", "distance", "-o", f"{out}/d_####.exr"],
                ["cameras", "--camera", f"{folder}/camera_####.json", "--frames", "1-2", "--images",
                 f"{folder}/color_####.exr", "-o", f"{out}/cams"],
                ["dataset", f"{folder}/depth_####.exr", "--frames", "1-2", "-o", f"{out}/ds"],
                ["inspect", f"{folder}/depth_0001.exr", f"{out}/c_\udcfd0001.ply", f"{out}/one.npz",
                 f"{out}/ds/transforms.json"]]
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", *map(os.fsencode, argv)], cwd=REPO,
                              capture_output=True)
        assert done.returncode == 0, (argv[0], done.stdout[-1000:], done.stderr[-2000:])
        assert b"Error" not in done.stderr and b"Traceback" not in done.stderr, done.stderr
    assert PlyData.read(os.fsencode(out) + b"/c_\xfd0002.ply")["vertex"].count == 16 * 12
    assert os.path.isfile(os.fsencode(out) + b"/d_0002.exr")
    assert os.path.isfile(os.fsencode(out) + b"/ds/colmap/sparse/0/points3D.bin")
    assert b"/sh\xffot/depth_0001.exr: OpenEXR" in done.stdout  # inspect names the file as it is


def test_a_path_the_os_refuses_is_one_line(tmp_path, capsys):
    write_shot(tmp_path, frames=(1,))
    long_name = "x" * 300 + ".ply"  # longer than a file name may be
    assert run("convert", tmp_path / "depth_0001.exr", "-o", tmp_path / long_name) == 2
    line, = err_lines(capsys)
    assert "cannot write" in line and "File name too long" in line
    assert run("convert", tmp_path / "depth_0001.exr", "-o", str(tmp_path / "a\0b.ply")) == 2
    line, = err_lines(capsys)
    assert line.startswith("depth-cloud: error: ")


# -- cameras --images ---------------------------------------------------------------------------------------


def test_cameras_records_images_relative_to_the_output_folder(tmp_path, capsys, monkeypatch):
    write_shot(tmp_path / "frames", frames=(1, 2))
    monkeypatch.chdir(tmp_path)
    assert run("cameras", "--camera", "frames/camera_####.json", "--frames", "1-2", "--images",
               "frames/color_####.exr", "-o", "export/sub") == 0
    transforms = json.loads((tmp_path / "export" / "sub" / "transforms.json").read_text())
    paths = [frame["file_path"] for frame in transforms["frames"]]
    assert paths == ["../../frames/color_0001.exr", "../../frames/color_0002.exr"]
    assert all((tmp_path / "export" / "sub" / p).resolve().is_file() for p in paths)
    capsys.readouterr()
    assert run("cameras", "--camera", "frames/camera_####.json", "--frames", "1-2", "--images",
               "color_####.exr", "-o", "export/other") == 0  # relative to the working folder: none there
    assert "warning: --images: 2 of 2 file(s) do not exist (e.g. color_0001.exr)" in capsys.readouterr().err


# -- the README's computer-vision recipe and legends ---------------------------------------------------------


def test_object_id_legends_go_into_an_output_folder_that_does_not_exist_yet(tmp_path, capsys, monkeypatch):
    write_shot(tmp_path / "depth_cloud", frames=(1, 2), passes=True)
    monkeypatch.chdir(tmp_path)
    assert run("convert", "depth_cloud/depth_####.exr", "--frames", "1-2", "--attributes", "object_id,edge",
               "--format", "npz", "-o", "gt/cloud_####.npz") == 0, capsys.readouterr().err
    for frame in (1, 2):
        legend = json.loads((tmp_path / "gt" / f"cloud_{frame:04d}.legend.json").read_text())
        assert legend == {f"{murmur3_32('Box'):08x}": "Box"}
        with np.load(tmp_path / "gt" / f"cloud_{frame:04d}.npz") as data:
            assert (data["object_id"].view(np.uint32) == murmur3_32("Box")).all()


def test_no_legend_is_left_when_the_output_cannot_be_written(tmp_path, capsys):
    write_shot(tmp_path, frames=(1, 2), passes=True)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "c_0001.ply").mkdir()  # frame 1's output cannot be written
    assert run("convert", tmp_path / "depth_####.exr", "--frames", "1-2", "--attributes", "object_id",
               "-o", tmp_path / "o" / "c_####.ply") == 1
    assert "frame 1: " in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "o")) == ["c_0001.ply", "c_0002.legend.json", "c_0002.ply"]


# -- --help -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["convert", "merge"])
def test_every_output_format_is_in_help(command, capsys):
    assert run(command, "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    for fmt in OUTPUT_FORMATS:
        for extension in fmt.extensions:
            assert extension in text, (extension, text)
    if command == "convert":
        assert "--origin X,Y,Z|auto" in text
