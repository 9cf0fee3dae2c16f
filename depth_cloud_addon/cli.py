"""``depth-cloud``: the core without Blender, from the shell.

    depth-cloud convert render.exr --camera camera.json -o cloud.ply
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 --jobs 2 -o 'out/cloud_####.ply'
    depth-cloud depth IN.exr --camera CAMERA.json --to distance -o OUT.exr
    depth-cloud depth 'frames/depth_####.exr' --camera 'frames/camera_####.json' --frames 1-240 \\
        --to distance -o 'out/distance_####.exr'
    depth-cloud cameras --camera 'frames/camera_####.json' --frames 1-240 -o out/
    depth-cloud inspect frames/depth_0001.exr frames/camera_0001.json
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 --attributes object_id,normal,motion -o shot.usdc
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 -o survey.e57   # or 'f_####.las', --fuse -o x.laz
    depth-cloud dataset 'frames/depth_####.exr' --frames 1-240 -o dataset/
    depth-cloud convert 'frames/depth_####.exr' --frames 1-120 --fuse --voxel 0.02 --partial -o parts/a.npz
    depth-cloud merge parts/*.npz -o fused.ply

CAMERA.json is the sidecar the Blender set-up writes per frame (``CameraModel.to_dict()``); by
default ``convert`` uses the sidecar next to each depth file (``camera_NNNN.json`` beside
``depth_NNNN.exr``, or ``NAME.json`` beside ``NAME.exr``), and the color of a multilayer EXR or of
the ``color_NNNN.exr`` beside it. A ``#`` run in a path stands for the frame number, zero-padded to
the run's length.

Exit status: 0 every frame written (or already complete: sequences resume, skipping outputs that
exist, are complete and record the same job -- the same inputs, unchanged, and the same options --
unless ``--overwrite``; a single file is always written); 1 some frames of a sequence failed (each
listed on stderr with its file and problem, the others written); 2 bad input or arguments, one line
``depth-cloud: error: ...`` and nothing written (``--debug`` shows a traceback); 128+N stopped by
signal N (SIGTERM, SIGINT, SIGHUP): outputs written so far are complete, nothing is half-written, and
worker processes stop with it (also when it is killed outright).
Warnings do not change it: one line each, ``depth-cloud: warning: ... (frames N, ...)`` (frames rendered
with depth of field or motion blur, as its sidecar records; a ``--depth-kind``/``--from`` that contradicts
what the file records). ``auto`` depth kind reads each file as what it records (its EXR header, else its
sidecar's ``capture.depth_files``), else as what Cycles writes for the camera.
Outputs are written under a temporary name and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import NamedTuple

from . import __version__
from .core import CameraModel, DepthCloudError
from .core._parallel import set_threads
from .core.atomic import remove_stale_temporaries
from .core.formats.usd import is_usd
from .core.frames.cloud import BuildOptions, motion_frame_files
from .core.frames.depth import write_depth_kinds
from .core.frames.export import (
    JOB_COMMENT,
    ExportOptions,
    check_output,
    export_cloud,
    export_points,
    format_of,
    input_fingerprint,
    job_id,
    output_complete,
    read_cloud_for,
)
from .core.frames.files import (
    frame_files_of,
    frame_inputs,
    frame_path,
    parse_frames,
    read_camera_sidecar,
    read_sidecar,
    warned_frames,
)
from .core.frames.fusion import Fusion
from .core.frames.passes import ATTRIBUTES, EDGE_THRESHOLD, check_attributes

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A problem with the command line or its inputs: one line for the user, exit status 2."""


class Stopped(Exception):
    """SIGTERM, SIGINT or SIGHUP: stop cleanly (temporary files removed), exit status 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def _raise_stopped(signum, _frame):
    raise Stopped(signum)


def _stopped_message(exc: Stopped) -> str:
    return f"depth-cloud: stopped by {exc}: the outputs written so far are complete, none is half-written"


def _exit_on_signal(signum, _frame):
    """In a worker: leave quietly (SystemExit), running the atomic writer's cleanup on the way."""
    raise SystemExit(128 + signum)


