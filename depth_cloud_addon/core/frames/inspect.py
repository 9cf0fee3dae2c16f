"""What a depth EXR or a camera sidecar holds, and whether it can be used as it is: the report behind
``depth-cloud inspect FILE...``. Pure numpy + OpenEXR (no bpy).

Every fact comes from the rules that read the files for real, so the report says what ``convert`` and
Build would do: the depth channel and view layer :func:`.exr.read_exr` picks, the camera and capture
facts of the sidecar beside the file (:func:`.frame_files.frame_files_of`, :func:`.frame_files.frame_inputs`),
the depth kind ``auto`` gives (:func:`.depth.read_frame_depth` -> :func:`.depth.resolve_file_depth_kind`)
and the valid pixels (:func:`.geometry.valid_depth_mask`). What this module adds is only what no reader
needs: the parts, layers, pixel types and compressions of an EXR, and which compressions alter which
channels (:func:`lossy_compression`).

* An **EXR**: its parts (size, compression), layers and channels (half/float), the view layers of a
  multilayer render, the depth channel, the color, the camera beside it, the depth kind and where it comes
  from, the share of valid pixels and the depth range.
* A **sidecar** (``camera_NNNN.json``/``NAME.json``): the camera in one line, the render region when the
  image is cropped, the clip range and the capture facts (scene, view layer, depth files and their kinds,
  fps, engine).

**Problems** (the file cannot be used as it is: ``depth-cloud inspect`` exits 1): unreadable, not an EXR or
a sidecar, no depth channel, depth stored with a compression that alters it, a broken sidecar beside it,
a camera whose size is not the file's, no valid depth pixel. **Warnings** (exit 0): half-float depth,
depth of field or motion blur at capture, no camera or no known depth kind, a header and a sidecar that
disagree on the kind. Nothing here raises on a bad file: every failure is a problem of its inspection.

Example::

    report, status = inspect_files(["renders/depth_0001.exr", "renders/camera_0001.json"])
    print(report)     # one block per file: a first line naming it, then one fact per line
    sys.exit(status)  # 1 when some file has a problem, else 0
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..atomic import library_path, not_regular
from ..errors import DepthCloudError
from ..formats.exr import (
    DEPTH_KIND_ATTRIBUTE,
    EXR_MAGIC,
    _openexr,
    exr_window,
    find_depth_channel,
    read_channels,
    read_exr,
    view_layers,
)
from ..formats.ply import npz_shapes, ply_header, ply_is_complete
from ..formats.survey import e57_is_complete, las_header, las_is_complete
from ..formats.usd import usd_facts, usd_is_complete
from ..geometry.camera import CameraModel
from ..geometry.projection import BACKGROUND_DEPTH, valid_depth_mask
from .cloud import check_passes_window, stale_passes
from .depth import FileDepthKind, read_frame_depth, resolve_file_depth_kind
from .export import ORIGIN_COMMENT, job_in
from .files import (
    CaptureInfo,
    FrameInputs,
    frame_file_kind,
    frame_files_of,
    frame_inputs,
    read_sidecar,
    read_small_text,
    sibling_file,
)
from .fusion import partial_source, read_partial
from .loop import compact_frames
from .passes import PASS_KINDS, read_passes

__all__ = ["Inspection", "describe_camera", "inspect_file", "inspect_files", "lossy_compression"]

_PIXEL_TYPES = {np.dtype(np.float16): "half", np.dtype(np.float32): "float", np.dtype(np.uint32): "uint"}
#: Compressions that store every channel of every pixel type exactly (measured with OpenEXR 3.5).
_LOSSLESS = frozenset({"NO", "RLE", "ZIPS", "ZIP", "PIZ", "HTJ2K256", "HTJ2K32", "ZSTD"})
#: Channel-name suffixes (after the last ".", any case) that DWAA/DWAB quantise with a DCT. OpenEXR's
#: default rules (case-sensitive R, G, B, Y, BY, RY) plus its legacy ones (case-insensitive, red, grn, ...),
#: which older files carry; every other channel is stored exactly (zlib; A: RLE).
_DWA_LOSSY_SUFFIXES = frozenset({"r", "red", "g", "grn", "green", "b", "blu", "blue", "y", "by", "ry"})
_LOSSLESS_ADVICE = "write it with a lossless compression (ZIP, PIZ, ZIPS, RLE or none)"


def lossy_compression(compression: str, pixel_type: str | None, channel: str) -> str | None:
    """Why ``compression`` (``"ZIP"``, ``"PXR24"``, ``"DWAA"``... as OpenEXR names it, without ``_COMPRESSION``)
    does not give ``channel`` back exactly, or None when it does.

    ``pixel_type``: ``"half"``, ``"float"``, ``"uint"`` or None (unknown: assumed the worst). What OpenEXR 3.5
    does, measured: PXR24 rounds 32-bit floats to 24 bits (half and uint exact); B44/B44A pack 4x4 blocks of
    half floats into 14 bytes (float and uint stored as they are); DWAA/DWAB quantise only channels named R,
    G, B, Y, BY, RY (a depth channel ``Z``, ``V`` or ``ViewLayer.Depth.Z`` is stored exactly, but Blender's
    ``R = G = B`` depth is not); LJ2K codes R, G and B lossily. An unknown compression counts as lossy.
    """
    suffix = channel.rpartition(".")[2]
    if compression in _LOSSLESS:
        return None
    if compression == "PXR24":
        if pixel_type in ("half", "uint"):
            return None
        return "PXR24 rounds 32-bit floats to 24 bits (up to 1.5e-5 relative: 1.5 mm at 100 m)"
    if compression in ("B44", "B44A"):
        if pixel_type in ("float", "uint"):
            return None
        return f"{compression} packs each 4x4 block of half floats into 14 bytes (errors of several percent)"
    if compression in ("DWAA", "DWAB"):
        if suffix.lower() not in _DWA_LOSSY_SUFFIXES or pixel_type == "uint":
            return None
        return f"{compression} quantises channels named R, G, B, Y, BY or RY with a DCT, like JPEG"
    if compression == "LJ2K":
        if suffix not in ("R", "G", "B"):
            return None
        return "LJ2K codes R, G and B channels lossily (JPEG 2000)"
    return f"{compression} is a compression this inspection does not know: it may alter the values"


def _compression_note(compression: str) -> str:
    """``"ZIP"`` -> ``"ZIP compression (lossless)"``; the channels a lossy one alters."""
    lossy_for = {"PXR24": "float channels", "B44": "half channels", "B44A": "half channels",
                 "DWAA": "R, G, B, Y channels", "DWAB": "R, G, B, Y channels", "LJ2K": "R, G, B channels"}
    name = "no compression" if compression == "NO" else f"{compression} compression"
    if compression in _LOSSLESS:
        return f"{name} (lossless)"
    if compression in lossy_for:
        return f"{name} (lossy for {lossy_for[compression]})"
    return f"{name} (unknown to this inspection)"


@dataclass
class Inspection:
    """One file's report.

    ``kind``: ``"exr"``, ``"sidecar"`` or ``"unknown"``. ``lines``: the whole human report, ready to print: a
    first line naming the file, then one fact per line (indented), then one ``problem: ...`` and one
    ``warning: ...`` line each, then a ``result: ...`` line. ``problems``: why the file cannot be used as it is
    (the command exits 1); ``warnings``: what makes its cloud doubtful (exit 0). Their messages do not repeat
    the file's path (the first line names it).
    """

    path: str
    kind: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when nothing stops the file from being used as it is (warnings allowed)."""
        return not self.problems

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Report:
    """Collects an inspection's facts, problems and warnings, then lays them out as :class:`Inspection` lines."""

    def __init__(self, path: str):
        self.path = path
        self.kind = "unknown"
        self.title = ""
        self.facts: list[str] = []
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def fact(self, text: str, level: int = 1) -> None:
        self.facts.append("  " * level + text)

    def problem(self, text: str) -> None:
        self.problems.append(_without_path(text, self.path))

    def warning(self, text: str) -> None:
        text = _without_path(text, self.path)
        if text not in self.warnings:
            self.warnings.append(text)

    def inspection(self) -> Inspection:
        lines = [f"{self.path}: {self.title}" if self.title else self.path, *self.facts]
        lines += [f"  problem: {p}" for p in self.problems] + [f"  warning: {w}" for w in self.warnings]
        if self.problems:
            count = len(self.problems)
            result = f"cannot be used as it is ({count} problem{'s' if count > 1 else ''})"
        elif self.warnings:
            count = len(self.warnings)
            result = f"usable, with {count} warning{'s' if count > 1 else ''}"
        else:
            result = "usable"
        lines.append(f"  result: {result}")
        return Inspection(self.path, self.kind, lines, list(self.problems), list(self.warnings))


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _without_path(message: str, path: str) -> str:
    """A core error message without its leading ``PATH: `` (the report's first line names the file)."""
    message = str(message)
    return message[len(path) + 2:] if message.startswith(f"{path}: ") else message


