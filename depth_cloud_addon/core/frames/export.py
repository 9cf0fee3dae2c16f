"""The one export of a cloud to a file (PLY or NPZ), with its output checks. Pure numpy.

Used by ``depth-cloud convert`` (single files, sequences, ``--fuse``) and the Export PLY operator.
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

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from ..atomic import write_text
from ..errors import NoValidDepthError, OutputError
from ..formats.ply import ply_comments, ply_is_complete, write_npz, write_ply
from ..formats.survey import las_comments, write_las
from .cloud import BuildOptions, CloudArrays, camera_facing_normals, read_cloud
from .files import FrameInputs

__all__ = ["COLOR_MODES", "EXPORT_FORMATS", "ExportOptions", "JOB_COMMENT", "check_output", "export_cloud",
           "export_frame", "export_points", "format_of", "input_fingerprint", "job_id", "legend_path",
           "output_complete", "read_cloud_for", "recorded_job"]

COLOR_MODES = ("srgb", "linear", "none")
EXPORT_FORMATS = ("ply", "npz", "las")
_COLOR_COMMENTS = {"srgb": "sRGB-encoded 8-bit", "linear": "linear float", "none": "none"}


@dataclass(frozen=True)
class ExportOptions:
    """What goes into an exported file."""

    colors: str = "srgb"     # "srgb" (uchar, sRGB-encoded), "linear" (float) or "none"
    normals: bool = False    # nx ny nz: towards the camera
    radius: bool = False     # half the pixel footprint (metres)
    fmt: str = "ply"         # "ply" or "npz"

    def __post_init__(self):
        if self.colors not in COLOR_MODES:
            raise ValueError(f"colors must be one of {COLOR_MODES}, got {self.colors!r}")
        if self.fmt not in EXPORT_FORMATS:
            raise ValueError(f"fmt must be one of {EXPORT_FORMATS}, got {self.fmt!r}")


def format_of(path) -> str:
    """"npz" for a ``.npz`` path, "las" for ``.las``/``.laz`` (see :mod:`.survey`), else "ply"."""
    name = os.fspath(path).lower()
    return "npz" if name.endswith(".npz") else "las" if name.endswith((".las", ".laz")) else "ply"


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
    if options.fmt == "las":  # positions and sRGB colours only (LAS has no radius, normals or attributes)
        if attributes or normals is not None or options.radius or options.colors == "linear":
            raise OutputError(f"{path}: LAS holds positions and 16-bit sRGB colours only: no point attributes, "
                              "normals, radius or linear colours")
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
    normals = None
    if options.normals:  # PLY: computed per chunk as the file is written; NPZ: stored whole
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
