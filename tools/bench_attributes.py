"""`make bench`, point attributes: the extra cost of each point attribute on one 1920x1080 frame.

Pure numpy + OpenEXR (no Blender): runs in ``.venv``. One run:

1. writes a generated 2-frame scene into a temporary folder (``--scene DIR`` keeps it there), ray-cast
   with numpy: a ground, a back wall under a sky (background, depth 1e10), a crate, a pillar, a car, a
   barrel, a ball and a cloth, seen by a 35 mm camera that moves 4 cm between the frames. The crate, the
   car and the ball move rigidly; the cloth is "deforming" (its geometry fingerprint changes), so its
   motion comes from the Vector pass and frame 2's depth and sidecar, the others' from the sidecar's
   placements. As Set Up EXR Outputs writes them (ZIP, float32): ``depth_0001/0002.exr`` (planar Z,
   ``V``), ``camera_0001/0002.json`` (the capture's passes, every object's ``matrix_world``, geometry
   fingerprint and next state), ``color_0001.exr`` (RGBA) and ``passes_0001.exr`` (``IndexOB.V``,
   ``IndexMA.V``, ``Normal.X/Y/Z``, ``Vector.X/Y/Z/W``, ``CryptoObject00..02.r/g/b/a`` and the
   Cryptomatte manifest), and frame 2's ``passes_0002.exr`` (its Vector pass and Cryptomatte: the Vector-pass
   motion is checked there, forward and back);
2. times ``read_cloud(frame_inputs(frame_files_of(depth_0001.exr), 1), BuildOptions(attributes=...))``
   (sidecar, EXR reads, back-projection and the attributes): plain (no attribute), each attribute of
   :data:`ATTRIBUTES` alone, and all of them together, in ``--rounds`` rounds after a warm-up (all of them
   and the shared parts once): every configuration once per round, the order rotated by one each round.
   Each figure is the median over the rounds; "x plain" is the median's ratio to the plain read's median,
   "extra" the difference, and "per-round x" the range of the ratio to the plain read *of the same round*;
3. the parts attributes share, timed alone in the same rounds: ``read_channels(passes_0001.exr)`` (every
   channel of the passes file), ``read_passes`` on them, ``edge_mask``, frame 2's depth read;
4. checks the attributes against the scene: the object found per point, the normals, the rigid and the
   Vector-pass motion against the true motion (so the figures are those of a correct read).

Prints a table and writes ``out/bench/attributes.json``. No assertion on times: the figures are ratios
against the plain read of the same run. ``--profile NAMES`` adds a cProfile of one read with those
attributes (comma-separated, or ``all``).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import io
import json
import math
import os
import pathlib
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402
from _machine import cpu_model  # noqa: E402

from depth_cloud_addon.core import CameraModel, read_exr, write_exr  # noqa: E402
from depth_cloud_addon.core.formats.exr import read_channels  # noqa: E402
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud  # noqa: E402
from depth_cloud_addon.core.frames.files import (  # noqa: E402
    CaptureInfo,
    frame_files_of,
    frame_inputs,
    write_camera_sidecar,
)
from depth_cloud_addon.core.frames.passes import (  # noqa: E402
    ATTRIBUTES,
    MOTION_RIGID,
    MOTION_UNKNOWN,
    MOTION_VECTOR,
    cryptomatte_float_bits,
    edge_mask,
    murmur3_32,
    read_passes,
)
from depth_cloud_addon.core.geometry.projection import camera_rays, pixel_centers, project  # noqa: E402

BACKGROUND = 1e10  # Cycles' depth where nothing is hit
CAPTURED = ("OBJECT_INDEX", "MATERIAL_INDEX", "NORMAL", "MOTION", "CRYPTOMATTE")
PLAIN, ALL = "plain", "all"


# --- scene ----------------------------------------------------------------------------------------

def placement(location, yaw_deg: float = 0.0) -> np.ndarray:
    """A 4x4 matrix_world: a turn about world Z, then a move."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    m = np.eye(4)
    m[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    m[:3, 3] = location
    return m


def moved(m: np.ndarray, by, yaw_deg: float = 0.0) -> np.ndarray:
    """``m`` turned by ``yaw_deg`` about its own centre and moved by ``by`` (world)."""
    out = m.copy()
    out[:3, :3] = placement((0, 0, 0), yaw_deg)[:3, :3] @ m[:3, :3]
    out[:3, 3] += by
    return out


def scene_objects() -> list[dict]:
    """Boxes (half extents in metres, in the object's frame) and a ball (radius), each with its placement in
    frames 1 and 2. ``rigid``: the geometry fingerprint is the same in both frames; else it changes (a
    deforming mesh)."""
    objects = [
        ("Ground", 1, 1, (30.0, 25.0, 0.05), placement((0.0, 0.0, -0.05)), (0, 0, 0), 0.0, True, (0.35, 0.33, 0.3)),
        ("Wall", 2, 2, (16.0, 0.2, 1.75), placement((0.0, 14.2, 1.75)), (0, 0, 0), 0.0, True, (0.6, 0.55, 0.5)),
        ("Crate", 3, 3, (0.6, 0.6, 0.6), placement((-2.5, 2.0, 0.6), 20.0), (0.15, 0.0, 0.0), 4.0, True,
         (0.5, 0.3, 0.1)),
        ("Pillar", 4, 2, (0.3, 0.3, 1.6), placement((2.2, 5.0, 1.6), 10.0), (0, 0, 0), 0.0, True, (0.7, 0.7, 0.7)),
        ("Car", 5, 4, (1.0, 2.1, 0.7), placement((4.6, 9.0, 0.7), -5.0), (0.0, -0.35, 0.0), 0.0, True,
         (0.1, 0.2, 0.6)),
        ("Barrel", 6, 3, (0.4, 0.4, 0.5), placement((-5.0, 7.0, 0.5), 30.0), (0, 0, 0), 0.0, True, (0.2, 0.4, 0.1)),
        ("Cloth", 7, 5, (1.2, 0.04, 0.9), placement((0.4, 1.2, 1.3), 12.0), (0.06, 0.02, 0.08), 3.0, False,
         (0.7, 0.1, 0.1)),
        ("Ball", 8, 6, (0.45, 0.45, 0.45), placement((-1.0, 4.0, 0.45)), (0.1, 0.05, 0.0), 15.0, True,
         (0.8, 0.6, 0.1)),
    ]
    out = []
    for name, pass_index, material_index, half, m1, by, yaw, rigid, albedo in objects:
        out.append({"name": name, "pass_index": pass_index, "material_index": material_index,
                    "shape": "sphere" if name == "Ball" else "box", "half": np.array(half), "m1": m1,
                    "m2": moved(m1, by, yaw), "rigid": rigid, "albedo": np.array(albedo, np.float32),
                    "hash": murmur3_32(name)})
    return out


def camera_of(frame: int, width: int, height: int) -> CameraModel:
    """35 mm, 1.7 m above the ground, looking along +Y 8 degrees down; frame 2 is 4 cm to the right."""
    pitch = math.radians(8.0)
    cam2world = np.eye(4)
    cam2world[:3, 0] = (1.0, 0.0, 0.0)
    cam2world[:3, 1] = (0.0, math.sin(pitch), math.cos(pitch))
    cam2world[:3, 2] = (0.0, -math.cos(pitch), math.sin(pitch))
    cam2world[:3, 3] = (0.04 * (frame - 1), -9.0, 1.7)
    return CameraModel(width_px=width, height_px=height, lens_mm=35.0, cam2world=cam2world, clip_end=100.0,
                       frame=frame, name="Camera")


def ray_cast(camera: CameraModel, objects: list[dict], key: str):
    """Per pixel: planar depth (BACKGROUND where nothing is hit), the object hit (-1: none), the world normal.
    ``key``: each object's placement ("m1" or "m2"). In each object's frame: boxes by the slab method, the
    ball as a quadric."""
    _, directions = camera_rays(pixel_centers(camera), camera)  # camera frame, unit planar length
    h, w = camera.shape
    dirs = directions.reshape(-1, 3) @ camera.cam2world[:3, :3].T  # world; t along it is the planar depth
    origin = camera.cam2world[:3, 3]
    depth = np.full(h * w, np.inf)
    which = np.full(h * w, -1, np.int64)
    normal = np.zeros((h * w, 3))
    for k, obj in enumerate(objects):
        inv = np.linalg.inv(obj[key])
        o = inv[:3, :3] @ origin + inv[:3, 3]
        d = dirs @ inv[:3, :3].T
        if obj["shape"] == "sphere":
            a, b, c = np.einsum("ij,ij->i", d, d), d @ o, o @ o - obj["half"][0] ** 2
            with np.errstate(invalid="ignore"):
                t = (-b - np.sqrt(b * b - a * c)) / a
            hit = np.isfinite(t) & (t > 0) & (t < depth)
            depth[hit] = t[hit]
            which[hit] = k
            normal[hit] = ((o + t[hit, None] * d[hit]) / obj["half"][0]) @ obj[key][:3, :3].T
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-obj["half"] - o) / d
            t2 = (obj["half"] - o) / d
        near = np.fmin(t1, t2)
        t_near = near.max(axis=1)
        t_far = np.fmax(t1, t2).min(axis=1)
        hit = (t_near <= t_far) & (t_near > 0) & (t_near < depth)
        depth[hit] = t_near[hit]
        which[hit] = k
        axis = near[hit].argmax(axis=1)
        n_local = np.zeros((int(hit.sum()), 3))
        n_local[np.arange(len(axis)), axis] = -np.sign(d[hit, axis])
        normal[hit] = n_local @ obj[key][:3, :3].T
    depth[which < 0] = BACKGROUND
    return depth.reshape(h, w), which.reshape(h, w), normal.reshape(h, w, 3)


