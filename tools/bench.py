"""`make bench`: time our Build against the common forum recipe on a 1920x1080 and a 3840x2160 Cycles frame.

Runs Blender as a Python module (the venv's bpy). One run:

1. renders a generated scene (tools/scenes.py: a wall filling the frame, a tilted plane, a
   cube, a sphere) with Cycles (1 sample, CPU) into ``<out>/render.exr`` (multilayer: Combined +
   Depth), once;
2. **ours**: what the Build operator does, called directly: ``read_exr`` + ``CameraModel.from_blender``
   + ``core.frames.cloud.cloud_arrays`` + ``builder.build_cloud_object`` (best and median of 5, per step),
   then the same through ``bpy.ops.depth_cloud.build(filepath=...)`` after registering the add-on;
3. **baseline**: the recipe forum snippets use (OpenEXR channels to numpy, a pinhole from
   ``camera.data.angle`` with pixel centres at integer coordinates, a per-point
   ``matrix_world @ Vector(p)`` list, ``mesh.from_pydata``, a per-point color loop), best of 3;
4. **Discs** (issue 25): the same Build with ``geometry="DISCS"`` (normals and disc radii in the core, the discs'
   Geometry Nodes instances in the depsgraph update), best and median of 5, and its ratio to Points' Build;
5. **memory**: in a fresh child process (so that memory freed by earlier runs cannot hide the
   peak), the process's peak RSS growth during one Build (``/proc/self/clear_refs`` then
   ``VmHWM``), and tracemalloc's peak for the numpy part (read + cloud_arrays).

Both sides are timed up to and including ``bpy.context.view_layer.update()`` (the depsgraph update the
viewport does next: for ours, the Geometry Nodes points modifier). One run does every size of
``--sizes`` (default 1920x1080 and 3840x2160), each with its own render.

Prints a table per size and the issue 15 targets, and writes ``<out>/results.json`` (the first size)
and ``<out>/<W>x<H>/results.json`` (the others). No assertion: the figures are ratios against a
baseline measured in the same run (issue 15 targets: forum/ours >= 40x, medians; peak extra memory
of a Build <= 2x the cloud's own size of N x (12 + 16 + 4) bytes; issue 25: Build with Discs <= 1.5x Build with
Points, medians). ``--profile`` adds a cProfile of
one Build.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import datetime
import gc
import io
import json
import math
import os
import pathlib
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-bench-"))
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from _machine import cpu_model  # noqa: E402
from mathutils import Vector  # noqa: E402

from depth_cloud_addon.blender import builder  # noqa: E402
from depth_cloud_addon.core import CameraModel, read_exr  # noqa: E402
from depth_cloud_addon.core.frames.cloud import cloud_arrays  # noqa: E402
from tools import scenes  # noqa: E402

CLOUD_BYTES_PER_POINT = 12 + 16 + 4  # float32 position + float32 RGBA + float32 radius
TARGET_RATIO = 40.0  # issue 15: forum recipe / ours, medians, each including the depsgraph update
TARGET_MEMORY = 2.0  # issue 15: peak extra RSS of a Build / the cloud's size
TARGET_DISCS = 1.5  # issue 25: Build with Discs / Build with Points, medians, each up to view_layer.update()


# --- scene ----------------------------------------------------------------------------------------

def make_scene(width: int, height: int):
    """The test suite's standard objects seen by a 30 mm camera; the back wall fills the frame."""
    scene = scenes.empty_scene(width, height)
    view_layer = scene.view_layers[0]
    for aov in list(view_layer.aovs):  # the tests' position AOV: keep the file to Combined + Depth
        view_layer.aovs.remove(aov)
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=30.0)
    scenes.standard_objects(cam)
    return scene, cam


# --- ours -----------------------------------------------------------------------------------------

def _load_ours(path: str, scene, cam, discs: bool = False):
    """Read + back-project, as the operator's ``_load``: the EXR arrays are freed on return."""
    t0 = time.perf_counter()
    image = read_exr(path)
    t1 = time.perf_counter()
    camera = CameraModel.from_blender(cam, scene)
    t2 = time.perf_counter()
    cloud = cloud_arrays(image.depth, image.color, camera, discs=discs)
    t3 = time.perf_counter()
    return cloud, (t0, t1, t2, t3)


