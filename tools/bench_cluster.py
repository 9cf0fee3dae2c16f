"""`make bench`: ``depth-cloud convert --scheduler`` on a local Dask cluster against ``--jobs`` on the same frames.

Runs in the venv that has Dask (``.venv-bpy4.2``: requirements/blender-4.2.txt pins dask and distributed). In one
run, on the same ``--frames`` frames: the bench's 1080p frames (``tools/bench_frames.py``: the demo shot, textured,
16 Cycles samples) as the 24-frame sequence ``tools/bench_sequence.py`` lays out:

1. frames/s of ``depth-cloud convert 'depth_####.exr' --frames 1-N -o 'out/c_####.ply'``, each run a subprocess
   of the CLI (interpreter start-up included, the same for every engine), best of ``--runs``:
   ``--jobs 1``, ``--jobs 2``, and ``--scheduler`` on a ``distributed.LocalCluster`` of 1 and of 2 worker
   processes (one thread each, TCP on 127.0.0.1; the clusters are started once, before, as a user's are);
2. the ratios: the cluster of 1 worker / ``--jobs 1``, of 2 / ``--jobs 2`` (what the engine costs on one
   machine), and 2 workers / 1 (how it scales; on a 2-core machine shared with other work, at most 2);
3. the overhead of one task of each engine: ``walk_frames`` of ``--tasks`` tasks that do nothing (``int(i)``),
   here, on a process pool of 1 worker and on the cluster of 1 worker: (time / tasks) of each, less here's.

Prints a table and writes ``out/bench/cluster.json``. The figures are ratios measured in the same run, so they
hold on another machine only as ratios; measure them on an idle machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from _machine import cpu_model  # noqa: E402

from depth_cloud_addon.core.frames.loop import walk_frames  # noqa: E402


def convert_seconds(folder: pathlib.Path, out: pathlib.Path, frames: int, runs: int, *engine: str) -> float:
    """Best wall time of the CLI converting every frame of ``folder`` into ``out`` (emptied before each run)."""
    best = float("inf")
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "convert",
                                 str(folder / "depth_####.exr"), "--frames", f"1-{frames}", "-o",
                                 str(out / "c_####.ply"), *engine], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"bench_cluster: convert {' '.join(engine)} failed:\n{result.stderr}")
        best = min(best, seconds)
    return best


def task_seconds(executor, tasks: int, runs: int) -> float:
    """Best time per task of ``walk_frames`` over ``tasks`` tasks that do nothing."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        report = walk_frames(range(tasks), int, executor=executor)
        seconds = time.perf_counter() - start
        assert report.values == list(range(tasks))
        best = min(best, seconds / tasks)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(ROOT / "out" / "bench" / "frames" / "1920x1080" / "ZIP_seq24"),
                        help="the frames (default: the bench's 24-frame 1080p sequence, tools/bench_frames.py)")
    parser.add_argument("--frames", type=int, default=24, help="frames converted (default 24)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, the best kept (default 3)")
    parser.add_argument("--tasks", type=int, default=500, help="empty tasks for the overhead (default 500)")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="folder of cluster.json")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    folder = pathlib.Path(args.source)
    if not all((folder / f"depth_{frame:04d}.exr").is_file() for frame in range(1, args.frames + 1)):
        print(f"bench_cluster: error: {folder} lacks frames 1-{args.frames}: run `make bench` (tools/bench_sequence.py "
              "writes the sequence of the bench frames)", file=sys.stderr)
        return 2
    sidecar = json.loads((folder / "camera_0001.json").read_text())
    width, height = sidecar["width_px"], sidecar["height_px"]
    os.environ["PYTHONPATH"] = str(ROOT)  # the cluster's workers import this checkout
    results: dict = {"frames": args.frames, "size": [width, height], "source": str(folder), "runs": args.runs,
                     "tasks": args.tasks}
    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as tmp:
        out = pathlib.Path(tmp) / "out"
        seconds = {}
        for jobs in (1, 2):
            seconds[f"--jobs {jobs}"] = convert_seconds(folder, out, args.frames, args.runs, "--jobs", str(jobs))
        overhead = {"here": task_seconds(None, args.tasks, args.runs)}
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            task_seconds(pool, 10, 1)  # started
            overhead["process pool, 1 worker"] = task_seconds(pool, args.tasks, args.runs)
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                              protocol="tcp://", scheduler_port=0, dashboard_address=None) as cluster:
                seconds[f"Dask, {workers} worker(s)"] = convert_seconds(folder, out, args.frames, args.runs,
                                                                       "--scheduler", cluster.scheduler_address)
                if workers == 1:
                    with Client(cluster) as client:
                        overhead["Dask, 1 worker"] = task_seconds(client.get_executor(pure=False), args.tasks,
                                                                  args.runs)
    rates = {name: args.frames / s for name, s in seconds.items()}
    ratios = {
        "Dask 1 worker / --jobs 1": rates["Dask, 1 worker(s)"] / rates["--jobs 1"],
        "Dask 2 workers / --jobs 2": rates["Dask, 2 worker(s)"] / rates["--jobs 2"],
        "Dask 2 workers / 1 worker": rates["Dask, 2 worker(s)"] / rates["Dask, 1 worker(s)"],
        "--jobs 2 / --jobs 1": rates["--jobs 2"] / rates["--jobs 1"],
    }
    per_task = {name: s - overhead["here"] for name, s in overhead.items() if name != "here"}
    print(f"depth-cloud convert of {args.frames} frames of {width}x{height} (best of {args.runs}; each run a "
          "subprocess of the CLI, start-up included)")
    for name, rate in rates.items():
        print(f"  {name:<24} {rate:8.1f} frames/s  ({seconds[name]:.2f} s)")
    print("ratios (frames/s over frames/s)")
    for name, ratio in ratios.items():
        print(f"  {name:<28} {ratio:6.2f}x")
    print(f"overhead of one task ({args.tasks} empty tasks; here: {overhead['here'] * 1e6:.1f} us a task)")
    for name, seconds_per_task in per_task.items():
        print(f"  {name:<24} {seconds_per_task * 1e3:8.3f} ms a task")
    results.update(seconds=seconds, frames_per_second=rates, ratios=ratios, overhead_seconds_per_task=per_task,
                   machine={"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
                   date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cluster.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out / 'cluster.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
