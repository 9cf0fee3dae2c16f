"""Frames on disk: file names, frame specs, camera sidecars, and which files and camera make a frame.

The one place for these rules; the Blender add-on (Build, sequences, Bake, the render handler,
the ground-truth operators) and the ``depth-cloud`` CLI all go through it. Plain Python, no bpy.

Naming written by the compositor set-up, one folder per shot, ``NNNN`` the frame number as Blender
fills a ``####`` run (zero-padded to 4 digits, ``-001`` for frame -1):

* ``depth_NNNN.exr``: Blender's Depth pass (planar Z, or ray distance for panoramic cameras);
* ``color_NNNN.exr``: the linear premultiplied RGBA image;
* ``camera_NNNN.json``: the frame's :class:`CameraModel` (``CameraModel.to_json``), the *sidecar*;
* ``planar_NNNN.exr`` / ``distance_NNNN.exr``: the depth converted to that kind (when asked for);
* ``passes_NNNN.exr``: the extra passes asked for (object and material index, normal, vector, Cryptomatte;
  a multilayer EXR, see :mod:`.passes`).

Any other depth file ``NAME.exr`` takes ``NAME.json`` beside it as its camera sidecar.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..atomic import not_regular, write_text
from ..errors import CameraError, DepthCloudError, FrameSpecError, MissingFrameError
from ..geometry.camera import CameraModel, finite_number

__all__ = [
    "CAPTURE_FIELDS", "CaptureInfo", "FRAME_FILE_KINDS", "FrameCamera", "FrameFiles", "FrameInputs",
    "MAX_FRAMES", "camera_sidecar_path", "color_beside", "converted_depth_path", "existing_frames", "file_identity",
    "find_frame_files", "frame_camera", "frame_file_kind", "frame_files_of", "frame_inputs", "frame_path",
    "pattern_of", "sibling_file",
    "parse_frames", "read_camera_sidecar", "read_sidecar", "setup_file", "setup_stem", "sidecar_beside",
    "write_camera_sidecar",
]

#: The files of one frame in a set-up folder: kind -> (name prefix, extension).
FRAME_FILE_KINDS = {
    "depth": ("depth_", ".exr"),
    "color": ("color_", ".exr"),
    "camera": ("camera_", ".json"),
    "planar": ("planar_", ".exr"),
    "distance": ("distance_", ".exr"),
    "passes": ("passes_", ".exr"),
}
_DEPTH_PREFIX = FRAME_FILE_KINDS["depth"][0]
_HASH_RUN = re.compile(r"#+")


def frame_path(pattern, frame: int) -> str:
    """Replace the last run of ``#`` in ``pattern`` by ``frame`` zero-padded to the run's length
    (Blender's rule); a pattern without ``#`` is returned as it is."""
    pattern = os.fspath(pattern)
    runs = list(_HASH_RUN.finditer(pattern))
    if not runs:
        return pattern
    run = runs[-1]
    return f"{pattern[:run.start()]}{frame:0{len(run.group())}d}{pattern[run.end():]}"


def parse_frames(text: str) -> list[int]:
    """``"1-240"``, ``"7"``, ``"-3--1"``, ``"1-9,20-22"`` or Flamenco's ``"1..240"`` -> the frame numbers, in
    the order given.

    Raises :class:`FrameSpecError` for anything else (an empty part, a range that runs backwards).
    """
    ranges = []
    for part in str(text).split(","):
        match = re.fullmatch(r"\s*(-?\d{1,18})\s*(?:(?:-|\.\.)\s*(-?\d{1,18})\s*)?", part, re.ASCII)
        if match is None:
            raise FrameSpecError(f"{text!r}: expected ranges like 1-240 or 1-9,20-22")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if end < start:
            raise FrameSpecError(f"{text!r}: expected ranges like 1-240 or 1-9,20-22 ({start}-{end} runs backwards)")
        ranges.append(range(start, end + 1))
    total = sum(len(r) for r in ranges)
    if total > MAX_FRAMES:
        raise FrameSpecError(f"{text!r}: {total:,} frames; at most {MAX_FRAMES:,} in one run")
    return [n for r in ranges for n in r]


#: The most frames one frame spec may name.
MAX_FRAMES = 10_000_000


def existing_frames(pattern, numbers) -> list[int]:
    """The frames of ``numbers`` (in their order) whose file of the ``#`` pattern exists, found by listing the folder
    once when the frame number is in the file's name (a range of millions of frames with a few present takes a
    moment), else by looking at each file."""
    pattern = os.fspath(pattern)
    numbers = list(numbers)
    folder, name = os.path.split(pattern)
    runs = list(_HASH_RUN.finditer(name))
    if not runs or "#" in folder:
        return [n for n in numbers if os.path.isfile(frame_path(pattern, n))]
    run = runs[-1]
    shape = re.compile(re.escape(name[:run.start()]) + r"(-?\d+)" + re.escape(name[run.end():]) + r"\Z")
    present = set()
    try:
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                match = shape.match(entry.name)
                if match is not None and frame_path(name, int(match.group(1))) == entry.name and entry.is_file():
                    present.add(int(match.group(1)))
    except OSError:  # a folder that cannot be listed: each file
        return [n for n in numbers if os.path.isfile(frame_path(pattern, n))]
    return [n for n in numbers if n in present]


def setup_stem(kind: str) -> str:
    """The set-up's file name of ``kind`` without extension, with Blender's ``####`` frame run."""
    return FRAME_FILE_KINDS[kind][0] + "####"


def setup_file(folder, kind: str, frame: int) -> str:
    """The path of ``frame``'s file of ``kind`` ("depth", "color", "camera", "planar", "distance") in a
    set-up folder."""
    prefix, extension = FRAME_FILE_KINDS[kind]
    return frame_path(os.path.join(os.fspath(folder), f"{prefix}####{extension}"), frame)


def camera_sidecar_path(folder, frame: int) -> str:
    return setup_file(folder, "camera", frame)


def frame_file_kind(path) -> str | None:
    """The kind (:data:`FRAME_FILE_KINDS`) of a set-up file by its name (``color_0001.exr`` -> "color"), or None."""
    stem, extension = os.path.splitext(os.path.basename(os.fspath(path)))
    return next((kind for kind, (prefix, ext) in FRAME_FILE_KINDS.items()
                 if stem.startswith(prefix) and extension == ext), None)


def sibling_file(path, kind: str, *, of: tuple[str, ...] | None = None) -> str | None:
    """A set-up file (``KIND_SUFFIX.ext``) -> the path of the same frame's file of ``kind`` beside it
    (``depth_0001.exr`` -> ``color_0001.exr``), or None for other names; ``of`` limits the kinds ``path`` may be
    (default: any)."""
    folder, name = os.path.split(os.fspath(path))
    stem = os.path.splitext(name)[0]
    source = next((k for k in (of or tuple(FRAME_FILE_KINDS)) if stem.startswith(FRAME_FILE_KINDS[k][0])), None)
    if source is None:
        return None
    kind_prefix, extension = FRAME_FILE_KINDS[kind]
    return os.path.join(folder, kind_prefix + stem[len(FRAME_FILE_KINDS[source][0]):] + extension)


def _sibling(depth_path: str, kind: str) -> str | None:
    """A set-up depth file (``depth_``, ``planar_`` or ``distance_SUFFIX.exr``) -> the path of ``KIND_SUFFIX``."""
    return sibling_file(depth_path, kind, of=("depth", "planar", "distance"))


def sidecar_beside(depth_path) -> str | None:
    """The camera sidecar of a depth file, if one exists: ``camera_NNNN.json`` beside ``depth_NNNN.exr``
    (or ``planar_``/``distance_NNNN.exr``),
    else ``NAME.json`` beside ``NAME.exr``."""
    depth_path = os.fspath(depth_path)
    candidates = [_sibling(depth_path, "camera"), os.path.splitext(depth_path)[0] + ".json"]
    return next((c for c in candidates if c is not None and os.path.isfile(c)), None)


def color_beside(depth_path) -> str | None:
    """``color_NNNN.exr`` beside ``depth_NNNN.exr`` (or ``planar_``/``distance_NNNN.exr``) if it exists,
    else None (the depth file's own color)."""
    candidate = _sibling(os.fspath(depth_path), "color")
    return candidate if candidate is not None and os.path.isfile(candidate) else None


def passes_beside(depth_path) -> str | None:
    """``passes_NNNN.exr`` beside ``depth_NNNN.exr`` (or ``planar_``/``distance_NNNN.exr``) if it exists."""
    candidate = _sibling(os.fspath(depth_path), "passes")
    return candidate if candidate is not None and os.path.isfile(candidate) else None


def converted_depth_path(depth_path, kind: str) -> str:
    """Where a depth file converted to ``kind`` goes by default: ``KIND_`` + its name without ``depth_``,
    beside it (``depth_0001.exr`` -> ``distance_0001.exr``, ``shot.exr`` -> ``distance_shot.exr``)."""
    folder, name = os.path.split(os.fspath(depth_path))
    return os.path.join(folder, FRAME_FILE_KINDS[kind][0] + name.removeprefix(_DEPTH_PREFIX))


@dataclass(frozen=True)
class CaptureInfo:
    """What a sidecar's ``capture`` block says about the render that wrote the frame's files.

    ``depth_files``: file name -> depth kind ("planar" | "distance") of each depth file written for the
    frame (Blender's File Output node cannot label its EXRs, so the sidecar does). ``depth_of_field`` /
    ``motion_blur``: the render's settings when they were on (None when off), because they make the
    Depth pass disagree with the pixel rays. All fields are optional (older sidecars have none).
    """

    scene: str | None = None
    view_layer: str | None = None
    depth_files: dict = field(default_factory=dict)
    depth_of_field: dict | None = None   # {"fstop": f, "focus_distance": m}
    motion_blur: dict | None = None      # {"shutter": frames}
    fps: float | None = None
    engine: str | None = None            # the render engine ("CYCLES", "BLENDER_EEVEE_NEXT", ...)
    samples: int | None = None           # rasterisers (EEVEE): render samples per pixel, each jittered
    passes: tuple = ()                   # the extra passes written to passes_NNNN.exr (PASS_KINDS names)
    objects: tuple = ()                  # MOTION: each rendered object's state, see :func:`_check_objects`

    def to_dict(self) -> dict:
        out = {name: getattr(self, name) for name in CAPTURE_FIELDS if getattr(self, name) not in (None, {}, ())}
        for name in ("passes", "objects"):
            if name in out:
                out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, d) -> CaptureInfo:
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise CameraError(f"the sidecar's capture block must be an object, got {type(d).__name__}")
        unknown = sorted(set(d) - set(CAPTURE_FIELDS))
        if unknown:
            raise CameraError(f"unknown capture field(s): {', '.join(map(str, unknown))}")
        kinds = d.get("depth_files") or {}
        if not isinstance(kinds, dict) or any(not isinstance(k, str) or v not in ("planar", "distance")
                                              for k, v in kinds.items()):
            raise CameraError("capture.depth_files must map file names to 'planar' or 'distance'")
        for name in ("depth_of_field", "motion_blur"):
            if d.get(name) is not None and not isinstance(d[name], dict):
                raise CameraError(f"capture.{name} must be an object or null")
        fps = d.get("fps")
        if fps is not None and not _positive_number(fps):
            raise CameraError(f"capture.fps must be a finite number > 0, got {fps!r}")
        for name in ("depth_of_field", "motion_blur"):
            for key, value in (d.get(name) or {}).items():
                if value is not None and not isinstance(value, str) and finite_number(value) is None:
                    raise CameraError(f"capture.{name}.{key} must be a finite number, got {value!r}")
        return cls(scene=_optional_str(d, "scene"), view_layer=_optional_str(d, "view_layer"), depth_files=dict(kinds),
                   depth_of_field=d.get("depth_of_field"), motion_blur=d.get("motion_blur"),
                   fps=float(fps) if fps is not None else None, engine=_optional_str(d, "engine"),
                   samples=_optional_count(d, "samples"), passes=_check_passes(d.get("passes")),
                   objects=_check_objects(d.get("objects")))

    @property
    def depth_buffer_background(self) -> bool:
        """True when the depth came from a rasteriser (EEVEE, Workbench), whose "no hit" reads about
        ``clip_end`` (sometimes just below it) instead of Cycles' 1e10."""
        return self.engine is not None and self.engine != "CYCLES"

    def kind_of(self, path) -> str | None:
        """The recorded depth kind of the file at ``path`` (by its name), or None."""
        return self.depth_files.get(os.path.basename(os.fspath(path)))

    def warnings(self) -> list[str]:
        """Why this frame's depth may not match its pixel rays (empty when nothing is known to be off)."""
        out = []
        if self.depth_of_field is not None:
            fstop = self.depth_of_field.get("fstop")
            out.append("depth of field was on" + (f" (f/{fstop:g})" if isinstance(fstop, (int, float)) else "")
                       + ": the Depth pass disagrees with the pixel rays (turn it off for capture)")
        if self.motion_blur is not None:
            out.append("motion blur was on: the Depth pass disagrees with the pixel rays (turn it off for capture)")
        if self.depth_buffer_background and self.samples is not None and self.samples > 1:
            out.append(f"EEVEE rendered {self.samples} jittered samples per pixel: its Depth pass is millimetres "
                       "off at a few metres (measured: 1 mm median on Blender 4.5/5.0, 13 mm on 4.2); capture with 1 "
                       "render sample for depth at the pixel centres")
        return out


