"""``depth-cloud convert``: depth EXR(s) + camera -> point clouds, in one of three shapes.

* a file per frame (PLY, NPZ, LAS/LAZ): each frame a task of the frame loop, inline or in ``--jobs`` worker
  processes; sequences resume, skipping outputs that are complete and record the same job;
* one fused file (``--fuse``): the frames' world-space points streamed through the core's one fusion, optionally
  one point per voxel; ``--partial`` writes the chunk's exact voxel sums for ``depth-cloud merge``;
* one file of every frame (USD point cache, E57 of one scan per frame): :class:`..core.frames.export.SequenceFile`.

Which format an output is, and what it holds, is the core's table (:mod:`..core.formats.outputs`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass

from .. import __version__
from ..core import CameraError, CameraModel, DepthCloudError
from ..core.atomic import check_writable, remove_stale_temporaries
from ..core.formats.outputs import OutputFormat, output_format
from ..core.frames.cloud import BuildOptions, CloudArrays, frame_input_paths
from ..core.frames.export import (
    COLOR_MODES,
    ExportOptions,
    InputSet,
    SequenceFile,
    auto_origin,
    export_cloud,
    export_points,
    float32_rounding,
    input_fingerprint,
    job_id,
    output_complete,
    read_cloud_for,
    written_files,
)
from ..core.frames.files import FrameInputs, frame_camera, frame_files_of, frame_inputs
from ..core.frames.fusion import PARTIAL_VERSION, Fusion, fuse_frames, partial_complete, write_partial
from ..core.frames.loop import FrameOutcome, FrameReport, run_frame, walk_frames
from ..core.frames.passes import ATTRIBUTES, EDGE_THRESHOLD, check_attributes
from ..core.geometry.projection import SPACES
from ..core.geometry.voxel import VoxelExtentError
from .engine import Engine, add_engine
from .frames import add_depth_kind, add_format, add_frames, at, check_stride, frame_numbers, present_frames
from .report import CliError, Progress, bad_input, complete_already, finish, layer_note, note, say

NO_CAMERA = ("no camera: give --camera CAMERA.json (the sidecar the Blender set-up writes) or --blend FILE.blend "
             "--camera-object NAME")


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


def job_inputs(job: ConvertJob) -> FrameInputs:
    """The frame's files and camera (``--blend``'s, else the sidecar; no scene camera outside Blender)."""
    files = frame_files_of(job.depth_path, color_path=job.color_path, camera_path=job.camera_path)
    camera = CameraModel.from_json(job.camera_json) if job.camera_json is not None else None
    if camera is None and files.camera_path is None:
        raise CameraError(f"{job.depth_path}: {NO_CAMERA}")
    return frame_inputs(files, job.frame, camera=camera, camera_note="camera from --blend")


@dataclass(frozen=True)
class Converted:
    """What one frame of ``convert`` wrote: its points, the view layer read and the frame's warnings."""

    points: int
    view_layer: str | None
    warnings: tuple[str, ...]


def convert_frame(job: ConvertJob) -> Converted:
    """Convert one frame into its own file (a task of the frame loop, in this process or a worker)."""
    cloud = read_cloud_for(job_inputs(job), job.output, job.build)
    n = export_cloud(job.output, cloud, job.export, job=job.job_id)
    rounded = float32_rounding(cloud.points) if job.export.fmt != "las" and job.export.origin is None else None
    return Converted(n, cloud.view_layer, tuple(cloud.warnings) + ((rounded,) if rounded else ()))


def read_fused(job: ConvertJob) -> CloudArrays:
    """One frame's cloud for ``--fuse`` (a task of the frame loop, or of a chunk of :func:`fuse_frames`)."""
    return read_cloud_for(job_inputs(job), job.output, job.build)


