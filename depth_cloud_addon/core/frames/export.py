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
import os
from dataclasses import dataclass

import numpy as np

from ..atomic import write_text
from ..errors import DepthCloudError, NoValidDepthError, OutputError
from ..formats.outputs import OUTPUT_FORMATS, OutputFormat, format_named
from ..formats.ply import ply_comments, ply_is_complete, write_npz, write_ply
from ..formats.survey import E57Writer, las_comments, write_las
from ..formats.usd import UsdWriter, usd_job
from .cloud import BuildOptions, CloudArrays, camera_facing_normals, read_cloud
from .files import FrameInputs

__all__ = ["COLOR_MODES", "FILE_FORMATS", "ExportOptions", "JOB_COMMENT", "SequenceFile", "check_output",
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

    def __post_init__(self):
        if self.colors not in COLOR_MODES:
            raise ValueError(f"colors must be one of {COLOR_MODES}, got {self.colors!r}")
        if self.fmt not in {f.name for f in OUTPUT_FORMATS}:
            raise ValueError(f"fmt must be one of {tuple(f.name for f in OUTPUT_FORMATS)}, got {self.fmt!r}")

    def check(self, path, fmt: OutputFormat, *, attributes=(), faces: bool = False, fused: bool = False) -> None:
        """Raise :class:`OutputError` when ``fmt`` cannot hold these options (and ``attributes``, Pixel Faces, a
        fused cloud): the same refusal for every entry point."""
        fmt.check(path, attributes=attributes, normals=self.normals, radius=self.radius,
                  linear_colors=self.colors == "linear", faces=faces, fused=fused)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(output, inputs) -> None:
    """Raise :class:`OutputError` when ``output`` is (or resolves to) one of ``inputs`` (None entries ignored)."""
    output = os.fspath(output)
    for source in inputs:
        if source is not None and _same_file(output, os.fspath(source)):
            raise OutputError(f"{output}: the output is an input of this job ({os.fspath(source)}); "
                              "choose another output name")


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


def recorded_job(path, fmt: str) -> str | None:
    """The job fingerprint an output records (None: none, or not readable)."""
    if fmt in ("ply", "las"):
        comments = ply_comments(path) if fmt == "ply" else las_comments(path)
        return next((c[len(JOB_COMMENT):].strip() for c in comments if c.startswith(JOB_COMMENT)), None)
    try:
        with np.load(path) as data:
            return str(data["job"]) if "job" in data.files else None
    except Exception:  # a truncated or foreign .npz (zipfile.BadZipFile, OSError, ValueError, ...)
        return None


def output_complete(path, fmt: str, job: str | None = None) -> bool:
    """True if ``path`` is an output of ``fmt`` written to the end, and (with ``job``) made by that job:
    resumed runs skip only those. Never raises."""
    if fmt == "ply":
        complete = ply_is_complete(path)
    elif fmt == "las":  # written atomically: a file there was written to the end; the job says by whom
        complete = os.path.isfile(path) and job is not None
    elif fmt == "usd":  # likewise; the job is in the layer's metadata
        return os.path.isfile(path) and job is not None and usd_job(path) == job
    elif fmt == "e57":  # always written again
        return False
    else:
        try:
            with np.load(path) as data:
                complete = "points" in data.files and data["points"].shape[-1:] == (3,)
        except Exception:  # a truncated or foreign .npz (zipfile.BadZipFile, OSError, ValueError, ...)
            complete = False
    return complete and (job is None or recorded_job(path, fmt) == job)


def export_points(path, points, colors, radii, options: ExportOptions, *, normals=None, comments=(),
                  extra_arrays=None, job: str | None = None, attributes: dict | None = None) -> int:
    """Write points (N, 3) with linear RGBA ``colors`` and ``radii`` as ``options`` say, recording ``job``
    (see :func:`job_id`); returns the count. Raises :class:`NoValidDepthError` (and writes nothing) when no
    point has finite coordinates: an empty output is never a success."""
    path = os.fspath(path)
    points = np.asarray(points)
    if options.fmt != "ply" and not _any_finite_row(points):  # write_ply checks as it counts its rows
        raise NoValidDepthError(f"{path}: no point to write (none has finite coordinates: check the camera's values)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    job_comments = [f"{JOB_COMMENT}{job}"] if job else []
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
    if cloud.legend is not None:  # before the cloud: a complete output always has its legend beside it
        write_text(legend_path(path), json.dumps(cloud.legend, indent=1))
    return export_points(path, cloud.points, cloud.colors, cloud.radii, options, normals=normals,
                         comments=[f"frame {cloud.camera.frame}", f"space {cloud.space}"], extra_arrays=extra,
                         job=job, attributes=cloud.attributes)


def legend_path(path) -> str:
    """Where an output's ``object_id`` legend goes: ``NAME.legend.json`` beside ``NAME.ply`` / ``NAME.npz``."""
    return os.path.splitext(os.fspath(path))[0] + ".legend.json"


def read_cloud_for(inputs: FrameInputs, output, build: BuildOptions | None = None) -> CloudArrays:
    """The cloud of one frame that is to be written to ``output`` (a frame's file or a fused file).

    Refuses (:class:`OutputError`) an output that is one of the frame's input files, before reading.
    The cloud's ``warnings`` say when it may be wrong (see :func:`.cloud.read_cloud`).
    """
    files = inputs.files
    check_output(output, (files.depth_path, files.color_path, files.camera_path))
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
                self._writer = UsdWriter(self.path, fps=self.fps, faces=self.faces, job=self.job)
            elif not self._fps_given and fps is not None and fps != self._writer.fps:
                warnings.append(f"the sidecars' fps differ: the file uses {self._writer.fps:g}")
            if self.options.normals and cloud.normals is None and not self.faces:  # towards the camera, as in PLY
                cloud = dataclasses.replace(cloud, normals=camera_facing_normals(cloud))
            n = self._writer.add(cloud, frame)
        else:
            assert self._writer is None or isinstance(self._writer, E57Writer)
            if self._writer is None:
                self._writer = E57Writer(self.path, comments=[f"{JOB_COMMENT}{self.job}"] if self.job else [])
            name = f"frame {frame if frame is not None else cloud.camera.frame}"
            n = self._writer.add(cloud.points_world, None if self.options.colors == "none" else cloud.colors,
                                 cloud.camera.cam2world, name=name)
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
