"""The one atomic writer: a target is the old file or the new one, never half of one, even when killed.

Every writer of the core goes through it: each is made to fail at the rename, and the target must be
left exactly as it was, with no temporary file behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, atomic, write_exr
from depth_cloud_addon.core.atomic import atomic_path, atomic_write, write_text
from depth_cloud_addon.core.formats.annotations import write_points_csv, write_points_json
from depth_cloud_addon.core.formats.camera_export import write_json
from depth_cloud_addon.core.formats.ply import write_npz, write_ply
from depth_cloud_addon.core.frames.files import write_camera_sidecar

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POINTS = np.arange(12, dtype=np.float32).reshape(4, 3)
PICKS = (["a"], np.array([[1.5, 2.5]]), np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 0.0, -1.0]]))

WRITERS = {
    "ply": lambda path: write_ply(path, POINTS),
    "npz": lambda path: write_npz(path, points=POINTS),
    "exr": lambda path: write_exr(path, {"V": np.ones((2, 3), np.float32)}),
    "json": lambda path: write_json(path, {"a": 1}),
    "sidecar": lambda path: write_camera_sidecar(path, CameraModel(width_px=4, height_px=3)),
    "points_csv": lambda path: write_points_csv(path, *PICKS),
    "points_json": lambda path: write_points_json(path, *PICKS),
    "text": lambda path: write_text(path, "new"),
}


def test_write_text_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_an_exception_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_temporary_names_are_unique_hidden_and_beside_the_target(tmp_path):
    with atomic_path(tmp_path / "a.ply") as first, atomic_path(tmp_path / "a.ply") as second:
        assert first != second
        for tmp in (first, second):
            open(tmp, "wb").close()
            assert os.path.dirname(tmp) == str(tmp_path)
            assert os.path.basename(tmp).startswith(".a.ply.") and tmp.endswith(".tmp")


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "cloud.ply"
    target.write_bytes(b"old")
    code = ("import os, signal, sys\n"
            "from depth_cloud_addon.core.atomic import atomic_write\n"
            "with atomic_write(sys.argv[1]) as f:\n"
            "    f.write(b'x' * 100000); f.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", code, str(target)], cwd=REPO_ROOT,
                            env=dict(os.environ, PYTHONPATH=REPO_ROOT), capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"old"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "cloud.ply"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".cloud.ply.")  # hidden, never the target


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_core_writer_is_atomic(tmp_path, monkeypatch, name):
    target = tmp_path / f"out.{name}"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        WRITERS[name](target)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    WRITERS[name](target)  # and without the failure, the file is written
    assert target.read_bytes() != b"old"


def test_leftovers_of_dead_runs_are_removed_and_others_kept(tmp_path):
    target = tmp_path / "cloud_0001.ply"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = atomic._HOST
    stale = tmp_path / f".cloud_0001.ply.{host}~{dead_pid}-0123abcd.tmp"
    stale_with_suffix = tmp_path / f".cloud_0001.ply.{host}~{dead_pid}-4567abcd.tmp.usdc"  # atomic_path(suffix=)
    live = tmp_path / f".cloud_0001.ply.{host}~{os.getppid()}-0123abcd.tmp"  # a running process (pytest's parent)
    elsewhere = tmp_path / f".cloud_0001.ply.farm-node-7~{dead_pid}-0123abcd.tmp"  # another machine's: unknowable
    foreign = tmp_path / ".cloud_0001.ply.notours.tmp"
    other_target = tmp_path / f".cloud_0002.ply.{host}~{dead_pid}-0123abcd.tmp"
    for path in (stale, stale_with_suffix, live, elsewhere, foreign, other_target):
        path.write_bytes(b"x" * 10)
    write_text(target, "new")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert stale.name not in left and stale_with_suffix.name not in left
    assert {live.name, elsewhere.name, foreign.name, other_target.name, target.name} <= set(left)


def test_a_folder_sweep_removes_every_target_leftover_of_dead_processes_of_this_machine(tmp_path):
    """What a cluster's killed workers left among a run's outputs (issue 27): every target's leftovers of this
    machine's dead processes, even after this process listed the folder; nothing else."""
    from depth_cloud_addon.core.atomic import remove_stale_temporaries, remove_stale_temporaries_in

    remove_stale_temporaries(tmp_path / "c_0001.ply")  # the folder is listed (and kept in memory) before ...
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, host = int(dead.stdout), atomic._HOST
    stale = [tmp_path / f".c_{n:04d}.ply.{host}~{dead_pid}-0123abcd.tmp" for n in (1, 2, 3)]  # ... a worker dies
    stale.append(tmp_path / f".frame_0001.exr.{host}~{dead_pid}-89abcdef.tmp.exr")
    live = tmp_path / f".c_0004.ply.{host}~{os.getppid()}-0123abcd.tmp"
    elsewhere = tmp_path / f".c_0005.ply.farm-node-7~{dead_pid}-0123abcd.tmp"
    foreign = tmp_path / ".c_0006.ply.notours.tmp"
    output = tmp_path / "c_0007.ply"
    for path in (*stale, live, elsewhere, foreign, output):
        path.write_bytes(b"x")
    removed = remove_stale_temporaries_in(tmp_path)
    assert sorted(removed) == sorted(str(p) for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, elsewhere, foreign, output))
    assert remove_stale_temporaries_in(tmp_path / "missing") == []


def test_a_long_legal_name_does_not_fail_because_of_the_temporary_suffix(tmp_path):
    target = tmp_path / ("c" * 251 + ".ply")  # 255 bytes: the longest legal name
    write_ply(target, POINTS)
    assert target.stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_leftovers_of_the_earlier_naming_are_removed_too(tmp_path):
    target = tmp_path / "cloud_0001.ply"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    old = tmp_path / f"cloud_0001.ply.tmp-{int(dead.stdout)}"
    live = tmp_path / f"cloud_0001.ply.tmp-{os.getppid()}"
    old.write_bytes(b"x" * 10)
    live.write_bytes(b"x" * 10)
    write_text(target, "new")
    assert not old.exists() and live.exists()


def test_a_folder_sweep_removes_a_dead_process_staged_folder_and_keeps_a_folder_set_aside(tmp_path):
    """A dataset staged by a killed worker goes whole; the previous content of a folder output that a run killed
    between two renames set aside (``.old``) stays: its target is not known to a sweep, and the next write of the
    target puts it back (:func:`remove_stale_temporaries`)."""
    from depth_cloud_addon.core.atomic import remove_stale_temporaries, remove_stale_temporaries_in

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, host = int(dead.stdout), atomic._HOST
    staged = tmp_path / f".shot.{host}~{dead_pid}-0123abcd.tmp"
    aside = tmp_path / f".shot.{host}~{dead_pid}-89abcdef.tmp.old"
    for folder in (staged, aside):
        (folder / "images").mkdir(parents=True)
        (folder / "images" / "frame_0001.png").write_bytes(b"png")
    assert remove_stale_temporaries_in(tmp_path) == [str(staged)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [aside.name]
    assert remove_stale_temporaries(tmp_path / "shot") == []  # the target is missing: its content goes back
    assert (tmp_path / "shot" / "images" / "frame_0001.png").read_bytes() == b"png" and not aside.exists()
