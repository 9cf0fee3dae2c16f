"""`make bench` (first part): Build on frames like users' renders, against two recipes and the machine's floor.

Runs Blender as a Python module (the venv's bpy), at 1920x1080 and 3840x2160 (``--sizes``). The frames are
``tools/bench_frames.py``'s: the demo shot (textured set, sky, lights) rendered by Cycles at 16 samples and
captured by Set Up EXR Outputs with its default compression (ZIP), rendered once and cached under
``out/bench/frames/``; their EXR sizes are printed. Every side reads the same files: ``depth_0001.exr``,
``color_0001.exr`` and ``camera_0001.json``.

Per size, in alternating rounds (each round runs every side once, the order rotating from round to round, so that
all sides see the same machine; medians), each side timed up to and including ``view_layer.update()``:

* **ours**: ``bpy.ops.depth_cloud.build(filepath=depth_0001.exr)`` (the camera from the sidecar, the colour file
  beside it), and the same with ``geometry="DISCS"`` (issue 25: <= 1.5x Points at 1080p);
* **floor**: decoding every channel of both EXRs with the OpenEXR bindings (the thread setting found fastest at
  the start of the run: thread counts 1, 2 and the cores, the files one after the other or both at once), plus
  ``foreach_set`` of the same positions and colours into a plain mesh (no modifier, no material), plus
  ``view_layer.update()``;
* **the seed's recipe**, exactly as ``../shared/seeds/001_*.txt`` writes it (depth only: its ``point_cloud``, its
  list of ``cam_mat @ Vector(p)``), the depth read with the OpenEXR bindings (the thread reads it with OpenCV,
  which Blender's Python does not have) and the points put in a mesh with ``from_pydata`` (the thread writes a
  PLY with Open3D and loads it with an add-on instead);
* **the forum recipe with colours**: the same kind of snippet with a pinhole from ``angle``, a per-point colour
  loop and ``from_pydata``.

Then, in fresh child processes (so that memory freed by earlier runs cannot hide a peak), the peak RSS growth of a
first Build against the cloud's size (N x (12 + 16 + 4) bytes); and where a Build's time goes (its steps, timed
one by one). Prints the issue 26 targets with their figures and writes ``out/bench/build.json``. Asserts nothing.
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
import threading
import time

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-bench-"))
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bench_frames  # noqa: E402
import bpy  # noqa: E402
import numpy as np  # noqa: E402
import OpenEXR  # noqa: E402
from _machine import cpu_model  # noqa: E402
from mathutils import Vector  # noqa: E402

import depth_cloud_addon  # noqa: E402
from depth_cloud_addon.blender import builder  # noqa: E402
from depth_cloud_addon.core.frames.cloud import read_cloud  # noqa: E402
from depth_cloud_addon.core.frames.files import frame_files_of, frame_inputs  # noqa: E402

CLOUD_BYTES_PER_POINT = 12 + 16 + 4  # float32 position + float32 RGBA + float32 radius
TARGET_FLOOR = 1.3    # issue 26: Build / floor, medians, 1080p and 4K
TARGET_SEED = 30.0    # issue 26: the seed's recipe / Build
TARGET_MEMORY = 2.0   # issue 26: peak extra memory of a first Build / the cloud
TARGET_DISCS = 1.5    # issue 25: Build with Discs / Build with Points, 1080p
ADDON_THREADS = os.cpu_count() or 1  # OpenEXR's thread count in the add-on (one per core)


# --- the frame ------------------------------------------------------------------------------------

class Frame:
    """One bench frame's files (frame 1 of the folder)."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.depth = str(folder / "depth_0001.exr")
        self.color = str(folder / "color_0001.exr")
        self.sidecar = str(folder / "camera_0001.json")
        self.sizes = bench_frames.sizes_of(folder)
        self.inputs = frame_inputs(frame_files_of(self.depth), 1)
        self.camera = self.inputs.camera