def inspect_file(path) -> Inspection:
    """Inspect one file (see the module docstring); never raises for a bad, missing or unreadable file."""
    path = os.fspath(path)
    report = _Report(path)
    try:
        _inspect(path, report)
    except Exception as exc:  # a report must come back whatever the file holds
        report.problem(f"cannot inspect: {type(exc).__name__}: {exc}")
    return report.inspection()


def inspect_files(paths) -> tuple[str, int]:
    """Inspect each file: the report of all of them (one block each, and a summary line when there are
    several) and the exit status, 1 when some file cannot be used as it is, else 0."""
    inspections = [inspect_file(p) for p in paths]
    lines = [line for inspection in inspections for line in inspection.lines]
    bad = sum(not i.usable for i in inspections)
    warned = sum(i.usable and bool(i.warnings) for i in inspections)
    if len(inspections) > 1:
        lines.append(f"{len(inspections)} files: {len(inspections) - bad - warned} usable, {warned} usable with "
                     f"warnings, {bad} cannot be used as they are")
    return "\n".join(lines), 1 if bad else 0


#: The first bytes of each kind of file the tool writes (or reads), for :func:`_inspect`.
_MAGICS = ((EXR_MAGIC, "exr"), (b"ply\n", "ply"), (b"PK\x03\x04", "npz"), (b"LASF", "las"), (b"ASTM-E57", "e57"),
           (b"PXR-USDC", "usd"), (b"#usda", "usd"), (b"\x89PNG\r\n\x1a\n", "png"))
#: What a text file may be, by its name.
_JSON_LIMIT = 64 << 20
_COLMAP_NAMES = ("cameras", "images", "points3D")


