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

import numpy as np

from .core import CameraModel, DepthCloudError
from .core._parallel import set_threads
from .frames import convert_depth_file
from .core.ply import ply_is_complete, write_npz, write_ply
from .sources import frame_path

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A problem with the command line or its inputs: one line for the user, exit status 2."""


def parse_frames(text: str | None) -> list[int] | None:
    """``"1-240"``, ``"7"`` or ``"1-9,20-22"`` -> frame numbers; None -> None (a single file)."""
    if text is None:
        return None
    numbers: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            start, end = int(first), int(last) if last else int(first)
            if end < start:
                raise ValueError
            numbers.extend(range(start, end + 1))
    except ValueError:
        raise CliError(f"--frames {text!r}: expected ranges like 1-240 or 1-9,20-22") from None
    return numbers


def load_camera(path: str) -> CameraModel:
    try:
        with open(path, encoding="utf-8") as f:
            return CameraModel.from_json(f.read())
    except FileNotFoundError:
        raise CliError(f"{path}: no such camera file") from None
    except DepthCloudError as exc:
        raise CliError(f"{path}: {exc}") from None


def _frames_or_single(args) -> list[int | None]:
    numbers = parse_frames(args.frames)
    if numbers is None:
        for name in ("input", "camera", "color", "output"):
            if "#" in (getattr(args, name, None) or ""):
                raise CliError(f"{name} {getattr(args, name)!r} has a # frame pattern: give --frames")
        return [None]
    return numbers


def _at(pattern: str, frame: int | None) -> str:
    return pattern if frame is None else frame_path(pattern, frame)


def cmd_depth(args) -> int:
    """Convert depth EXRs between planar Z and ray distance (float32, one channel V, NaN where no hit)."""
    for frame in _frames_or_single(args):
        source, camera_path, out = _at(args.input, frame), _at(args.camera, frame), _at(args.output, frame)
        camera = load_camera(camera_path)
        try:
            convert_depth_file(source, camera, out, from_kind=args.from_kind, to_kind=args.to_kind)
        except DepthCloudError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            raise CliError(f"{out}: cannot write: {exc}") from None
        print(f"{source} -> {out} ({args.to_kind})", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class ConvertJob:
    """One frame of ``convert``: everything a worker process needs (plain data, picklable)."""

    frame: int | None
    depth_path: str
    color_path: str | None
    camera_json: str | None  # the camera itself (from --blend), else read from camera_path
    camera_path: str | None
    output: str
    depth_kind: str
    stride: int
    space: str
    colors: str
    normals: bool
    radius: bool
    fmt: str


def _output_complete(path: str, fmt: str) -> bool:
    if fmt == "ply":
        return ply_is_complete(path)
    try:
        with np.load(path) as data:
            return "points" in data.files
    except (OSError, ValueError, EOFError):
        return False


def _sidecar_for(depth_path: str) -> str | None:
    folder, name = os.path.split(depth_path)
    stem = os.path.splitext(name)[0]
    candidates = [os.path.join(folder, f"camera_{stem[len('depth_'):]}.json")] if stem.startswith("depth_") else []
    candidates.append(os.path.join(folder, f"{stem}.json"))
    return next((c for c in candidates if os.path.isfile(c)), None)


def _color_beside(depth_path: str) -> str | None:
    folder, name = os.path.split(depth_path)
    if not name.startswith("depth_"):
        return None
    candidate = os.path.join(folder, "color_" + name[len("depth_"):])
    return candidate if os.path.isfile(candidate) else None


def run_convert_job(job: ConvertJob) -> tuple[int | None, int, str | None]:
    """Convert one frame; returns ``(frame, points written, error message or None)``. Never raises."""
    from .frames import BuildOptions, read_cloud

    try:
        if job.camera_json is not None:
            camera = CameraModel.from_json(job.camera_json)
        elif job.camera_path is not None:
            camera = load_camera(job.camera_path)
        else:
            raise CliError(f"{job.depth_path}: no camera: give --camera CAMERA.json (the sidecar the Blender "
                           "set-up writes) or --blend FILE.blend --camera-object NAME")
        cloud = read_cloud(job.depth_path, job.color_path, camera,
                           BuildOptions(stride=job.stride, depth_kind=job.depth_kind, space=job.space))
        normals = None
        if job.normals:  # towards the camera: the direction each pixel was seen from
            if camera.projection == "ORTHO":
                axis = camera.cam2world[:3, 2] if job.space == "world" else np.array([0.0, 0.0, 1.0])
                normals = np.broadcast_to(axis.astype(np.float32), cloud.positions.shape)
            else:
                centre = camera.cam2world[:3, 3] if job.space == "world" else np.zeros(3)
                normals = (centre - cloud.positions).astype(np.float32)
                normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        colors = None if job.colors == "none" else cloud.colors
        os.makedirs(os.path.dirname(os.path.abspath(job.output)), exist_ok=True)
        if job.fmt == "ply":
            n = write_ply(job.output, cloud.positions, colors, linear_float=job.colors == "linear",
                          normals=normals, radii=cloud.radii if job.radius else None,
                          comments=[f"frame {camera.frame}", f"space {job.space}", "colors "
                                    + {"srgb": "sRGB-encoded 8-bit", "linear": "linear float",
                                       "none": "none"}[job.colors]])
        else:
            arrays = dict(points=cloud.positions, colors=cloud.colors, radii=cloud.radii,
                          pixels=np.stack([cloud.cols, cloud.rows], axis=-1), camera=np.array(camera.to_json()))
            if normals is not None:
                arrays["normals"] = np.ascontiguousarray(normals)
            write_npz(job.output, **arrays)
            n = len(cloud.positions)
        return job.frame, n, None
    except (CliError, DepthCloudError) as exc:
        return job.frame, 0, str(exc)
    except OSError as exc:
        return job.frame, 0, f"{job.output}: cannot write: {exc.strerror or exc}"


def _blend_cameras(args, numbers) -> dict:
    """frame -> camera JSON read from a .blend with bpy (--blend/--camera-object)."""
    try:
        import bpy
    except ImportError:
        raise CliError("--blend needs Blender as a Python module: pip install bpy (Python 3.11)") from None
    if not os.path.isfile(args.blend):
        raise CliError(f"{args.blend}: no such file")
    bpy.ops.wm.open_mainfile(filepath=os.path.abspath(args.blend))
    scene = bpy.context.scene
    obj = bpy.data.objects.get(args.camera_object) if args.camera_object else scene.camera
    if obj is None or obj.type != "CAMERA":
        raise CliError(f"{args.blend}: no camera object {args.camera_object!r}")
    cameras = {}
    for frame in numbers:
        scene.frame_set(frame if frame is not None else (args.frame if args.frame is not None else scene.frame_current))
        cameras[frame] = CameraModel.from_blender(obj, scene).to_json()
    return cameras


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


def cmd_convert(args) -> int:
    """Depth EXR(s) + camera -> PLY/NPZ point cloud(s)."""
    numbers = _frames_or_single(args)
    if args.stride < 1:
        raise CliError(f"--stride must be >= 1, got {args.stride}")
    if args.jobs < 1:
        raise CliError(f"--jobs must be >= 1, got {args.jobs}")
    blend_cameras = _blend_cameras(args, numbers) if args.blend else {}
    if args.fuse and (numbers == [None] or "#" in args.output):
        raise CliError("--fuse writes one file from a sequence: give --frames and an output without #")
    if args.voxel and not args.fuse:
        raise CliError("--voxel needs --fuse")
    jobs, skipped = [], 0
    for frame in numbers:
        depth_path, output = _at(args.input, frame), _at(args.output, frame)
        if args.fuse:
            output = os.path.join(os.path.dirname(os.path.abspath(args.output)), f".fuse-{frame}.npz")
        elif not args.overwrite and os.path.exists(output) and _output_complete(output, args.format):
            skipped += 1
            continue
        camera_path = _at(args.camera, frame) if args.camera else _sidecar_for(depth_path)
        color_path = _at(args.color, frame) if args.color else _color_beside(depth_path)
        jobs.append(ConvertJob(frame, depth_path, color_path, blend_cameras.get(frame), camera_path, output,
                               args.depth_kind, args.stride, args.space, args.colors, args.normals, args.radius,
                               args.format))
    if len(numbers) == 1 and numbers[0] is None:  # a single file: errors are bad input (exit 2)
        if not jobs:
            print(f"depth-cloud: {args.output} is complete already (use --overwrite)", file=sys.stderr)
            return 0
        _, n, error = run_convert_job(jobs[0])
        if error:
            raise CliError(error)
        print(f"{jobs[0].depth_path} -> {jobs[0].output} ({n:,} points)", file=sys.stderr)
        return 0
    if args.fuse:
        return _convert_fused(args, jobs)
    progress = Progress(len(jobs))
    failures = []
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
        for frame, n, error in results:
            progress.update(n)
            if error:
                failures.append(f"frame {frame}: {error}")
    finally:
        if args.jobs > 1:
            pool.shutdown()
        progress.close()
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    print(f"depth-cloud: {len(jobs) - len(failures)} of {len(jobs)} frame(s) written, {len(failures)} failed"
          + (f", {skipped} already complete" if skipped else ""), file=sys.stderr)
    return 1 if failures else 0


def _convert_fused(args, jobs) -> int:
    """All frames' world-space points in one file, optionally one point per voxel (mean position/color)."""
    from .core.voxel import VoxelAccumulator

    if args.space != "world":
        raise CliError("--fuse needs --space world: the frames' cameras differ")
    if not args.overwrite and os.path.exists(args.output) and _output_complete(args.output, args.format):
        print(f"depth-cloud: {args.output} is complete already (use --overwrite)", file=sys.stderr)
        return 0
    accumulator = VoxelAccumulator(args.voxel) if args.voxel else None
    parts, failures, progress = [], [], Progress(len(jobs))
    for job in jobs:  # each frame through the same code, via a temporary .npz beside the output
        job = ConvertJob(**{**job.__dict__, "fmt": "npz", "normals": False})
        frame, n, error = run_convert_job(job)
        progress.update(n)
        if error:
            failures.append(f"frame {frame}: {error}")
            continue
        with np.load(job.output) as data:
            points, colors, radii = data["points"], data["colors"], data["radii"]
        os.remove(job.output)
        if accumulator is not None:
            accumulator.add(points, colors, radii)
        else:
            parts.append((points, colors, radii))
    progress.close()
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    if accumulator is None and not parts:
        raise CliError("no frame could be converted; nothing fused")
    points, colors, radii = (accumulator.result()[:3] if accumulator is not None
                             else (np.concatenate(a) for a in zip(*parts)))
    if args.format == "ply":
        n = write_ply(args.output, points, None if args.colors == "none" else colors,
                      linear_float=args.colors == "linear", radii=radii if args.radius else None,
                      comments=[f"fused from {len(jobs) - len(failures)} frames"])
    else:
        write_npz(args.output, points=points, colors=colors, radii=radii)
        n = len(points)
    print(f"depth-cloud: fused {len(jobs) - len(failures)} of {len(jobs)} frame(s) into {n:,} points "
          f"-> {args.output}", file=sys.stderr)
    return 1 if failures else 0


def cmd_cameras(args) -> int:
    """Write cameras.json (K in OpenCV's convention, extrinsics in OpenCV and Blender axes) and transforms.json."""
    from .core.camera_export import export_cameras, nerfstudio_transforms, write_json

    numbers = _frames_or_single(args)
    cameras = [load_camera(_at(args.camera, frame)) for frame in numbers]
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
    convert.add_argument("--depth-kind", choices=("auto", "planar", "distance"), default="auto")
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
    depth.add_argument("--from", dest="from_kind", choices=("auto", "planar", "distance"), default="auto",
                       help="kind of the input (auto: what Cycles writes for the camera)")
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