def _frames_or_single(args) -> list[int | None]:
    """The frame numbers of ``--frames``, or ``[None]`` for a single file (no ``#`` allowed then).

    A sequence whose output has no ``#`` would write every frame to the same file: refused (``convert
    --fuse`` aside, whose one output holds every frame).
    """
    if args.frames is None:
        for name in ("input", "camera", "color", "output"):
            if "#" in (getattr(args, name, None) or ""):
                raise CliError(f"{name} {getattr(args, name)!r} has a # frame pattern: give --frames")
        return [None]
    try:
        numbers = parse_frames(args.frames)
    except DepthCloudError as exc:
        raise CliError(f"--frames {exc}") from None
    one_file = getattr(args, "fuse", False) or (args.command == "convert" and _one_file(args.output))
    per_frame_output = args.command in ("convert", "depth") and not one_file
    if per_frame_output and len(numbers) > 1 and "#" not in args.output:
        raise CliError(f"output {args.output!r} has no # for the frame number: every frame would be written to "
                       "the same file; use a pattern such as 'out/cloud_####.ply'"
                       + (" (or --fuse for one file of every frame, or a .usd file: one point cache)"
                          if args.command == "convert" else ""))
    return numbers


def _at(pattern: str, frame: int | None) -> str:
    return pattern if frame is None else frame_path(pattern, frame)


def _say(kind: str, lines, label: str = "") -> None:
    """One stderr line per message: ``depth-cloud: KIND: [LABEL: ]message``."""
    for line in lines:
        print(f"depth-cloud: {kind}: {label}{line}", file=sys.stderr)


def cmd_depth(args) -> int:
    """Convert depth EXRs between planar Z and ray distance (float32, one channel V, NaN where no hit, the
    kind recorded in the header). The input's kind: ``--from``, else what the file records (its header,
    else the sidecar's ``capture.depth_files``), else what Cycles writes for the camera. A sequence goes on
    past frames that fail and lists them."""
    numbers = _frames_or_single(args)
    failures = []
    for frame in numbers:
        source, camera_path, out = _at(args.input, frame), _at(args.camera, frame), _at(args.output, frame)
        try:
            camera, capture = read_sidecar(camera_path)
            check_output(out, (source, camera_path))
            result = write_depth_kinds(source, camera, {args.to_kind: out}, from_kind=args.from_kind, capture=capture,
                                       view_layer=args.layer)
        except (DepthCloudError, OSError) as exc:
            message = str(exc) if isinstance(exc, DepthCloudError) else f"{out}: cannot write: {exc.strerror or exc}"
            if frame is None:
                raise CliError(message) from None
            failures.append(f"frame {frame}: {message}")
            continue
        _say("warning", result.warnings, f"frame {frame}: " if frame is not None else "")
        _say("note", result.notes)
        print(f"{source} -> {out} ({args.to_kind})", file=sys.stderr)
    return _sequence_end(failures, len(numbers), "depth map")


def _by_warning(warnings) -> dict:
    """``[(frame, warning)]`` -> ``{warning: [frames]}``: one line per warning, not one per frame."""
    grouped: dict[str, list] = {}
    for frame, warning in warnings:
        grouped.setdefault(warning, []).append(frame)
    return grouped


def _sequence_end(failures: list[str], total: int, what: str) -> int:
    """List a sequence's failed frames (one line each) and the summary; exit status 1 if any failed."""
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    if total > 1 or failures:
        print(f"depth-cloud: {total - len(failures)} of {total} {what}(s) written, {len(failures)} failed",
              file=sys.stderr)
    return 1 if failures else 0


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
    job_id: str | None = None  # recorded in the output (see core.frames.export.job_id)


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
        n = export_cloud(job.output, cloud, job.export, job=job.job_id)
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
    if args.format is None:
        args.format = format_of(args.output)
    if _one_file(args.output) and args.fuse:
        raise CliError(f"{args.output}: holds every frame already (a USD point cache, or one E57 scan per frame): "
                       "not with --fuse")
    survey = args.output.lower().endswith((".e57", ".las", ".laz"))
    if survey and (args.attributes or args.normals or args.radius or args.colors == "linear"):
        raise CliError(f"{args.output}: E57 and LAS hold positions and 8/16-bit sRGB colours only: --attributes, "
                       "--normals, --radius and --colors linear need PLY, NPZ or USD")
    if args.geometry == "faces" and not is_usd(args.output):
        raise CliError("--geometry faces is for USD outputs (.usd, .usda, .usdc)")
    if args.fps is not None and not args.fps > 0:
        raise CliError(f"--fps must be > 0, got {args.fps}")
    if args.voxel and not args.fuse:
        raise CliError("--voxel needs --fuse")
    if getattr(args, "partial", False) and not args.fuse:
        raise CliError("--partial needs --fuse --voxel S (a partial grid of a chunk of frames)")
    if args.fuse and args.space != "world":
        raise CliError("--fuse needs --space world: the frames' cameras differ")
    try:
        args.attributes = check_attributes(args.attributes or ())
    except ValueError as exc:
        raise CliError(f"--attributes: {exc}") from None
    if args.attributes and args.fuse:
        raise CliError("--attributes are per frame: not with --fuse")
    if not args.edge_threshold > 0:
        raise CliError(f"--edge-threshold must be > 0, got {args.edge_threshold}")