def job_description(job: ConvertJob) -> dict:
    """What makes a frame's output: its input files (path, size, time), the camera given, the options."""
    paths: tuple[str | None, ...]
    try:
        files = frame_files_of(job.depth_path, color_path=job.color_path, camera_path=job.camera_path)
        paths = frame_input_paths(files, job.frame, job.build.attributes)  # motion reads frame N+1 too
    except DepthCloudError:
        paths = (job.depth_path, job.color_path, job.camera_path)
    return {"version": __version__, "frame": job.frame, "inputs": input_fingerprint(paths),
            "camera": job.camera_json, "build": dataclasses.asdict(job.build),
            "export": dataclasses.asdict(job.export)}


@dataclass(frozen=True)
class ConvertSettings:
    """The command line, checked: bad options exit 2 before any work (``args`` is never changed)."""

    fmt: OutputFormat
    build: BuildOptions
    export: ExportOptions
    auto_origin: bool = False  # --origin auto: found from the first frame's camera (:meth:`with_origin`)

    @classmethod
    def from_args(cls, args) -> ConvertSettings:
        check_stride(args.stride)  # (--jobs: Engine.from_args)
        if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
            raise CliError(f"--fps must be a finite number > 0, got {args.fps}")
        if not (math.isfinite(args.edge_threshold) and args.edge_threshold > 0):
            raise CliError(f"--edge-threshold must be a finite number > 0, got {args.edge_threshold}")
        if not (math.isfinite(args.voxel) and args.voxel >= 0):
            raise CliError(f"--voxel must be a finite number of metres >= 0, got {args.voxel}")
        if args.voxel and not args.fuse:
            raise CliError("--voxel needs --fuse")
        if args.partial and not args.fuse:
            raise CliError("--partial needs --fuse --voxel S (a partial grid of a chunk of frames)")
        if args.fuse and args.space != "world":
            raise CliError("--fuse needs --space world: the frames' cameras differ")
        try:
            attributes = check_attributes(args.attributes or ())
        except ValueError as exc:
            raise CliError(f"--attributes: {exc}") from None
        if attributes and args.fuse:
            raise CliError("--attributes are per frame: not with --fuse")
        discs = args.geometry == "discs"  # the surfel layout: every point's disc normal and radius
        if discs and args.fuse:
            raise CliError("--geometry discs is per frame: a fused cloud is made of points")
        origin = parse_origin(args.origin)
        if args.origin is not None and args.space != "world":
            raise CliError("--origin is for world positions: not with --space camera")
        if origin == "auto" and args.partial:
            raise CliError("--origin auto: the chunks of one fusion need one origin, give --origin X,Y,Z (the same "
                           "for every chunk)")
        try:
            fmt = output_format(args.output, args.format)
            export = ExportOptions(colors=args.colors, normals=args.normals or discs, radius=args.radius or discs,
                                   fmt=fmt.name, origin=None if origin == "auto" else origin)
            export.check(args.output, fmt, attributes=attributes, faces=args.geometry == "faces", fused=args.fuse)
            fmt.require(args.output)
        except DepthCloudError as exc:
            raise bad_input(exc) from None
        build = BuildOptions(stride=args.stride, depth_kind=args.depth_kind, space=args.space, view_layer=args.layer,
                             attributes=attributes, drop_edges=args.drop_edges, edge_threshold=args.edge_threshold,
                             discs=discs)
        return cls(fmt, build, export, origin == "auto")

    def with_origin(self, origin) -> ConvertSettings:
        """These settings with the origin ``--origin auto`` found."""
        return dataclasses.replace(self, export=dataclasses.replace(self.export, origin=origin), auto_origin=False)


def parse_origin(text: str | None):
    """``--origin``: None, ``"auto"``, or three finite numbers ``X,Y,Z`` (metres, world)."""
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise CliError(f"--origin must be X,Y,Z (three finite numbers, metres) or auto, got {text!r}")
    return values


