"""`make bench` (second part): a 1920x1080 sequence bound to the timeline, and Build per geometry mode.

Renders a short moving-camera sequence through the set-up outputs (Cycles, 1 sample), builds a
sequence cloud, then measures, in the same run:

* the frame-change handler's work per frame with the frame in the cache (target <= 40 ms) and
  without it (target <= 2x a single-frame Build, measured here too);
* playback: ``scene.frame_set`` over the preloaded frames, handler plus the depsgraph update that
  turns the mesh into points (target >= 24 frames/s).

Prints a table and writes out/bench/sequence.json. Timings only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-bench-"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402

import depth_cloud_addon  # noqa: E402
from depth_cloud_addon.blender import sequence  # noqa: E402
from tools import scenes  # noqa: E402

TARGET_FPS = 24.0
TARGET_HANDLER_MS = 40.0
TARGET_UNCACHED_RATIO = 2.0


def render_sequence(folder: pathlib.Path, width: int, height: int, n_frames: int):
    scene = scenes.empty_scene(width, height)
    for aov in list(scene.view_layers[0].aovs):  # the tests' position AOV is not part of a user's render
        scene.view_layers[0].aovs.remove(aov)
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=30.0)
    scenes.standard_objects(cam)
    for frame, x in ((1, 0.3), (n_frames, 1.5)):
        cam.location.x = x
        cam.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = 1, n_frames
    bpy.ops.depth_cloud.setup_outputs(directory=str(folder))
    scene.render.filepath = str(folder / "render_")
    start = time.perf_counter()
    bpy.ops.render.render(animation=True)
    return scene, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/bench")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--loops", type=int, default=5, help="playback loops over the cached frames")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out).resolve()
    folder = out / "sequence"
    folder.mkdir(parents=True, exist_ok=True)
    frames = list(range(1, args.frames + 1))

    try:
        scene, render_s = render_sequence(folder, args.width, args.height, args.frames)
        scene.frame_set(1)
        build_runs = []
        for _ in range(3):
            start = time.perf_counter()
            bpy.ops.depth_cloud.build(filepath=str(folder / "depth_0001.exr"))
            build_runs.append(time.perf_counter() - start)
        modes = {}
        for geometry in ("POINTS", "FACES", "SURFACE"):
            runs = []
            for _ in range(4):  # each a new mesh topology: a small strided build of another mode comes first
                bpy.ops.depth_cloud.build(filepath=str(folder / "depth_0001.exr"), geometry="POINTS", stride=16)
                start = time.perf_counter()
                bpy.ops.depth_cloud.build(filepath=str(folder / "depth_0001.exr"), geometry=geometry)
                runs.append(time.perf_counter() - start)
            start = time.perf_counter()
            bpy.ops.depth_cloud.build(filepath=str(folder / "depth_0001.exr"), geometry=geometry)
            again = time.perf_counter() - start
            mesh = bpy.context.active_object.data
            modes[geometry] = (runs[0], min(runs), again, len(mesh.vertices), len(mesh.polygons))
        bpy.ops.depth_cloud.build(sequence=True)
        obj = bpy.context.active_object
        points = len(obj.data.vertices)

        uncached, cached = [], []
        for frame in frames:  # the handler's work, cache cold then warm
            sequence.CACHE.clear()
            sequence.forget_shown()
            start = time.perf_counter()
            sequence.show_frame(obj, scene, frame)
            uncached.append(time.perf_counter() - start)
        for frame in frames:
            sequence.show_frame(obj, scene, frame)  # warm the cache with every frame
        for _ in range(args.loops):
            for frame in frames:
                sequence.forget_shown()
                start = time.perf_counter()
                sequence.show_frame(obj, scene, frame)
                cached.append(time.perf_counter() - start)
        playback = []
        scene.frame_set(frames[-1])
        for _ in range(args.loops):
            for frame in frames:
                start = time.perf_counter()
                scene.frame_set(frame)
                playback.append(time.perf_counter() - start)
        cache_mb = sequence.CACHE.nbytes / 2**20
    finally:
        depth_cloud_addon.unregister()

    build_best = min(build_runs)
    handler_ms = statistics.median(cached) * 1000
    fps = 1.0 / statistics.median(playback)
    uncached_ratio = statistics.median(uncached) / build_best
    lines = [
        "",
        f"Depth Cloud sequence playback: Blender {bpy.app.version_string}, {args.width}x{args.height}, "
        f"{len(frames)} frames rendered in {render_s:.1f} s, {points:,} points per frame, cache {cache_mb:.0f} MB",
        f"  single-frame Build (operator, best of 3)        {build_best * 1000:7.1f} ms",
        f"  handler, frame not cached (median)              {statistics.median(uncached) * 1000:7.1f} ms"
        f"  = {uncached_ratio:.2f}x Build (target <= {TARGET_UNCACHED_RATIO:.0f}x: "
        f"{'met' if uncached_ratio <= TARGET_UNCACHED_RATIO else 'MISSED'})",
        f"  handler, frame cached (median of {len(cached)})           {handler_ms:7.1f} ms"
        f"  (target <= {TARGET_HANDLER_MS:.0f} ms: {'met' if handler_ms <= TARGET_HANDLER_MS else 'MISSED'})",
        f"  playback, scene.frame_set cached (median)       {statistics.median(playback) * 1000:7.1f} ms"
        f"  = {fps:.1f} frames/s (target >= {TARGET_FPS:.0f}: {'met' if fps >= TARGET_FPS else 'MISSED'})",
    ]
    lines.append("  Build by geometry, operator, ms: first in this process (cold memory) / best of 4 new meshes / "
                 "again on the same mesh (target FACES <= 1 s):")
    for geometry, (cold, best, again, vertices, faces) in modes.items():
        lines.append(f"    {geometry:8} {cold * 1000:6.0f} / {best * 1000:5.0f} / {again * 1000:5.0f}   "
                     f"{vertices:>10,} vertices {faces:>10,} faces")
    print("\n".join(lines))
    (out / "sequence.json").write_text(json.dumps({
        "blender": bpy.app.version_string, "width": args.width, "height": args.height, "frames": len(frames),
        "points_per_frame": points, "build_seconds": build_runs, "handler_uncached_seconds": uncached,
        "handler_cached_seconds": cached, "frame_set_cached_seconds": playback, "fps": fps,
        "handler_cached_ms_median": handler_ms, "uncached_over_build": uncached_ratio,
        "build_by_geometry": {g: {"cold_seconds": t0, "best_seconds": t1, "again_seconds": t2, "vertices": v,
                                  "faces": f} for g, (t0, t1, t2, v, f) in modes.items()},
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