def _job_description(job: ConvertJob) -> dict:
    """What makes a frame's output: its input files (path, size, time), the camera given, the options."""
    try:
        files = frame_files_of(job.depth_path, color_path=job.color_path, camera_path=job.camera_path)
        paths = (files.depth_path, files.color_path, files.camera_path, files.passes_path)
        following = motion_frame_files(files, job.frame, job.build.attributes)  # motion reads frame N+1 too
        if following is not None:
            paths += (following.depth_path, following.camera_path, following.passes_path)
    except DepthCloudError:
        paths = (job.depth_path, job.color_path, job.camera_path)
    return {"version": __version__, "frame": job.frame, "inputs": input_fingerprint(paths),
            "camera": job.camera_json, "build": dataclasses.asdict(job.build),
            "export": dataclasses.asdict(job.export)}


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _worker_init(threads: int, parent_pid: int) -> None:
    """In each ``--jobs`` worker: share the cores, and stop when the parent stops, however it stops.

    The parent's SIGTERM/SIGINT handler terminates the workers; if the parent dies outright (SIGKILL:
    a farm cancelling the task), Linux sends SIGTERM to the worker (``PR_SET_PDEATHSIG``) and, on any
    system, a watchdog thread sees the parent gone within half a second. SIGTERM then removes the
    worker's temporary file (the atomic writer's cleanup) and ends it, closing the pipes it inherited.
    """
    set_threads(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os.kill(os.getpid(), signal.SIGTERM)

    main = threading.main_thread().ident

    def watchdog():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        # A process-directed signal may land on any thread, leaving the main thread blocked in a read of the
        # task queue for ever: signal the main thread itself, and leave outright if it is still here after 5 s.
        signal.pthread_kill(main, signal.SIGTERM)
        time.sleep(5.0)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watchdog, name="depth-cloud-parent-watchdog", daemon=True).start()


def _quiet_stopped_pool(args) -> None:
    """Thread exceptions while the pool is stopped: CPython 3.11's ProcessPoolExecutor sets an exception on the
    futures it cancelled when its workers die (``InvalidStateError`` in ``terminate_broken``; fixed in 3.12).
    That one is expected and says nothing to the user; anything else is shown as usual."""
    if not isinstance(args.exc_value, concurrent.futures.InvalidStateError):
        threading.__excepthook__(args)