def build_ours(path: str, scene, cam, update: bool = True, geometry: str = "POINTS") -> tuple[dict[str, float], int]:
    """Exactly the Build operator's calls for a multilayer EXR and the scene camera (as ``geometry``: POINTS or
    DISCS), then (``update``) the depsgraph update the viewport does next; per-step seconds."""
    cloud, (t0, t1, t2, t3) = _load_ours(path, scene, cam, discs=geometry == "DISCS")
    n = len(cloud.points)
    builder.build_cloud(bpy.context, cloud, source=path, frame=scene.frame_current, release=True, geometry=geometry)
    del cloud
    t4 = time.perf_counter()
    if update:
        bpy.context.view_layer.update()
    t5 = time.perf_counter()
    steps = {"read_exr": t1 - t0, "camera": t2 - t1, "cloud_arrays": t3 - t2, "object_write": t4 - t3,
             "depsgraph_update": t5 - t4, "total": t5 - t0}
    return steps, n


def run_operator(path: str) -> float:
    t0 = time.perf_counter()
    result = bpy.ops.depth_cloud.build(filepath=path)
    bpy.context.view_layer.update()
    seconds = time.perf_counter() - t0
    if result != {"FINISHED"}:
        raise RuntimeError(f"depth_cloud.build returned {result}: {bpy.context.scene.depth_cloud.last_message}")
    return seconds


# --- baseline: the forum recipe ---------------------------------------------------------------------

def build_forum(path: str, scene, cam) -> tuple[dict[str, float], int]:
    """The recipe of typical forum / Stack Exchange snippets, written the way they write it."""
    import OpenEXR

    t0 = time.perf_counter()
    # Read the EXR: every channel of every part (Blender 5.0 writes one part per pass) as numpy.
    channels = {}
    with OpenEXR.File(path, separate_channels=True) as exr:
        for part in exr.parts:
            for name, channel in part.channels.items():
                channels[name] = channel.pixels
    depth = channels["ViewLayer.Depth.Z"]
    rgba = np.dstack([channels[f"ViewLayer.Combined.{c}"] for c in "RGBA"])
    t1 = time.perf_counter()

    # Pinhole back-projection; pixel centres at integer coordinates (the half-pixel bug), no shift,
    # no sensor fit: focal length in pixels from the horizontal field of view.
    width, height = scene.render.resolution_x, scene.render.resolution_y
    f = (width / 2) / math.tan(cam.data.angle / 2)
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    z = depth
    x = (u - width / 2) * z / f
    y = -(v - height / 2) * z / f
    points = np.stack([x, y, -z], axis=-1).reshape(-1, 3)
    mask = (depth < cam.data.clip_end).reshape(-1)  # drop the background (Cycles writes 1e10)
    points = points[mask]
    colors = rgba.reshape(-1, 4)[mask]
    t2 = time.perf_counter()

    # The slow part: one mathutils Vector per point, from_pydata, a per-point color loop.
    mw = cam.matrix_world
    verts = [mw @ Vector(p) for p in points]
    t3 = time.perf_counter()
    mesh = bpy.data.meshes.new("ForumCloud")
    mesh.from_pydata(verts, [], [])
    mesh.update()
    obj = bpy.data.objects.new("ForumCloud", mesh)
    scene.collection.objects.link(obj)
    t4 = time.perf_counter()
    col = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    for i, c in enumerate(colors):
        col.data[i].color = c
    t5a = time.perf_counter()
    bpy.context.view_layer.update()  # what the viewport does next
    t5 = time.perf_counter()

    # Not part of the recipe: the same colors through foreach_set, for the conservative ratio.
    col2 = mesh.color_attributes.new("Col2", "FLOAT_COLOR", "POINT")
    t6 = time.perf_counter()
    col2.data.foreach_set("color", np.ascontiguousarray(colors, np.float32).ravel())
    t7 = time.perf_counter()
    n = len(verts)
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(mesh)
    steps = {"read": t1 - t0, "numpy": t2 - t1, "vector_list": t3 - t2, "from_pydata": t4 - t3,
             "color_loop": t5a - t4,
             "depsgraph_update": t5 - t5a, "total": t5 - t0, "colors_foreach_set_instead": t7 - t6}
    return steps, n