def blender_camera(scene, camera):
    """A Blender camera object placed and shaped as the frame's sidecar records it (what the recipes read)."""
    from mathutils import Matrix

    data = bpy.data.cameras.new("Bench Camera")
    data.lens, data.sensor_width, data.sensor_height = camera.lens_mm, camera.sensor_width_mm, camera.sensor_height_mm
    data.sensor_fit, data.shift_x, data.shift_y = camera.sensor_fit, camera.shift_x, camera.shift_y
    data.clip_start, data.clip_end = camera.clip_start, camera.clip_end
    obj = bpy.data.objects.new("Bench Camera", data)
    obj.matrix_world = Matrix(np.asarray(camera.cam2world, np.float64).tolist())
    scene.collection.objects.link(obj)
    scene.camera = obj
    scene.render.resolution_x, scene.render.resolution_y = camera.width_px, camera.height_px
    scene.render.resolution_percentage = 100
    return obj


# --- ours -----------------------------------------------------------------------------------------

def run_build(frame: Frame, geometry: str = "POINTS") -> float:
    """The Build operator on the frame, then the depsgraph update the viewport does next; seconds."""
    gc.collect()
    t0 = time.perf_counter()
    result = bpy.ops.depth_cloud.build(filepath=frame.depth, geometry=geometry)
    bpy.context.view_layer.update()
    seconds = time.perf_counter() - t0
    if result != {"FINISHED"}:
        raise RuntimeError(f"depth_cloud.build returned {result}: {bpy.context.scene.depth_cloud.last_message}")
    return seconds


# --- the floor --------------------------------------------------------------------------------------

def decode_all(path: str) -> list:
    """Every channel of every part of the EXR at ``path`` as numpy arrays, with the OpenEXR bindings."""
    with OpenEXR.File(path, separate_channels=True) as exr:
        return [channel.pixels for part in exr.parts for channel in part.channels.values()]