def _inspect(path: str, report: _Report) -> None:
    extension = os.path.splitext(path)[1].lower()
    if os.path.isdir(path):
        report.problem("a folder, not a file")
        return
    if not_regular(path) is not None:  # a device (/dev/zero), a FIFO, a socket: never read
        report.problem("not a regular file (a device, a pipe or a socket): nothing was read from it")
        return
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        report.kind = {".exr": "exr", ".json": "sidecar"}.get(extension, "unknown")
        report.problem("no such file")
        return
    except OSError as exc:
        report.problem(f"cannot open: {exc.strerror or exc}")
        return
    kind = next((k for magic, k in _MAGICS if head.startswith(magic)), None)
    stem = os.path.splitext(os.path.basename(path))[0]
    if kind is None and extension in (".bin", ".txt") and stem in _COLMAP_NAMES:
        kind = "colmap"
    if kind == "exr":
        report.kind = "exr"
        _inspect_exr(path, report)
    elif kind is not None:
        report.kind = kind
        {"ply": _inspect_ply, "npz": _inspect_npz, "las": _inspect_las, "e57": _inspect_e57, "usd": _inspect_usd,
         "png": _inspect_png, "colmap": _inspect_colmap}[kind](path, report)
    elif extension == ".exr":
        report.kind = "exr"
        report.problem("not an OpenEXR file (bad magic number)")
    elif extension in (".usd", ".usda", ".usdc"):
        report.kind = "usd"
        report.problem("not a USD file (neither usda text nor a usdc crate)")
    elif extension == ".json" or head.lstrip()[:1] in (b"{", b"["):
        _inspect_json(path, report)
    elif extension == ".csv":
        _inspect_csv(path, report)
    else:
        report.problem("not a file depth-cloud reads or writes (EXR, camera sidecar, PLY, NPZ, USD, E57, LAS/LAZ, "
                       "PNG, JSON, CSV or a COLMAP model)")


def _read_json(path: str):
    """The JSON of a text file of at most :data:`_JSON_LIMIT` bytes (DepthCloudError otherwise)."""
    try:
        text = read_small_text(path, _JSON_LIMIT, "JSON file")
    except UnicodeDecodeError:
        raise DepthCloudError("not UTF-8 text") from None
    except OSError as exc:
        raise DepthCloudError(f"cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DepthCloudError(f"not valid JSON: {str(exc)[:200]}") from None


def _inspect_json(path: str, report: _Report) -> None:
    """A sidecar, nerfstudio's transforms.json, cameras.json, an object_id legend, or picked points."""
    try:
        data = _read_json(path)
    except DepthCloudError:  # the sidecar reader says what is wrong, in its words
        report.kind = "sidecar"
        _inspect_sidecar(path, report)
        return
    if isinstance(data, dict) and "frames" in data and ("camera_model" in data or "fl_x" in data
                                                          or data.get("format") == "depth_cloud.cameras"):
        _inspect_camera_list(path, data, report)
    elif isinstance(data, dict) and data and all(isinstance(k, str) and re.fullmatch(r"[0-9a-f]{8}", k)
                                                 and isinstance(v, str) for k, v in data.items()):
        report.kind = "legend"
        report.title = "object_id legend"
        report.fact(f"{_count(len(data), 'object')}: " + ", ".join(sorted(data.values())[:8])
                    + (" ..." if len(data) > 8 else ""))
        output = next((c for c in (path[:-len(".legend.json")] + ext for ext in (".ply", ".npz"))
                       if path.endswith(".legend.json") and os.path.isfile(c)), None)
        report.fact(f"of {os.path.basename(output)} beside it" if output else "its cloud is not beside it")
    elif isinstance(data, list) and data and all(isinstance(r, dict) and {"label", "world_x"} <= set(r) for r in data):
        report.kind = "points"
        report.title = "picked points (Pixels to 3D)"
        report.fact(f"{_count(len(data), 'point')}, {sum(r.get('world_x') is None for r in data)} without depth")
    else:
        report.kind = "sidecar"
        _inspect_sidecar(path, report)


def _inspect_camera_list(path: str, data: dict, report: _Report) -> None:
    """nerfstudio's transforms.json (``camera_model``) or ``cameras.json`` (export_cameras)."""
    frames = data.get("frames")
    nerfstudio = "camera_model" in data or "fl_x" in data or "ply_file_path" in data
    report.kind = "transforms" if nerfstudio else "cameras"
    report.title = "nerfstudio transforms.json" if nerfstudio else "cameras (depth-cloud cameras)"
    if not isinstance(frames, list) or not all(isinstance(f, dict) for f in frames):
        report.problem("its frames are not a list of objects")
        return
    report.fact(f"{_count(len(frames), 'frame')}" + (f", camera model {data['camera_model']}"
                                                      if "camera_model" in data else ""))
    folder = os.path.dirname(os.path.abspath(path))
    keys = ("file_path", "depth_file_path", "mask_path", "image_path", "depth_path")
    missing = [f[k] for f in frames for k in keys if isinstance(f.get(k), str) and not
               os.path.isfile(os.path.join(folder, f[k]))]
    listed = sum(isinstance(f.get(k), str) for f in frames for k in keys)
    if listed:
        report.fact(f"{_count(listed, 'file path')} (relative to its folder), {len(missing)} missing")
    if missing:
        report.problem(f"{_count(len(missing), 'listed file')} not found from its folder, e.g. {missing[0]}")
    if "transform_matrix" in (frames[0] if frames else {}):
        bad = [i for i, f in enumerate(frames) if not _matrix_4x4(f.get("transform_matrix"))]
        if bad:
            report.problem(f"frame {bad[0]}'s transform_matrix is not a finite 4x4 matrix")
    ply = data.get("ply_file_path")
    if isinstance(ply, str):
        report.fact(f"initial cloud: {ply}" + ("" if os.path.isfile(os.path.join(folder, ply)) else " (missing)"))


def _matrix_4x4(value) -> bool:
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return matrix.shape == (4, 4) and bool(np.isfinite(matrix).all())


def _inspect_csv(path: str, report: _Report) -> None:
    try:
        text = read_small_text(path, _JSON_LIMIT, "CSV file")
    except (OSError, UnicodeDecodeError, DepthCloudError) as exc:
        report.problem(f"cannot read: {getattr(exc, 'strerror', None) or exc}")
        return
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].split(",")[:3] == ["label", "x", "y"] and "world_x" in lines[0]:
        report.kind, report.title = "points", "picked points (Pixels to 3D)"
        report.fact(_count(len(lines) - 1, "point"))
    else:
        report.kind, report.title = "annotations", "pixel annotations (CSV)"
        report.fact(_count(len(lines), "line"))


