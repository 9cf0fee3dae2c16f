"""`--scheduler` on a real Dask cluster: a distributed.LocalCluster of 2 worker processes (each with its nanny) over
TCP on 127.0.0.1, and the CLI run as users run it, a process of its own.

* convert of a sequence, --fuse --voxel (and --partial) and dataset: byte for byte a single-process run, with the
  same failed frames, summary and resume;
* a worker killed (SIGKILL of its pid) while it runs a frame: the task runs again, the outputs are still the same
  bytes, nothing half-written is left;
* an unreachable scheduler, and a worker that does not see the files (a worker in a mount namespace of its own,
  where an empty tmpfs hides the frames' folder): one line, exit status 2, nothing written;
* SIGTERM of the CLI: the run's tasks are cancelled on the cluster, the outputs written are complete.

Runs in the venv with Dask (requirements/blender-4.2.txt pins dask and distributed): a missing one fails.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import distributed  # noqa: E402  (pinned in requirements/blender-4.2.txt; a missing one fails, never skips)
import pytest
from plyfile import PlyData

from depth_cloud_addon.core.frames.dataset import DATASET_TAG
from tests.core.test_merge import CAMERA, write_frames

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = CAMERA.replace(width_px=64, height_px=48)
FRAMES = "1-13"  # frame 13 is missing: a failed frame, listed


@pytest.fixture(scope="module")
def cluster():
    os.environ["PYTHONPATH"] = str(REPO_ROOT)  # the workers import this checkout
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  protocol="tcp://", scheduler_port=0, dashboard_address=None) as local:
        with distributed.Client(local) as client:
            client.wait_for_workers(2, timeout=180)
            yield local.scheduler_address, client


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("cluster"), range(1, 13), SMALL)


def cli(*argv, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", *map(str, argv)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def start(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "depth_cloud_addon.cli", *map(str, argv)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def digests(folder) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


def lines(err: str, one: str = "", two: str = "") -> list[str]:
    """stderr without the progress lines (their rates differ), the output folders' names aligned."""
    return [line.replace(one, two) for line in err.splitlines() if not line.startswith("frames ")]


def temporaries(folder) -> list[str]:
    """Hidden files but the dataset's tag: what a writer leaves behind."""
    return [p.name for p in pathlib.Path(folder).rglob(".*") if p.is_file() and p.name != DATASET_TAG]


