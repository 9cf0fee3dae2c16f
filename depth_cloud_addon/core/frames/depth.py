"""What kind of depth a file holds, the one rule for ``"auto"``, and the one depth-file converter. Pure numpy.

Depth kinds: ``"planar"`` (Z along the view axis), ``"distance"`` (along the pixel's ray) or ``"auto"``. For a
*file*, ``auto`` means what the file says it holds (:func:`resolve_file_depth_kind`): its EXR header
(``depthCloud.depthKind``, which every depth file Depth Cloud writes carries), else the frame sidecar's record for
that file name (``capture.depth_files``, for the files Blender's File Output node writes), else what Cycles writes
for the camera (planar for perspective and orthographic cameras, distance for panoramic ones). Every reader of a
depth file goes through :func:`read_depth_file`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from ..formats.exr import ExrChannels, ExrImage, read_exr, write_exr
from ..geometry.camera import CameraModel
from ..geometry.projection import DEPTH_KINDS, convert_depth, depth_buffer_background
from .files import CaptureInfo, FrameInputs

__all__ = ["DepthFilesWritten", "FileDepthKind", "read_depth_file", "read_frame_depth", "resolve_file_depth_kind",
           "write_depth_kinds"]


@dataclass(frozen=True)
class FileDepthKind:
    """The kind a depth file's values are read as, and why."""

    kind: str                   # "planar" or "distance"
    source: str                 # "given" (asked for), "header", "sidecar" or "camera" (what Cycles writes for it)
    warning: str | None = None  # set when a given kind contradicts what the file records


def resolve_file_depth_kind(requested: str, header_kind: str | None, capture_kind: str | None,
                            camera: CameraModel | None, *, path="the depth file") -> FileDepthKind:
    """What a depth file holds: the one rule for ``"auto"`` on a file (every entry point goes through it).

    ``requested``: "auto", "planar" or "distance". ``header_kind``: the file's header record
    (``ExrImage.depth_kind``); ``capture_kind``: the frame sidecar's record for the file's name
    (``CaptureInfo.kind_of``); either may be None, and so may ``camera`` when the kind is given or recorded. ``auto``
    takes the header's kind, else the sidecar's, else ``camera.natural_depth_kind()`` (what Cycles writes). A given kind
    wins; when it contradicts the file's record (header, else sidecar) the result carries a one-line ``warning``
    naming ``path``.
    Raises ValueError for an unknown ``requested``.
    """
    if requested != "auto" and requested not in DEPTH_KINDS:
        raise ValueError(f"depth_kind must be 'auto', 'planar' or 'distance', got {requested!r}")
    if header_kind is not None:
        recorded, where = header_kind, "its EXR header"
    elif capture_kind is not None:
        recorded, where = capture_kind, "its sidecar"
    else:
        recorded, where = None, ""
    if requested != "auto":
        warning = None
        if recorded is not None and recorded != requested:
            warning = (f"{os.fspath(path)}: read as {requested} depth as asked, but {where} says it holds "
                       f"{recorded} depth")
        return FileDepthKind(requested, "given", warning)
    if recorded is not None:
        return FileDepthKind(recorded, "header" if header_kind is not None else "sidecar")
    assert camera is not None, "without a recorded kind, 'auto' needs the camera"
    return FileDepthKind(camera.natural_depth_kind(), "camera")


def read_depth_file(path, camera: CameraModel, capture: CaptureInfo | None = None, depth_kind: str = "auto", *,
                    view_layer: str | None = None, view_layer_required: bool = True,
                    channels: ExrChannels | None = None) -> tuple[ExrImage, FileDepthKind]:
    """Read a depth file as what it holds: its depth (a rasteriser's far-plane "no hit" made background, when
    ``capture`` says EEVEE or Workbench wrote it) and its kind (:func:`resolve_file_depth_kind`, with the
    file's header and ``capture``'s record). ``view_layer``, ``channels``: see :func:`.exr.read_exr`. Every
    reader of depth files goes through here."""
    capture = capture or CaptureInfo()
    image = read_exr(path, view_layer=view_layer, view_layer_required=view_layer_required, channels=channels)
    if capture.depth_buffer_background and image.depth is not None:  # EEVEE: "no hit" is about clip_end
        image = dataclasses.replace(image, depth=depth_buffer_background(image.depth, camera))
    return image, resolve_file_depth_kind(depth_kind, image.depth_kind, capture.kind_of(image.path), camera,
                                          path=image.path)


def read_frame_depth(inputs: FrameInputs, depth_kind: str = "auto", *, view_layer: str | None = None,
                     view_layer_required: bool = True, channels: ExrChannels | None = None
                     ) -> tuple[ExrImage, FileDepthKind]:
    """A frame's depth file read by :func:`read_depth_file`, with the frame's camera and sidecar."""
    return read_depth_file(inputs.files.depth_path, inputs.camera, inputs.capture, depth_kind,
                           view_layer=view_layer, view_layer_required=view_layer_required, channels=channels)

@dataclass(frozen=True)
class DepthFilesWritten:
    """What :func:`write_depth_kinds` wrote, and from what."""

    depth_path: str
    paths: tuple[str, ...]        # the files written, in the order of ``outputs``
    source: FileDepthKind         # the input's kind, and why
    unchanged: tuple[str, ...]    # the kinds asked for that the input already had (written as identical copies)

    @property
    def notes(self) -> list[str]:
        """One line per output written unchanged, for the user."""
        return [f"{self.depth_path} is already {kind} depth: written unchanged" for kind in self.unchanged]

    @property
    def warnings(self) -> list[str]:
        """The given input kind contradicts the file's record (see :func:`resolve_file_depth_kind`)."""
        return [self.source.warning] if self.source.warning else []


def write_depth_kinds(depth_path, camera: CameraModel, outputs: dict[str, str], *, from_kind: str = "auto",
                      capture: CaptureInfo | None = None, view_layer: str | None = None) -> DepthFilesWritten:
    """Write ``depth_path``'s depth converted to each kind of ``outputs`` (kind -> path) as a
    one-channel (V) float32 EXR, NaN where nothing was hit, its kind recorded in its header
    (``depthCloud.depthKind``). The depth file is read once.

    ``from_kind``: the input's kind; "auto" by :func:`resolve_file_depth_kind` (the file's header, else
    ``capture``'s record for its name, else what Cycles writes for ``camera``). An output of the kind the
    input already has is written all the same, as an identical copy (NaN where nothing was hit), and listed
    in the result's ``unchanged``. ``view_layer``: the layer to read from a multilayer render EXR (see
    :func:`.exr.read_exr`; a layer the file lacks is an error).
    """
    depth_path = os.fspath(depth_path)
    image, source = read_depth_file(depth_path, camera, capture, from_kind, view_layer=view_layer)
    written = []
    for to_kind, out_path in outputs.items():
        write_exr(out_path, {"V": convert_depth(image.depth, camera, from_kind=source.kind, to_kind=to_kind)},
                  depth_kind=to_kind)
        written.append(out_path)
    return DepthFilesWritten(depth_path, tuple(written), source,
                             tuple(kind for kind in outputs if kind == source.kind))
