"""``depth-cloud``: the core without Blender, from the shell.

    depth-cloud convert render.exr --camera camera.json -o cloud.ply
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 --jobs 2 -o 'out/cloud_####.ply'
    depth-cloud depth IN.exr --camera CAMERA.json --to distance -o OUT.exr
    depth-cloud depth 'frames/depth_####.exr' --camera 'frames/camera_####.json' --frames 1-240 \\
        --to distance -o 'out/distance_####.exr'
    depth-cloud cameras --camera 'frames/camera_####.json' --frames 1-240 -o out/

CAMERA.json is the sidecar the Blender set-up writes per frame (``CameraModel.to_dict()``); by
default ``convert`` uses the sidecar next to each depth file (``camera_NNNN.json`` beside
``depth_NNNN.exr``, or ``NAME.json`` beside ``NAME.exr``), and the color of a multilayer EXR or of
the ``color_NNNN.exr`` beside it. A ``#`` run in a path stands for the frame number, zero-padded to
the run's length.

Exit status: 0 every frame written (or already complete: sequences resume, skipping outputs that
exist and are complete, unless ``--overwrite``); 1 some frames of a sequence failed (each listed on
stderr with its file and problem); 2 bad input or arguments, one line ``depth-cloud: error: ...``.
Warnings do not change it: one line each, ``depth-cloud: warning: [frame N: ]...`` (a frame rendered
with depth of field or motion blur, as its sidecar records; a ``--depth-kind``/``--from`` that contradicts
what the file records). ``auto`` depth kind reads each file as what it records (its EXR header, else its
sidecar's ``capture.depth_files``), else as what Cycles writes for the camera.
Outputs are written under a temporary name and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from typing import NamedTuple

from .core import CameraModel, DepthCloudError
from .core._parallel import set_threads
from .core.cloud import BuildOptions, write_depth_kinds
from .core.export import ExportOptions, check_output, export_cloud, export_points, output_complete, read_cloud_for
from .core.frame_files import frame_files_of, frame_inputs, frame_path, parse_frames, read_camera_sidecar, read_sidecar
from .core.fusion import Fusion

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A problem with the command line or its inputs: one line for the user, exit status 2."""


def _frames_or_single(args) -> list[int | None]:
    """The frame numbers of ``--frames``, or ``[None]`` for a single file (no ``#`` allowed then)."""
    if args.frames is None:
        for name in ("input", "camera", "color", "output"):
            if "#" in (getattr(args, name, None) or ""):
                raise CliError(f"{name} {getattr(args, name)!r} has a # frame pattern: give --frames")
        return [None]
    try:
        return parse_frames(args.frames)
    except DepthCloudError as exc:
        raise CliError(f"--frames {exc}") from None


def _at(pattern: str, frame: int | None) -> str:
    return pattern if frame is None else frame_path(pattern, frame)


def _say(kind: str, lines, label: str = "") -> None:
    """One stderr line per message: ``depth-cloud: KIND: [LABEL: ]message``."""
    for line in lines:
        print(f"depth-cloud: {kind}: {label}{line}", file=sys.stderr)