def _stop_workers(outputs=()) -> None:
    """Stop this process's worker processes: SIGTERM (they remove their temporary files), then SIGKILL for any
    still there after 3 s (a signal that landed on one of a worker's other threads leaves its main thread
    blocked); then remove what killed workers left half-written among ``outputs``' temporary files."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + 3.0
    for child in children:
        child.join(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
    for output in outputs:
        remove_stale_temporaries(output, refresh=True)


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
    build = BuildOptions(stride=args.stride, depth_kind=args.depth_kind, space=args.space, view_layer=args.layer,
                         attributes=args.attributes, drop_edges=args.drop_edges, edge_threshold=args.edge_threshold)
    export = ExportOptions(colors=args.colors, normals=args.normals, radius=args.radius, fmt=args.format)
    jobs = []
    for frame in numbers:
        job = ConvertJob(frame, _at(args.input, frame), _at(args.color, frame) if args.color else None,
                         _at(args.camera, frame) if args.camera else None, blend_cameras.get(frame),
                         args.output if args.fuse else _at(args.output, frame), build, export)
        jobs.append(dataclasses.replace(job, job_id=job_id(_job_description(job))))
    if _one_file(args.output):  # every frame in one file (a single file: one time sample, one scan)
        return _convert_one_file(args, jobs)
    if numbers == [None]:  # a single file: always written; errors are bad input (exit 2)
        result = run_convert_job(jobs[0])
        _say("warning", result.warnings)
        if result.error:
            raise CliError(result.error)
        print(f"{jobs[0].depth_path} -> {jobs[0].output} ({result.points:,} points{_layer_note([result.view_layer])})",
              file=sys.stderr)
        return 0
    if fusion is not None:
        return _convert_fused(args, jobs, fusion)
    for job in jobs:
        remove_stale_temporaries(job.output)  # of runs that died; live ones are left alone
    todo = [job for job in jobs if args.overwrite or not output_complete(job.output, args.format, job.job_id)]
    skipped = len(jobs) - len(todo)
    if skipped:
        print(f"depth-cloud: {skipped} frame(s) already complete from the same inputs and options, skipped "
              "(use --overwrite)", file=sys.stderr)
    progress = Progress(len(todo))
    failures, warnings, layers = [], [], set()
    pool = None
    if args.jobs == 1:
        results = map(run_convert_job, todo)
    else:  # spawn: workers start clean (no forked OpenEXR threads); they share the cores
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        pool = concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=_worker_init, initargs=(threads, os.getpid()))
        results = pool.map(run_convert_job, todo)
    try:
        for result in results:
            progress.update(result.points)
            warnings += [(result.frame, w) for w in result.warnings]
            layers.add(result.view_layer)
            if result.error:
                failures.append(f"frame {result.frame}: {result.error}")
    except BaseException:
        if pool is not None:  # stopped or failed: end the workers first, then the pool's threads
            threading.excepthook = _quiet_stopped_pool
            _stop_workers([job.output for job in todo])
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        progress.close()
    _say("warning", warned_frames(_by_warning(warnings)))  # after the progress line; the frames went on
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    print(f"depth-cloud: {len(todo) - len(failures)} of {len(todo)} frame(s) written{_layer_note(layers)}, "
          f"{len(failures)} failed" + (f", {skipped} already complete" if skipped else ""), file=sys.stderr)
    return 1 if failures else 0


def _convert_fused(args, jobs, fusion: Fusion) -> int:
    """All frames' world-space points in one file, optionally one point per voxel (mean position/color),
    streamed through :class:`Fusion` a frame at a time. With ``--partial``, the voxel sums of these frames as a
    partial grid (:mod:`.core.frames.fusion`) that ``depth-cloud merge`` adds to the other chunks' exactly."""
    from .core.frames.fusion import PARTIAL_VERSION, partial_complete, write_partial

    if args.partial:
        if not args.voxel:
            raise CliError("--partial needs --voxel S: a partial grid holds the sums of voxels of size S")
        if args.format != "npz":
            raise CliError(f"--partial writes a partial grid, a .npz file: not {args.output}")
        # Each frame's fingerprint without its export options: merge adds its own (see core.frames.fusion).
        frame_jobs = [{k: v for k, v in _job_description(job).items() if k != "export"} for job in jobs]
        fused_job = job_id({"partial": frame_jobs, "voxel": args.voxel, "version": PARTIAL_VERSION})
    else:
        fused_job = job_id({"fused": [job.job_id for job in jobs], "voxel": args.voxel})
    remove_stale_temporaries(args.output)
    if not args.overwrite and (partial_complete(args.output, fused_job) if args.partial
                               else output_complete(args.output, args.format, fused_job)):
        print(f"depth-cloud: {args.output} is complete already, from the same inputs and options "
              "(use --overwrite)", file=sys.stderr)
        return 0
    failures, warnings, progress, fused = [], [], Progress(len(jobs)), set()
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
        fused.add(job.frame)
        progress.update(len(cloud.points))
    progress.close()
    _say("warning", warned_frames(_by_warning(warnings)))
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    if fusion.frames == 0:
        raise CliError("no frame could be converted; nothing fused")
    if args.partial:
        try:
            write_partial(args.output, fusion.grid, [job.frame for job in jobs], [job.frame in fused for job in jobs],
                          frame_jobs, fused_job)
        except OSError as exc:
            raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
        print(f"depth-cloud: fused {fusion.frames} of {len(jobs)} frame(s) into {len(fusion.grid):,} voxels "
              f"-> {args.output} (a partial grid: depth-cloud merge combines them)", file=sys.stderr)
        return 1 if failures else 0
    points, colors, radii = fusion.result()
    try:
        n = export_points(args.output, points, colors, radii, jobs[0].export,
                          comments=[f"fused from {fusion.frames} frames"], job=fused_job)
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"depth-cloud: fused {fusion.frames} of {len(jobs)} frame(s) into {n:,} points "
          f"-> {args.output}", file=sys.stderr)
    return 1 if failures else 0


def _one_file(path) -> bool:
    """Outputs that hold every frame of a sequence: a USD point cache, an E57 of one scan per frame."""
    return is_usd(path) or os.fspath(path).lower().endswith(".e57")


