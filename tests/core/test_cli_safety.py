"""The CLI on a farm and in a new user's hands: no data lost, one clear line per error, safe to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from plyfile import PlyData

from depth_cloud_addon import __version__, cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.formats.ply import write_ply
from depth_cloud_addon.core.frames.export import recorded_job

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAMERA = CameraModel(width_px=8, height_px=6, lens_mm=20.0)


@pytest.fixture
def frames(tmp_path):
    """depth_0001..0003.exr with camera_0001..0003.json."""
    for frame in (1, 2, 3):
        write_exr(tmp_path / f"depth_{frame:04d}.exr", {"V": np.full(CAMERA.shape, 5.0 + frame, np.float32)})
        (tmp_path / f"camera_{frame:04d}.json").write_text(CAMERA.replace(frame=frame).to_json())
    return tmp_path


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def files(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depth-cloud: error: "), err
    return err[0]


# -- never lose data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["convert", "{d}/depth_####.exr", "--frames", "1-3", "-o", "{d}/out/cloud.ply"],
    ["depth", "{d}/depth_####.exr", "--camera", "{d}/camera_####.json", "--frames", "1-3", "--to", "distance",
     "-o", "{d}/out/distance.exr"],
])
def test_a_sequence_into_one_file_is_refused(frames, capsys, command):
    before = files(frames)
    assert run(*(a.format(d=frames) for a in command)) == 2
    assert "has no # for the frame number: every frame would be written to the same file" in one_error_line(capsys)
    assert files(frames) == before


def test_a_single_file_is_always_written_and_records_its_job(frames, capsys):
    out = frames / "cloud.ply"
    assert run("convert", frames / "depth_0001.exr", "-o", out) == 0
    first = out.read_bytes()
    assert PlyData.read(str(out))["vertex"].count == 48
    assert run("convert", frames / "depth_0001.exr", "--stride", "4", "-o", out) == 0  # other options
    assert PlyData.read(str(out))["vertex"].count == 4 and out.read_bytes() != first
    assert run("convert", frames / "depth_0002.exr", "-o", out) == 0  # another input
    assert recorded_job(out, "ply") is not None
    np.testing.assert_allclose(-PlyData.read(str(out))["vertex"]["z"], 7.0, rtol=1e-6)  # frame 2's depth


def test_a_sequence_resumes_only_the_same_job(frames, capsys):
    args = ["convert", frames / "depth_####.exr", "--frames", "1-3", "-o", frames / "out" / "c_####.ply"]
    assert run(*args) == 0
    capsys.readouterr()
    assert run(*args) == 0
    assert "3 frame(s) already complete from the same inputs and options" in capsys.readouterr().err
    assert run(*args, "--stride", "2") == 0  # other options: every frame redone
    assert "0 of 3" not in (err := capsys.readouterr().err) and "3 of 3 frame(s) written" in err
    assert PlyData.read(str(frames / "out" / "c_0001.ply"))["vertex"].count == 12
    write_exr(frames / "depth_0002.exr", {"V": np.full(CAMERA.shape, 9.0, np.float32)})  # an input changes
    assert run(*args, "--stride", "2") == 0
    err = capsys.readouterr().err
    assert "2 frame(s) already complete" in err and "1 of 1 frame(s) written" in err
    np.testing.assert_allclose(-PlyData.read(str(frames / "out" / "c_0002.ply"))["vertex"]["z"], 9.0, rtol=1e-6)


def test_a_truncated_npz_output_is_redone(frames, capsys):
    args = ["convert", frames / "depth_####.exr", "--frames", "1-2", "--format", "npz",
            "-o", frames / "out" / "c_####.npz"]
    assert run(*args) == 0
    path = frames / "out" / "c_0002.npz"
    path.write_bytes(path.read_bytes()[:200])
    capsys.readouterr()
    assert run(*args) == 0
    assert "1 of 1 frame(s) written" in capsys.readouterr().err
    with np.load(path) as data:
        assert data["points"].shape == (48, 3)


@pytest.mark.parametrize("field, value, message", [
    ("shift_x", float("nan"), "shift_x must be a finite number"),
    ("frame", "1\nend_header", "frame must be a whole number"),
    ("frame", 1.5, "frame must be a whole number"),
])
def test_camera_values_that_would_make_a_broken_or_empty_output(frames, capsys, field, value, message):
    (frames / "camera_0001.json").write_text(json.dumps({**CAMERA.to_dict(), field: value}))
    assert run("convert", frames / "depth_0001.exr", "-o", frames / "x.ply") == 2
    line = one_error_line(capsys)
    assert "camera_0001.json" in line and message in line and not (frames / "x.ply").exists()
    assert run("convert", frames / "depth_####.exr", "--frames", "1-2", "-o", frames / "o" / "x_####.ply") == 1
    assert [p.name for p in (frames / "o").iterdir()] == ["x_0002.ply"]


def test_ply_header_comments_cannot_break_the_header(tmp_path):
    path = tmp_path / "c.ply"
    write_ply(path, np.zeros((2, 3), np.float32), comments=["frame 1\nend_header\nelement face 9", "caméra ☃"])
    ply = PlyData.read(str(path))
    assert ply["vertex"].count == 2 and [e.name for e in ply.elements] == ["vertex"]
    assert all(c.isascii() for c in ply.comments)


# -- one clear line ------------------------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    ("[" * 100_000 + "]" * 100_000, "camera JSON cannot be read: RecursionError"),
    ('{"width_px": ' + "9" * 5000 + "}", "camera JSON cannot be read: ValueError"),
])
def test_hostile_sidecars_are_one_line(frames, capsys, content, message):
    (frames / "camera_0001.json").write_text(content)
    assert run("convert", frames / "depth_0001.exr", "-o", frames / "x.ply") == 2
    line = one_error_line(capsys)
    assert "camera_0001.json" in line and message in line


def test_cameras_output_that_is_a_file_or_cannot_be_made(frames, capsys):
    (frames / "taken").write_text("mine")
    assert run("cameras", "--camera", frames / "camera_0001.json", "-o", frames / "taken") == 2
    assert "taken: is a file, not a folder" in one_error_line(capsys)
    assert (frames / "taken").read_text() == "mine"
    assert run("cameras", "--camera", frames / "camera_0001.json", "-o", frames / "taken" / "sub") == 2
    assert "cannot write" in one_error_line(capsys)


def test_depth_goes_on_past_missing_frames(frames, capsys):
    (frames / "depth_0002.exr").unlink()
    assert run("depth", frames / "depth_####.exr", "--camera", frames / "camera_####.json", "--frames", "1-3",
               "--to", "distance", "-o", frames / "d_####.exr") == 1
    err = capsys.readouterr().err
    assert "failed: frame 2: " in err and "depth_0002.exr" in err and "2 of 3 depth map(s) written, 1 failed" in err
    assert (frames / "d_0001.exr").exists() and (frames / "d_0003.exr").exists()


def test_debug_shows_the_traceback_and_nothing_else_does(frames):
    args = [sys.executable, "-m", "depth_cloud_addon.cli"]
    bad = ["convert", str(frames / "nope.exr"), "-o", str(frames / "x.ply")]
    quiet = subprocess.run(args + bad, capture_output=True, text=True, cwd=REPO_ROOT)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr and len(quiet.stderr.splitlines()) == 1
    loud = subprocess.run(args + ["--debug"] + bad, capture_output=True, text=True, cwd=REPO_ROOT)
    assert loud.returncode == 2 and "Traceback" in loud.stderr


def test_version():
    result = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "--version"], capture_output=True,
                            text=True, cwd=REPO_ROOT)
    assert result.returncode == 0 and result.stdout.strip() == f"depth-cloud {__version__}"


def test_the_version_is_one_everywhere():
    import tomllib

    with open(os.path.join(REPO_ROOT, "blender_manifest.toml"), "rb") as f:
        assert tomllib.load(f)["version"] == __version__
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "depth_cloud_addon.__version__"}


def test_every_option_has_help():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices.values()
    for p in [parser, *subparsers]:
        for action in p._actions:
            if action.dest not in ("help", "command"):
                assert action.help, f"{p.prog}: {action.option_strings or action.dest} has no help text"


# -- safe to stop --------------------------------------------------------------------------------------


@pytest.fixture
def long_sequence(tmp_path):
    """24 frames of 1024x768: a --jobs 2 run lasts a few seconds on 2 cores."""
    camera = CameraModel(width_px=1024, height_px=768, lens_mm=30.0)
    depth = np.linspace(2.0, 20.0, 1024 * 768, dtype=np.float32).reshape(768, 1024)
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    data = (tmp_path / "depth_0001.exr").read_bytes()
    for frame in range(1, 25):
        (tmp_path / f"depth_{frame:04d}.exr").write_bytes(data)
        (tmp_path / f"camera_{frame:04d}.json").write_text(camera.replace(frame=frame).to_json())
    return tmp_path


def _start(folder, *extra):
    return subprocess.Popen([sys.executable, "-m", "depth_cloud_addon.cli", "convert", str(folder / "depth_####.exr"),
                             "--frames", "1-24", "--jobs", "2", "--normals", "--radius", "-o",
                             str(folder / "out" / "c_####.ply"), *extra],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_progress(process, folder, timeout: float = 60.0) -> None:
    """Until one frame's output is complete (a temporary file alone is not progress: a stop removes it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (folder / "out").exists() and any(not p.name.startswith(".") for p in (folder / "out").iterdir()):
            return
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.02)
    raise AssertionError("the run wrote nothing in time")


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited
        return f.read().split()[2] != "Z"


