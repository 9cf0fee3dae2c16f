"""The frames on any engine: the library's frame walks take any concurrent.futures.Executor, and the CLI's --jobs
pool goes through the same code for --fuse and dataset, with the same bytes as one process. (The Dask cluster
itself: tests/cluster, in the venv that has it.)"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import multiprocessing
import subprocess
import sys

import numpy as np
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from depth_cloud_addon.core.frames.files import find_frame_files, frame_inputs
from depth_cloud_addon.core.frames.fusion import Fusion, fuse_frames
from tests.core.test_cli_safety import REPO_ROOT
from tests.core.test_merge import CAMERA, write_frames

FRAMES = range(1, 10)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engines")
    return write_frames(folder, FRAMES, CAMERA.replace(width_px=64, height_px=48))


@pytest.fixture(scope="module")
def pool():
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def digests(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_frame(folder, frame: int):
    return read_cloud(frame_inputs(find_frame_files(str(folder), frame, from_setup=True), frame), BuildOptions())


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 9])
def test_fuse_frames_on_a_process_pool_is_the_fusion_of_every_frame_here(scene, pool, chunk_size):
    here = Fusion(0.2)
    for frame in FRAMES:
        here.add(read_frame(scene, frame))
    expected = here.grid.arrays()
    grid, report = fuse_frames(FRAMES, functools.partial(read_frame, scene), 0.2, executor=pool,
                               chunk_size=chunk_size)
    got = grid.arrays()
    assert [o.frame for o in report.outcomes] == list(FRAMES) and not report.failed
    assert report.values == [len(read_frame(scene, f).points_world) for f in FRAMES]
    assert grid.points_added == here.grid.points_added and set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])  # exact: the same integers


def test_fuse_frames_lists_a_failed_frame_and_fuses_the_rest(scene, pool):
    grid, report = fuse_frames([1, 2, 99, 3], functools.partial(read_frame, scene), 0.2, executor=pool,
                               chunk_size=2)
    assert [o.frame for o in report.failed] == [99] and "depth_0099.exr" in report.failed[0].error
    here = Fusion(0.2)
    for frame in (1, 2, 3):
        here.add(read_frame(scene, frame))
    np.testing.assert_array_equal(grid.arrays()["sums_hi"], here.grid.arrays()["sums_hi"])


def test_export_dataset_takes_any_executor_and_writes_the_same_bytes(scene, pool, tmp_path):
    from depth_cloud_addon.core.frames.dataset import export_dataset

    frames = [frame_inputs(find_frame_files(str(scene), n, from_setup=True), n) for n in FRAMES]
    here = export_dataset(frames, tmp_path / "here")
    there = export_dataset(frames, tmp_path / "pool", executor=pool)
    assert (here.points, here.colmap_points, here.observations) == (there.points, there.colmap_points,
                                                                     there.observations)
    assert digests(tmp_path / "here") == digests(tmp_path / "pool") and len(digests(tmp_path / "here")) > 20


@pytest.mark.parametrize("extra", [["--voxel", "0.2"], ["--voxel", "0.2", "--partial"], []])
def test_convert_fuse_with_jobs_is_byte_for_byte_one_process(scene, tmp_path, capsys, extra):
    out = "fused.npz" if "--partial" in extra else "fused.ply"
    args = ["convert", scene / "depth_####.exr", "--frames", "1-9", "--fuse", *extra]
    assert run(*args, "-o", tmp_path / "one" / out) == 0
    one = capsys.readouterr().err.splitlines()
    assert run(*args, "--jobs", "2", "-o", tmp_path / "two" / out) == 0
    two = capsys.readouterr().err.splitlines()
    assert digests(tmp_path / "one") == digests(tmp_path / "two")
    assert one[-1].replace("/one/", "/two/") == two[-1]  # the same summary


def test_dataset_with_jobs_is_byte_for_byte_one_process(scene, tmp_path, capsys):
    args = ["dataset", scene / "depth_####.exr", "--frames", "1-10"]  # frame 10 is missing: listed, exit 1
    assert run(*args, "-o", tmp_path / "one") == 1
    one = capsys.readouterr().err
    assert run(*args, "--jobs", "2", "-o", tmp_path / "two") == 1
    two = capsys.readouterr().err
    assert digests(tmp_path / "one") == digests(tmp_path / "two")
    assert one.replace("/one", "/two") == two and "failed: frame 10:" in two


def test_scheduler_without_dask_is_one_line_exit_2_before_any_work(scene, tmp_path):
    """Dask made unimportable (in the venvs without it, it is not there at all)."""
    code = ("import sys; sys.modules['distributed'] = None; from depth_cloud_addon.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    for command in (["convert", str(scene / "depth_####.exr"), "--frames", "1-3", "-o", str(tmp_path / "c_####.ply")],
                    ["dataset", str(scene / "depth_####.exr"), "--frames", "1-3", "-o", str(tmp_path / "ds")]):
        result = subprocess.run([sys.executable, "-c", code, *command, "--scheduler", "tcp://127.0.0.1:8786"],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == ["depth-cloud: error: --scheduler needs Dask distributed, which is not "
                                              "installed: pip install 'depth-cloud[dask]'"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["convert", "{d}/depth_####.exr", "--frames", "1-3", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786",
      "-o", "{o}/c_####.ply"], "--jobs with --scheduler"),
    (["dataset", "{d}/depth_####.exr", "--frames", "1-3", "--jobs", "0", "-o", "{o}/ds"], "--jobs must be >= 1"),
])
def test_engine_options_are_checked(scene, tmp_path, capsys, argv, message):
    assert run(*(a.format(d=scene, o=tmp_path) for a in argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []
