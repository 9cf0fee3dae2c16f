"""``dataset`` writes its folder whole: staged beside the target and swapped in at the end, so another shot's
dataset there stays intact until then (killed, stopped or failed); one run at a time (a lock a dead run does not
hold); never over its inputs or a folder of someone else's files."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.frames.files import write_camera_sidecar

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_shot(folder, frames=3, size=(48, 32), shade=0.5):
    """A tilted floor seen from a camera that moves sideways, with a colour ramp (``shade``: another shot)."""
    w, h = size
    camera = CameraModel(width_px=w, height_px=h, lens_mm=30.0, clip_end=100.0)
    rows, cols = np.mgrid[0:h, 0:w]
    folder.mkdir(parents=True, exist_ok=True)
    for frame in range(1, frames + 1):
        pose = np.eye(4)
        pose[:3, 3] = (0.1 * frame, 0.0, 0.0)
        depth = (4.0 + 3.0 * rows / h + 0.2 * np.sin(cols / 5.0)).astype(np.float32)
        color = np.stack([cols / w, rows / h, np.full(depth.shape, shade), np.ones(depth.shape)], -1)
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": depth})
        write_exr(folder / f"color_{frame:04d}.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", camera.replace(frame=frame, cam2world=pose))
    return folder


def tree(folder) -> dict:
    """Every file under ``folder`` (relative path -> sha256), hidden ones included."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def hidden_beside(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder.parent) if n.startswith("." + folder.name))


def dataset(*argv) -> int:
    return cli.main(["dataset", *map(str, argv)])


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depth-cloud: error: "), err
    return err[0]


@pytest.fixture
def shots(tmp_path):
    a = write_shot(tmp_path / "a")
    b = write_shot(tmp_path / "b", shade=0.9)
    return a, b, tmp_path / "out"


def test_text_over_binary_leaves_no_other_model_beside_it(shots, capsys):
    a, b, out = shots
    assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 0
    assert (out / "colmap" / "sparse" / "0" / "points3D.bin").exists()
    assert dataset(b / "depth_####.exr", "--frames", "1-2", "--colmap", "text", "-o", out) == 0
    model = sorted(os.listdir(out / "colmap" / "sparse" / "0"))
    assert model == ["cameras.txt", "images.txt", "points3D.txt"]  # COLMAP would read another shot's .bin first
    assert sorted(os.listdir(out / "images")) == ["frame_0001.png", "frame_0002.png"]
    assert hidden_beside(out) == []


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_run_stopped_over_another_dataset_leaves_it_whole(tmp_path, how):
    old = write_shot(tmp_path / "old", frames=2)
    big = write_shot(tmp_path / "big", frames=40, size=(320, 240), shade=0.1)
    out = tmp_path / "out"
    assert dataset(old / "depth_####.exr", "--frames", "1-2", "-o", out) == 0
    before = tree(out)
    process = subprocess.Popen([sys.executable, "-m", "depth_cloud_addon.cli", "dataset", str(big / "depth_####.exr"),
                                "--frames", "1-40", "-o", str(out)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # stop it once the new dataset is being written beside the old one
        staged = [n for n in hidden_beside(out) if n.endswith(".tmp")]
        if staged and os.path.isdir(tmp_path / staged[0] / "images") and os.listdir(tmp_path / staged[0] / "images"):
            break
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.02)
    process.send_signal(getattr(signal, how))
    status = process.wait(timeout=60)
    assert status == (-signal.SIGKILL if how == "SIGKILL" else 128 + signal.SIGTERM), process.stderr.read()
    assert tree(out) == before  # the other shot's dataset, every file as it was
    leftovers = [n for n in hidden_beside(out) if not n.endswith(".lock")]
    assert (leftovers != []) == (how == "SIGKILL")  # killed: its staged folder stays until the next run
    assert dataset(big / "depth_####.exr", "--frames", "1-3", "-o", out) == 0  # the next run cleans up
    assert hidden_beside(out) == []
    assert sorted(os.listdir(out / "images")) == [f"frame_{f:04d}.png" for f in (1, 2, 3)]
    assert tree(out) != before


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(shots, capsys):
    from depth_cloud_addon.core.atomic import folder_lock

    a, _, out = shots
    with folder_lock(out):  # as a live run holds it
        assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 2
        line = one_error(capsys)
        assert "another depth-cloud run is writing it" in line and f"pid {os.getpid()}" in line
    assert not out.exists()
    assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 0


def test_a_dead_run_holds_no_lock(shots, capsys):
    a, _, out = shots
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]);"
                               "from depth_cloud_addon.core.atomic import folder_lock;"
                               "lock = folder_lock(sys.argv[2]); lock.__enter__(); print('held', flush=True);"
                               "time.sleep(600)", REPO, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 2
    assert "another depth-cloud run is writing it" in one_error(capsys)
    holder.kill()
    holder.wait()
    assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 0


def test_two_concurrent_runs_give_one_whole_dataset_never_a_mix(shots):
    """Started together into one folder: each run writes a whole dataset of its own shot or is refused in one line;
    the folder ends as one shot's dataset, file for file."""
    a, b, out = shots
    alone = {}
    frames = {"a": "1-3", "b": "1-2"}  # a mix of the two would hold a's frame 3 beside b's model
    for shot in (a, b):
        assert dataset(shot / "depth_####.exr", "--frames", frames[shot.name], "-o",
                       shot.parent / f"alone_{shot.name}") == 0
        alone[shot.name] = tree(shot.parent / f"alone_{shot.name}")
    runs = [subprocess.Popen([sys.executable, "-m", "depth_cloud_addon.cli", "dataset", str(shot / "depth_####.exr"),
                              "--frames", frames[shot.name], "-o", str(out)], cwd=REPO, stderr=subprocess.PIPE,
                             text=True) for shot in (a, b)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
    for status, err in results:
        assert status == 0 or (status == 2 and "another depth-cloud run is writing it" in err
                               and len(err.strip().splitlines()) == 1), err
    assert any(status == 0 for status, _ in results)
    assert tree(out) in (alone["a"], alone["b"])
    assert hidden_beside(out) == []


@pytest.mark.parametrize("where", ["the shot's folder", "its parent"])
def test_an_output_folder_that_holds_an_input_is_refused(shots, capsys, where):
    a, _, _ = shots
    out = a if where == "the shot's folder" else a.parent
    before = tree(a)
    assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 2
    line = one_error(capsys)
    assert "the output folder holds an input of this job" in line and "depth_0001.exr" in line
    assert tree(a) == before


def test_a_folder_of_someone_elses_files_is_refused(shots, capsys):
    a, _, out = shots
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert dataset(a / "depth_####.exr", "--frames", "1-3", "-o", out) == 2
    assert "holds files depth-cloud did not write (notes.txt" in one_error(capsys)
    assert os.listdir(out) == ["notes.txt"]