def _assert_gone(pids, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), [p for p in pids if _alive(p)]


def test_sigterm_stops_cleanly(long_sequence):
    process = _start(long_sequence)
    _wait_for_progress(process, long_sequence)
    workers = _children_of(process.pid)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.decode().strip().splitlines()[-1].startswith("depth-cloud: stopped by SIGTERM")
    assert "Traceback" not in err.decode()
    out = list((long_sequence / "out").iterdir())
    assert out and all(p.suffix == ".ply" and not p.name.startswith(".") for p in out)  # no temporary file
    assert all(PlyData.read(str(p))["vertex"].count == 1024 * 768 for p in out)  # each complete
    _assert_gone(workers)


def test_sigkill_of_the_parent_stops_the_workers_and_closes_the_pipe(long_sequence):
    """A farm cancels a task by SIGKILL of the direct child and reads its output to the end."""
    process = _start(long_sequence)
    _wait_for_progress(process, long_sequence)
    workers = _children_of(process.pid)
    assert len(workers) >= 2
    process.kill()
    start = time.monotonic()
    process.communicate(timeout=30)  # end of file only once every process holding the pipe is gone
    assert time.monotonic() - start < 10
    _assert_gone(workers)
    # The next run removes what the killed workers left half-written and finishes the sequence.
    again = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "convert",
                            str(long_sequence / "depth_####.exr"), "--frames", "1-24", "--normals", "--radius", "-o",
                            str(long_sequence / "out" / "c_####.ply")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    names = sorted(p.name for p in (long_sequence / "out").iterdir())
    assert names == [f"c_{f:04d}.ply" for f in range(1, 25)]


def test_inspect_command(frames, capsys):
    assert run("inspect", frames / "depth_0001.exr", frames / "camera_0001.json") == 0
    out = capsys.readouterr().out
    assert "depth_0001.exr: OpenEXR" in out and "depth kind: planar" in out and "camera_0001.json" in out
    write_exr(frames / "lossy.exr", {"R": np.ones(CAMERA.shape, np.float32), "G": np.ones(CAMERA.shape, np.float32),
                                     "B": np.ones(CAMERA.shape, np.float32)}, compression="dwaa")
    (frames / "notes.txt").write_text("hello")
    assert run("inspect", frames / "depth_0001.exr", frames / "notes.txt") == 1