# -- the tool's outputs ------------------------------------------------------------------------------------


def _job_fact(job: str | None, report: _Report) -> None:
    report.fact(f"job: {job}" if job else "job: not recorded (not written by depth-cloud convert, or by hand)")


def _inspect_ply(path: str, report: _Report) -> None:
    header = ply_header(path)
    if header is None:
        report.title = "PLY"
        report.problem("not a readable PLY header (it must end with end_header within 64 KB)")
        return
    names = [name for _, name in header["properties"]]
    splats = "f_dc_0" in names and "opacity" in names
    report.title = f"PLY ({header['format']}){', 3D Gaussian splats' if splats else ''}"
    report.fact(f"{header['count']:,} vertices; properties: {', '.join(names[:12])}"
                + (f" ... ({len(names)})" if len(names) > 12 else ""))
    comments = header["comments"]
    origin = next((c[len(ORIGIN_COMMENT):] for c in comments if c.startswith(ORIGIN_COMMENT)), None)
    for prefix, label in (("frame ", "frame"), ("space ", "space"), ("colors ", "colours"), ("fused ", "fused")):
        line = next((c for c in comments if c.startswith(prefix)), None)
        if line:
            report.fact(f"{label}: {line[len(prefix):]}" if label != "fused" else line)
    if origin:
        report.fact(f"origin: {origin} (world = point + origin)")
    _job_fact(job_in(comments), report)
    if header["format"] != "binary_little_endian":
        report.warning(f"{header['format']} PLY: depth-cloud writes binary_little_endian only")
    elif not ply_is_complete(path):
        report.problem(f"truncated or damaged: {os.path.getsize(path):,} bytes is not the size its header gives")
    if "object_id" in names:
        legend = os.path.splitext(path)[0] + ".legend.json"
        report.fact(f"object_id legend: {os.path.basename(legend)}" + ("" if os.path.isfile(legend) else " (missing)"))
        if not os.path.isfile(legend):
            report.warning("its object_id legend is not beside it: the ids cannot be named")


def _inspect_npz(path: str, report: _Report) -> None:
    try:
        shapes = npz_shapes(path)
    except Exception as exc:  # not a zip, a truncated one, a member that is not .npy
        report.title = "NPZ"
        report.problem(f"not a readable .npz: {type(exc).__name__}: {str(exc)[:200]}")
        return
    if "format" in shapes and "keys" in shapes:  # a partial grid
        report.title = "partial voxel grid (convert --fuse --partial)"
        try:
            partial = read_partial(path, grid=False)
        except DepthCloudError as exc:
            report.problem(_without_path(str(exc), path))
            return
        report.fact(f"voxel size {partial.voxel_size:g} m, origin {', '.join(f'{v:g}' for v in partial.origin)}, "
                    f"{shapes['keys'][0][0]:,} voxels of {partial.points_added:,} points; channels "
                    f"{' '.join(partial.channels)}")
        failed = [f for f, fused in zip(partial.frames, partial.fused) if not fused]
        report.fact(f"frames: {compact_frames(partial.frames)}" if partial.frames else "frames: none")
        source = partial_source(partial)
        if source:
            report.fact(f"read from {source}")
        _job_fact(partial.job, report)
        if failed:
            report.warning(f"{compact_frames(failed)} failed in this chunk: not in its sums")
        if not _zip_whole(path):
            report.problem("truncated or damaged: a member does not read back (CRC)")
        return
    report.title = "NPZ (depth-cloud convert)" if "points" in shapes else "NPZ"
    if "points" not in shapes:
        report.problem(f"no points array (arrays: {', '.join(sorted(shapes)) or 'none'})")
        return
    shape, dtype, _ = shapes["points"]
    report.fact(f"{shape[0]:,} points ({dtype}); arrays: {', '.join(sorted(shapes))}")
    small = {}
    with contextlib.suppress(Exception), np.load(path, allow_pickle=False) as data:
        small = {k: data[k] for k in ("job", "origin", "camera", "legend") if k in data.files}
    if "origin" in small:
        report.fact(f"origin: {', '.join(f'{v!r}' for v in np.asarray(small['origin']).tolist())} "
                    "(world = point + origin)")
    if "camera" in small:
        with contextlib.suppress(Exception):
            report.fact(f"camera: {describe_camera(CameraModel.from_json(str(small['camera'])))}")
    _job_fact(str(small["job"]) if "job" in small else None, report)
    if not _zip_whole(path):
        report.problem("truncated or damaged: a member does not read back (CRC)")


def _zip_whole(path: str) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except Exception:  # truncated, foreign
        return False