def write_scene(folder: pathlib.Path, width: int, height: int) -> dict:
    """Frames 1 and 2 of the scene (see the module's docstring); returns what the checks need."""
    objects = scene_objects()
    cam1, cam2 = camera_of(1, width, height), camera_of(2, width, height)
    depth1, which1, normal1 = ray_cast(cam1, objects, "m1")
    depth2, which2, _ = ray_cast(cam2, objects, "m2")
    hit = which1 >= 0
    k = np.where(hit, which1, 0)

    # color: albedo x (ambient + sun), sky where nothing is hit; alpha 1 (an opaque film)
    albedo = np.stack([o["albedo"] for o in objects])[k]
    sun = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    shade = 0.25 + 0.75 * np.clip(normal1 @ sun, 0.0, None)
    rgb = np.where(hit[..., None], albedo * shade[..., None], np.array([0.45, 0.6, 0.85]))
    for frame, depth in ((1, depth1), (2, depth2)):
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": depth})
    write_exr(folder / "color_0001.exr", {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2],
                                          "A": np.ones(cam1.shape)})

    # the true motion of every surface point to frame 2, and the Vector pass (this pixel minus the next, y up)
    rays = camera_rays(pixel_centers(cam1), cam1)[1] @ cam1.cam2world[:3, :3].T
    points1 = cam1.cam2world[:3, 3] + rays * np.where(hit, depth1, 0.0)[..., None]
    transforms = np.stack([o["m2"] @ np.linalg.inv(o["m1"]) for o in objects])[k]
    points2 = np.einsum("hwij,hwj->hwi", transforms[..., :3, :3], points1) + transforms[..., :3, 3]
    true_motion = np.where(hit[..., None], points2 - points1, np.nan)
    pix1, pix2 = pixel_centers(cam1), project(points2, cam2)
    vector = np.zeros((*cam1.shape, 4))
    vector[..., 2] = np.where(hit, pix1[..., 0] - pix2[..., 0], 0.0)
    vector[..., 3] = np.where(hit, pix2[..., 1] - pix1[..., 1], 0.0)

    # Cryptomatte: rank 0 the object hit; where the pixel's right or lower neighbour shows another object,
    # coverage 0.6 and that object as rank 1 with 0.4 (an antialiased silhouette)
    ids = np.where(hit, np.array([o["hash"] for o in objects], np.uint32)[k], 0).astype(np.uint32)
    other = ids.copy()
    other[:, :-1] = np.where(ids[:, 1:] != ids[:, :-1], ids[:, 1:], other[:, :-1])
    other[:-1, :] = np.where((ids[1:, :] != ids[:-1, :]) & (other[:-1, :] == ids[:-1, :]), ids[1:, :], other[:-1, :])
    mixed = hit & (other != ids) & (other != 0)
    zeros = np.zeros(cam1.shape, np.float32)
    as_float = cryptomatte_float_bits
    channels = {
        "IndexOB.V": np.where(hit, np.array([o["pass_index"] for o in objects], float)[k], 0.0),
        "IndexMA.V": np.where(hit, np.array([o["material_index"] for o in objects], float)[k], 0.0),
        "Normal.X": normal1[..., 0], "Normal.Y": normal1[..., 1], "Normal.Z": normal1[..., 2],
        "Vector.X": zeros, "Vector.Y": zeros, "Vector.Z": vector[..., 2], "Vector.W": vector[..., 3],
        "CryptoObject00.r": np.where(hit, as_float(ids).view(np.float32), 0.0),
        "CryptoObject00.g": np.where(hit, np.where(mixed, 0.6, 1.0), 0.0),
        "CryptoObject00.b": np.where(mixed, as_float(other).view(np.float32), 0.0),
        "CryptoObject00.a": np.where(mixed, 0.4, 0.0),
        **{f"CryptoObject0{layer}.{c}": zeros for layer in (1, 2) for c in "rgba"},
    }
    manifest = {o["name"]: f"{o['hash']:08x}" for o in objects}
    write_exr(folder / "passes_0001.exr", channels, attributes={
        "cryptomatte/3ae39a5/name": "CryptoObject", "cryptomatte/3ae39a5/hash": "MurmurHash3_32",
        "cryptomatte/3ae39a5/conversion": "uint32_to_float32", "cryptomatte/3ae39a5/manifest": json.dumps(manifest)})

    # Frame 2's passes: its Vector pass (X, Y: to the previous frame, prev = (x + X, y - Y)) and its Cryptomatte, which
    # the Vector-pass motion checks against (a point hidden in frame 2 has no motion from its depth there).
    hit2 = which2 >= 0
    k2 = np.where(hit2, which2, 0)
    rays2 = camera_rays(pixel_centers(cam2), cam2)[1] @ cam2.cam2world[:3, :3].T
    points_at2 = cam2.cam2world[:3, 3] + rays2 * np.where(hit2, depth2, 0.0)[..., None]
    back = np.stack([o["m1"] @ np.linalg.inv(o["m2"]) for o in objects])[k2]
    points_at1 = np.einsum("hwij,hwj->hwi", back[..., :3, :3], points_at2) + back[..., :3, 3]
    pix2_at, pix1_at = pixel_centers(cam2), project(points_at1, cam1)
    ids2 = np.where(hit2, np.array([o["hash"] for o in objects], np.uint32)[k2], 0).astype(np.uint32)
    write_exr(folder / "passes_0002.exr", {
        "Vector.X": np.where(hit2, pix1_at[..., 0] - pix2_at[..., 0], 0.0),
        "Vector.Y": np.where(hit2, pix2_at[..., 1] - pix1_at[..., 1], 0.0), "Vector.Z": zeros, "Vector.W": zeros,
        "CryptoObject00.r": np.where(hit2, as_float(ids2).view(np.float32), 0.0),
        "CryptoObject00.g": np.where(hit2, 1.0, 0.0), "CryptoObject00.b": zeros, "CryptoObject00.a": zeros,
        **{f"CryptoObject0{layer}.{c}": zeros for layer in (1, 2) for c in "rgba"},
    }, attributes={"cryptomatte/3ae39a5/name": "CryptoObject", "cryptomatte/3ae39a5/hash": "MurmurHash3_32",
                   "cryptomatte/3ae39a5/conversion": "uint32_to_float32",
                   "cryptomatte/3ae39a5/manifest": json.dumps(manifest)})

    def geometry(obj, frame):
        return f"{murmur3_32(obj['name'] + ('' if obj['rigid'] else str(frame))):08x}"

    for frame, cam in ((1, cam1), (2, cam2)):
        states = []
        for obj in objects:
            state = {"name": obj["name"], "pass_index": obj["pass_index"],
                     "matrix_world": obj["m1" if frame == 1 else "m2"].tolist(), "geometry": geometry(obj, frame)}
            state["next"] = ({"frame": 2, "matrix_world": obj["m2"].tolist(), "geometry": geometry(obj, 2)}
                             if frame == 1 else None)
            states.append(state)
        capture = CaptureInfo(scene="Scene", view_layer="ViewLayer", engine="CYCLES", samples=1, fps=24.0,
                              depth_files={f"depth_{frame:04d}.exr": "planar"}, passes=CAPTURED,
                              objects=tuple(states))
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", cam, capture)
    return {"objects": objects, "which": which1, "normal": normal1, "true_motion": true_motion}