def cmd_depth(args) -> int:
    """Convert depth EXRs between planar Z and ray distance (float32, one channel V, NaN where no hit, the
    kind recorded in the header). The input's kind: ``--from``, else what the file records (its header,
    else the sidecar's ``capture.depth_files``), else what Cycles writes for the camera."""
    for frame in _frames_or_single(args):
        source, camera_path, out = _at(args.input, frame), _at(args.camera, frame), _at(args.output, frame)
        try:
            camera, capture = read_sidecar(camera_path)
            check_output(out, (source, camera_path))
            result = write_depth_kinds(source, camera, {args.to_kind: out}, from_kind=args.from_kind, capture=capture,
                                       view_layer=args.layer)
        except DepthCloudError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            raise CliError(f"{out}: cannot write: {exc}") from None
        _say("warning", result.warnings)
        _say("note", result.notes)
        print(f"{source} -> {out} ({args.to_kind})", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class ConvertJob:
    """One frame of ``convert``: everything a worker process needs (plain data, picklable)."""

    frame: int | None
    depth_path: str
    color_path: str | None   # None: the file found beside the depth file, if any
    camera_path: str | None  # None: the sidecar beside the depth file
    camera_json: str | None  # the camera itself (from --blend); wins over any file
    output: str
    build: BuildOptions
    export: ExportOptions


NO_CAMERA = ("no camera: give --camera CAMERA.json (the sidecar the Blender set-up writes) or --blend FILE.blend "
             "--camera-object NAME")


def _job_inputs(job: ConvertJob):
    files = frame_files_of(job.depth_path, color_path=job.color_path, camera_path=job.camera_path)
    camera = CameraModel.from_json(job.camera_json) if job.camera_json is not None else None
    if camera is None and files.camera_path is None:
        raise CliError(f"{job.depth_path}: {NO_CAMERA}")
    return frame_inputs(files, job.frame, camera=camera, camera_note="camera from --blend")


class ConvertResult(NamedTuple):
    """What one frame of ``convert`` did: ``points`` written, or an ``error`` message; ``warnings`` (the
    sidecar's depth of field / motion blur, a given depth kind the file contradicts) and the ``view_layer``
    read, returned rather than printed (workers run in other processes)."""

    frame: int | None
    points: int
    error: str | None
    warnings: list[str]
    view_layer: str | None = None


def run_convert_job(job: ConvertJob) -> ConvertResult:
    """Convert one frame. Never raises."""
    try:
        cloud = read_cloud_for(_job_inputs(job), job.output, job.build)
        n = export_cloud(job.output, cloud, job.export)
        return ConvertResult(job.frame, n, None, list(cloud.warnings), cloud.view_layer)
    except (CliError, DepthCloudError) as exc:
        return ConvertResult(job.frame, 0, str(exc), [])
    except OSError as exc:
        return ConvertResult(job.frame, 0, f"{job.output}: cannot write: {exc.strerror or exc}", [])


def _layer_note(layers) -> str:
    """``", view layer 'A'"`` for the view layers read (none: the files hold one layer)."""
    layers = sorted({layer for layer in layers if layer})
    return f", view layer {', '.join(repr(v) for v in layers)}" if layers else ""


def _blend_cameras(args, numbers) -> dict:
    """frame -> camera JSON read from a .blend with bpy (--blend/--camera-object)."""
    try:
        from .blender.blend_cameras import cameras_from_blend
    except ImportError:
        raise CliError("--blend needs Blender as a Python module: pip install bpy (Python 3.11)") from None
    try:
        cameras = cameras_from_blend(args.blend, args.camera_object, numbers, single_frame=args.frame)
    except DepthCloudError as exc:
        raise CliError(str(exc)) from None
    return {frame: camera.to_json() for frame, camera in cameras.items()}


class Progress:
    """One status line on stderr: frames done, points per second, time left."""

    def __init__(self, total: int):
        self.total, self.done, self.points, self.start = total, 0, 0, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, points: int) -> None:
        self.done += 1
        self.points += points
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        line = (f"frames {self.done}/{self.total}, {self.points / max(elapsed, 1e-9) / 1e6:.1f} Mpoints/s, "
                f"{int(left // 60)}:{int(left % 60):02d} left")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty and self.done:
            print(file=sys.stderr)


def _check_convert_options(args) -> None:
    """Bad options exit 2 before any work."""
    if args.stride < 1:
        raise CliError(f"--stride must be >= 1, got {args.stride}")
    if args.jobs < 1:
        raise CliError(f"--jobs must be >= 1, got {args.jobs}")
    if args.voxel and not args.fuse:
        raise CliError("--voxel needs --fuse")
    if args.fuse and args.space != "world":
        raise CliError("--fuse needs --space world: the frames' cameras differ")