def _convert_one_file(args, jobs) -> int:
    """Every frame into one file: a USD point cache (time code = frame; fps from the sidecars, else --fps,
    else 24) or an E57 with one scan per frame (its camera as the scan's pose)."""
    from .core.formats.usd import UsdWriter, usd_job

    usd = is_usd(args.output)
    one_job = job_id({"one file": [job.job_id for job in jobs], "fps": args.fps, "geometry": args.geometry})
    remove_stale_temporaries(args.output)
    if usd and not args.overwrite and os.path.isfile(args.output) and usd_job(args.output) == one_job:
        print(f"depth-cloud: {args.output} is complete already, from the same inputs and options "
              "(use --overwrite)", file=sys.stderr)
        return 0
    failures, warnings, progress, writer, layers = [], [], Progress(len(jobs)), None, set()
    show = progress.update if len(jobs) > 1 else (lambda _points: None)  # one frame: no progress line
    for job in jobs:
        try:
            inputs = _job_inputs(job)
            cloud = read_cloud_for(inputs, args.output, job.build)
            if writer is None and usd:
                fps = args.fps or inputs.capture.fps or 24.0
                writer = UsdWriter(args.output, fps=fps, faces=args.geometry == "faces", job=one_job)
            elif writer is None:
                from .core.formats.survey import E57Writer

                writer = E57Writer(args.output, comments=[f"{JOB_COMMENT}{one_job}"])
            elif usd and args.fps is None and inputs.capture.fps not in (None, writer.fps):
                warnings.append((job.frame, f"the sidecars' fps differ: the file uses {writer.fps:g}"))
            if usd:
                n = writer.add(cloud, job.frame)
            else:
                name = f"frame {job.frame if job.frame is not None else cloud.camera.frame}"
                n = writer.add(cloud.points_world, None if args.colors == "none" else cloud.colors,
                               cloud.camera.cam2world, name=name)
            warnings += [(job.frame, w) for w in cloud.warnings]
            layers.add(cloud.view_layer)
        except (CliError, DepthCloudError) as exc:
            if isinstance(exc, DepthCloudError) and "pip install" in str(exc):  # a missing optional package
                raise CliError(str(exc)) from None
            failures.append(f"frame {job.frame}: {exc}" if job.frame is not None else str(exc))
            n = 0
        show(n)
    progress.close()
    _say("warning", warned_frames(_by_warning(warnings)) + (getattr(writer, "notes", []) if writer else []))
    for failure in failures:
        print(f"depth-cloud: failed: {failure}", file=sys.stderr)
    if writer is None:
        raise CliError("no frame could be converted; nothing written")
    try:
        writer.close()
    except DepthCloudError as exc:
        raise CliError(f"no frame could be converted; nothing written ({exc})") from None
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    if usd:
        what = (f"{len(writer.frames)} of {len(jobs)} frame(s), {writer.points_written:,} "
                f"{'faces' if writer.faces else 'points'}{_layer_note(layers)} at {writer.fps:g} fps")
    else:
        what = f"{writer.scans} of {len(jobs)} frame(s) as E57 scans, {writer.points:,} points{_layer_note(layers)}"
    print(f"depth-cloud: {what} -> {args.output}", file=sys.stderr)
    return 1 if failures else 0


def _read_frames(numbers, read, what: str) -> tuple[list, list, list[str]]:
    """``read(frame)`` for each frame: ``(frames read, their results, failures)``. A single file's problem is
    bad input (exit 2); a sequence goes on past failed frames, and fails (listing them) only if none is read."""
    kept, results, failures = [], [], []
    for frame in numbers:
        try:
            results.append(read(frame))
            kept.append(frame)
        except (CliError, DepthCloudError) as exc:
            if frame is None:
                raise CliError(str(exc)) from None
            failures.append(f"frame {frame}: {exc}")
    if not results:
        for failure in failures:
            print(f"depth-cloud: failed: {failure}", file=sys.stderr)
        raise CliError(f"no {what} could be read ({len(failures)} frame(s) failed); nothing written")
    return kept, results, failures