# --- timing ---------------------------------------------------------------------------------------

def configurations() -> dict[str, tuple[str, ...]]:
    return {PLAIN: (), **{a: (a,) for a in ATTRIBUTES}, ALL: ATTRIBUTES}


def read(depth_path: pathlib.Path, attributes: tuple[str, ...]):
    """What Build / ``convert`` do for one frame: its files, its sidecar, ``read_cloud``."""
    return read_cloud(frame_inputs(frame_files_of(depth_path), 1), BuildOptions(attributes=attributes))


def parts(folder: pathlib.Path) -> dict:
    """The shared steps attributes add, each a callable timed alone."""
    depth_path, passes_path = folder / "depth_0001.exr", folder / "passes_0001.exr"
    inputs = frame_inputs(frame_files_of(depth_path), 1)
    image = read_exr(depth_path)
    color = read_exr(folder / "color_0001.exr", require_depth=False).color
    channels = read_channels(passes_path)
    return {
        "read_channels(passes_0001.exr), all channels": lambda: read_channels(passes_path),
        "read_passes (channels -> FramePasses)": lambda: read_passes(channels),
        "edge_mask (depth + alpha)": lambda: edge_mask(image.depth, inputs.camera, alpha=color[..., 3],
                                                       depth_kind="planar"),
        "read_exr(depth_0002.exr) (next frame, Vector motion)": lambda: read_exr(folder / "depth_0002.exr"),
    }