def settled(client, timeout: float = 120.0) -> None:
    """Until the scheduler holds no task and both workers run (a killed worker's nanny restarts it: slow on a loaded
    machine, so the bound is generous; it only bounds a failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(client.scheduler_info()["workers"]) == 2 and not client.run_on_scheduler(
                lambda dask_scheduler: len(dask_scheduler.tasks)):
            return
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not settle: {client.processing()}")


COMMANDS = {
    "per frame": (["convert", "{d}/depth_####.exr", "--frames", FRAMES, "--normals", "--radius", "-o",
                   "{o}/c_####.ply"], 1),
    "fuse": (["convert", "{d}/depth_####.exr", "--frames", FRAMES, "--fuse", "--voxel", "0.2", "-o",
              "{o}/fused.ply"], 1),
    "partial": (["convert", "{d}/depth_####.exr", "--frames", FRAMES, "--fuse", "--voxel", "0.2", "--partial",
                 "-o", "{o}/part.npz"], 1),
    "fuse every point": (["convert", "{d}/depth_####.exr", "--frames", FRAMES, "--fuse", "-o", "{o}/all.ply"], 1),
    "dataset": (["dataset", "{d}/depth_####.exr", "--frames", FRAMES, "-o", "{o}/ds"], 1),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_cluster_writes_the_bytes_of_one_process(cluster, scene, tmp_path, name):
    address, client = cluster
    argv, status = COMMANDS[name]
    one, two = tmp_path / "one", tmp_path / "two"
    here = cli(*(a.format(d=scene, o=one) for a in argv))
    there = cli(*(a.format(d=scene, o=two) for a in argv), "--scheduler", address)
    assert here.returncode == there.returncode == status, there.stderr
    assert digests(one) == digests(two) and len(digests(two)) >= 1
    assert lines(here.stderr, str(one), str(two)) == lines(there.stderr)  # failures, warnings, summary
    assert "failed: frame 13: " in there.stderr and "Traceback" not in there.stderr
    if name == "per frame":
        assert sum(line.startswith("frames ") for line in there.stderr.splitlines()) == 13  # a progress line a frame
        again = cli(*(a.format(d=scene, o=two) for a in argv), "--scheduler", address)  # resumes
        assert "12 frame(s) already complete from the same inputs and options, skipped" in again.stderr
        assert digests(two) == digests(one)
    settled(client)


@pytest.fixture(scope="module")
def big_scene(tmp_path_factory):
    """24 frames of 640x480: long enough to kill a worker, or stop the run, in the middle."""
    return write_frames(tmp_path_factory.mktemp("cluster_big"), range(1, 25), CAMERA.replace(width_px=640,
                                                                                             height_px=480))


KILLED = {
    "per frame": ["convert", "{d}/depth_####.exr", "--frames", "1-24", "--normals", "--radius", "-o",
                  "{o}/c_####.ply"],
    "fuse": ["convert", "{d}/depth_####.exr", "--frames", "1-24", "--fuse", "--voxel", "0.05", "-o",
             "{o}/fused.ply"],
    "dataset": ["dataset", "{d}/depth_####.exr", "--frames", "1-8", "-o", "{o}/ds"],
}


@pytest.mark.parametrize("name", sorted(KILLED))
def test_a_worker_killed_mid_frame_changes_nothing(cluster, big_scene, tmp_path, name):
    address, client = cluster
    argv = KILLED[name]
    one, two = tmp_path / "one", tmp_path / "two"
    here = cli(*(a.format(d=big_scene, o=one) for a in argv))
    assert here.returncode == 0, here.stderr
    pids = client.run(os.getpid)
    run = start(*(a.format(d=big_scene, o=two) for a in argv), "--scheduler", address)
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and run.poll() is None:
        busy = [worker for worker, keys in client.processing().items() if keys and worker in pids]
        if busy:
            killed = pids[busy[0]]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.005)
    out, err = run.communicate(timeout=120)
    assert killed is not None, f"no worker was busy to kill: {err}"
    assert run.returncode == 0, err
    assert digests(one) == digests(two)
    assert lines(here.stderr, str(one), str(two)) == lines(err)
    assert temporaries(two) == []  # what the killed worker was writing is gone
    settled(client)
    assert killed not in client.run(os.getpid).values()  # its nanny started another


def test_sigterm_cancels_the_tasks_on_the_cluster(cluster, big_scene, tmp_path):
    address, client = cluster
    run = start("convert", big_scene / "depth_####.exr", "--frames", "1-24", "--normals", "--radius", "-o",
                tmp_path / "c_####.ply", "--scheduler", address)
    deadline = time.monotonic() + 60
    while not any(p.suffix == ".ply" for p in tmp_path.glob("c_*.ply")):
        assert time.monotonic() < deadline and run.poll() is None, run.stderr.read() if run.stderr else ""
        time.sleep(0.01)
    assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) > 0
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].startswith("depth-cloud: stopped by SIGTERM") and "Traceback" not in err
    settled(client, timeout=60)  # the tasks are gone from the scheduler
    deadline = time.monotonic() + 30  # a task running on a worker cannot be interrupted: it finishes its frame
    while temporaries(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    written = sorted(tmp_path.glob("c_*.ply"))
    time.sleep(1.0)
    assert sorted(tmp_path.glob("c_*.ply")) == written  # nothing more: the others were cancelled
    assert 1 <= len(written) < 24
    for path in written:  # each complete: every pixel but the frame's few background ones (see write_frames)
        assert PlyData.read(str(path))["vertex"].count == 640 * 480 - int(path.stem[2:]) % 5
    assert temporaries(tmp_path) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_exit_2(scene, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    for argv in (["convert", scene / "depth_####.exr", "--frames", "1-12", "-o", tmp_path / "c_####.ply"],
                 ["dataset", scene / "depth_####.exr", "--frames", "1-12", "-o", tmp_path / "ds"]):
        result = cli(*argv, "--scheduler", address, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s")
        assert result.returncode == 2, result.stderr
        err = result.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"depth-cloud: error: --scheduler: cannot reach the Dask "
                                                   f"scheduler at {address}: "), err
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_cannot_see_the_files_is_one_line_exit_2(cluster, tmp_path):
    """A third worker whose mount namespace hides the frames' folder under an empty tmpfs (as a node that does not
    mount the shared storage): unshare(1) as root, else in a user namespace of its own."""
    address, client = cluster
    (tmp_path / "shared").mkdir()
    frames = write_frames(tmp_path / "shared", range(1, 4), SMALL)
    mount = ["unshare", "--mount", "--propagation", "private"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    script = (f"mount -t tmpfs none {frames} && exec {sys.executable} -m distributed.cli.dask_worker {address} "
              "--nthreads 1 --no-nanny --name blind --no-dashboard")
    blind = subprocess.Popen([*mount, "sh", "-c", script], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client.wait_for_workers(3, timeout=180)
        worker = next(a for a, w in client.scheduler_info()["workers"].items() if w.get("name") == "blind")
        for argv in (["convert", frames / "depth_####.exr", "--frames", "1-3", "-o", tmp_path / "out" / "c_####.ply"],
                     ["dataset", frames / "depth_####.exr", "--frames", "1-3", "-o", tmp_path / "out" / "ds"]):
            result = cli(*argv, "--scheduler", address)
            assert result.returncode == 2, result.stderr
            err = result.stderr.strip().splitlines()
            assert err == [f"depth-cloud: error: Dask worker {worker} on host {socket.gethostname()} cannot see "
                           f"{frames / 'depth_0001.exr'} (No such file or directory): every worker needs the "
                           "inputs and outputs at the same paths as this machine (shared storage)"], err
            assert not (tmp_path / "out").exists()  # nothing written
    finally:
        blind.terminate()
        blind.wait(timeout=30)
    deadline = time.monotonic() + 30
    while len(client.scheduler_info()["workers"]) > 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    shutil.rmtree(tmp_path / "shared", ignore_errors=True)
