"""`make bench`, capture formats: what each Capture Format of Set Up EXR Outputs costs and changes, per 1080p frame.

Pure core + OpenEXR (no Blender): runs in ``.venv``. Its input is ``tools/bench_frames.py``'s frames (the demo
shot, textured, 16 Cycles samples), written in every capture format (``bench_frames.py --formats``; ``make bench``
does it first). Per format, on frame 1, best and median of ``--runs``:

* the size of the depth and the colour EXR;
* decoding them (``read_exr``: depth, then colour as stored), and the frame's whole cloud (``read_cloud``: what a
  Build and an uncached sequence frame read);
* exactness against the default (ZIP, float32): the depth bit for bit (so the points are the same), the colour's
  largest difference, and what half-float colour changes once encoded as 8-bit sRGB (PLY, PNG, LAS, E57 colours):
  how many channel values differ, and by how many codes at most.

Prints a table and writes ``out/bench/capture.json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from depth_cloud_addon.core import read_exr  # noqa: E402
from depth_cloud_addon.core.formats.ply import linear_to_srgb8  # noqa: E402
from depth_cloud_addon.core.frames.cloud import read_cloud  # noqa: E402
from depth_cloud_addon.core.frames.files import frame_files_of, frame_inputs  # noqa: E402

FORMATS = ("ZIP", "ZIP_HALF", "NONE", "NONE_HALF")  # Set Up EXR Outputs > Capture Format


def timed(runs: int, fn) -> tuple[float, float]:
    fn()  # the files in the page cache, the pools started
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def measure(folder: pathlib.Path, reference: dict | None, runs: int) -> dict:
    depth_path, color_path = folder / "depth_0001.exr", folder / "color_0001.exr"
    inputs = frame_inputs(frame_files_of(depth_path), 1)
    depth = read_exr(depth_path).depth
    color = read_exr(color_path, require_depth=False, keep_half=True).color
    r = {"depth_bytes": depth_path.stat().st_size, "color_bytes": color_path.stat().st_size,
         "color_dtype": str(color.dtype),
         "decode": timed(runs, lambda: (read_exr(depth_path), read_exr(color_path, require_depth=False,
                                                                            keep_half=True))),
         "read_cloud": timed(runs, lambda: read_cloud(inputs)),
         "depth": depth, "color": color.astype(np.float32)}
    if reference is not None:
        r["depth_identical"] = bool(np.array_equal(depth, reference["depth"]))
        ours, theirs = r["color"], reference["color"]
        r["color_max_abs"] = float(np.nanmax(np.abs(ours - theirs)))
        visible = np.isfinite(theirs).all(axis=-1)
        srgb, srgb_ref = linear_to_srgb8(ours[visible][:, :3]), linear_to_srgb8(theirs[visible][:, :3])
        differ = srgb != srgb_ref
        r["srgb8_values"] = int(differ.size)
        r["srgb8_differ"] = int(np.count_nonzero(differ))
        r["srgb8_max_codes"] = int(np.abs(srgb.astype(np.int16) - srgb_ref).max()) if differ.any() else 0
    return r


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "out" / "bench"))
    args = parser.parse_args(argv)
    base = ROOT / "out" / "bench" / "frames" / args.size
    missing = [f for f in FORMATS if not (base / f / "color_0001.exr").is_file()]
    if missing:
        print(f"bench_capture: error: no frames in {base}/{{{','.join(missing)}}}: run `make bench`, or once "
              f"`.venv/bin/python tools/bench_frames.py --sizes {args.size} --formats {','.join(FORMATS)}`",
              file=sys.stderr)
        return 2
    results: dict = {}
    for fmt in FORMATS:
        results[fmt] = measure(base / fmt, results.get("ZIP"), args.runs)
    mb = 1e6
    lines = [f"Capture formats, {args.size} frame 1 of the bench shot (best / median of {args.runs}):",
             f"  {'format':10} {'depth MB':>8} {'colour MB':>9} {'total MB':>8} {'decode ms':>14} "
             f"{'read_cloud ms':>14}  exactness against ZIP (float32)"]
    for fmt, r in results.items():
        decode, cloud = r["decode"], r["read_cloud"]
        if fmt == "ZIP":
            exact = "the reference"
        else:
            exact = (f"depth {'bit-identical' if r['depth_identical'] else 'DIFFERS'}; colour max |diff| "
                     f"{r['color_max_abs']:.2g}")
            if r["srgb8_differ"]:
                exact += (f"; 8-bit sRGB: {r['srgb8_differ']:,} of {r['srgb8_values']:,} values "
                          f"({100 * r['srgb8_differ'] / r['srgb8_values']:.3f} %) differ, by at most "
                          f"{r['srgb8_max_codes']} code")
            else:
                exact += "; 8-bit sRGB identical"
        lines.append(f"  {fmt:10} {r['depth_bytes'] / mb:8.1f} {r['color_bytes'] / mb:9.1f} "
                     f"{(r['depth_bytes'] + r['color_bytes']) / mb:8.1f} {decode[0] * 1e3:6.1f} / "
                     f"{decode[1] * 1e3:5.1f} {cloud[0] * 1e3:6.1f} / {cloud[1] * 1e3:5.1f}  {exact}")
    print("\n".join(lines))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {fmt: {k: v for k, v in r.items() if k not in ("depth", "color")} for fmt, r in results.items()}
    (out / "capture.json").write_text(json.dumps({"size": args.size, "formats": record}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