def _inspect_las(path: str, report: _Report) -> None:
    header = las_header(path)
    if header is None:
        report.title = "LAS"
        report.problem("not a readable LAS header")
        return
    compressed = header["compressed"]
    report.title = f"LAS {header['version']}{' (LAZ, compressed)' if compressed else ''}"
    scale, offset = (", ".join(f"{v:g}" for v in header[key]) for key in ("scale", "offset"))
    report.fact(f"{header['count']:,} points, point format {header['point_format']}; scale {scale}; offset {offset}")
    low, high = header["min"], header["max"]
    report.fact("bounds: " + ", ".join(f"{a} {lo:.4f} .. {hi:.4f}" for a, lo, hi in zip("xyz", low, high)))
    _job_fact(job_in(header["comments"]), report)
    if compressed and importlib.util.find_spec("lazrs") is None:
        report.warning("its points are not checked: reading LAZ needs laspy and lazrs (pip install "
                       "'depth-cloud[survey]')")
    elif not las_is_complete(path):
        report.problem("truncated or damaged: its points are not all there")


def _unreadable_here(path: str, report: _Report, module: str, needs: str) -> bool:
    """Whether the package ``module`` a format's reading ``needs`` (e.g. "E57 needs pye57 (pip install ...)") is
    missing; then the file's size is all the report says of it, with a warning."""
    if importlib.util.find_spec(module) is not None:
        return False
    report.fact(f"{os.path.getsize(path):,} bytes")
    report.warning(f"not read: {needs}")
    return True


def _inspect_e57(path: str, report: _Report) -> None:
    report.title = "E57"
    if _unreadable_here(path, report, "pye57", "E57 needs pye57 (pip install 'depth-cloud[survey]')"):
        return
    try:
        import pye57

        with library_path(path) as readable:
            e57 = pye57.E57(readable, mode="r")
        try:
            counts, job = [], None
            for index in range(e57.scan_count):
                header = e57.get_header(index)
                counts.append(int(header.point_count))
                if job is None and header.node.isDefined("description"):
                    job = job_in(header.node["description"].value().splitlines())
        finally:
            e57.close()
    except Exception as exc:  # libE57's errors: a truncated or damaged file
        report.problem(f"cannot be read: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}")
        return
    report.fact(f"{_count(len(counts), 'scan')}, {sum(counts):,} points")
    _job_fact(job, report)
    if not counts:
        report.problem("no scan")
    elif not e57_is_complete(path):
        report.problem("truncated or damaged: a scan does not read to the end")


def _inspect_usd(path: str, report: _Report) -> None:
    report.title = "USD"
    if _unreadable_here(path, report, "pxr", "USD needs usd-core (pip install 'depth-cloud[usd]')"):
        return
    facts = usd_facts(path)
    if facts is None:
        report.problem("USD cannot open it (truncated or damaged)")
        return
    report.title = f"USD point cache ({facts['geometry']})" if facts.get("geometry") else "USD"
    if facts.get("frames"):
        report.fact(f"{_count(facts['frames'], 'frame')} ({facts['start']:g} .. {facts['end']:g}) at "
                    f"{facts['fps']:g} fps; {facts['first']:,} {facts['geometry'].lower()} in the first")
    report.fact("camera: " + ("animated /DepthCloud/Camera" if facts.get("camera") else "none"))
    if facts.get("origin"):
        report.fact(f"origin: {', '.join(f'{v!r}' for v in facts['origin'])} (the root's translation, double)")
    _job_fact(facts.get("job"), report)
    if facts.get("writer") != "depth-cloud":
        report.warning("not written by depth-cloud")
    elif not usd_is_complete(path):
        report.problem("incomplete: its points have fewer time samples than the frames it records")


def _inspect_png(path: str, report: _Report) -> None:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        report.title = "PNG"
        report.problem("not a readable PNG header")
        return
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    depth, colour = head[24], head[25]
    kinds = {0: "grey", 2: "RGB", 3: "palette", 4: "grey + alpha", 6: "RGBA"}
    report.title = "PNG"
    what = {(16, 0): "a dataset depth map (16-bit millimetres)", (8, 0): "a dataset mask (or 8-bit grey)",
            (8, 2): "a dataset image (sRGB)", (8, 6): "a dataset image (sRGB, straight alpha)"}.get((depth, colour))
    report.fact(f"{width}x{height} px, {depth}-bit {kinds.get(colour, f'colour type {colour}')}"
                + (f": {what}" if what else ""))


def _inspect_colmap(path: str, report: _Report) -> None:
    name, extension = os.path.splitext(os.path.basename(path))
    report.title = f"COLMAP model: {name}{extension}"
    try:
        if extension == ".bin":
            with open(path, "rb") as f:
                head = f.read(8)
            if len(head) < 8:
                report.problem("truncated: no count")
                return
            count = int.from_bytes(head, "little")
        else:
            text = read_small_text(path, _JSON_LIMIT * 16, "COLMAP text file")
            rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
            count = len(rows) // (2 if name == "images" else 1)
    except (OSError, UnicodeDecodeError, DepthCloudError) as exc:
        report.problem(f"cannot read: {getattr(exc, 'strerror', None) or exc}")
        return
    report.fact(f"{count:,} {name if name != 'points3D' else 'points'}")
    folder = os.path.dirname(path)
    others = [n for n in _COLMAP_NAMES if not os.path.isfile(os.path.join(folder, n + extension))]
    if others:
        report.problem(f"the model lacks {', '.join(o + extension for o in others)} beside it")


# -- sidecars -----------------------------------------------------------------------------------