def find_auto_origin(args, numbers, cameras: dict):
    """``--origin auto``: :func:`..core.frames.export.auto_origin` of the first frame whose camera can be read (its
    sidecar, or the --blend camera); None when none can (every frame then fails on its own)."""
    for frame in numbers:
        try:
            if frame in cameras:
                return auto_origin(CameraModel.from_json(cameras[frame]))
            files = frame_files_of(at(args.input, frame), camera_path=at(args.camera, frame))
            if files.camera_path is not None:
                return auto_origin(frame_camera(files.camera_path).camera)
        except DepthCloudError:
            continue
    return None


def blend_cameras(args, numbers) -> dict:
    """frame -> camera JSON read from a .blend with bpy (--blend/--camera-object)."""
    try:
        from ..blender.blend_cameras import cameras_from_blend
    except ImportError:
        raise CliError("--blend needs Blender as a Python module: pip install bpy (Python 3.11 for Blender 4.2-5.0, "
                       "3.13 for 5.1 and later)") from None
    try:
        cameras = cameras_from_blend(args.blend, args.camera_object, numbers, single_frame=args.frame)
    except DepthCloudError as exc:
        raise CliError(str(exc)) from None
    return {frame: camera.to_json() for frame, camera in cameras.items()}


def run(args) -> int:
    """Depth EXR(s) + camera -> point cloud file(s)."""
    settings = ConvertSettings.from_args(args)
    engine = Engine.from_args(args)
    args = engine.resolve(args, ("input", "color", "camera", "output"))
    numbers = frame_numbers(args.frames, {"input": args.input, "camera": args.camera, "color": args.color,
                                          "output": args.output},
                            output=args.output, one_output=args.fuse or settings.fmt.one_file,
                            one_output_hint=" (or --fuse for one file of every frame, or a .usd file: one point cache)")
    if args.fuse and (numbers == [None] or "#" in args.output):
        raise CliError("--fuse writes one file from a sequence: give --frames and an output without #")
    if engine.remote and (numbers == [None] or settings.fmt.one_file):
        raise CliError("--scheduler runs the frames of a sequence (--frames) into a file per frame or --fuse; "
                       f"{'one file' if numbers == [None] else settings.fmt.name.upper() + ' of every frame'} "
                       "is written here, without it")
    numbers, report = present_frames(numbers, args.input, "depth")  # (many frames without a file: one line)
    cameras = blend_cameras(args, numbers) if args.blend else {}
    if settings.auto_origin:
        settings = settings.with_origin(find_auto_origin(args, numbers, cameras))
        if settings.export.origin is not None:
            note(f"origin {', '.join(f'{v:g}' for v in settings.export.origin)} (auto: the first frame's camera)")
    # Each frame's job description: --partial records them; other runs keep only their ids (memory flat over frames).
    jobs, descriptions, inputs = [], [], InputSet()
    for frame in numbers:
        job = ConvertJob(frame, at(args.input, frame), at(args.color, frame), at(args.camera, frame),
                         cameras.get(frame), args.output if args.fuse else at(args.output, frame),
                         settings.build, settings.export)
        description = job_description(job)
        if args.partial:
            descriptions.append(description)
        inputs.add((path for path, _, _ in description["inputs"]), frame)
        jobs.append(dataclasses.replace(job, job_id=job_id(description)))
    _check_outputs(jobs, inputs, one_output=args.fuse or settings.fmt.one_file)
    if settings.fmt.one_file:  # every frame in one file (a single file: one time sample, one scan)
        return _one_file(args, settings, jobs, report)
    if numbers == [None]:  # a single file: always written; errors are bad input (exit 2)
        outcome = run_frame(convert_frame, jobs[0], None, jobs[0].output)
        say("warning", outcome.warnings)
        if not outcome.ok:
            raise CliError(outcome.error)
        print(f"{jobs[0].depth_path} -> {jobs[0].output} ({outcome.value.points:,} points"
              f"{layer_note([outcome.value.view_layer])})", file=sys.stderr)
        return 0
    if args.fuse:
        try:
            fusion = Fusion(args.voxel, settings.export.origin, precise=settings.fmt.name == "las")
        except DepthCloudError as exc:
            raise CliError(f"--voxel: {exc}") from None
        return _fused(args, settings, jobs, descriptions, fusion, report, engine)
    return _per_frame(args, settings, jobs, report, engine)