def cmd_convert(args) -> int:
    """Depth EXR(s) + camera -> PLY/NPZ point cloud(s)."""
    numbers = _frames_or_single(args)
    _check_convert_options(args)
    if args.fuse and (numbers == [None] or "#" in args.output):
        raise CliError("--fuse writes one file from a sequence: give --frames and an output without #")
    fusion = None
    if args.fuse:
        try:
            fusion = Fusion(args.voxel)
        except DepthCloudError as exc:
            raise CliError(f"--voxel: {exc}") from None
    blend_cameras = _blend_cameras(args, numbers) if args.blend else {}
    build = BuildOptions(stride=args.stride, depth_kind=args.depth_kind, space=args.space, view_layer=args.layer)
    export = ExportOptions(colors=args.colors, normals=args.normals, radius=args.radius, fmt=args.format)
    jobs, skipped = [], 0
    for frame in numbers:
        output = args.output if args.fuse else _at(args.output, frame)
        if not args.fuse and not args.overwrite and os.path.exists(output) and output_complete(output, args.format):
            skipped += 1
            continue
        jobs.append(ConvertJob(frame, _at(args.input, frame), _at(args.color, frame) if args.color else None,
                               _at(args.camera, frame) if args.camera else None, blend_cameras.get(frame),
                               output, build, export))
    if numbers == [None]:  # a single file: errors are bad input (exit 2)
        if not jobs:
            print(f"depth-cloud: {args.output} is complete already (use --overwrite)", file=sys.stderr)
            return 0
        result = run_convert_job(jobs[0])
        _say("warning", result.warnings)
        if result.error:
            raise CliError(result.error)
        print(f"{jobs[0].depth_path} -> {jobs[0].output} ({result.points:,} points{_layer_note([result.view_layer])})",
              file=sys.stderr)
        return 0
    if fusion is not None:
        return _convert_fused(args, jobs, fusion)
    progress = Progress(len(jobs))
    failures, warnings, layers = [], [], set()
    if skipped:
        print(f"depth-cloud: {skipped} frame(s) already complete, skipped (use --overwrite)", file=sys.stderr)
    if args.jobs == 1:
        results = map(run_convert_job, jobs)
    else:  # spawn: workers start clean (no forked OpenEXR threads); they share the cores
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        pool = concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=set_threads, initargs=(threads,))
        results = pool.map(run_convert_job, jobs)
    try:
        for result in results:
            progress.update(result.points)
            warnings += [(result.frame, w) for w in result.warnings]
            layers.add(result.view_layer)
            if result.error:
                failures.append(f"frame {result.frame}: {result.error}")
    finally:
        if args.jobs > 1:
            pool.shutdown()
        progress.close()
    for frame, warning in warnings:  # after the progress line; the frames went on regardless
        _say("warning", [warning], f"frame {frame}: ")
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    print(f"depth-cloud: {len(jobs) - len(failures)} of {len(jobs)} frame(s) written{_layer_note(layers)}, "
          f"{len(failures)} failed" + (f", {skipped} already complete" if skipped else ""), file=sys.stderr)
    return 1 if failures else 0


def _convert_fused(args, jobs, fusion: Fusion) -> int:
    """All frames' world-space points in one file, optionally one point per voxel (mean position/color),
    streamed through :class:`Fusion` a frame at a time."""
    if not args.overwrite and os.path.exists(args.output) and output_complete(args.output, args.format):
        print(f"depth-cloud: {args.output} is complete already (use --overwrite)", file=sys.stderr)
        return 0
    failures, warnings, progress = [], [], Progress(len(jobs))
    for job in jobs:
        try:
            cloud = read_cloud_for(_job_inputs(job), args.output, job.build)
            warnings += [(job.frame, w) for w in cloud.warnings]
        except (CliError, DepthCloudError) as exc:
            failures.append(f"frame {job.frame}: {exc}")
            progress.update(0)
            continue
        try:
            fusion.add(cloud)
        except DepthCloudError as exc:  # e.g. a voxel grid too fine for the scene: no frame can be fused
            progress.close()
            raise CliError(f"--voxel {args.voxel:g}: {exc}") from None
        progress.update(len(cloud.points))
    progress.close()
    for frame, warning in warnings:
        _say("warning", [warning], f"frame {frame}: ")
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    if fusion.frames == 0:
        raise CliError("no frame could be converted; nothing fused")
    points, colors, radii = fusion.result()
    try:
        n = export_points(args.output, points, colors, radii, jobs[0].export,
                          comments=[f"fused from {fusion.frames} frames"])
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"depth-cloud: fused {fusion.frames} of {len(jobs)} frame(s) into {n:,} points "
          f"-> {args.output}", file=sys.stderr)
    return 1 if failures else 0