def describe_camera(camera: CameraModel) -> str:
    """The camera in one line: ``"PERSP 35 mm, 1920x1080 px, frame 12, 'Camera'"``."""
    if camera.projection == "PERSP":
        what = f"PERSP {camera.lens_mm:g} mm"
    elif camera.projection == "ORTHO":
        what = f"ORTHO scale {camera.ortho_scale:g}"
    elif camera.panorama_type == "FISHEYE_EQUIDISTANT":
        what = f"PANO FISHEYE_EQUIDISTANT {math.degrees(camera.fisheye_fov):g} deg"
    elif camera.panorama_type == "FISHEYE_EQUISOLID":
        what = f"PANO FISHEYE_EQUISOLID {camera.fisheye_lens_mm:g} mm"
    else:
        what = f"PANO {camera.panorama_type}"
    parts = [what, f"{camera.width_px}x{camera.height_px} px"]
    if camera.frame is not None:
        parts.append(f"frame {camera.frame}")
    if camera.name is not None:
        parts.append(repr(camera.name))
    return ", ".join(parts)


def _render_region(camera: CameraModel) -> str:
    full_w, full_h = camera.full_size_px
    return (f"render region: {camera.crop_x0_px},{camera.crop_y0_px} {camera.width_px}x{camera.height_px} "
            f"of {full_w}x{full_h} px (Crop to Border)")


def _inspect_sidecar(path: str, report: _Report) -> None:
    try:
        camera, capture = read_sidecar(path)
    except DepthCloudError as exc:
        report.problem(f"not a usable camera sidecar: {_without_path(str(exc), path)}")
        return
    report.title = "camera sidecar"
    report.fact(f"camera: {describe_camera(camera)}")
    if camera.is_cropped:
        report.fact(_render_region(camera))
    report.fact(f"clip: {camera.clip_start:g} .. {camera.clip_end:g} m; depth Cycles writes: "
                f"{camera.natural_depth_kind()}")
    if capture == CaptureInfo():
        report.fact("capture: not recorded (a sidecar written before capture facts, or by hand)")
    else:
        _capture_facts(capture, os.path.dirname(path), report)
    for warning in capture.warnings():
        report.warning(warning)


def _capture_facts(capture: CaptureInfo, folder: str, report: _Report) -> None:
    if capture.scene is not None:
        report.fact(f"scene: {capture.scene!r}")
    if capture.view_layer is not None:
        report.fact(f"view layer: {capture.view_layer!r}")
    if capture.depth_files:
        files = ", ".join(f"{name} {kind}" + ("" if os.path.isfile(os.path.join(folder, name)) else " (not here)")
                          for name, kind in capture.depth_files.items())
        report.fact(f"depth files: {files}")
    if capture.fps is not None:
        report.fact(f"fps: {capture.fps:g}")
    if capture.engine is not None:
        note = " (a rasteriser: 'no hit' reads about clip_end, taken as background)" \
            if capture.depth_buffer_background else ""
        report.fact(f"engine: {capture.engine}{note}")
    if capture.depth_of_field is not None:
        report.fact(f"depth of field: {_settings(capture.depth_of_field)}")
    if capture.motion_blur is not None:
        report.fact(f"motion blur: {_settings(capture.motion_blur)}")


def _settings(d: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in d.items()) or "on"


# -- EXRs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """One part of an EXR, from its header."""

    name: str
    storage: str                    # "scanlineimage", "tiledimage", "deepscanline", "deeptile"
    compression: str                # OpenEXR's name without "_COMPRESSION": "ZIP", "DWAA", "NO"...
    data_window: tuple[int, int, int, int]     # x0, y0, width, height
    display_window: tuple[int, int, int, int]
    channels: tuple[str, ...]


def _exr_layout(path: str) -> tuple[list[_Part], dict[str, str]]:
    """The parts from the headers, and each channel's pixel type (``{}`` when the pixels cannot be read:
    :func:`.exr.read_exr` then says why). OpenEXR's own complaints on stdout are dropped (the report is
    printed there)."""
    OpenEXR = _openexr()
    with library_path(path) as readable:
        return _exr_layout_of(OpenEXR, readable)


def _exr_layout_of(OpenEXR, path: str) -> tuple[list[_Part], dict[str, str]]:
    parts = []
    with OpenEXR.File(path, header_only=True) as f:
        for part in f.parts:
            header = part.header
            compression = getattr(header.get("compression"), "name", str(header.get("compression")))
            parts.append(_Part(part.name() or "", getattr(part.type(), "name", str(part.type())),
                               compression.removesuffix("_COMPRESSION"), exr_window(header["dataWindow"]),
                               exr_window(header["displayWindow"]), tuple(c.name for c in header["channels"])))
    types: dict[str, str] = {}
    try:
        with contextlib.redirect_stdout(io.StringIO()), OpenEXR.File(path, separate_channels=True) as f:
            for part in f.parts:
                for name, channel in part.channels.items():
                    types[name] = _PIXEL_TYPES.get(channel.pixels.dtype, str(channel.pixels.dtype))
    except Exception:  # corrupt or truncated pixels: read_exr reports it
        types = {}
    return parts, types


def _layer_lines(channels: tuple[str, ...], types: dict[str, str]) -> list[str]:
    """``ViewLayer.Combined: R, G, B, A (float)``, one line per layer, in file order."""
    layers: dict[str, list[str]] = {}
    for name in channels:
        prefix, _, component = name.rpartition(".")
        layers.setdefault(prefix, []).append(name)
    lines = []
    for prefix, names in layers.items():
        kinds = {types.get(n, "?") for n in names}
        components = [n.rpartition(".")[2] for n in names]
        if len(kinds) == 1:
            listed = f"{', '.join(components)} ({kinds.pop()})"
        else:
            listed = ", ".join(f"{c} ({types.get(n, '?')})" for c, n in zip(components, names))
        lines.append(f"{prefix}: {listed}" if prefix else f"channels: {listed}")
    return lines