def timed(fn) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def profile_read(depth_path: pathlib.Path, attributes: tuple[str, ...], top: int = 20) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    read(depth_path, attributes)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --- checks ---------------------------------------------------------------------------------------

def check(cloud, truth: dict) -> dict:
    """The attributes of the all-attributes read against the scene."""
    rows, cols = cloud.rows, cloud.cols
    objects = truth["objects"]
    k = truth["which"][rows, cols]
    a = cloud.attributes
    pass_index = np.array([o["pass_index"] for o in objects])[k]
    hashes = np.array([o["hash"] for o in objects], np.uint32)[k]
    normal_err = np.linalg.norm(a["normal"] - truth["normal"][rows, cols], axis=1)
    source = a["motion_source"]
    true_motion = truth["true_motion"][rows, cols]
    err = np.linalg.norm(a["motion"] - true_motion, axis=1)
    rigid, vector = source == MOTION_RIGID, source == MOTION_VECTOR
    deforming = ~np.array([o["rigid"] for o in objects])[k]
    return {
        "points": int(len(rows)),
        "points_per_object": dict(zip([o["name"] for o in objects], np.bincount(k, minlength=len(objects)).tolist())),
        "object_index_exact": bool(np.array_equal(a["object_index"], pass_index)),
        "object_id_exact": bool(np.array_equal(a["object_id"].view(np.uint32), hashes)),
        "legend_names": sorted(cloud.legend.values()),
        "normal_error_max": float(normal_err.max()),
        "edge_points": int(a["edge"].sum()),
        "motion_points": {"rigid": int(rigid.sum()), "vector": int(vector.sum()),
                          "unknown": int((source == MOTION_UNKNOWN).sum())},
        "deforming_points": int(deforming.sum()),
        "deforming_points_by_vector": int((deforming & vector).sum()),
        "rigid_motion_error_m_max": float(err[rigid].max()) if rigid.any() else None,
        "vector_motion_error_m": ({"median": float(np.median(err[vector])),
                                   "p95": float(np.percentile(err[vector], 95))} if vector.any() else None),
        "warnings": list(cloud.warnings),
    }