def cmd_cameras(args) -> int:
    """Write cameras.json (K in OpenCV's convention, extrinsics in OpenCV and Blender axes) and transforms.json.
    A sequence goes on past frames whose camera cannot be read and lists them."""
    from .core.formats.camera_export import export_cameras, nerfstudio_transforms, write_json

    numbers = _frames_or_single(args)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CliError(f"{args.output}: is a file, not a folder: -o names the folder for cameras.json")
    kept, cameras, failures = _read_frames(numbers, lambda frame: read_camera_sidecar(_at(args.camera, frame)),
                                           "camera")
    def beside_output(pattern):  # as recorded: relative to the output folder, so the files resolve from there
        return [os.path.relpath(os.path.abspath(_at(pattern, frame)), os.path.abspath(args.output)).replace(os.sep, "/")
                for frame in kept]

    images = beside_output(args.images) if args.images else None
    depths = beside_output(args.depths) if args.depths else None
    try:
        os.makedirs(args.output, exist_ok=True)
        write_json(os.path.join(args.output, "cameras.json"),
                   export_cameras(cameras, image_paths=images, depth_paths=depths))
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    written = ["cameras.json"]
    if images:
        try:
            write_json(os.path.join(args.output, "transforms.json"),
                       nerfstudio_transforms(cameras, images, depth_paths=depths))
            written.append("transforms.json")
        except DepthCloudError as exc:
            print(f"depth-cloud: note: no transforms.json: {exc}", file=sys.stderr)
        except OSError as exc:
            raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"{len(cameras)} camera(s) -> {', '.join(os.path.join(args.output, w) for w in written)}", file=sys.stderr)
    return _sequence_end(failures, len(numbers), "camera") if failures else 0


def cmd_dataset(args) -> int:
    """Frames -> a training dataset: images/depth PNGs, transforms.json, a COLMAP model, splats.ply. Frames
    whose files or camera cannot be found are listed and left out; a frame that is found but bad stops the
    export before anything is written."""
    from .core.frames.dataset import export_dataset

    numbers = _frames_or_single(args)
    build = BuildOptions(stride=args.stride, depth_kind=args.depth_kind, view_layer=args.layer,
                         drop_edges=args.drop_edges)
    def inputs_of(frame):
        return _job_inputs(ConvertJob(frame, _at(args.input, frame), _at(args.color, frame) if args.color else None,
                                      _at(args.camera, frame) if args.camera else None, None, args.output, build,
                                      ExportOptions()))

    _, frames, failures = _read_frames(numbers, inputs_of, "frame")
    try:
        for inputs in frames:
            check_output(args.output, (inputs.files.depth_path, inputs.files.color_path, inputs.files.camera_path))
        result = export_dataset(frames, args.output, voxel_size=args.voxel, colmap_format=args.colmap, build=build)
    except DepthCloudError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    _say("warning", list(result.warnings))
    print(f"depth-cloud: dataset of {result.frames} frame(s) -> {args.output}: images/, depth/"
          + (", masks/" if result.has_alpha else "") + f", transforms.json, colmap/sparse/0 ({result.cameras} "
          f"camera(s), {result.colmap_points:,} points, mean track {result.mean_track_length:.2f}), sparse_pc.ply "
          f"and splats.ply ({result.points:,} points, voxel {result.voxel_size:g} m"
          + (" chosen automatically)" if result.voxel_size_auto else ")"), file=sys.stderr)
    return _sequence_end(failures, len(numbers), "frame") if failures else 0