def _channel_group(names) -> str:
    """``(ViewLayer.Combined.R, ...)`` -> ``"ViewLayer.Combined (R, G, B, A)"``; plain ``R, G, B, A`` as they are."""
    prefixes = {n.rpartition(".")[0] for n in names}
    components = ", ".join(n.rpartition(".")[2] for n in names)
    if len(prefixes) == 1 and next(iter(prefixes)):
        return f"{prefixes.pop()} ({components})"
    return components if prefixes == {""} else ", ".join(names)


def _depth_channels(image_channel: str | None, names: tuple[str, ...]) -> list[str]:
    """The depth channels whose storage matters: the one read, and every view layer's ``Depth.Z``."""
    found = [image_channel] if image_channel else []
    found += [f"{layer}.Depth.Z" for layer in view_layers(names) if f"{layer}.Depth.Z" not in found]
    return found


def _inspect_exr(path: str, report: _Report) -> None:
    try:
        parts, types = _exr_layout(path)
    except Exception as exc:
        report.title = "OpenEXR"
        report.problem(f"cannot read the EXR header: {_without_path(str(exc), path)}")
        return
    names = tuple(n for part in parts for n in part.channels)
    report.title = f"OpenEXR, {_count(len(parts), 'part')}, {_count(len(names), 'channel')}"
    compression_of = {n: part.compression for part in parts for n in part.channels}
    for i, part in enumerate(parts):
        x0, y0, w, h = part.data_window
        label = f"part {i}" + (f" {part.name!r}" if part.name else "")
        storage = "" if part.storage == "scanlineimage" else f", {part.storage}"
        report.fact(f"{label}: {w}x{h} px, {_compression_note(part.compression)}{storage}")
        if part.data_window != part.display_window:
            dx, dy, dw, dh = part.display_window
            report.fact(f"data window {x0},{y0} {w}x{h} of display window {dx},{dy} {dw}x{dh}", 2)
        for line in _layer_lines(part.channels, types):
            report.fact(line, 2)
    layers = view_layers(names)
    if layers:
        report.fact(f"view layers: {', '.join(repr(v) for v in layers)}")
    if find_depth_channel(names) is None and _is_frame_color(path):
        _inspect_color_file(path, report)
        return
    if find_depth_channel(names) is None and (frame_file_kind(path) == "passes" or _holds_passes(names)):
        _inspect_passes_file(path, report)
        return

    files = frame_files_of(path)
    inputs: FrameInputs | None = None
    sidecar = os.path.basename(files.camera_path) if files.camera_path else None
    if files.camera_path is not None:
        try:
            inputs = frame_inputs(files)
        except DepthCloudError as exc:
            report.problem(f"its camera sidecar {sidecar} cannot be read: {_without_path(str(exc), files.camera_path)}")
    if inputs is not None:
        report.fact(f"camera: {sidecar}: {describe_camera(inputs.camera)}")
        if inputs.camera.is_cropped:
            report.fact(_render_region(inputs.camera), 2)
        if inputs.capture.depth_buffer_background:
            report.fact(f"engine {inputs.capture.engine}: 'no hit' reads about clip_end, taken as background", 2)
        for warning in inputs.warnings:
            report.warning(warning)

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if inputs is not None:
                image, kind = read_frame_depth(inputs)
            else:
                image = read_exr(path)
                kind = None
    except DepthCloudError as exc:
        report.problem(str(exc))
        return
    assert image.depth is not None and image.depth_channel is not None  # read_exr's require_depth

    if files.camera_path is None:  # (said only of a file that holds depth)
        report.fact("camera: none (no camera_NNNN.json or NAME.json beside it)")
        report.warning("no camera sidecar beside it: give the camera (convert --camera or --blend)")
    pixel_type = types.get(image.depth_channel)
    layer_note = f", view layer {image.view_layer!r}" if image.view_layer else ""
    report.fact(f"depth channel: {image.depth_channel} ({pixel_type or '?'}{layer_note})"
                + (" -- R = G = B: Blender's RGB File Output depth" if image.depth_channel == "R" else ""))
    for channel in _depth_channels(image.depth_channel, names):
        reason = lossy_compression(compression_of.get(channel, "NO"), types.get(channel), channel)
        if reason:
            report.problem(f"depth channel {channel} is stored lossily: {reason}; {_LOSSLESS_ADVICE}")
        if types.get(channel) == "half":
            report.warning(f"depth channel {channel} is half float: values are rounded to 11 significant bits "
                           "(up to 0.05 %: 5 cm at 100 m) and above 65504 read as infinity; store depth as float")
    if files.color_path is not None:
        report.fact(f"color: {os.path.basename(files.color_path)} beside it")
    elif image.color_channels:
        report.fact(f"color: {_channel_group(image.color_channels)}")
    else:
        report.fact("color: none (points are white)")

    kind = _kind_facts(kind, image.depth_kind, inputs, sidecar, report)
    _pixel_facts(image.depth, inputs.camera if inputs else None, kind, report)