# --- report ---------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "out/bench"), help="where attributes.json goes")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds, after one warm-up (default 7, >= 5)")
    parser.add_argument("--scene", help="write the scene's files here and keep them (default: a temporary folder)")
    parser.add_argument("--profile", metavar="NAMES",
                        help="also print a cProfile of one read with these attributes (comma-separated, or 'all')")
    args = parser.parse_args(argv)
    if args.rounds < 5:
        parser.error("--rounds must be >= 5")
    wall_start = time.perf_counter()

    folder = pathlib.Path(args.scene or tempfile.mkdtemp(prefix="depth-cloud-bench-attributes-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        truth = write_scene(folder, args.width, args.height)
        scene_s = time.perf_counter() - t0
        depth_path = folder / "depth_0001.exr"
        file_bytes = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}
        n_channels = len(read_channels(folder / "passes_0001.exr").names)
        print(f"scene {args.width}x{args.height}, 2 frames, written in {scene_s:.1f} s -> {folder}", flush=True)

        configs = configurations()
        shared = parts(folder)
        jobs = {**{name: (lambda a=attrs: read(depth_path, a)) for name, attrs in configs.items()}, **shared}
        names = list(jobs)
        for name in (ALL, *shared):  # warm-up (every code path): imports, OpenEXR's threads, the page cache
            jobs[name]()
        runs = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                runs[name].append(timed(jobs[name]))
            print(f"  round {r + 1}/{args.rounds}: plain {runs[PLAIN][-1] * 1e3:.0f} ms, "
                  f"all {runs[ALL][-1] * 1e3:.0f} ms", flush=True)

        cloud = read(depth_path, ATTRIBUTES)
        checks = check(cloud, truth)
        profile_text = None
        if args.profile:
            wanted = ATTRIBUTES if args.profile == ALL else tuple(a.strip() for a in args.profile.split(","))
            profile_text = profile_read(depth_path, wanted)
        n_points = len(cloud.rows)
        del cloud
    finally:
        if not args.scene:
            shutil.rmtree(folder, ignore_errors=True)

    median = {name: statistics.median(times) for name, times in runs.items()}
    base = median[PLAIN]
    figures = {}
    for name in configs:
        paired = [t / b for t, b in zip(runs[name], runs[PLAIN])]
        figures[name] = {"attributes": list(configs[name]), "runs": runs[name], "median": median[name],
                         "ratio": median[name] / base, "extra_s": median[name] - base,
                         "paired_ratio_min": min(paired), "paired_ratio_max": max(paired)}
    sum_alone = sum(figures[a]["extra_s"] for a in ATTRIBUTES)

    import OpenEXR

    n_pixels = args.width * args.height
    lines = [
        "",
        f"Depth Cloud point attributes: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, OpenEXR {OpenEXR.__version__}",
        f"frame {args.width}x{args.height} = {n_pixels:,} px, {n_points:,} points; passes_0001.exr {n_channels} "
        f"channels, {file_bytes['passes_0001.exr'] / 1e6:.1f} MB (ZIP); median of {args.rounds} rounds",
        "",
        f"{'read_cloud(...) with attributes':<40}{'median ms':>10}{'x plain':>9}{'extra ms':>10}   per-round x",
    ]
    for name, f in figures.items():
        label = {PLAIN: "none (plain: depth + color + sidecar)", ALL: f"all {len(ATTRIBUTES)} together"}.get(name, name)
        extra = "" if name == PLAIN else f"{f['extra_s'] * 1e3:+10.1f}"
        spread = "" if name == PLAIN else f"   {f['paired_ratio_min']:.2f}-{f['paired_ratio_max']:.2f}"
        lines.append(f"{label:<40}{f['median'] * 1e3:10.1f}{f['ratio']:8.2f}x{extra:>10}{spread}")
    lines += [
        f"{'  (sum of the extras alone)':<40}{'':10}{'':9}{sum_alone * 1e3:+10.1f}",
        "",
        "shared parts, alone (median ms):",
    ]
    for name in shared:
        lines.append(f"  {name:<58}{median[name] * 1e3:8.1f}")
    mp = checks["motion_points"]
    vm = checks["vector_motion_error_m"]
    lines += [
        "",
        f"checks: object_index exact {checks['object_index_exact']}, object_id exact {checks['object_id_exact']} "
        f"({len(checks['legend_names'])} names in the legend), normal error max {checks['normal_error_max']:.1e}, "
        f"{checks['edge_points']:,} edge points",
        f"  motion: {mp['rigid']:,} points rigid (error max {checks['rigid_motion_error_m_max']:.1e} m), "
        f"{mp['vector']:,} by the Vector pass (the deforming cloth: {checks['deforming_points_by_vector']:,} of "
        f"{checks['deforming_points']:,} points; error median {vm['median']:.1e} m, p95 {vm['p95']:.1e} m), "
        f"{mp['unknown']:,} unknown",
        f"bench wall time {time.perf_counter() - wall_start:.0f} s (scene {scene_s:.1f} s)",
    ]
    print("\n".join(line.rstrip() for line in lines))
    if profile_text:
        print(f"\ncProfile of one read_cloud with {args.profile}, by own time:\n" + profile_text)

    results = {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "openexr": OpenEXR.__version__,
        "frame": {"width": args.width, "height": args.height, "pixels": n_pixels, "points": n_points,
                  "passes_channels": n_channels, "file_bytes": file_bytes, "scene_seconds": scene_s},
        "rounds": args.rounds,
        "plain_median_s": base,
        "attributes": figures,
        "sum_of_extras_alone_s": sum_alone,
        "shared_parts": {name: {"runs": runs[name], "median": median[name]} for name in shared},
        "checks": checks,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "attributes.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {out / 'attributes.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