def cmd_merge(args) -> int:
    """Partial voxel grids (``convert --fuse --voxel S --partial``) -> one fused cloud: the same bytes as one
    ``convert --fuse --voxel S`` of all their frames (in ascending order), whatever the order of the partials and
    however the frames were split (see :mod:`.core.frames.fusion`). Resumes like ``convert``."""
    import json

    from .core.frames.fusion import check_partials, merge_partials, read_partial

    if _one_file(args.output):
        raise CliError(f"{args.output}: merge writes one fused cloud as PLY, NPZ or LAS")
    fmt = args.format or format_of(args.output)
    if fmt == "las" and (args.radius or args.colors == "linear"):
        raise CliError(f"{args.output}: LAS holds positions and 16-bit sRGB colours only: --radius and --colors "
                       "linear need PLY or NPZ")
    export = ExportOptions(colors=args.colors, radius=args.radius, fmt=fmt)
    try:
        check_output(args.output, args.partials)
        headers = [read_partial(path, grid=False) for path in args.partials]
        check_partials(headers)
    except DepthCloudError as exc:
        raise CliError(str(exc)) from None
    entries = sorted(((frame, fused, description, header.path) for header in headers
                      for frame, fused, description in zip(header.frames, header.fused, header.frame_jobs)),
                     key=lambda entry: entry[0])  # frame order (no frame is in two partials)
    builds = {}
    for _frame, _fused, description, path in entries:
        builds.setdefault(json.dumps(description.get("build"), sort_keys=True), path)
    if len(builds) > 1:
        first, other = list(builds.values())[:2]
        raise CliError(f"{first} and {other} were made with other options (--stride, --depth-kind, --layer, "
                       "--drop-edges, ...): the partials of one fusion share them")
    # The fused job of convert --fuse: each frame's job id (with this output's export options), in frame order.
    frame_ids = [job_id({**description, "export": dataclasses.asdict(export)}) for _, _, description, _ in entries]
    fused_job = job_id({"fused": frame_ids, "voxel": headers[0].voxel_size})
    n_fused = sum(fused for _, fused, _, _ in entries)
    remove_stale_temporaries(args.output)
    if not args.overwrite and output_complete(args.output, fmt, fused_job):
        print(f"depth-cloud: {args.output} is complete already, from the same partial grids and options "
              "(use --overwrite)", file=sys.stderr)
        return 0
    if n_fused == 0:
        raise CliError("no frame was fused in these partial grids; nothing to merge")
    try:
        grid, _ = merge_partials(args.partials)
        points, colors, radii, _counts = grid.result()
        n = export_points(args.output, points, colors, radii, export, comments=[f"fused from {n_fused} frames"],
                          job=fused_job)
    except DepthCloudError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    failed = [frame for frame, fused, _, _ in entries if not fused]
    _say("warning", warned_frames({"failed in their chunk, not in the cloud": failed} if failed else {}))
    print(f"depth-cloud: merged {len(headers)} partial grid(s), {n_fused} frame(s), into {n:,} points "
          f"-> {args.output}", file=sys.stderr)
    return 0