def _inspect_color_file(path: str, report: _Report) -> None:
    """``color_NNNN.exr`` beside ``depth_NNNN.exr``: the frame's color, used as it is without a depth channel."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            image = read_exr(path, require_depth=False)
    except DepthCloudError as exc:
        report.problem(str(exc))
        return
    channels = f": {_channel_group(image.color_channels)}" if image.color_channels else ""
    report.fact(f"color file of {os.path.basename(_depth_beside(path))}{channels}")
    if image.color is None:  # a grey image whose values look like depth (see exr._grey_depth)
        report.warning("R = G = B with A = 1 and values like depth: it is read as depth, not color "
                       "(the frame's points come out white)")


def _holds_passes(names) -> bool:
    layers = {name.rpartition(".")[0].rpartition(".")[2] for name in names}
    return bool(layers & {"IndexOB", "IndexMA", "Normal", "Vector", "CryptoObject00"})


def _inspect_passes_file(path: str, report: _Report) -> None:
    """``passes_NNNN.exr``: the extra passes it holds, and whether they belong to the depth file beside it (its size
    and data window, recorded by its sidecar: :func:`.cloud.check_passes_window`, :func:`.cloud.stale_passes`)."""
    report.kind = "passes"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            passes = read_passes(read_channels(path))
    except DepthCloudError as exc:
        report.problem(_without_path(str(exc), path))
        return
    kinds = [kind for kind in PASS_KINDS if passes.has(kind)]
    report.fact(f"extra passes: {', '.join(kinds) or 'none'}" + (f"; Cryptomatte names {len(passes.manifest)} "
                                                                   "object(s)" if passes.manifest else ""))
    depth_path = sibling_file(path, "depth")
    if depth_path is None or not os.path.isfile(depth_path):
        report.warning("no depth file beside it (depth_NNNN.exr): whose frame it is cannot be checked")
        return
    report.fact(f"of {os.path.basename(depth_path)} beside it")
    try:
        check_passes_window(path, depth_path)
        files = frame_files_of(depth_path)
        stale = stale_passes(frame_inputs(files)) if files.camera_path else None
    except DepthCloudError as exc:
        report.problem(_without_path(str(exc), path))
        return
    if stale:
        report.warning(stale)


def _is_frame_color(path: str) -> bool:
    return frame_file_kind(path) == "color" and os.path.isfile(_depth_beside(path))


def _depth_beside(path: str) -> str:
    """``color_NNNN.exr`` -> the ``depth_NNNN.exr`` beside it (the set-up's naming)."""
    depth_path = sibling_file(path, "depth")
    assert depth_path is not None  # only called with color_NNNN.exr names (_is_frame_color)
    return depth_path


def _kind_facts(kind: FileDepthKind | None, header_kind: str | None, inputs: FrameInputs | None,
                sidecar: str | None, report: _Report) -> FileDepthKind | None:
    """The depth-kind line (and its warnings); returns the kind, None when unknown."""
    if kind is None and header_kind is not None:  # no camera: the header alone decides (the camera is not asked)
        kind = resolve_file_depth_kind("auto", header_kind, None, None)
    if kind is None:
        report.fact("depth kind: unknown (no header, no sidecar, no camera)")
        report.warning(f"the depth kind is unknown: no {DEPTH_KIND_ATTRIBUTE} header and no sidecar; Cycles writes "
                       "planar depth for perspective and orthographic cameras, distance for panoramic ones")
        return None
    if kind.source == "header":
        report.fact(f"depth kind: {kind.kind} (header {DEPTH_KIND_ATTRIBUTE})")
        recorded = inputs.capture.kind_of(inputs.files.depth_path) if inputs is not None else None
        if recorded is not None and recorded != kind.kind:
            report.warning(f"the header says {kind.kind} depth but {sidecar} records {recorded}: the header wins")
    elif kind.source == "sidecar":
        report.fact(f"depth kind: {kind.kind} (sidecar {sidecar})")
    else:
        assert inputs is not None  # the camera decides only when there is one (from the frame's inputs)
        report.fact(f"depth kind: {kind.kind} (auto: what Cycles writes for the {inputs.camera.projection} "
                    f"camera in {sidecar})")
    return kind


def _pixel_facts(depth: np.ndarray, camera: CameraModel | None, kind: FileDepthKind | None, report: _Report) -> None:
    total = depth.size
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(depth)
        background = int(np.count_nonzero(finite & (depth >= BACKGROUND_DEPTH)))
        not_positive = int(np.count_nonzero(finite & (depth <= 0)))
        if camera is not None:
            assert kind is not None  # a frame with a camera always has a kind (read_frame_depth)
            try:
                valid = valid_depth_mask(depth, camera, depth_kind=kind.kind)
            except DepthCloudError as exc:
                report.problem(str(exc))
                return
            where = ""
        else:
            valid = finite & (depth > 0) & (depth < BACKGROUND_DEPTH)
            where = " (finite, > 0, below 1e10; no camera: clip range not applied)"
    count = int(np.count_nonzero(valid))
    report.fact(f"valid pixels: {count:,} of {total:,} ({100.0 * count / total:.1f} %){where}")
    invalid = {"background (1e10 or more)": background, "NaN or infinite": total - int(np.count_nonzero(finite)),
               "zero or negative": not_positive}
    if camera is not None:
        invalid[f"outside the clip range {camera.clip_start:g} .. {camera.clip_end:g}"
                + (" or the image circle" if camera.projection == "PANO" else "")] = \
            total - count - sum(invalid.values())
    listed = ", ".join(f"{n:,} {what}" for what, n in invalid.items() if n)
    if listed:
        report.fact(f"invalid: {listed}", 2)
    if count == 0:
        report.problem("no valid depth pixel: every pixel is background, NaN, <= 0"
                       + (" or outside the clip range" if camera is not None else ""))
        return
    values = depth[valid]
    kind_note = f" ({kind.kind})" if kind is not None else ""
    report.fact(f"depth range: {float(values.min()):.6g} .. {float(values.max()):.6g} m{kind_note}")