CAPTURE_FIELDS = ("scene", "view_layer", "depth_files", "depth_of_field", "motion_blur", "fps", "engine",
                  "samples", "passes", "objects")


def _positive_number(value) -> bool:
    number = finite_number(value)
    return number is not None and number > 0


def _check_passes(value) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise CameraError("capture.passes must be a list of pass names")
    return tuple(value)


def _check_matrix(value, what: str):
    if (not isinstance(value, list) or len(value) != 4
            or any(not isinstance(r, list) or len(r) != 4 for r in value)
            or any(finite_number(v) is None for r in value for v in r)):
        raise CameraError(f"{what} must be a 4x4 list of finite numbers")


def _check_objects(value) -> tuple:
    """``capture.objects``: one object per rendered object, ``{"name": str, "pass_index": int,
    "matrix_world": 4x4, "geometry": str | null, "next": {"frame": int, "matrix_world": 4x4,
    "geometry": str | null} | null}``. ``geometry`` fingerprints the evaluated mesh's vertices in object
    space (null: not a mesh): equal fingerprints in both frames make the object's motion rigid."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CameraError("capture.objects must be a list")
    for i, obj in enumerate(value):
        what = f"capture.objects[{i}]"
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            raise CameraError(f"{what} must be an object with a name")
        if isinstance(obj.get("pass_index", 0), bool) or not isinstance(obj.get("pass_index", 0), int):
            raise CameraError(f"{what}.pass_index must be a whole number")
        _check_matrix(obj.get("matrix_world"), f"{what}.matrix_world")
        nxt = obj.get("next")
        if nxt is not None:
            if not isinstance(nxt, dict):
                raise CameraError(f"{what}.next must be an object or null")
            _check_matrix(nxt.get("matrix_world"), f"{what}.next.matrix_world")
    return tuple(value)


def _optional_count(d: dict, name: str) -> int | None:
    value = d.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise CameraError(f"capture.{name} must be a whole number >= 0, got {value!r}")
    return value


def _optional_str(d: dict, name: str) -> str | None:
    value = d.get(name)
    if value is not None and not isinstance(value, str):
        raise CameraError(f"capture.{name} must be a string, got {type(value).__name__}")
    return value


#: The largest camera sidecar read (a sidecar of a frame with ten thousand objects is a few MB).
MAX_SIDECAR_BYTES = 64 << 20


def _not_a_file(path: str) -> str | None:
    """"a folder" or "not a regular file (a device or a pipe)" when ``path`` exists and is not a regular file."""
    what = not_regular(path)
    if what is None or what == "a folder":
        return what
    return f"not a regular file ({what})"


def read_small_text(path, limit: int, what: str) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes, read with at most ``limit + 1`` bytes from
    the file: a device (``/dev/zero``), a FIFO or a folder is :class:`DepthCloudError` before it is read, and so
    is a larger file. Raises ``OSError`` (``FileNotFoundError`` ...) and ``UnicodeDecodeError`` as ``open`` does."""
    path = os.fspath(path)
    problem = _not_a_file(path)
    if problem is not None:
        raise DepthCloudError(f"{path}: cannot read the {what}: {problem}")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size  # read(n) allocates n bytes: ask for what is there
        data = f.read(min(size, limit) + 1)
        while len(data) <= limit and (more := f.read(min(limit + 1 - len(data), 1 << 20))):  # it grew
            data += more
    if len(data) > limit:
        raise DepthCloudError(f"{path}: cannot read the {what}: larger than {limit >> 20} MB")
    return data.decode("utf-8")