def _check_outputs(jobs: list[ConvertJob], inputs: InputSet, *, one_output: bool) -> None:
    """Before any work: no frame's output (or its legend) may be a file another frame reads (a frame's own inputs
    are its failure: :func:`read_cloud_for`), and one output of every frame may be none of their files."""
    for job in jobs:
        for written in written_files(job.output, job.build.attributes):
            hit = inputs.find(written)
            if hit is not None and (one_output or hit[1] != job.frame):
                frame = f" (frame {hit[1]})" if hit[1] is not None else ""
                raise CliError(f"{job.output}: {'the output' if written == job.output else 'its legend ' + written} "
                               f"is an input of this job: {hit[0]}{frame}; choose another output name")
        if one_output:
            return


def _per_frame(args, settings: ConvertSettings, jobs: list[ConvertJob], report: FrameReport, engine: Engine) -> int:
    missing = report.failed_count  # frames without a depth file (present_frames)
    for job in jobs:
        remove_stale_temporaries(job.output)  # of runs that died; live ones are left alone
    todo = [job for job in jobs if args.overwrite or not output_complete(job.output, settings.fmt.name, job.job_id)]
    skipped = len(jobs) - len(todo)
    if skipped:
        note(f"{skipped} frame(s) already complete from the same inputs and options, skipped (use --overwrite)")
    progress = Progress(len(todo))
    inputs = [path for job in todo for path in (job.depth_path, job.color_path, job.camera_path)]
    with (engine if todo else Engine()).start(inputs=inputs, outputs=[job.output for job in todo]) as workers:
        try:
            walk_frames(todo, convert_frame, frame_of=lambda job: job.frame, output_of=lambda job: job.output,
                        executor=workers.executor, report=report,
                        on_outcome=lambda o: progress.update(o.value.points if o.ok else 0))
        finally:
            progress.close()
    layers = [o.value.view_layer for o in report.done]
    return finish(report, summary=f"{len(report.done):,} of {len(todo) + missing:,} frame(s) written"
                                  f"{layer_note(layers)}, {report.failed_count:,} failed"
                                  + (f", {skipped} already complete" if skipped else ""))