def cmd_cameras(args) -> int:
    """Write cameras.json (K in OpenCV's convention, extrinsics in OpenCV and Blender axes) and transforms.json."""
    from .core.camera_export import export_cameras, nerfstudio_transforms, write_json

    numbers = _frames_or_single(args)
    try:
        cameras = [read_camera_sidecar(_at(args.camera, frame)) for frame in numbers]
    except DepthCloudError as exc:
        raise CliError(str(exc)) from None
    images = [_at(args.images, frame) for frame in numbers] if args.images else None
    depths = [_at(args.depths, frame) for frame in numbers] if args.depths else None
    os.makedirs(args.output, exist_ok=True)
    try:
        write_json(os.path.join(args.output, "cameras.json"),
                   export_cameras(cameras, image_paths=images, depth_paths=depths))
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc}") from None
    written = ["cameras.json"]
    if images:
        try:
            write_json(os.path.join(args.output, "transforms.json"),
                       nerfstudio_transforms(cameras, images, depth_paths=depths))
            written.append("transforms.json")
        except DepthCloudError as exc:
            print(f"depth-cloud: note: no transforms.json: {exc}", file=sys.stderr)
    print(f"{len(cameras)} camera(s) -> {', '.join(os.path.join(args.output, w) for w in written)}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth-cloud", description="Exact point clouds and ground truth from "
                                     "Blender depth EXRs, without Blender.")
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="depth EXR(s) + camera -> point cloud PLY/NPZ file(s)")
    convert.add_argument("input", help="depth EXR or multilayer render EXR (or a # pattern with --frames)")
    convert.add_argument("--color", help="color EXR (or # pattern); default: the depth file's own color, or "
                                         "color_NNNN.exr beside depth_NNNN.exr")
    convert.add_argument("--camera", help="camera sidecar JSON (or # pattern); default: the sidecar beside "
                                          "each depth file")
    convert.add_argument("--blend", help="take the camera from this .blend instead (needs bpy)")
    convert.add_argument("--camera-object", help="with --blend: the camera object (default: the scene camera)")
    convert.add_argument("--frame", type=int, help="with --blend and a single file: the frame to evaluate")
    convert.add_argument("--layer", metavar="NAME", help="multilayer render EXRs: the view layer to read (default: "
                                                         "the first in the file); a file without it is an error")
    convert.add_argument("--depth-kind", choices=("auto", "planar", "distance"), default="auto",
                         help="kind of the depth files (auto: what each file's header records, else the "
                              "sidecar's capture.depth_files, else what Cycles writes for the camera)")
    convert.add_argument("--stride", type=int, default=1, help="every k-th pixel in each direction")
    convert.add_argument("--space", choices=("world", "camera"), default="world")
    convert.add_argument("--colors", choices=("srgb", "linear", "none"), default="srgb",
                         help="PLY colors: sRGB-encoded uchar (default), linear float, or none")
    convert.add_argument("--normals", action="store_true", help="add nx ny nz: the direction towards the camera")
    convert.add_argument("--radius", action="store_true", help="add radius: half the pixel footprint (metres)")
    convert.add_argument("--format", choices=("ply", "npz"), default="ply")
    convert.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    convert.add_argument("--jobs", type=int, default=1, help="worker processes for sequences")
    convert.add_argument("--overwrite", action="store_true", help="rewrite outputs that are already complete")
    convert.add_argument("--fuse", action="store_true", help="write all frames into one world-space file")
    convert.add_argument("--voxel", type=float, default=0.0,
                         help="with --fuse: keep one point per voxel of this size (metres), averaged")
    convert.add_argument("-o", "--output", required=True, help="output file (or a # pattern)")
    convert.set_defaults(run=cmd_convert)

    depth = sub.add_parser("depth", help="convert depth maps between planar Z and ray distance")
    depth.add_argument("input", help="depth EXR (or a # pattern with --frames)")
    depth.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    depth.add_argument("--layer", metavar="NAME", help="multilayer render EXRs: the view layer to read (default: "
                                                       "the first in the file)")
    depth.add_argument("--from", dest="from_kind", choices=("auto", "planar", "distance"), default="auto",
                       help="kind of the input (auto: what the file's header records, else the sidecar's "
                            "capture.depth_files, else what Cycles writes for the camera)")
    depth.add_argument("--to", dest="to_kind", choices=("planar", "distance"), required=True)
    depth.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    depth.add_argument("-o", "--output", required=True, help="output EXR (or a # pattern)")
    depth.set_defaults(run=cmd_depth)

    cameras = sub.add_parser("cameras", help="export intrinsics/extrinsics (cameras.json, transforms.json)")
    cameras.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    cameras.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    cameras.add_argument("--images", help="image path (pattern) to record per frame, e.g. 'color_####.exr'")
    cameras.add_argument("--depths", help="depth path (pattern) to record per frame")
    cameras.add_argument("-o", "--output", required=True, help="output folder")
    cameras.set_defaults(run=cmd_cameras)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CliError as exc:
        print(f"depth-cloud: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