def read_sidecar(path) -> tuple[CameraModel, CaptureInfo]:
    """The camera and the capture facts in a sidecar JSON file; :class:`DepthCloudError` (one line,
    naming the file) when it cannot be read."""
    path = os.fspath(path)
    try:
        text = read_small_text(path, MAX_SIDECAR_BYTES, "camera file")
    except FileNotFoundError:
        raise DepthCloudError(f"{path}: no such camera file") from None
    except UnicodeDecodeError:
        raise DepthCloudError(f"{path}: not a camera file (not UTF-8 text)") from None
    except OSError as exc:
        raise DepthCloudError(f"{path}: cannot read the camera file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CameraError(f"{path}: camera JSON is not valid JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:  # nested too deep; an integer with thousands of digits
        raise CameraError(f"{path}: camera JSON cannot be read: {type(exc).__name__}: {str(exc)[:200]}") from None
    try:
        camera = CameraModel.from_dict(data)
        capture = CaptureInfo.from_dict(data.get("capture"))
    except CameraError as exc:
        raise CameraError(f"{path}: {exc}") from None
    return camera, capture


def read_camera_sidecar(path) -> CameraModel:
    """The camera in a sidecar JSON file (see :func:`read_sidecar`)."""
    return read_sidecar(path)[0]


def write_camera_sidecar(path, camera: CameraModel, capture: CaptureInfo | None = None) -> str:
    """Write ``camera`` (and the ``capture`` block, if any) to ``path`` atomically; returns the path."""
    path = os.fspath(path)
    data = camera.to_dict()
    if capture is not None and capture.to_dict():
        data["capture"] = capture.to_dict()
    write_text(path, json.dumps(data, indent=1))
    return path


@dataclass(frozen=True)
class FrameFiles:
    """The files of one frame."""

    depth_path: str
    color_path: str | None   # None: color comes from the depth file (multilayer) or is absent
    camera_path: str | None  # None: no sidecar
    passes_path: str | None = None  # passes_NNNN.exr beside the depth file, if any


def frame_files_of(depth_path, *, color_path=None, camera_path=None, passes_path=None) -> FrameFiles:
    """A depth file's frame: ``color_path``/``camera_path`` if given, else the files found beside it.

    Raises :class:`MissingFrameError` when the depth file does not exist.
    """
    depth_path = os.fspath(depth_path)
    if not os.path.isfile(depth_path):
        problem = _not_a_file(depth_path)
        if problem is not None:
            raise DepthCloudError(f"{depth_path}: not a depth file: {problem}")
        raise MissingFrameError(f"{depth_path}: no such file")
    return FrameFiles(depth_path,
                      os.fspath(color_path) if color_path is not None else color_beside(depth_path),
                      os.fspath(camera_path) if camera_path is not None else sidecar_beside(depth_path),
                      os.fspath(passes_path) if passes_path is not None else passes_beside(depth_path))


def neighbour_files(files: FrameFiles, frame: int, step: int = 1) -> FrameFiles | None:
    """The files of frame ``frame + step`` of the sequence ``files`` (frame ``frame``) belongs to: the last
    run of digits in the depth file's name that reads ``frame`` is replaced by the other frame number at the
    same width, and the files beside it are found as usual. None when there is no such depth file."""
    folder, name = os.path.split(files.depth_path)
    run = _frame_run(name, frame)
    if run is None:
        return None
    begin, end = run
    other = os.path.join(folder, f"{name[:begin]}{frame + step:0{end - begin}d}{name[end:]}")
    return frame_files_of(other) if os.path.isfile(other) else None


def _frame_run(name: str, frame: int) -> tuple[int, int] | None:
    """Where ``name`` holds ``frame``: the last run of digits (with a minus sign before it, for "-001") that reads
    it, as ``(begin, end)``; None when none does."""
    for match in reversed(list(re.finditer(r"\d+", name, re.ASCII))):
        start = match.start() - 1 if match.start() > 0 and name[match.start() - 1] == "-" else match.start()
        for begin in dict.fromkeys((start, match.start())):  # "-001" is frame -1 when a sign precedes it
            if int(name[begin:match.end()]) == frame:
                return begin, match.end()
    return None


def pattern_of(path, frame: int | None) -> str:
    """A frame's file as the ``#`` pattern of its sequence (the inverse of :func:`frame_path`): the last run of digits
    that reads ``frame`` becomes ``#`` of the same width (``shot/depth_0012.exr`` -> ``shot/depth_####.exr``); the
    path as it is when no run reads the frame (or ``frame`` is None)."""
    path = os.fspath(path)
    if frame is None:
        return path
    run = _frame_run(path, frame)
    return path if run is None else path[:run[0]] + "#" * (run[1] - run[0]) + path[run[1]:]


def find_frame_files(folder_or_pattern, frame: int, *, from_setup: bool) -> FrameFiles:
    """The files of ``frame``.

    ``from_setup``: ``folder_or_pattern`` is the set-up's output folder (the standard names apply).
    Otherwise it is a depth EXR, a multilayer render EXR, or a pattern with ``#`` for the frame
    number; a sibling ``color_``/``camera_`` file is used when the depth file follows our naming,
    and ``NAME.json`` next to the file counts as its camera sidecar.
    Raises :class:`MissingFrameError` when the depth file does not exist.
    """
    if from_setup:
        depth_path = setup_file(folder_or_pattern, "depth", frame)
    else:
        depth_path = frame_path(folder_or_pattern, frame)
    if not os.path.isfile(depth_path):
        hint = " (render the frame first, F12 or Render Animation)" if from_setup else ""
        raise MissingFrameError(f"no depth file for frame {frame}: {depth_path} does not exist{hint}")
    return frame_files_of(depth_path)


@dataclass(frozen=True)
class FrameInputs:
    """One frame's files and the camera that saw it."""

    frame: int | None
    files: FrameFiles
    camera: CameraModel
    camera_note: str    # where the camera came from, for the user
    signature: tuple    # changes when any input changes (paths, modification times, camera)
    uses_fallback_camera: bool = False  # True: no sidecar; the camera came from ``fallback`` (the scene's)
    capture: CaptureInfo = field(default_factory=CaptureInfo)  # the sidecar's capture facts (empty without one)

    @property
    def warnings(self) -> list[str]:
        """Why this frame's cloud may be off (depth of field, motion blur), for the user."""
        return self.capture.warnings()


def file_identity(path: str | None) -> tuple | None:
    """What identifies a file's content without reading it: size, modification time and inode (a file replaced
    by another, even of the same time, has another inode or size). None for no path, or a file that is gone."""
    if not path:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def files_signature(files: FrameFiles) -> tuple:
    """Changes when any of a frame's files changes (paths, and each file's :func:`file_identity`)."""
    return tuple(item for path in (files.depth_path, files.color_path, files.camera_path, files.passes_path)
                 for item in (path, file_identity(path)))


@dataclass(frozen=True)
class FrameCamera:
    """A frame's camera, where it came from (``note``, for the user) and the sidecar's capture facts."""

    camera: CameraModel
    note: str
    capture: CaptureInfo = field(default_factory=CaptureInfo)
    uses_fallback: bool = False  # no sidecar: the camera came from ``fallback`` (the scene's)
    given: bool = False          # the camera was given (e.g. read from a .blend)


def frame_camera(camera_path: str | None, *, camera: CameraModel | None = None, camera_note: str = "",
                 fallback: Callable[[], tuple[CameraModel, str]] | None = None, what: str = "the frame") -> FrameCamera:
    """The camera of a frame, by the one rule: ``camera`` if given (e.g. read from a .blend), else the frame's
    sidecar ``camera_path``, else ``fallback()`` -> ``(camera, note)`` (the scene camera in Blender). Raises
    :class:`DepthCloudError` when the sidecar cannot be read or there is no camera (``what`` names the frame)."""
    if camera is not None:
        return FrameCamera(camera, camera_note or "camera given", given=True)
    if camera_path is not None:
        camera, capture = read_sidecar(camera_path)
        return FrameCamera(camera, f"camera from {os.path.basename(camera_path)}", capture)
    if fallback is not None:
        camera, note = fallback()
        return FrameCamera(camera, note, uses_fallback=True)
    raise DepthCloudError(f"{what}: no camera sidecar beside the depth file")


def frame_inputs(files: FrameFiles, frame: int | None = None, *, camera: CameraModel | None = None,
                 camera_note: str = "", fallback: Callable[[], tuple[CameraModel, str]] | None = None
                 ) -> FrameInputs:
    """A frame's files with its camera (:func:`frame_camera`, the one rule). Raises :class:`DepthCloudError` when
    the sidecar cannot be read or there is no camera."""
    found = frame_camera(files.camera_path, camera=camera, camera_note=camera_note, fallback=fallback,
                         what=files.depth_path)
    camera_key = found.camera.to_json() if found.given or found.uses_fallback else None
    signature = (*files_signature(files), camera_key)
    return FrameInputs(frame, files, found.camera, found.note, signature, found.uses_fallback, found.capture)