def _fused(args, settings: ConvertSettings, jobs: list[ConvertJob], descriptions: list[dict], fusion: Fusion,
           report: FrameReport, engine: Engine) -> int:
    """All frames' world-space points in one file, optionally one point per voxel (mean position/color),
    streamed through :class:`Fusion` a frame at a time. With ``--partial``, the voxel sums of these frames as a
    partial grid (:mod:`..core.frames.fusion`) that ``depth-cloud merge`` adds to the other chunks' exactly."""
    if args.partial:
        if not args.voxel:
            raise CliError("--partial needs --voxel S: a partial grid holds the sums of voxels of size S")
        if settings.fmt.name != "npz":
            raise CliError(f"--partial writes a partial grid, a .npz file: not {args.output}")
        # Each frame's fingerprint without its export options: merge adds its own (see core.frames.fusion).
        frame_jobs = [{k: v for k, v in description.items() if k != "export"} for description in descriptions]
        fused_job = job_id({"partial": frame_jobs, "voxel": args.voxel, "version": PARTIAL_VERSION,
                            **({"origin": settings.export.origin} if settings.export.origin else {})})
    else:
        fused_job = job_id({"fused": [job.job_id for job in jobs], "voxel": args.voxel})
    if complete_already(args.output, args.overwrite,
                        lambda: partial_complete(args.output, fused_job) if args.partial
                        else output_complete(args.output, settings.fmt.name, fused_job)):
        return 0
    try:
        check_writable(args.output)  # written at the end: a folder that refuses it stops the job before any work
    except OSError as exc:
        raise bad_input(exc, args.output) from None
    progress, fused = Progress(len(jobs)), set()

    def voxel_error(exc: DepthCloudError) -> CliError:
        far = isinstance(exc, VoxelExtentError) and not settings.export.origin  # a grid too fine, or far away
        return CliError(f"--voxel {args.voxel:g}: {exc}"
                        + ("; far from the world origin, give --origin auto (or X,Y,Z)" if far else ""))

    def add(outcome: FrameOutcome) -> None:
        if outcome.ok:
            try:
                fusion.add(outcome.value)
            except DepthCloudError as exc:
                raise voxel_error(exc) from None
            fused.add(outcome.frame)
        progress.update(len(outcome.value.points) if outcome.ok else 0)

    def chunk_frame(outcome: FrameOutcome) -> None:  # fuse_frames' outcomes: the value is the frame's points
        if outcome.ok:
            fused.add(outcome.frame)
        progress.update(outcome.value if outcome.ok else 0)

    inputs = [path for job in jobs for path in (job.depth_path, job.color_path, job.camera_path)]
    try:
        with engine.start(inputs=inputs, outputs=[args.output]) as workers:
            if workers.executor is not None and fusion.grid is not None:  # chunks of frames, their sums merged
                chunk = max(1, min(64, math.ceil(len(jobs) / (4 * workers.slots))))
                try:
                    grid, _ = fuse_frames(jobs, read_fused, fusion.voxel_size, origin=fusion.origin,
                                          precise=fusion.precise, frame_of=lambda job: job.frame,
                                          executor=workers.executor, chunk_size=chunk, report=report,
                                          on_outcome=chunk_frame)
                except DepthCloudError as exc:
                    raise voxel_error(exc) from None
                fusion.merge(grid, len(fused))
            else:  # here, or every point kept: each frame's cloud comes here in turn
                walk_frames(jobs, read_fused, frame_of=lambda job: job.frame, executor=workers.executor,
                            on_outcome=add, keep_values=False, report=report)
    finally:
        progress.close()
    status = finish(report)
    if fusion.frames == 0:
        raise CliError("no frame could be converted; nothing fused")
    try:
        if args.partial:
            assert fusion.grid is not None  # --partial needs --voxel (checked above): a voxel grid
            write_partial(args.output, fusion.grid, [job.frame for job in jobs], [job.frame in fused for job in jobs],
                          frame_jobs, fused_job)
            note(f"fused {fusion.frames} of {len(jobs)} frame(s) into {len(fusion.grid):,} voxels -> {args.output} "
                 "(a partial grid: depth-cloud merge combines them)")
            return status
        points, colors, radii = fusion.result()
        if fusion.precise and fusion.origin.any():  # LAS: world positions, in float64
            points = points + fusion.origin
        rounded = float32_rounding(points)
        n = export_points(args.output, points, colors, radii, settings.export,
                          comments=[f"fused from {fusion.frames} frames"], job=fused_job)
        if rounded:
            say("warning", [rounded])
    except (DepthCloudError, OSError) as exc:
        raise bad_input(exc, args.output) from None
    note(f"fused {fusion.frames} of {len(jobs)} frame(s) into {n:,} points -> {args.output}")
    return status