def cmd_inspect(args) -> int:
    """What EXRs and camera sidecars hold, and whether each can be used as it is (exit 1 if one cannot)."""
    from .core.frames.inspect import inspect_files

    text, status = inspect_files(args.files)
    print(text)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth-cloud", description="Exact point clouds and ground truth from "
                                     "Blender depth EXRs, without Blender.")
    parser.add_argument("--version", action="version", version=f"depth-cloud {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show a Python traceback when something fails")
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
    convert.add_argument("--space", choices=("world", "camera"), default="world",
                         help="coordinates of the points: world (default) or Blender's camera frame (-Z forward)")
    convert.add_argument("--colors", choices=("srgb", "linear", "none"), default="srgb",
                         help="PLY colors: sRGB-encoded uchar (default), linear float, or none")
    convert.add_argument("--normals", action="store_true", help="add nx ny nz: the direction towards the camera")
    convert.add_argument("--radius", action="store_true", help="add radius: half the pixel footprint (metres)")
    convert.add_argument("--attributes", metavar="NAMES",
                         help="point attributes from the captured passes, comma-separated: "
                              + ", ".join(ATTRIBUTES) + " (PLY properties / NPZ arrays of those names; vectors as "
                              "NAME_x NAME_y NAME_z in PLY; object_id's legend in NAME.legend.json)")
    convert.add_argument("--drop-edges", action="store_true",
                         help="leave out pixels that straddle a silhouette (their depth may belong to the other "
                              "side: flying points)")
    convert.add_argument("--edge-threshold", type=float, default=EDGE_THRESHOLD, metavar="FRACTION",
                         help="a neighbour's depth differing by more than this fraction of the pixel's own makes "
                              f"an edge (default {EDGE_THRESHOLD})")
    convert.add_argument("--fps", type=float, help="USD outputs: time codes per second when the sidecars "
                                                   "record no fps (default 24)")
    convert.add_argument("--geometry", choices=("points", "faces"), default="points",
                         help="USD outputs: UsdGeom.Points, or one camera-facing quad per pixel (UsdGeom.Mesh)")
    convert.add_argument("--format", choices=("ply", "npz"), default=None,
                         help="binary PLY or NumPy .npz (points, colors, radii, pixels, camera); default: by the "
                              "output's extension (.npz, else PLY; .usd/.usda/.usdc write one USD point cache)")
    convert.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    convert.add_argument("--jobs", type=int, default=1, help="worker processes for sequences")
    convert.add_argument("--overwrite", action="store_true",
                         help="sequences: rewrite outputs that are complete and from the same inputs and options "
                              "(those are skipped otherwise; a single file is always written)")
    convert.add_argument("--fuse", action="store_true", help="write all frames into one world-space file")
    convert.add_argument("--voxel", type=float, default=0.0,
                         help="with --fuse: keep one point per voxel of this size (metres), averaged")
    convert.add_argument("--partial", action="store_true",
                         help="with --fuse --voxel: write the frames' exact voxel sums to a .npz partial grid, for "
                              "depth-cloud merge (a farm fuses a range in chunks, then merges them)")
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
    depth.add_argument("--to", dest="to_kind", choices=("planar", "distance"), required=True,
                       help="kind to write: planar Z (along the view axis) or ray distance (from the camera centre)")
    depth.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    depth.add_argument("-o", "--output", required=True, help="output EXR (or a # pattern)")
    depth.set_defaults(run=cmd_depth)

    cameras = sub.add_parser("cameras", help="export intrinsics/extrinsics (cameras.json, transforms.json)")
    cameras.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    cameras.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    cameras.add_argument("--images", help="image path (pattern) to record per frame, e.g. 'color_####.exr' (recorded "
                                          "relative to the output folder)")
    cameras.add_argument("--depths", help="depth path (pattern) to record per frame (recorded relative to the output "
                                          "folder)")
    cameras.add_argument("-o", "--output", required=True, help="output folder")
    cameras.set_defaults(run=cmd_cameras)

    dataset = sub.add_parser("dataset", help="frames -> a dataset that trains as it is (nerfstudio transforms.json, "
                                             "COLMAP model, 3DGS splats.ply)")
    dataset.add_argument("input", help="depth EXR pattern with # (with --frames), or one depth EXR")
    dataset.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    dataset.add_argument("--color", help="color EXR (or # pattern); default: the file beside the depth file")
    dataset.add_argument("--camera", help="camera sidecar JSON (or # pattern); default: the sidecar beside the "
                                          "depth file")
    dataset.add_argument("--layer", metavar="NAME", help="multilayer render EXRs: the view layer to read")
    dataset.add_argument("--depth-kind", choices=("auto", "planar", "distance"), default="auto",
                         help="what the depth files hold (default: what they say, see docs/conventions.md)")
    dataset.add_argument("--stride", type=int, default=1, help="every k-th pixel in each direction (the cloud only)")
    dataset.add_argument("--drop-edges", action="store_true",
                         help="leave pixels that straddle a silhouette out of the initial cloud")
    dataset.add_argument("--voxel", type=float, default=0.0,
                         help="voxel size of the fused initial cloud in metres (default 0: chosen so that it has at "
                              "most 1M points)")
    dataset.add_argument("--colmap", choices=("binary", "text"), default="binary",
                         help="COLMAP model files: .bin (default) or .txt")
    dataset.add_argument("-o", "--output", required=True, help="output folder")
    dataset.set_defaults(run=cmd_dataset)

    merge = sub.add_parser("merge", help="partial voxel grids (convert --fuse --voxel S --partial) -> one fused "
                                         "cloud, exactly as one machine fusing every frame")
    merge.add_argument("partials", nargs="+", metavar="PARTIAL", help="partial grid .npz files, in any order")
    merge.add_argument("--colors", choices=("srgb", "linear", "none"), default="srgb",
                       help="PLY colors: sRGB-encoded uchar (default), linear float, or none")
    merge.add_argument("--radius", action="store_true", help="add radius: the voxel's mean (at least half a voxel)")
    merge.add_argument("--format", choices=("ply", "npz"), default=None,
                       help="binary PLY or NumPy .npz; default: by the output's extension (.npz, .las/.laz, else PLY)")
    merge.add_argument("--overwrite", action="store_true",
                       help="rewrite an output that is complete and from the same partial grids and options")
    merge.add_argument("-o", "--output", required=True, help="the fused cloud")
    merge.set_defaults(run=cmd_merge)

    inspect = sub.add_parser("inspect", help="what EXRs and camera sidecars hold, and whether they can be used as "
                                             "they are (lossy or half-float depth, depth kind, valid pixels, ...)")
    inspect.add_argument("files", nargs="+", metavar="FILE", help="depth/color EXRs and camera sidecar JSONs")
    inspect.set_defaults(run=cmd_inspect)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = {}
    if threading.current_thread() is threading.main_thread():  # stop cleanly, however the run is stopped
        previous = {signum: signal.signal(signum, _raise_stopped) for signum in STOP_SIGNALS}
    try:
        return args.run(args)
    except CliError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"depth-cloud: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Stopped as exc:
        print("\n" + _stopped_message(exc), file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # an unexpected failure: one line, the traceback only with --debug
        if args.debug:
            raise
        print(f"depth-cloud: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
