"""The one export of a cloud to a file, with its output checks. Pure numpy.

Used by ``depth-cloud convert`` (single files, sequences, ``--fuse``, one file of every frame) and Blender's
Export. Which formats exist and what each holds is the table of :mod:`..formats.outputs`. A file per frame (or one
fused file): :func:`export_cloud` / :func:`export_points` (PLY, NPZ, LAS); every frame in one file:
:class:`SequenceFile` (USD point cache, E57 scans).
PLY: see :mod:`.ply` (sRGB 8-bit colors by default); LAS/LAZ: see :mod:`.survey` (positions and 16-bit sRGB
colors only). NPZ arrays: ``points`` (N, 3) float32,
``colors`` (N, 4) linear RGBA, ``radii`` (N,), and for a single frame ``pixels`` (N, 2) int32
``(col, row)`` and ``camera`` (the sidecar JSON), plus ``normals`` when asked for, and ``job``: the
fingerprint of what made the file (:func:`job_id`; in a PLY, the comment ``depth-cloud job <id>``).
A cloud's point attributes (:mod:`.passes`) go into NPZ arrays and PLY properties of their names; the
``object_id`` legend (hash as 8 hex digits -> object name) into ``NAME.legend.json`` beside the output
(and the NPZ's ``legend`` array, as JSON).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from ..atomic import check_writable, write_text
from ..errors import DepthCloudError, NoValidDepthError, OutputError
from ..formats.outputs import OUTPUT_FORMATS, OutputFormat, format_named
from ..formats.ply import (
    npz_is_complete,
    npz_shapes,
    ply_comments,
    ply_is_complete,
    ply_properties,
    write_npz,
    write_ply,
)
from ..formats.survey import E57Writer, e57_is_complete, las_comments, las_is_complete, write_las
from ..formats.usd import UsdWriter, usd_is_complete
from .cloud import BuildOptions, CloudArrays, camera_facing_normals, frame_input_paths, read_cloud
from .files import FrameInputs

__all__ = ["COLOR_MODES", "FILE_FORMATS", "ExportOptions", "InputSet", "JOB_COMMENT", "SequenceFile", "check_output",
           "check_output_folder", "written_files",
           "export_cloud", "export_frame", "export_points", "input_fingerprint", "job_id", "legend_path",
           "output_complete", "read_cloud_for", "recorded_job"]

COLOR_MODES = ("srgb", "linear", "none")
#: The formats :func:`export_points` writes (a file per frame, or one fused file); the others hold every frame of a
#: sequence in one file (:class:`SequenceFile`).
FILE_FORMATS = tuple(f.name for f in OUTPUT_FORMATS if not f.one_file)
_COLOR_COMMENTS = {"srgb": "sRGB-encoded 8-bit", "linear": "linear float", "none": "none"}


@dataclass(frozen=True)
class ExportOptions:
    """What goes into an exported file."""

    colors: str = "srgb"     # "srgb" (uchar, sRGB-encoded), "linear" (float) or "none"
    normals: bool = False    # nx ny nz: the cloud's disc normals (``CloudArrays.normals``), else towards the camera
    radius: bool = False     # ``CloudArrays.radii`` (metres): a round point of it covers its pixel's footprint
    fmt: str = "ply"         # a name of the table (:mod:`..formats.outputs`): "ply", "npz", "las", "usd", "e57"
    #: World positions are stored relative to this point (metres, world) by the float32 formats (PLY, NPZ, USD), and
    #: it is recorded in the file (see :func:`export_points`); LAS and E57 store world positions in float64 whatever
    #: it is. None (or 0, 0, 0): positions are world coordinates.
    origin: tuple[float, float, float] | None = None

    def __post_init__(self):
        if self.colors not in COLOR_MODES:
            raise ValueError(f"colors must be one of {COLOR_MODES}, got {self.colors!r}")
        if self.fmt not in {f.name for f in OUTPUT_FORMATS}:
            raise ValueError(f"fmt must be one of {tuple(f.name for f in OUTPUT_FORMATS)}, got {self.fmt!r}")
        object.__setattr__(self, "origin", check_origin(self.origin))

    def check(self, path, fmt: OutputFormat, *, attributes=(), faces: bool = False, fused: bool = False) -> None:
        """Raise :class:`OutputError` when ``fmt`` cannot hold these options (and ``attributes``, Pixel Faces, a
        fused cloud): the same refusal for every entry point."""
        fmt.check(path, attributes=attributes, normals=self.normals, radius=self.radius,
                  linear_colors=self.colors == "linear", faces=faces, fused=fused)


ORIGIN_COMMENT = "origin "
#: World coordinates from this magnitude (metres) on are rounded by 1 mm or more in float32 (2**-9 m steps).
FLOAT32_ROUNDING_FROM = float(1 << 14)


def check_origin(origin) -> tuple[float, float, float] | None:
    """``origin`` as three finite floats, or None for none (also for 0, 0, 0); :class:`OutputError` otherwise."""
    if origin is None:
        return None
    values = tuple(origin) if isinstance(origin, (tuple, list, np.ndarray)) else ()
    numbers = [float(v) for v in values
               if not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating))]
    if len(values) != 3 or len(numbers) != 3 or not all(math.isfinite(v) for v in numbers):
        raise OutputError(f"an origin is three finite numbers (metres), got {origin!r}")
    return None if not any(numbers) else (numbers[0], numbers[1], numbers[2])


def auto_origin(camera) -> tuple[float, float, float]:
    """``--origin auto``: the position of the (first frame's) camera, rounded to whole metres: the points of a
    shot lie within its far clip distance of it, so their float32 positions relative to it keep the precision of
    a shot at the world origin."""
    return tuple(float(np.rint(v)) for v in np.asarray(camera.cam2world, np.float64)[:3, 3])  # type: ignore[return-value]


def float32_rounding(points) -> str | None:
    """A warning when float32 ``points`` lie so far from their origin that storing them rounds them by 1 mm or
    more (from :data:`FLOAT32_ROUNDING_FROM` m on), else None."""
    points = np.asarray(points)
    if points.dtype != np.float32 or points.size == 0:
        return None
    with np.errstate(invalid="ignore"):
        high, low = float(np.max(points)), float(np.min(points))  # two passes, no copy (a cloud is finite)
        if np.isfinite(high) and np.isfinite(low):
            largest = max(high, -low)
        else:  # NaN or inf somewhere: the finite values only
            finite = points[np.isfinite(points)]
            largest = float(np.abs(finite).max()) if finite.size else 0.0
    if not largest >= FLOAT32_ROUNDING_FROM:
        return None
    step = float(np.spacing(np.float32(largest)))
    return (f"positions up to {largest / 1000:,.1f} km from the origin are stored as float32 in {step * 1000:g} mm "
            "steps: give --origin auto (or --origin X,Y,Z near the points) to keep them exact")


def _identity(path: str) -> tuple:
    """What names one file: its device and inode when it exists (hard links and symbolic links too), else its
    resolved path."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):  # missing, or a name the OS refuses
        return ("path", os.path.realpath(path))
    return ("inode", stat.st_dev, stat.st_ino)


class InputSet:
    """Files a job reads, each with what it belongs to (e.g. its frame), looked up by identity (:func:`_identity`):
    a name that resolves to one of them, through ``..``, symbolic or hard links, is found."""

    def __init__(self, paths=(), owner=None):
        self._found: dict[tuple, tuple[str, object]] = {}
        self.add(paths, owner)

    def add(self, paths, owner=None) -> None:
        for path in paths:
            if path is not None:
                path = os.fspath(path)
                self._found.setdefault(_identity(path), (path, owner))
                self._found.setdefault(("path", os.path.realpath(path)), (path, owner))

    def find(self, path) -> tuple[str, object] | None:
        """``(input, owner)`` of the input ``path`` is (or resolves to), or None."""
        path = os.fspath(path)
        return self._found.get(_identity(path)) or self._found.get(("path", os.path.realpath(path)))

    def inside(self, folder) -> str | None:
        """The first input that is ``folder`` or lies inside it (resolved), or None."""
        folder = os.path.realpath(os.fspath(folder))
        for path, _ in self._found.values():
            real = os.path.realpath(path)
            if real == folder or real.startswith(folder.rstrip(os.sep) + os.sep):
                return path
        return None


def written_files(output, attributes=()) -> tuple[str, ...]:
    """The files an export to ``output`` writes: the output, and with ``object_id`` its legend beside it."""
    output = os.fspath(output)
    return (output, legend_path(output)) if "object_id" in attributes else (output,)


def check_output(output, inputs, *, attributes=()) -> None:
    """Raise :class:`OutputError` when ``output``, or a file written with it (the ``object_id`` legend with those
    ``attributes``), is (or resolves to) one of ``inputs`` (paths, None entries ignored, or an :class:`InputSet`)."""
    found = inputs if isinstance(inputs, InputSet) else InputSet(inputs)
    for written in written_files(output, attributes):
        hit = found.find(written)
        if hit is not None:
            what = "the output" if written == os.fspath(output) else f"the output's legend {written}"
            raise OutputError(f"{os.fspath(output)}: {what} is an input of this job ({hit[0]}); "
                              "choose another output name")


def check_output_folder(folder, inputs) -> None:
    """Raise :class:`OutputError` when an input lies inside ``folder`` (or is it): an output of many files (a
    dataset) replaces the whole folder."""
    found = inputs if isinstance(inputs, InputSet) else InputSet(inputs)
    hit = found.inside(folder)
    if hit is not None:
        raise OutputError(f"{os.fspath(folder)}: the output folder holds an input of this job ({hit}); choose a "
                          "folder outside the inputs")


JOB_COMMENT = "depth-cloud job "


def input_fingerprint(paths) -> list:
    """``[path, size, modification time]`` of each existing file of ``paths`` (None entries skipped)."""
    out = []
    for path in paths:
        if path is None:
            continue
        try:
            stat = os.stat(path)
        except OSError:
            out.append([os.path.abspath(path), None, None])
            continue
        out.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    return out


def job_id(description) -> str:
    """A fingerprint of what makes an output (its inputs' paths, sizes and times, the camera, the options):
    outputs record it, and a resumed run skips only a complete output of the same job."""
    text = json.dumps(description, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def job_in(comments) -> str | None:
    """The job fingerprint among an output's comment lines (the one starting :data:`JOB_COMMENT`), or None."""
    return next((c[len(JOB_COMMENT):].strip() for c in comments if c.startswith(JOB_COMMENT)), None)


def recorded_job(path, fmt: str) -> str | None:
    """The job fingerprint an output records (None: none, or not readable)."""
    if fmt in ("ply", "las"):
        return job_in(ply_comments(path) if fmt == "ply" else las_comments(path))
    try:
        with np.load(path) as data:
            return str(data["job"]) if "job" in data.files else None
    except Exception:  # a truncated or foreign .npz (zipfile.BadZipFile, OSError, ValueError, ...)
        return None


def output_complete(path, fmt: str, job: str | None = None) -> bool:
    """True if ``path`` is an output of ``fmt`` written to the end, by its structure, not its header alone (a PLY's
    size for its vertex count; every member of an NPZ, CRCs checked; a LAS's size for its point count, every point
    of a LAZ; every scan of an E57; a USD's time samples for its frames), with its ``object_id`` legend beside it
    when it has that attribute, and (with ``job``) made by that job: resumed runs skip only those. Never raises."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    if fmt == "usd":  # the job is in the layer's metadata
        return job is not None and usd_is_complete(path, job)
    if fmt == "e57":  # the job is in each scan's description
        return job is not None and e57_is_complete(path, f"{JOB_COMMENT}{job}")
    if fmt == "ply":
        complete = ply_is_complete(path) and ("object_id" not in ply_properties(path) or _has_legend(path))
    elif fmt == "las":
        complete = las_is_complete(path)
    else:
        complete = npz_is_complete(path) and (not _npz_has(path, "object_id") or _has_legend(path))
    return complete and (job is None or recorded_job(path, fmt) == job)


def _has_legend(path: str) -> bool:
    try:
        with open(legend_path(path), encoding="utf-8") as f:
            return isinstance(json.load(f), dict)
    except (OSError, ValueError):
        return False


def _npz_has(path: str, name: str) -> bool:
    try:
        return name in npz_shapes(path)
    except Exception:  # unreadable: not complete anyway
        return False


def export_points(path, points, colors, radii, options: ExportOptions, *, normals=None, comments=(),
                  extra_arrays=None, job: str | None = None, attributes: dict | None = None,
                  legend: dict | None = None) -> int:
    """Write points (N, 3) with linear RGBA ``colors`` and ``radii`` as ``options`` say, recording ``job``
    (see :func:`job_id`) and ``options.origin`` (a PLY comment ``origin X Y Z``, an NPZ array ``origin``: world =
    point + origin); returns the count. Raises :class:`NoValidDepthError` (and writes nothing) when no point has
    finite coordinates: an empty output is never a success. The ``object_id`` ``legend`` is written beside the
    output (:func:`legend_path`) once the output is: an output that cannot be written leaves none, and an output
    without its legend is not complete (:func:`output_complete`)."""
    count = _export_points(path, points, colors, radii, options, normals=normals, comments=comments,
                           extra_arrays=extra_arrays, job=job, attributes=attributes)
    if legend is not None:
        write_text(legend_path(path), json.dumps(legend, indent=1))
    return count


def _export_points(path, points, colors, radii, options: ExportOptions, *, normals, comments, extra_arrays, job,
                   attributes) -> int:
    path = os.fspath(path)
    points = np.asarray(points)
    if options.fmt != "ply" and not _any_finite_row(points):  # write_ply checks as it counts its rows
        raise NoValidDepthError(f"{path}: no point to write (none has finite coordinates: check the camera's values)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    job_comments = [f"{JOB_COMMENT}{job}"] if job else []
    if options.origin is not None and options.fmt != "las":  # LAS stores world positions (float64 in, scaled ints)
        job_comments.insert(0, ORIGIN_COMMENT + " ".join(repr(v) for v in options.origin))
    if options.fmt not in FILE_FORMATS:
        raise OutputError(f"{path}: {options.fmt} holds every frame of a sequence in one file: see SequenceFile")
    if options.fmt == "las":  # positions and sRGB colours only (LAS has no radius, normals or attributes)
        format_named("las").check(path, attributes=attributes or (), normals=normals is not None,
                                  radius=options.radius, linear_colors=options.colors == "linear")
        return write_las(path, points, None if options.colors == "none" else colors,
                         comments=list(comments) + job_comments)
    if options.fmt == "ply":
        return write_ply(path, points, None if options.colors == "none" else colors,
                         linear_float=options.colors == "linear", normals=normals,
                         radii=radii if options.radius else None, attributes=attributes,
                         comments=list(comments) + [f"colors {_COLOR_COMMENTS[options.colors]}"] + job_comments)
    arrays = dict(points=points, colors=colors, radii=radii, **(extra_arrays or {}), **(attributes or {}))
    if options.origin is not None:
        arrays["origin"] = np.array(options.origin, np.float64)
    if job:
        arrays["job"] = np.array(job)
    if normals is not None:
        arrays["normals"] = np.ascontiguousarray(normals)
    write_npz(path, **arrays)
    return len(points)


def _any_finite_row(points: np.ndarray) -> bool:
    """Whether some row of ``points`` (N, 3) is finite (one fast reduction when all are)."""
    finite = np.isfinite(points)
    return len(points) > 0 and (bool(finite.all()) or bool(finite.all(axis=-1).any()))


def export_cloud(path, cloud: CloudArrays, options: ExportOptions, *, job: str | None = None) -> int:
    """Write one frame's cloud (points in its ``space``), recording ``job``; returns the number of points."""
    normals: object = None
    if options.normals and cloud.normals is not None:  # surface discs: their own normals
        normals = cloud.normals
    elif options.normals:  # PLY: computed per chunk as the file is written; NPZ: stored whole
        normals = (lambda a, b: camera_facing_normals(cloud, a, b)) if options.fmt == "ply" else \
            camera_facing_normals(cloud)
    extra = None
    if options.fmt == "npz":  # the pixel of each point and the camera travel with the NPZ only
        extra = dict(pixels=np.stack([cloud.cols, cloud.rows], axis=-1), camera=np.array(cloud.camera.to_json()))
        if cloud.legend is not None:
            extra["legend"] = np.array(json.dumps(cloud.legend))
    return export_points(path, cloud_positions(cloud, options), cloud.colors, cloud.radii, options, normals=normals,
                         comments=[f"frame {cloud.camera.frame}", f"space {cloud.space}"], extra_arrays=extra,
                         job=job, attributes=cloud.attributes, legend=cloud.legend)


def cloud_positions(cloud: CloudArrays, options: ExportOptions) -> np.ndarray:
    """The positions a format stores for ``cloud``: float64 world (or camera) positions from the depth for LAS and
    E57, float32 positions relative to ``options.origin`` (computed in float64 from the depth) for the others when
    it is set, else the cloud's float32 points."""
    if options.fmt in ("las", "e57"):
        return cloud.positions()
    if options.origin is not None and cloud.space == "world":
        return cloud.positions(options.origin, np.float32)
    return cloud.points


def legend_path(path) -> str:
    """Where an output's ``object_id`` legend goes: ``NAME.legend.json`` beside ``NAME.ply`` / ``NAME.npz``."""
    return os.path.splitext(os.fspath(path))[0] + ".legend.json"


def read_cloud_for(inputs: FrameInputs, output, build: BuildOptions | None = None) -> CloudArrays:
    """The cloud of one frame that is to be written to ``output`` (a frame's file or a fused file).

    Refuses (:class:`OutputError`), before reading, an output (or its ``object_id`` legend) that is one of the files
    the frame's cloud reads (:func:`.cloud.frame_input_paths`: depth, colour, sidecar, passes, and the next frame's
    files for motion).
    The cloud's ``warnings`` say when it may be wrong (see :func:`.cloud.read_cloud`).
    """
    build = build or BuildOptions()
    frame = inputs.frame if inputs.frame is not None else inputs.camera.frame
    check_output(output, frame_input_paths(inputs.files, frame, build.attributes), attributes=build.attributes)
    return read_cloud(inputs, build)


def export_frame(inputs: FrameInputs, output, build: BuildOptions | None = None,
                 options: ExportOptions | None = None) -> int:
    """Read one frame, back-project it and write it to ``output``; returns the number of points.

    Refuses (:class:`OutputError`) an output that is one of the frame's input files. Raises
    :class:`DepthCloudError` on bad input and ``OSError`` when the output cannot be written.
    """
    return export_cloud(output, read_cloud_for(inputs, output, build), options or ExportOptions())


class SequenceFile:
    """Every frame's cloud in one file, for the formats of the table that hold a whole sequence (``one_file``): a
    USD point cache (time code = frame; Pixel Faces with ``faces``) or an E57 of one scan per frame (its camera as
    the scan's pose). :meth:`add` the frames, then :meth:`close` writes the file: nothing reaches ``path`` before,
    and nothing on an error. The underlying writer is made at the first frame, with ``fps`` if given, else that
    frame's recorded fps, else 24.
    """

    def __init__(self, path, fmt: OutputFormat, options: ExportOptions, *, fps: float | None = None,
                 faces: bool = False, job: str | None = None):
        if not fmt.one_file:
            raise ValueError(f"{fmt.name} writes a file per frame: use export_cloud")
        fmt.require(path)
        check_writable(path)  # the file is written at the end: a folder that refuses it stops the job now
        self.path, self.fmt, self.options = os.fspath(path), fmt, options
        self.fps, self.faces, self.job = fps, faces, job
        self._fps_given = fps is not None  # else the first frame's decides, and others that differ are said
        self._writer: UsdWriter | E57Writer | None = None
        self.frames = 0
        self.points = 0

    @property
    def notes(self) -> list[str]:
        return list(getattr(self._writer, "notes", []))

    def add(self, cloud: CloudArrays, frame: int | None, *, fps: float | None = None) -> tuple[int, list[str]]:
        """Add one frame's cloud; ``fps`` is what that frame records (its sidecar). Returns the points (or faces)
        written and the frame's warnings: its cloud's, and whether its fps differs from the file's."""
        warnings = list(cloud.warnings)
        if self.fmt.name == "usd":
            assert self._writer is None or isinstance(self._writer, UsdWriter)  # the writer of self.fmt
            if self._writer is None:
                self.fps = self.fps or fps or 24.0
                self._writer = UsdWriter(self.path, fps=self.fps, faces=self.faces, job=self.job,
                                         origin=self.options.origin)
            elif not self._fps_given and fps is not None and fps != self._writer.fps:
                warnings.append(f"the sidecars' fps differ: the file uses {self._writer.fps:g}")
            if self.options.normals and cloud.normals is None and not self.faces:  # towards the camera, as in PLY
                cloud = dataclasses.replace(cloud, normals=camera_facing_normals(cloud))
            n = self._writer.add(cloud, frame)
            rounded = None if self.options.origin is not None else float32_rounding(
                cloud.points if len(cloud.points) else cloud.camera.cam2world[None, :3, 3].astype(np.float32))
            if rounded:
                warnings.append(rounded)
        else:
            assert self._writer is None or isinstance(self._writer, E57Writer)
            if self._writer is None:
                self._writer = E57Writer(self.path, comments=[f"{JOB_COMMENT}{self.job}"] if self.job else [])
            name = f"frame {frame if frame is not None else cloud.camera.frame}"
            n = self._writer.add(cloud.positions() if cloud.space == "world" else cloud.points_world,
                                 None if self.options.colors == "none" else cloud.colors, cloud.camera.cam2world,
                                 name=name)
        self.frames += 1
        self.points += n
        return n, warnings

    def close(self) -> None:
        """Write the file. :class:`NoValidDepthError` (nothing written) when no frame was added."""
        if self._writer is None:
            raise NoValidDepthError(f"{self.path}: no frame could be converted; nothing written")
        try:
            self._writer.close()
        except NoValidDepthError:
            raise
        except DepthCloudError as exc:
            raise NoValidDepthError(f"{self.path}: no frame could be converted; nothing written ({exc})") from None