def decode_files(paths, at_once: bool) -> list:
    """:func:`decode_all` of each file: one after the other, or all at once in threads."""
    if not at_once:
        return [decode_all(p) for p in paths]
    out: list = [None] * len(paths)

    def one(i: int) -> None:
        out[i] = decode_all(paths[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(1, len(paths))]
    for thread in threads:
        thread.start()
    one(0)
    for thread in threads:
        thread.join()
    return out


def best_decode(paths, rounds: int = 5) -> tuple[tuple[int, bool], dict]:
    """The fastest way to decode ``paths`` with the OpenEXR bindings: (threads, at once) and every setting's
    median seconds."""
    settings = [(t, at_once) for t in sorted({1, 2, os.cpu_count() or 1}) for at_once in (False, True)]
    times: dict = {s: [] for s in settings}
    for _ in range(rounds):
        for setting in settings:
            OpenEXR.set_global_thread_count(setting[0])
            t0 = time.perf_counter()
            decode_files(paths, setting[1])
            times[setting].append(time.perf_counter() - t0)
    OpenEXR.set_global_thread_count(ADDON_THREADS)  # as the add-on runs
    medians = {s: statistics.median(v) for s, v in times.items()}
    return min(medians, key=medians.__getitem__), medians


class Floor:
    """Decode the frame's EXRs, write the same positions and colours into a plain mesh, update the view layer."""

    def __init__(self, frame: Frame, setting: tuple[int, bool], positions: np.ndarray, colors: np.ndarray):
        self.paths, self.setting = [frame.depth, frame.color], setting
        self.positions, self.colors = positions, colors
        mesh = bpy.data.meshes.new("Floor")
        self.obj = bpy.data.objects.new("Floor", mesh)
        bpy.context.scene.collection.objects.link(self.obj)

    def write(self) -> None:
        mesh = self.obj.data
        n = len(self.positions) // 3
        if len(mesh.vertices) != n:
            mesh.clear_geometry()
            mesh.vertices.add(n)
            mesh.color_attributes.new("Color", "FLOAT_COLOR", "POINT")
        mesh.attributes["position"].data.foreach_set("vector", self.positions)
        mesh.attributes["Color"].data.foreach_set("color", self.colors)
        mesh.update()

    def run(self) -> dict:
        threads, at_once = self.setting
        OpenEXR.set_global_thread_count(threads)
        gc.collect()
        t0 = time.perf_counter()
        decoded = decode_files(self.paths, at_once)
        t1 = time.perf_counter()
        self.write()
        bpy.context.view_layer.update()
        t2 = time.perf_counter()
        del decoded
        OpenEXR.set_global_thread_count(ADDON_THREADS)
        return {"decode": t1 - t0, "write": t2 - t1, "total": t2 - t0}

    def remove(self) -> None:
        mesh = self.obj.data
        bpy.data.objects.remove(self.obj)
        bpy.data.meshes.remove(mesh)


# --- the seed's recipe and the forum recipe ---------------------------------------------------------

def _read_depth_channel(path: str) -> np.ndarray:
    """The depth channel of a depth EXR (the recipes' read; the seed uses OpenCV's ``imread`` for it)."""
    with OpenEXR.File(path, separate_channels=True) as exr:
        channels = {name: channel.pixels for part in exr.parts for name, channel in part.channels.items()}
    return next(v for k, v in channels.items() if k.split(".")[-1] in ("Z", "V", "R", "Y"))


def seed_point_cloud(depth, cam):
    # The seed thread's function, as it writes it.
    from math import tan

    # Distance factor from the camera focal angle
    factor = 2.0 * tan(cam.data.angle_x/2.0)
    rows, cols = depth.shape
    c, r = np.meshgrid(np.arange(cols), np.arange(rows), sparse=True)
    # Valid depths are defined by the camera clipping planes
    valid = (depth > cam.data.clip_start) & (depth < cam.data.clip_end)
    # Negate Z (the camera Z is at the opposite)
    z = -np.where(valid, depth, np.nan)
    # Mirror X
    # Center c and r relatively to the image size cols and rows
    ratio = max(rows,cols)
    x = -np.where(valid, factor * z * (c - (cols / 2)) / ratio, 0)
    y = np.where(valid, factor * z * (r - (rows / 2)) / ratio, 0)
    return np.dstack((x, y, z))


def run_seed(frame: Frame, cam) -> dict:
    """The seed's recipe (depth only), up to a mesh of its points and the view layer's update."""
    gc.collect()
    t0 = time.perf_counter()
    depth = _read_depth_channel(frame.depth)
    t1 = time.perf_counter()
    points = seed_point_cloud(depth, cam)
    cam_mat = cam.matrix_world
    verts = [cam_mat @ Vector(p) for r in points for p in r]
    t2 = time.perf_counter()
    mesh = bpy.data.meshes.new("SeedCloud")
    mesh.from_pydata(verts, [], [])
    obj = bpy.data.objects.new("SeedCloud", mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.update()
    t3 = time.perf_counter()
    n = len(verts)
    del verts, points
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(mesh)
    return {"read": t1 - t0, "points_and_vectors": t2 - t1, "mesh_and_update": t3 - t2, "total": t3 - t0,
            "points": n}


def run_forum(frame: Frame, cam) -> dict:
    """The recipe of typical forum / Stack Exchange snippets with colours, written the way they write it."""
    gc.collect()
    scene = bpy.context.scene
    t0 = time.perf_counter()
    depth = _read_depth_channel(frame.depth)
    with OpenEXR.File(frame.color, separate_channels=True) as exr:
        channels = {name: channel.pixels for part in exr.parts for name, channel in part.channels.items()}
    rgba = np.dstack([channels[c] for c in "RGBA"])
    t1 = time.perf_counter()
    # Pinhole back-projection; pixel centres at integer coordinates, no shift, focal length in pixels from the
    # horizontal field of view.
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
    mw = cam.matrix_world
    verts = [mw @ Vector(p) for p in points]
    t2 = time.perf_counter()
    mesh = bpy.data.meshes.new("ForumCloud")
    mesh.from_pydata(verts, [], [])
    mesh.update()
    obj = bpy.data.objects.new("ForumCloud", mesh)
    scene.collection.objects.link(obj)
    col = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    t3 = time.perf_counter()
    for i, c in enumerate(colors):
        col.data[i].color = c
    t4 = time.perf_counter()
    bpy.context.view_layer.update()  # what the viewport does next
    t5 = time.perf_counter()
    n = len(verts)
    del verts
    bpy.data.objects.remove(obj)
    bpy.data.meshes.remove(mesh)
    return {"read": t1 - t0, "points_and_vectors": t2 - t1, "mesh": t3 - t2, "color_loop": t4 - t3,
            "update": t5 - t4, "total": t5 - t0, "points": n}


# --- memory and steps (child processes) -------------------------------------------------------------

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


def fresh_scene(frame: Frame | None = None):
    """An empty file with the add-on registered (and the frame's camera, when given)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_current = 1
    cam = blender_camera(scene, frame.camera) if frame is not None else None
    return scene, cam


def memory_child(folder: str) -> dict:
    """Peak RSS growth of a first Build (new object), a rebuild, and the depsgraph update after it."""
    frame = Frame(pathlib.Path(folder))
    fresh_scene()
    depth_cloud_addon.register()
    for path in (frame.depth, frame.color):  # the files in the page cache (OpenEXR is imported): not in the figure
        pathlib.Path(path).read_bytes()
    _trim()
    result = {}
    for label in ("first_build", "rebuild"):
        holder = {}

        def once(holder=holder):
            holder["result"] = bpy.ops.depth_cloud.build(filepath=frame.depth)

        peak, kept = peak_rss_extra(once)
        result[label] = {"peak_rss_extra_bytes": peak, "rss_kept_bytes": kept}
        if label == "first_build":
            peak, kept = peak_rss_extra(bpy.context.view_layer.update)
            result["depsgraph_update"] = {"peak_rss_extra_bytes": peak, "rss_kept_bytes": kept}
    result["points"] = len(builder.find_cloud(bpy.context.scene).data.vertices)
    return result


def steps_child(folder: str, rounds: int) -> dict:
    """Where a Build's time goes: its steps one after the other (in a Build the colour file decodes in the
    background during the first three), medians; and a cProfile of one operator call by own time."""
    from depth_cloud_addon.core.formats.exr import read_exr
    from depth_cloud_addon.core.frames.depth import read_frame_depth
    from depth_cloud_addon.core.geometry.projection import backproject_valid, covering_radius

    frame = Frame(pathlib.Path(folder))
    fresh_scene()
    depth_cloud_addon.register()
    bpy.ops.depth_cloud.build(filepath=frame.depth)  # the object made: the steps write over it, as a Build does
    obj = builder.find_cloud(bpy.context.scene)
    times: dict = {}
    for _ in range(rounds):
        gc.collect()
        marks = [("start", time.perf_counter())]
        inputs = frame_inputs(frame_files_of(frame.depth), 1)
        marks.append(("the frame's files and sidecar (frame_inputs)", time.perf_counter()))
        image, kind = read_frame_depth(inputs)
        marks.append(("decode the depth EXR", time.perf_counter()))
        color = read_exr(frame.color, require_depth=False, keep_half=True).color
        marks.append(("decode the colour EXR", time.perf_counter()))
        valid = backproject_valid(image.depth, inputs.camera, depth_kind=kind.kind, with_pixels=False)
        points, radii, pixels = valid.points, covering_radius(valid.footprint), valid.pixels
        del valid, image
        marks.append(("valid pixels, back-projection (float64), radii", time.perf_counter()))
        colors = pixels.compact(color)
        marks.append(("colours of the valid pixels (compacted in place)", time.perf_counter()))
        arrays = {"points": points, "colors": colors, "radii": radii}
        del points, colors, radii, color
        builder.write_mesh_from(obj.data, pixels.n, arrays.pop)
        marks.append(("mesh write (foreach_set: positions, Color, radius)", time.perf_counter()))
        bpy.context.view_layer.update()
        marks.append(("view_layer.update() (Geometry Nodes: Mesh to Points)", time.perf_counter()))
        for (_, a), (name, b) in zip(marks[:-1], marks[1:]):
            times.setdefault(name, []).append(b - a)
        times.setdefault("sum of the steps", []).append(marks[-1][1] - marks[0][1])
        gc.collect()
        start = time.perf_counter()
        bpy.ops.depth_cloud.build(filepath=frame.depth)
        bpy.context.view_layer.update()
        times.setdefault("the Build operator + update (the colour decoded meanwhile)", []).append(
            time.perf_counter() - start)
    profiler = cProfile.Profile()
    profiler.enable()
    bpy.ops.depth_cloud.build(filepath=frame.depth)
    bpy.context.view_layer.update()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
    return {"steps": {k: statistics.median(v) for k, v in times.items()}, "profile": text.getvalue()}


def run_child(*args: str) -> dict:
    cmd = [sys.executable, __file__, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("CHILD_JSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len("CHILD_JSON "):])


# --- one size ---------------------------------------------------------------------------------------

def median(values) -> float:
    return statistics.median(values)


def run_size(args, width: int, height: int) -> dict:
    wall = time.perf_counter()
    folder = bench_frames.render(width, height, args.frames, args.samples, log=lambda m: print(m, flush=True))
    frame = Frame(folder)
    scene, cam = fresh_scene(frame)
    depth_cloud_addon.register()
    try:
        cloud = read_cloud(frame.inputs)
        n = len(cloud.points)
        positions = np.ascontiguousarray(cloud.points, np.float32).ravel()
        colors = np.ascontiguousarray(cloud.colors, np.float32).ravel()
        del cloud
        setting, decode_medians = best_decode([frame.depth, frame.color])
        floor = Floor(frame, setting, positions, colors)
        sides = ["ours", "floor", "discs"] if width * height <= 1920 * 1080 or args.discs_all else ["ours", "floor"]
        runs: dict = {side: [] for side in ("ours", "floor", "discs", "seed", "forum")}
        for r in range(args.rounds):
            order = sides + (["seed", "forum"] if r < args.baseline_rounds else [])
            order = order[r % len(order):] + order[:r % len(order)]
            for side in order:
                if side == "ours":
                    runs["ours"].append(run_build(frame))
                elif side == "discs":
                    runs["discs"].append(run_build(frame, "DISCS"))
                elif side == "floor":
                    runs["floor"].append(floor.run())
                elif side == "seed":
                    runs["seed"].append(run_seed(frame, cam))
                else:
                    runs["forum"].append(run_forum(frame, cam))
            print(f"  round {r + 1}/{args.rounds} done", flush=True)
        floor.remove()
        message = scene.depth_cloud.last_message
    finally:
        depth_cloud_addon.unregister()
    memory = run_child("--memory-child", str(folder))
    steps = run_child("--steps-child", str(folder), "--rounds", str(args.rounds))

    ours = median(runs["ours"])
    floor_total = median([r["total"] for r in runs["floor"]])
    result = {
        "width": width, "height": height, "points": n, "pixels": width * height, "folder": str(folder),
        "exr_bytes": frame.sizes, "cloud_bytes": n * CLOUD_BYTES_PER_POINT, "operator_message": message,
        "decode_settings": {f"{t} thread(s){', both files at once' if once else ''}": s
                            for (t, once), s in decode_medians.items()},
        "decode_setting": {"threads": setting[0], "at_once": setting[1]},
        "runs": runs, "ours": ours, "floor": floor_total,
        "floor_decode": median([r["decode"] for r in runs["floor"]]),
        "floor_write": median([r["write"] for r in runs["floor"]]),
        "ratio_floor": ours / floor_total,
        "memory": memory, "memory_ratio": memory["first_build"]["peak_rss_extra_bytes"] / (n * CLOUD_BYTES_PER_POINT),
        "steps": steps["steps"], "profile": steps["profile"],
    }
    if runs["discs"]:
        result["discs"] = median(runs["discs"])
        result["ratio_discs"] = result["discs"] / ours
    if runs["seed"]:
        result["seed"] = median([r["total"] for r in runs["seed"]])
        result["ratio_seed"] = result["seed"] / ours
    if runs["forum"]:
        result["forum"] = median([r["total"] for r in runs["forum"]])
        result["ratio_forum"] = result["forum"] / ours
    result["wall_seconds"] = time.perf_counter() - wall
    print_size(result)
    return result


def print_size(r: dict) -> None:
    mib = 1 << 20
    n = r["points"]
    lines = ["", f"{r['width']}x{r['height']}: {n:,} points of {r['pixels']:,} pixels; EXRs: depth "
             f"{r['exr_bytes']['depth'] / 1e6:.1f} MB, colour {r['exr_bytes']['color'] / 1e6:.1f} MB (ZIP, "
             f"{r['folder']}); cloud {r['cloud_bytes'] / mib:.1f} MiB",
             f"  {'median of the rounds':46} {'seconds':>9}  {'':>8}"]

    def row(label, seconds, note=""):
        lines.append(f"  {label:46} {seconds:9.3f}  {note}")

    row(f"ours: Build (operator) + update ({len(r['runs']['ours'])} rounds)", r["ours"])
    row("floor: decode + foreach_set + update", r["floor"],
        f"(decode {r['floor_decode']:.3f} with {r['decode_setting']['threads']} thread(s)"
        f"{', both files at once' if r['decode_setting']['at_once'] else ''}; write + update {r['floor_write']:.3f})")
    if "discs" in r:
        row("ours with Discs", r["discs"])
    if "seed" in r:
        row(f"the seed's recipe ({len(r['runs']['seed'])} rounds)", r["seed"])
    if "forum" in r:
        row(f"the forum recipe with colours ({len(r['runs']['forum'])} rounds)", r["forum"])
    lines.append("  decoding both EXRs with the OpenEXR bindings, medians: " + ", ".join(
        f"{k} {v * 1e3:.0f} ms" for k, v in r["decode_settings"].items()))
    lines.append("  where a Build's time goes (its steps one after the other, fresh process, medians):")
    for name, seconds in r["steps"].items():
        lines.append(f"    {name:62} {seconds * 1e3:7.1f} ms")
    m = r["memory"]
    first, rebuild = m["first_build"]["peak_rss_extra_bytes"] / mib, m["rebuild"]["peak_rss_extra_bytes"] / mib
    lines.append(f"  memory (fresh process): first Build +{first:.0f} MiB peak = {r['memory_ratio']:.2f}x the cloud; "
                 f"rebuild +{rebuild:.0f} MiB; the update after it "
                 f"+{m['depsgraph_update']['peak_rss_extra_bytes'] / mib:.0f} MiB")
    lines.append(f"  operator: {r['operator_message']}")
    lines.append(f"  (this size took {r['wall_seconds']:.0f} s)")
    print("\n".join(lines), flush=True)


def targets(results: list[dict]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = ["", f"Issue 26 targets (medians of alternating rounds; load {os.getloadavg()[0]:.2f} now):"]
    for r in results:
        size = f"{r['width']}x{r['height']}"
        lines.append(f"  Build {size:9} / floor       = {r['ratio_floor']:5.2f}x  ({r['ours'] * 1e3:.0f} / "
                     f"{r['floor'] * 1e3:.0f} ms; target <= {TARGET_FLOOR}x: "
                     f"{verdict(r['ratio_floor'] <= TARGET_FLOOR)})")
        if "ratio_seed" in r:
            lines.append(f"  seed's recipe {size:9} / Build = {r['ratio_seed']:5.1f}x  ({r['seed']:.2f} s / "
                         f"{r['ours']:.3f} s; target >= {TARGET_SEED:.0f}x: "
                         f"{verdict(r['ratio_seed'] >= TARGET_SEED)}); "
                         f"the forum recipe with colours {r['ratio_forum']:.1f}x")
        lines.append(f"  memory {size:9}: first Build {r['memory_ratio']:.2f}x the cloud (target <= "
                     f"{TARGET_MEMORY:.0f}x: {verdict(r['memory_ratio'] <= TARGET_MEMORY)})")
        if "ratio_discs" in r:
            lines.append(f"  Discs {size:9} / Points   = {r['ratio_discs']:5.2f}x  ({r['discs'] * 1e3:.0f} / "
                         f"{r['ours'] * 1e3:.0f} ms; issue 25 target <= {TARGET_DISCS}x: "
                         f"{verdict(r['ratio_discs'] <= TARGET_DISCS)})")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"), help="where build.json goes")
    parser.add_argument("--sizes", default="1920x1080,3840x2160", help="frame sizes WxH, comma-separated")
    parser.add_argument("--frames", type=int, default=bench_frames.FRAMES)
    parser.add_argument("--samples", type=int, default=bench_frames.SAMPLES)
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of ours and the floor (default 7)")
    parser.add_argument("--baseline-rounds", type=int, default=3,
                        help="of which the first N also run the two recipes (default 3; 0: none)")
    parser.add_argument("--discs-all", action="store_true", help="time Discs at every size (default: 1080p)")
    parser.add_argument("--memory-child", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--steps-child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print("CHILD_JSON " + json.dumps(memory_child(args.memory_child)), flush=True)
        return 0
    if args.steps_child:
        print("CHILD_JSON " + json.dumps(steps_child(args.steps_child, args.rounds)), flush=True)
        return 0

    start = time.perf_counter()
    print(f"Depth Cloud Build benchmark: Blender {bpy.app.version_string}, {cpu_model()}, {os.cpu_count()} cores, "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}",
          flush=True)
    results = [run_size(args, *map(int, size.split("x"))) for size in args.sizes.split(",")]
    lines = targets(results)
    lines.append(f"bench wall time {time.perf_counter() - start:.0f} s")
    print("\n".join(lines))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"),
              "blender": bpy.app.version_string, "cpu": cpu_model(), "cores": os.cpu_count(),
              "python": platform.python_version(), "numpy": np.__version__, "sizes": results}
    (out / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"-> {out / 'build.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
