"""The one export of a cloud to a file (PLY or NPZ), with its output checks. Pure numpy.

Used by ``depth-cloud convert`` (single files, sequences, ``--fuse``) and the Export PLY operator.
PLY: see :mod:`.ply` (sRGB 8-bit colors by default). NPZ arrays: ``points`` (N, 3) float32,
``colors`` (N, 4) linear RGBA, ``radii`` (N,), and for a single frame ``pixels`` (N, 2) int32
``(col, row)`` and ``camera`` (the sidecar JSON), plus ``normals`` when asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .cloud import BuildOptions, CloudArrays, camera_facing_normals, read_cloud
from .errors import OutputError
from .frame_files import FrameInputs
from .ply import ply_is_complete, write_npz, write_ply

__all__ = ["COLOR_MODES", "EXPORT_FORMATS", "ExportOptions", "check_output", "export_cloud", "export_frame",
           "export_points", "format_of", "output_complete", "read_cloud_for"]

COLOR_MODES = ("srgb", "linear", "none")
EXPORT_FORMATS = ("ply", "npz")
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
    """"npz" for a ``.npz`` path, else "ply"."""
    return "npz" if os.fspath(path).lower().endswith(".npz") else "ply"


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


def output_complete(path, fmt: str) -> bool:
    """True if ``path`` is an output of ``fmt`` written to the end (resumed runs skip those)."""
    if fmt == "ply":
        return ply_is_complete(path)
    try:
        with np.load(path) as data:
            return "points" in data.files
    except (OSError, ValueError, EOFError):
        return False


def export_points(path, points, colors, radii, options: ExportOptions, *, normals=None, comments=(),
                  extra_arrays=None) -> int:
    """Write points (N, 3) with linear RGBA ``colors`` and ``radii`` as ``options`` say; returns the count."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if options.fmt == "ply":
        return write_ply(path, points, None if options.colors == "none" else colors,
                         linear_float=options.colors == "linear", normals=normals,
                         radii=radii if options.radius else None,
                         comments=list(comments) + [f"colors {_COLOR_COMMENTS[options.colors]}"])
    arrays = dict(points=points, colors=colors, radii=radii, **(extra_arrays or {}))
    if normals is not None:
        arrays["normals"] = np.ascontiguousarray(normals)
    write_npz(path, **arrays)
    return len(points)


def export_cloud(path, cloud: CloudArrays, options: ExportOptions) -> int:
    """Write one frame's cloud (points in its ``space``); returns the number of points written."""
    normals = camera_facing_normals(cloud) if options.normals else None
    extra = None
    if options.fmt == "npz":  # the pixel of each point and the camera travel with the NPZ only
        extra = dict(pixels=np.stack([cloud.cols, cloud.rows], axis=-1), camera=np.array(cloud.camera.to_json()))
    return export_points(path, cloud.points, cloud.colors, cloud.radii, options, normals=normals,
                         comments=[f"frame {cloud.camera.frame}", f"space {cloud.space}"], extra_arrays=extra)


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
