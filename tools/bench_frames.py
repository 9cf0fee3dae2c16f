"""The frames every `make bench` figure is measured on: the demo shot (textured set, sky, lights, moving camera)
rendered with Cycles at several samples, as production frames are, through Set Up EXR Outputs, once (cached).

``python tools/bench_frames.py [--sizes 1920x1080,3840x2160] [--frames 3] [--samples 16]`` renders what is missing
under ``out/bench/frames/<W>x<H>/<format>/`` and prints each frame's EXR sizes. A folder is reused when its
``frames.json`` records the same size, frames, samples and Blender version; otherwise it is rendered again.

Formats: ``ZIP`` (Set Up's default) for every figure; with ``--formats`` also the other capture formats (for
the decode table and uncached playback), which are the same render written again (the compositor only: the
frames' EXRs are re-written from the ZIP ones with the OpenEXR bindings, so no second render is needed).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-bench-"))
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bpy  # noqa: E402
import demo_scene  # noqa: E402
import numpy as np  # noqa: E402
import OpenEXR  # noqa: E402

import depth_cloud_addon  # noqa: E402

OUT = ROOT / "out" / "bench" / "frames"
FRAMES = 3     # frames rendered per size (a sequence's bench repeats them under further numbers)
SAMPLES = 16   # Cycles samples: the noise and texture detail of a production frame, as ZIP compresses it
#: Capture format -> (OpenEXR compression, colour channels as half): what Set Up's Capture Format writes.
FORMATS = {"ZIP": (OpenEXR.ZIP_COMPRESSION, False), "NONE": (OpenEXR.NO_COMPRESSION, False),
           "NONE_HALF": (OpenEXR.NO_COMPRESSION, True), "ZIP_HALF": (OpenEXR.ZIP_COMPRESSION, True)}


def folder_of(width: int, height: int, fmt: str = "ZIP") -> pathlib.Path:
    return OUT / f"{width}x{height}" / fmt


def _record(width: int, height: int, frames: int, samples: int) -> dict:
    return {"width": width, "height": height, "frames": frames, "samples": samples,
            "blender": bpy.app.version_string}


def render(width: int, height: int, frames: int, samples: int, log=print) -> pathlib.Path:
    """The demo shot's first ``frames`` frames at ``width`` x ``height``, ``samples`` samples, captured by Set Up
    EXR Outputs (ZIP) into :func:`folder_of`; reused when already there. Returns the folder."""
    folder = folder_of(width, height)
    stamp = folder / "frames.json"
    record = _record(width, height, frames, samples)
    if stamp.is_file() and json.loads(stamp.read_text()) == record:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    log(f"rendering the bench frames: {frames} frame(s) of {width}x{height} at {samples} samples into {folder} ...")
    start = time.perf_counter()
    scene, _cam, _objects = demo_scene.build(width, height, max(frames, 2), samples)
    scene.frame_end = frames
    depth_cloud_addon.register()
    try:
        bpy.ops.depth_cloud.setup_outputs(directory=str(folder) + "/")
        scene.render.filepath = str(folder / "render_")
        bpy.ops.render.render(animation=True)
    finally:
        depth_cloud_addon.unregister()
    for png in folder.glob("render_*"):
        png.unlink()
    stamp.write_text(json.dumps(record))
    log(f"  rendered in {time.perf_counter() - start:.0f} s")
    return folder


def write_format(width: int, height: int, fmt: str) -> pathlib.Path:
    """The ZIP frames written again in capture format ``fmt`` (depth float32; colour half where it says)."""
    source, target = folder_of(width, height), folder_of(width, height, fmt)
    if fmt == "ZIP":
        return source
    target.mkdir(parents=True, exist_ok=True)
    compression, half = FORMATS[fmt]
    for path in sorted(source.iterdir()):
        out = target / path.name
        if path.suffix != ".exr":
            if not out.exists() or out.read_bytes() != path.read_bytes():
                out.write_bytes(path.read_bytes())
            continue
        if out.exists() and out.stat().st_mtime_ns >= path.stat().st_mtime_ns:
            continue
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            header = dict(exr.header())
            channels = {name: (channel.pixels.astype(np.float16) if half and path.name.startswith("color_")
                               else channel.pixels) for name, channel in exr.channels().items()}
        header["compression"] = compression
        OpenEXR.File(header, channels).write(str(out))
    return target


def sequence_of(width: int, height: int, fmt: str, total: int) -> pathlib.Path:
    """A ``total``-frame sequence of the rendered frames in capture format ``fmt``: frame k is a copy of rendered
    frame ``(k - 1) % FRAMES + 1`` (the same decoding work), its sidecar saying frame k (number and depth file),
    under ``out/bench/frames/<W>x<H>/<fmt>_seq<total>/``; reused when complete."""
    source = write_format(width, height, fmt)
    rendered = sorted(int(p.stem.split("_")[-1]) for p in source.glob("depth_*.exr"))
    target = source.parent / f"{fmt}_seq{total}"
    stamp = target / "frames.json"
    record = {"source": str(source), "rendered": rendered, "total": total,
              "mtime": max(p.stat().st_mtime_ns for p in source.iterdir())}
    if stamp.is_file() and json.loads(stamp.read_text()) == record:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for frame in range(1, total + 1):
        origin = rendered[(frame - 1) % len(rendered)]
        for kind in ("depth", "color"):
            (target / f"{kind}_{frame:04d}.exr").write_bytes((source / f"{kind}_{origin:04d}.exr").read_bytes())
        sidecar = json.loads((source / f"camera_{origin:04d}.json").read_text())
        sidecar["frame"] = frame
        capture = sidecar.get("capture", {})
        if "depth_files" in capture:
            capture["depth_files"] = {f"depth_{frame:04d}.exr": kind for kind in capture["depth_files"].values()}
        (target / f"camera_{frame:04d}.json").write_text(json.dumps(sidecar))
    stamp.write_text(json.dumps(record))
    return target


def sizes_of(folder: pathlib.Path, frame: int = 1) -> dict[str, int]:
    """Bytes of a frame's depth and colour EXRs."""
    return {kind: (folder / f"{kind}_{frame:04d}.exr").stat().st_size for kind in ("depth", "color")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1920x1080,3840x2160")
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--formats", default="ZIP", help="comma-separated capture formats to write too")
    args = parser.parse_args(argv)
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        render(width, height, args.frames, args.samples)
        for fmt in args.formats.split(","):
            folder = write_format(width, height, fmt)
            sizes = sizes_of(folder)
            print(f"{width}x{height} {fmt:9} frame 1: depth {sizes['depth'] / 1e6:.1f} MB, colour "
                  f"{sizes['color'] / 1e6:.1f} MB ({folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