# --- memory (child process) -------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def peak_rss_extra(fn) -> tuple[int, int]:
    """(peak RSS growth, RSS growth that stays) in bytes while running ``fn``; Linux only."""
    _trim()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    fn()
    peak = _status_kib("VmHWM")
    _trim()
    after = _status_kib("VmRSS")
    return (peak - before) * 1024, (after - before) * 1024


def memory_child(path: str, width: int, height: int) -> dict:
    scene, cam = make_scene(width, height)
    import OpenEXR  # noqa: F401  (imported by read_exr on first use: keep the module out of the figure)

    result = {}
    for label in ("first_build", "rebuild"):  # new object, then replacing it (the operator re-run)
        holder = {}

        def once(holder=holder):
            holder["steps"], holder["n"] = build_ours(path, scene, cam, update=False)

        peak, kept = peak_rss_extra(once)
        result[label] = {"peak_rss_extra_bytes": peak, "rss_kept_bytes": kept, "points": holder["n"]}
    # The depsgraph update after it (the Geometry Nodes points: the evaluated copy the viewport draws).
    peak, kept = peak_rss_extra(bpy.context.view_layer.update)
    result["depsgraph_update"] = {"peak_rss_extra_bytes": peak, "rss_kept_bytes": kept}

    # Per step (the object removed first, so that the mesh is a new allocation as in a first Build).
    obj = builder.find_cloud(scene)
    mesh = obj.data
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(mesh)
    held = {}
    steps = {}
    steps["read_exr"] = peak_rss_extra(lambda: held.update(image=read_exr(path)))
    camera = CameraModel.from_blender(cam, scene)
    steps["cloud_arrays"] = peak_rss_extra(
        lambda: held.update(cloud=cloud_arrays(held["image"].depth, held["image"].color, camera)))
    cloud = held["cloud"]
    steps["object_write"] = peak_rss_extra(
        lambda: builder.build_cloud(bpy.context, cloud, release=True))
    result["rss_steps"] = {k: {"peak_rss_extra_bytes": v[0], "rss_kept_bytes": v[1]} for k, v in steps.items()}
    held.clear()
    del cloud

    # tracemalloc (numpy reports its buffers to it): peak of each numpy step, beyond what it starts with.
    _trim()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    image = read_exr(path)
    read_peak = tracemalloc.get_traced_memory()[1] - base
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.reset_peak()
    camera = CameraModel.from_blender(cam, scene)
    cloud = cloud_arrays(image.depth, image.color, camera)
    arrays_peak = tracemalloc.get_traced_memory()[1] - base
    cloud_held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    result["tracemalloc"] = {
        "read_exr_peak_bytes": read_peak, "image_held_bytes": held,
        "numpy_part_peak_bytes": max(read_peak, arrays_peak), "cloud_arrays_peak_bytes": arrays_peak,
        "after_cloud_arrays_held_bytes": cloud_held,
        "cloud_arrays_result_bytes": sum(a.nbytes for a in (cloud.points, cloud.colors, cloud.radii,
                                                            cloud.rows, cloud.cols)),
    }
    return result


def run_memory_child(path: str, width: int, height: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", path, "--width", str(width), "--height", str(height)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MEMORY_JSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"memory child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("MEMORY_JSON "):])


# --- report ---------------------------------------------------------------------------------------

def best_median(values):
    return min(values), statistics.median(values)