def _one_file(args, settings: ConvertSettings, jobs: list[ConvertJob], report: FrameReport) -> int:
    """Every frame into one file: a USD point cache (time code = frame; fps from the sidecars, else --fps,
    else 24) or an E57 with one scan per frame (its camera as the scan's pose)."""
    one_job = job_id({"one file": [job.job_id for job in jobs], "fps": args.fps, "geometry": args.geometry})
    if complete_already(args.output, args.overwrite, lambda: output_complete(args.output, settings.fmt.name, one_job)):
        return 0
    try:
        output = SequenceFile(args.output, settings.fmt, settings.export, fps=args.fps,
                              faces=args.geometry == "faces", job=one_job)
    except (DepthCloudError, OSError) as exc:
        raise bad_input(exc, args.output) from None
    progress = Progress(len(jobs), shown=len(jobs) > 1)  # one frame: no progress line

    def add(job: ConvertJob) -> Converted:
        inputs = job_inputs(job)
        cloud = read_cloud_for(inputs, args.output, job.build)
        n, warnings = output.add(cloud, job.frame, fps=inputs.capture.fps)
        return Converted(n, cloud.view_layer, tuple(warnings))

    try:
        walk_frames(jobs, add, frame_of=lambda job: job.frame, report=report,
                    on_outcome=lambda o: progress.update(o.value.points if o.ok else 0))
    finally:
        progress.close()
    status = finish(report, notes=output.notes)
    try:
        output.close()
    except (DepthCloudError, OSError) as exc:
        raise bad_input(exc, args.output) from None
    layers = layer_note(o.value.view_layer for o in report.done)
    if settings.fmt.name == "usd":
        what = (f"{output.frames} of {len(jobs)} frame(s), {output.points:,} "
                f"{'faces' if output.faces else 'points'}{layers} at {output.fps:g} fps")
    else:
        what = f"{output.frames} of {len(jobs)} frame(s) as E57 scans, {output.points:,} points{layers}"
    note(f"{what} -> {args.output}")
    return status


def add_parser(sub) -> None:
    convert = sub.add_parser("convert", help="depth EXR(s) + camera -> point cloud file(s): PLY, NPZ, USD, E57, "
                                             "LAS/LAZ")
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
    add_depth_kind(convert)
    convert.add_argument("--stride", type=int, default=1, help="every k-th pixel in each direction")
    convert.add_argument("--space", choices=SPACES, default="world",
                         help="coordinates of the points: world (default) or Blender's camera frame (-Z forward)")
    convert.add_argument("--colors", choices=COLOR_MODES, default="srgb",
                         help="colors: sRGB-encoded uchar (default), linear float, or none")
    convert.add_argument("--normals", action="store_true",
                         help="add nx ny nz: the direction towards the camera (the surface's with --geometry discs)")
    convert.add_argument("--radius", action="store_true",
                         help="add radius (metres): a round point of it covers its pixel's footprint (with --geometry "
                              "discs: the disc's, on the surface)")
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
    convert.add_argument("--geometry", choices=("points", "faces", "discs"), default="points",
                         help="points (default); faces: USD outputs, one camera-facing quad per pixel (UsdGeom.Mesh); "
                              "discs: surface discs (surfels), each point with its surface normal and the radius that "
                              "covers its pixel on the surface (PLY nx ny nz radius, NPZ normals radii, USD normals "
                              "widths)")
    add_format(convert)
    add_frames(convert)
    convert.add_argument("--jobs", type=int, default=1, help="worker processes for sequences")
    add_engine(convert, jobs=False)
    convert.add_argument("--overwrite", action="store_true",
                         help="sequences: rewrite outputs that are complete and from the same inputs and options "
                              "(those are skipped otherwise; a single file is always written)")
    convert.add_argument("--fuse", action="store_true", help="write all frames into one world-space file")
    convert.add_argument("--voxel", type=float, default=0.0,
                         help="with --fuse: keep one point per voxel of this size (metres), averaged")
    convert.add_argument("--partial", action="store_true",
                         help="with --fuse --voxel: write the frames' exact voxel sums to a .npz partial grid, for "
                              "depth-cloud merge (a farm fuses a range in chunks, then merges them)")
    convert.add_argument("--origin", metavar="X,Y,Z|auto",
                         help="store world positions relative to this point (metres), recorded in the file (a PLY "
                              "comment 'origin X Y Z', an NPZ array 'origin', a double-precision translation of the "
                              "USD root), and anchor --fuse's voxel grid there: for scenes far from the world origin, "
                              "whose float32 positions would be rounded (auto: the first frame's camera position, in "
                              "whole metres; a negative X as --origin=-X,Y,Z). LAS and E57 store world positions in "
                              "float64 whatever it is")
    convert.add_argument("-o", "--output", required=True,
                         help="output file (or a # pattern); its extension says the format (see --format)")
    convert.set_defaults(run=run)

