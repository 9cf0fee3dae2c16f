"""Messages of the optional formats, with their real packages installed (the 4.2 venv) or hidden from a run:

* a missing optional package (usd-core, pye57, laspy, lazrs) is one line and exit status 2 before any work, on
  every path: a file per frame, ``--fuse`` into ``.laz``, one file of every frame, ``merge``;
* USD and E57 into a folder that refuses files: one line naming the output and the reason, not the libraries'
  internals, before any frame is read;
* names that are not UTF-8 are written and read back by the libraries (USD, libE57, LAS).
"""

from __future__ import annotations

import os
import subprocess
import sys

import laspy
import numpy as np
import pye57
import pytest
from pxr import Usd

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.frames.files import write_camera_sidecar

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAMERA = CameraModel(width_px=16, height_px=12, lens_mm=30.0)
# Runs the CLI with some modules hidden (as if not installed): ``python -c HIDE modules... -- argv...``.
HIDE = ("import sys; sys.path.insert(0, sys.argv[1]); at = sys.argv.index('--');"
        "[sys.modules.__setitem__(m, None) for m in sys.argv[2:at]];"
        "from depth_cloud_addon import cli; sys.exit(cli.main(sys.argv[at + 1:]))")


def write_shot(folder, frames=(1, 2, 3)):
    os.makedirs(folder, exist_ok=True)
    for frame in frames:
        write_exr(os.path.join(folder, f"depth_{frame:04d}.exr"), {"V": np.full(CAMERA.shape, 5.0, np.float32)})
        write_camera_sidecar(os.path.join(folder, f"camera_{frame:04d}.json"), CAMERA.replace(frame=frame))
    return folder


def without(modules, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE, REPO, *modules, "--", *map(str, argv)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def shot(tmp_path):
    write_shot(tmp_path)
    # frame 3's sidecar is broken: a run that did any work would report it
    (tmp_path / "camera_0003.json").write_text("{")
    return tmp_path


@pytest.mark.parametrize("modules, argv, package", [
    (["laspy"], ["--frames", "1-3", "-o", "{d}/o/c_####.las"], "laspy"),
    (["lazrs"], ["--frames", "1-3", "-o", "{d}/o/c_####.laz"], "lazrs"),
    (["lazrs"], ["--frames", "1-3", "--fuse", "-o", "{d}/o/fused.laz"], "lazrs"),
    (["laspy"], ["--frames", "1-3", "--fuse", "--voxel", "0.5", "-o", "{d}/o/fused.las"], "laspy"),
    (["pye57"], ["--frames", "1-3", "-o", "{d}/o/shot.e57"], "pye57"),
    (["pxr"], ["--frames", "1-3", "-o", "{d}/o/shot.usdc"], "pxr"),
])
def test_a_missing_package_is_one_line_and_exit_2_before_any_work(shot, modules, argv, package):
    done = without(modules, "convert", shot / "depth_####.exr", *(a.format(d=shot) for a in argv))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("depth-cloud: error: ") and f"needs the Python package {package}" in lines[0]
    assert "pip install 'depth-cloud[" in lines[0]
    assert not (shot / "o").exists()


@pytest.mark.parametrize("modules, output, package", [
    (["lazrs"], "fused.laz", "lazrs"), (["laspy"], "fused.las", "laspy")])
def test_merge_with_a_missing_package_is_one_line_before_reading_the_partials(shot, modules, output, package):
    assert cli.main(["convert", str(shot / "depth_####.exr"), "--frames", "1-2", "--fuse", "--voxel", "0.5",
                     "--partial", "-o", str(shot / "p.npz")]) == 0
    done = without(modules, "merge", shot / "p.npz", "-o", shot / output)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and f"needs the Python package {package}" in lines[0], lines
    assert not (shot / output).exists()


def refusing_folder(tmp_path) -> str:
    """A folder that refuses new files, for root too (/sys refuses them; chmod does not stop root)."""
    if os.geteuid() == 0:
        return "/sys"
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return str(folder)


@pytest.mark.parametrize("name", ["shot.usdc", "shot.usda", "shot.e57", "fused.ply"])
def test_usd_and_e57_into_a_folder_that_refuses_files_are_one_line(shot, tmp_path, name):
    folder = refusing_folder(tmp_path)
    extra = ["--fuse"] if name == "fused.ply" else []
    done = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "convert", str(shot / "depth_####.exr"),
                           "--frames", "1-3", *extra, "-o", f"{folder}/{name}"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0] == f"depth-cloud: error: {folder}/{name}: cannot write: Permission denied", lines
    assert not os.path.exists(f"{folder}/{name}")


def test_usd_e57_and_las_names_that_are_not_utf8(tmp_path):
    folder = os.fsdecode(os.fsencode(str(tmp_path)) + b"/sh\xffot")
    write_shot(folder, frames=(1, 2))
    out = os.fsencode(str(tmp_path)) + b"/o\xfeut"
    for name in (b"s\xfd.usdc", b"s\xfd.usda", b"s\xfd.e57", b"c\xfd_####.las", b"f\xfd.laz"):
        extra = [b"--fuse"] if name.endswith(b".laz") else []
        done = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "convert",
                               os.fsencode(folder) + b"/depth_####.exr", b"--frames", b"1-2", *extra, b"-o",
                               out + b"/" + name], cwd=REPO, capture_output=True)
        assert done.returncode == 0, (name, done.stderr)
        again = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "inspect",
                                out + b"/" + name.replace(b"####", b"0002")], cwd=REPO, capture_output=True)
        assert again.returncode == 0 and b"usable" in again.stdout, again.stdout
    # read back by the libraries through links of UTF-8 names (they cannot take the others)
    os.symlink(out + b"/s\xfd.usdc", tmp_path / "s.usdc")
    os.symlink(out + b"/s\xfd.e57", tmp_path / "s.e57")
    assert Usd.Stage.Open(str(tmp_path / "s.usdc")).GetPrimAtPath("/DepthCloud/Points")
    assert pye57.E57(str(tmp_path / "s.e57")).scan_count == 2
    assert len(laspy.read(os.fsdecode(out + b"/c\xfd_0001.las")).points) == 16 * 12