def profile_build(path: str, scene, cam, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    build_ours(path, scene, cam)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run_size(args, width: int, height: int, out: pathlib.Path) -> dict:
    """One size: render, time both sides, measure memory; prints the table and returns the figures."""
    wall_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    path = str(out / "render.exr")

    scene, cam = make_scene(width, height)
    t0 = time.perf_counter()
    scenes.render_multilayer(scene, path)
    render_s = time.perf_counter() - t0
    print(f"rendered {width}x{height} (Cycles, 1 sample, CPU) in {render_s:.1f} s -> {path}", flush=True)

    # Ours, called directly (what DEPTH_CLOUD_OT_build.execute does for this file).
    ours_runs = []
    for _ in range(args.runs):
        gc.collect()
        steps, n_points = build_ours(path, scene, cam)
        ours_runs.append(steps)
    n_pixels = width * height

    # Discs (issue 25), in the same run, alternating with Points so that both see the same machine.
    disc_runs, point_runs = [], []
    for _ in range(args.runs):
        for geometry, runs in (("DISCS", disc_runs), ("POINTS", point_runs)):
            gc.collect()
            runs.append(build_ours(path, scene, cam, geometry=geometry)[0])
    build_ours(path, scene, cam)  # the cloud of Points again, for what follows

    # Ours, through the registered operator.
    import depth_cloud_addon

    handler_lists = {name: list(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
                     if isinstance(getattr(bpy.app.handlers, name), list)}
    depth_cloud_addon.register()
    try:
        op_runs = []
        for _ in range(args.runs):
            gc.collect()
            op_runs.append(run_operator(path))
        op_message = scene.depth_cloud.last_message
    finally:
        depth_cloud_addon.unregister()
        for name, before in handler_lists.items():  # no Python handler may outlive the run
            handlers = getattr(bpy.app.handlers, name)
            for handler in list(handlers):
                if handler not in before:
                    handlers.remove(handler)
    cloud_obj = builder.find_cloud(scene)
    cloud_vertices = len(cloud_obj.data.vertices) if cloud_obj else 0

    profile_text = profile_build(path, scene, cam) if args.profile else None

    # The forum recipe.
    forum_runs = []
    for _ in range(args.baseline_runs):
        gc.collect()
        steps, n_forum = build_forum(path, scene, cam)
        forum_runs.append(steps)
        print(f"  forum recipe run: {steps['total']:.2f} s", flush=True)

    # Memory, in a fresh process.
    memory = run_memory_child(path, width, height)

    # ---- figures
    ours_best, ours_median = best_median([r["total"] for r in ours_runs])
    op_best, op_median = best_median(op_runs)
    forum_best, forum_median = best_median([r["total"] for r in forum_runs])
    forum_foreach_best = min(r["total"] - r["color_loop"] + r["colors_foreach_set_instead"] for r in forum_runs)
    cloud_bytes = n_points * CLOUD_BYTES_PER_POINT
    ratio = forum_best / ours_best
    ratio_op = forum_best / op_best
    ratio_conservative = forum_foreach_best / ours_best
    mem_first = memory["first_build"]["peak_rss_extra_bytes"] / cloud_bytes
    mem_rebuild = memory["rebuild"]["peak_rss_extra_bytes"] / cloud_bytes
    tm = memory["tracemalloc"]
    mem_numpy = tm["numpy_part_peak_bytes"] / cloud_bytes
    discs_best, discs_median = best_median([r["total"] for r in disc_runs])
    points_best, points_median = best_median([r["total"] for r in point_runs])
    discs_ratio = discs_median / points_median

    mib = 1 << 20
    lines = [
        "",
        f"Depth Cloud benchmark: Blender {bpy.app.version_string}, {cpu_model()}, {os.cpu_count()} cores",
        f"frame {width}x{height} = {n_pixels:,} px, {n_points:,} points "
        f"({100 * n_points / n_pixels:.1f}% of the pixels hit geometry); cloud size {cloud_bytes / mib:.1f} MiB",
        "",
        f"{'':44} {'best s':>8} {'median s':>9} {'Mpoints/s':>10}",
    ]

    def row(label, best, median, n=n_points):
        lines.append(f"{label:44} {best:8.3f} {median:9.3f} {n / best / 1e6:10.2f}")

    row(f"ours, direct calls (best of {args.runs})", ours_best, ours_median)
    for key, label in (("read_exr", "read_exr"), ("camera", "CameraModel.from_blender"),
                       ("cloud_arrays", "cloud.cloud_arrays"), ("object_write", "builder.build_cloud_object"),
                       ("depsgraph_update", "view_layer.update()")):
        best, median = best_median([r[key] for r in ours_runs])
        lines.append(f"  {label:42} {best:8.3f} {median:9.3f}")
    row(f"ours, bpy.ops.depth_cloud.build (best of {args.runs})", op_best, op_median)
    row(f"ours with Discs, direct calls (best of {args.runs})", discs_best, discs_median)
    for key, label in (("cloud_arrays", "cloud.cloud_arrays(discs=True)"),
                       ("object_write", "builder.build_cloud DISCS"),
                       ("depsgraph_update", "view_layer.update() (instances)")):
        best, median = best_median([r[key] for r in disc_runs])
        lines.append(f"  {label:42} {best:8.3f} {median:9.3f}")
    row(f"ours with Points, alternating (best of {args.runs})", points_best, points_median)
    row(f"forum recipe (best of {args.baseline_runs})", forum_best, forum_median, n_forum)
    for key, label in (("read", "OpenEXR read"), ("numpy", "numpy pinhole + mask"),
                       ("vector_list", "[matrix_world @ Vector(p) ...]"), ("from_pydata", "from_pydata + update"),
                       ("color_loop", "per-point color loop"), ("depsgraph_update", "view_layer.update()")):
        best, median = best_median([r[key] for r in forum_runs])
        lines.append(f"  {label:42} {best:8.3f} {median:9.3f}")
    best, median = best_median([r["colors_foreach_set_instead"] for r in forum_runs])
    lines.append(f"  {'(colors with foreach_set instead)':42} {best:8.3f} {median:9.3f}")
    lines += [
        "",
        f"speed-up, forum recipe / ours (best vs best):   {ratio:6.1f}x   (median vs median "
        f"{forum_median / ours_median:.1f}x; target >= {TARGET_RATIO:.0f}x)",
        f"  through the operator:                         {ratio_op:6.1f}x",
        f"  vs the recipe with foreach_set colors:        {ratio_conservative:6.1f}x",
        f"Build with Discs / Build with Points (medians): {discs_ratio:6.2f}x   (best vs best "
        f"{discs_best / points_best:.2f}x; target <= {TARGET_DISCS:.1f}x: "
        f"{'met' if discs_ratio <= TARGET_DISCS else 'MISSED'})",
        "",
        f"memory (fresh process), cloud size {cloud_bytes / mib:.1f} MiB:",
        f"  peak RSS growth, first Build:   {memory['first_build']['peak_rss_extra_bytes'] / mib:7.1f} MiB "
        f"= {mem_first:4.2f}x cloud   "
        f"(target <= {TARGET_MEMORY:.0f}x: {'met' if mem_first <= TARGET_MEMORY else 'MISSED'})",
        f"  peak RSS growth, rebuild:       {memory['rebuild']['peak_rss_extra_bytes'] / mib:7.1f} MiB "
        f"= {mem_rebuild:4.2f}x cloud",
        "  per step, peak RSS growth over the step's start / growth kept after it: " + ", ".join(
            f"{k} +{v['peak_rss_extra_bytes'] / mib:.0f} / +{v['rss_kept_bytes'] / mib:.0f} MiB"
            for k, v in memory["rss_steps"].items()),
        f"  tracemalloc peak, numpy part:   {tm['numpy_part_peak_bytes'] / mib:7.1f} MiB = {mem_numpy:4.2f}x cloud "
        f"(read_exr {tm['read_exr_peak_bytes'] / mib:.1f} MiB, holds {tm['image_held_bytes'] / mib:.1f}; "
        f"cloud_arrays peak incl. image {tm['cloud_arrays_peak_bytes'] / mib:.1f} MiB)",
        "",
        f"operator's message: {op_message}",
        f"bench wall time {time.perf_counter() - wall_start:.0f} s (render {render_s:.1f} s)",
    ]
    print("\n".join(lines))
    if profile_text:
        print("\ncProfile of one Build (direct calls), by own time:\n" + profile_text)

    results = {
        "date": datetime.date.today().isoformat(),
        "blender": bpy.app.version_string,
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__,
        "frame": {"width": width, "height": height, "pixels": n_pixels, "points": n_points,
                  "render_seconds": render_s, "exr": path},
        "cloud_bytes": cloud_bytes,
        "ours": {"runs": ours_runs, "best": ours_best, "median": ours_median,
                 "points_per_second": n_points / ours_best},
        "operator": {"runs": op_runs, "best": op_best, "median": op_median, "points_per_second": n_points / op_best,
                     "vertices": cloud_vertices, "message": op_message},
        "forum": {"runs": forum_runs, "best": forum_best, "median": forum_median, "points": n_forum,
                  "points_per_second": n_forum / forum_best, "best_with_foreach_set_colors": forum_foreach_best},
        "ratio": {"forum_over_ours": ratio, "forum_over_operator": ratio_op,
                  "forum_foreach_set_over_ours": ratio_conservative, "target": TARGET_RATIO},
        "memory": {**memory, "first_build_over_cloud": mem_first, "rebuild_over_cloud": mem_rebuild,
                   "numpy_part_over_cloud": mem_numpy, "target": TARGET_MEMORY},
        "discs": {"runs": disc_runs, "points_runs": point_runs, "best": discs_best, "median": discs_median,
                  "points_best": points_best, "points_median": points_median, "ratio_median": discs_ratio,
                  "target": TARGET_DISCS},
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out / 'results.json'}")
    return {"width": width, "height": height, "points": n_points, "cloud_bytes": cloud_bytes,
            "ours_median": ours_median, "forum_median": forum_median, "ratio_median": forum_median / ours_median,
            "ratio_best": ratio, "memory_first": mem_first, "memory_rebuild": mem_rebuild,
            "update_memory": memory["depsgraph_update"]["peak_rss_extra_bytes"] / cloud_bytes,
            "operator_median": op_median, "discs_median": discs_median, "points_median": points_median,
            "discs_ratio": discs_ratio}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/bench", help="output folder (default: out/bench)")
    parser.add_argument("--sizes", default="1920x1080,3840x2160",
                        help="frame sizes WxH, comma-separated (default: 1920x1080,3840x2160)")
    parser.add_argument("--width", type=int, help="one size only: this width (with --height)")
    parser.add_argument("--height", type=int)
    parser.add_argument("--runs", type=int, default=5, help="runs of our Build (default 5)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="runs of the forum recipe (default 3)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one Build")
    parser.add_argument("--memory-child", metavar="EXR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        print("MEMORY_JSON " + json.dumps(memory_child(args.memory_child, args.width, args.height)), flush=True)
        return 0

    wall = time.perf_counter()
    root_out = (ROOT / args.out) if not os.path.isabs(args.out) else pathlib.Path(args.out)
    sizes = ([(args.width, args.height)] if args.width
             else [tuple(map(int, size.split("x"))) for size in args.sizes.split(",")])
    summaries = []
    for i, (width, height) in enumerate(sizes):
        summaries.append(run_size(args, width, height, root_out if i == 0 else root_out / f"{width}x{height}"))
    lines = ["", f"Issue 15 targets, Build (ours and the forum recipe each timed up to and including "
             f"view_layer.update(); medians; load {os.getloadavg()[0]:.2f} now):"]
    for s in summaries:
        size = f"{s['width']}x{s['height']}"
        lines.append(f"  Build {size:9}: forum {s['forum_median']:7.2f} s / ours {s['ours_median']:6.3f} s = "
                     f"{s['ratio_median']:5.1f}x (target >= {TARGET_RATIO:.0f}x: "
                     f"{'met' if s['ratio_median'] >= TARGET_RATIO else 'MISSED'}; "
                     f"best vs best {s['ratio_best']:.1f}x)")
        lines.append(f"  memory {size:9}: peak extra RSS of a first Build = {s['memory_first']:4.2f}x the cloud "
                     f"(target <= {TARGET_MEMORY:.0f}x: {'met' if s['memory_first'] <= TARGET_MEMORY else 'MISSED'}; "
                     f"rebuild {s['memory_rebuild']:.2f}x; the depsgraph update after it +{s['update_memory']:.2f}x)")
        lines.append(f"  Discs  {size:9}: Build with Discs {s['discs_median']:6.3f} s / with Points "
                     f"{s['points_median']:6.3f} s = {s['discs_ratio']:4.2f}x (issue 25 target <= {TARGET_DISCS:.1f}x: "
                     f"{'met' if s['discs_ratio'] <= TARGET_DISCS else 'MISSED'})")
    lines.append(f"bench wall time {time.perf_counter() - wall:.0f} s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
