"""Read the depth and color EXRs Blender writes, and write simple float32 EXRs.

Pure numpy + OpenEXR (imported lazily); never imports ``bpy``.

Conventions of every array returned here:

* shape ``(H, W)`` for depth and ``(H, W, 4)`` for color, the file's data window as stored;
* rows run **top-down**: row 0 is the top of the image (EXR order; ``bpy``'s ``Image.pixels`` runs
  bottom-up, this module does not);
* depth holds the **raw values** of the file as float32: Cycles' "no hit" value ``1e10`` (EEVEE:
  about ``clip_end``) is kept. Whether depth is planar (perspective/orthographic cameras in Cycles)
  or a ray distance (panoramic cameras) is not decided here: this module does not interpret it;
* color is **linear, premultiplied RGBA** as stored (no view transform), float32; half-float
  channels are converted; a file with R, G, B only gets ``A = 1``;
* ``depth_kind`` is what the file *says* it holds: the string attribute ``depthCloud.depthKind``
  (``"planar"`` or ``"distance"``) of the header of the part holding the depth channel, which every
  depth file Depth Cloud writes carries (``write_exr(..., depth_kind=...)``), or None. Blender's own
  files have none (the frame's sidecar records their kind); what ``auto`` makes of a file is decided
  in one place, ``core.frames.depth.resolve_file_depth_kind``.

Layouts read (channel names as Blender 4.2 to 5.0 write them, see ``find_depth_channel``):

* render output, multilayer: ``<ViewLayer>.Depth.Z`` and ``<ViewLayer>.Combined.R/G/B/A``, in one
  part (4.x, 5.0 with ``use_exr_interleave``) or one part per pass (5.0); with compositing on, also
  ``Composite.Combined.*``;
* File Output node, single layer: depth as ``V`` (4.2; 4.5/5.0 with a BW format) or as ``R=G=B``
  with ``A=1`` (4.5/5.0 with an RGB(A) format); color as ``R, G, B, A``;
* File Output node, multilayer: ``<slot>.V`` for depth (e.g. ``Depth.V``) and ``<slot>.R/G/B/A``
  for color (e.g. ``Image.R``).

Example::

    img = read_exr("/renders/frame_0001.exr")
    img.depth.shape, img.depth_channel      # (1080, 1920), 'ViewLayer.Depth.Z'
    img.color[0, 0]                         # linear premultiplied RGBA of the top-left pixel
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..atomic import atomic_path, library_path, not_regular
from ..errors import ExrReadError, MissingChannelError

__all__ = ["DEPTH_KIND_ATTRIBUTE", "EXR_MAGIC", "ExrChannels", "ExrImage", "exr_window", "find_color_channels",
           "find_depth_channel", "image_windows", "read_channels", "read_exr", "write_exr"]

#: The header attribute (a string, "planar" or "distance") that says which depth kind a file holds.
DEPTH_KIND_ATTRIBUTE = "depthCloud.depthKind"
_RECORDED_KINDS = ("planar", "distance")

EXR_MAGIC = b"\x76\x2f\x31\x01"
# Single-channel Blender passes that are not depth: Mist is normalised to 0..1; Denoising Depth
# is averaged over samples (the Depth pass is not); the index passes (in passes_NNNN.exr too) and Alpha.
_NOT_DEPTH_LAYERS = frozenset({"Mist", "Denoising Depth", "IndexOB", "IndexMA", "Object Index", "Material Index",
                               "Alpha"})
_threads_set = False


@dataclass(frozen=True)
class ExrImage:
    """Depth and color read from one EXR file (see the module docstring for conventions).

    ``depth`` is float32 ``(H, W)`` or None; ``color`` is float32 ``(H, W, 4)`` (float16 if asked to keep a
    half-float file's, see :func:`read_exr`) or None (at least
    one is set). ``channels`` lists every channel of the file (all parts, file order);
    ``depth_channel`` / ``color_channels`` name the channels that were used. ``depth_kind`` is the
    kind the depth channel's part records in its header (:data:`DEPTH_KIND_ATTRIBUTE`), or None.
    """

    path: str
    depth: np.ndarray | None
    color: np.ndarray | None
    channels: tuple[str, ...]
    depth_channel: str | None
    color_channels: tuple[str, ...] | None
    depth_kind: str | None = None
    view_layer: str | None = None  # the view layer the depth came from (multilayer render EXRs), else None


    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        arr = self.depth if self.depth is not None else self.color
        assert arr is not None  # read_exr never returns an image with neither depth nor color
        return (int(arr.shape[0]), int(arr.shape[1]))


def _split(name: str) -> tuple[str, str]:
    """``'ViewLayer.Depth.Z'`` -> ``('ViewLayer.Depth', 'Z')``; ``'R'`` -> ``('', 'R')``."""
    prefix, _, comp = name.rpartition(".")
    return prefix, comp


def _layers(channel_names) -> dict[str, dict[str, str]]:
    """prefix -> {component: full name}, both in file order."""
    layers: dict[str, dict[str, str]] = {}
    for name in channel_names:
        prefix, comp = _split(name)
        layers.setdefault(prefix, {})[comp] = name
    return layers


def view_layers(channel_names) -> list[str]:
    """The view layers of a multilayer render EXR (layers holding a ``Depth.Z`` pass), in file order."""
    return [name.rsplit(".", 2)[0] for name in channel_names
            if name.count(".") >= 2 and name.split(".")[-2:] == ["Depth", "Z"]]


def find_depth_channel(channel_names) -> str | None:
    """Pick the depth channel among ``channel_names`` by name alone, or return None.

    In order (the first match in file order wins within a rule):

    1. a channel whose last two name components are ``Depth.Z`` (render Depth pass,
       e.g. ``ViewLayer.Depth.Z``; so the first view layer in the file wins);
    2. ``Z``, or ``<layer>.Z`` where the layer holds no other channel (so not ``Normal.Z``,
       ``Position.Z``, ``Vector.Z``) and is not ``Mist`` or ``Denoising Depth``;
    3. ``V``, then ``<layer>.Depth.V``/``Depth.V``, then any other ``<layer>.V`` under the same
       conditions (File Output depth; not ``UV.V``, not ``Mist.V``).

    The File-Output layout of 4.5/5.0 that stores depth as ``R=G=B`` cannot be recognised from
    names; :func:`read_exr` handles it by looking at the pixels.
    """
    names = list(channel_names)
    for name in names:
        if name.split(".")[-2:] == ["Depth", "Z"]:
            return name
    layers = _layers(names)

    def single(comp: str) -> list[str]:
        return [
            chans[comp]
            for prefix, chans in layers.items()
            if comp in chans
            and (prefix == "" or (len(chans) == 1 and _split(prefix)[1] not in _NOT_DEPTH_LAYERS))
        ]

    z = single("Z")
    if z:
        return z[0]
    v = single("V")
    for name in v:
        if name == "V":
            return name
    for name in v:
        if name.split(".")[-2:] == ["Depth", "V"]:
            return name
    return v[0] if v else None


def find_color_channels(channel_names, *, view_layer: str | None = None) -> tuple[str, ...] | None:
    """Pick the color channels ``(R, G, B[, A])`` among ``channel_names``, or return None.

    Layers having R, G and B are ranked: ``<view_layer>.Combined`` (when ``view_layer`` is given),
    any other ``<layer>.Combined`` except ``Composite.Combined``, then ``Composite.Combined``, then
    ``Image`` (multilayer File Output), then plain ``R, G, B``; if none of these exists and the
    file holds exactly one RGB layer, that one. ``Noisy Image`` and other passes are never picked
    when another RGB layer exists.
    """
    rgb = {p: c for p, c in _layers(channel_names).items() if {"R", "G", "B"} <= c.keys()}

    def rank(prefix: str) -> int | None:
        layer, last = _split(prefix)
        if view_layer is not None and prefix == f"{view_layer}.Combined":
            return 0
        if last == "Combined":
            return 2 if layer == "Composite" else 1
        if prefix == "Image":
            return 3
        if prefix == "":
            return 4
        return 5 if len(rgb) == 1 else None

    ranked = [(r, i, p) for i, p in enumerate(rgb) if (r := rank(p)) is not None]
    if not ranked:
        return None
    chans = rgb[min(ranked)[2]]
    return tuple(chans[c] for c in ("R", "G", "B", "A") if c in chans)


def _openexr():
    global _threads_set
    import OpenEXR

    if not _threads_set:
        from .. import _parallel

        OpenEXR.set_global_thread_count(_parallel.THREADS or os.cpu_count() or 1)
        _threads_set = True
    return OpenEXR


def _load(path: str) -> tuple[dict[str, np.ndarray], tuple[str, ...], dict[str, str | None], dict[str, object],
                             dict[str, str]]:
    """Every channel's pixels, the channel names in file order, each channel's color tag, each channel's
    recorded depth kind (its part's :data:`DEPTH_KIND_ATTRIBUTE`, unchecked; None if absent), and the
    string attributes of every part's header (e.g. Cryptomatte's ``cryptomatte/<key>/manifest``)."""
    _check_magic(path)
    OpenEXR = _openexr()
    try:
        with library_path(path) as readable:
            pixels, names, interop, kinds, strings = _load_pixels(OpenEXR, readable)
    except Exception as exc:  # OpenEXR raises RuntimeError (and others) on corrupt data
        raise ExrReadError(f"{path}: cannot read EXR: {exc}") from exc
    missing = [n for n in names if n not in pixels]
    if missing:
        raise ExrReadError(
            f"{path}: truncated or corrupt EXR: no pixel data for channel(s) {', '.join(missing)}"
        )
    return pixels, names, interop, kinds, strings


def _check_magic(path: str) -> None:
    """:class:`ExrReadError` unless ``path`` is a regular file that starts as an OpenEXR file does (a device or a
    FIFO is not read at all)."""
    what = not_regular(path)
    if what is not None:
        raise ExrReadError(f"{path}: not a regular file ({what})")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ExrReadError(f"{path}: no such file") from None
    except OSError as exc:
        raise ExrReadError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if magic != EXR_MAGIC:
        raise ExrReadError(f"{path}: not an OpenEXR file (bad magic number)")


def _load_pixels(OpenEXR, path: str):
    """:func:`_load` once the file is known to be an EXR (``path``: a name OpenEXR can open)."""
    # The headers list every channel; a truncated file's full read silently drops parts.
    with OpenEXR.File(path, header_only=True) as f:
        names = tuple(c.name for p in f.parts for c in p.header["channels"])
        # A plain RGBA color file reads interleaved as one (H, W, 4) array: no copy to assemble it.
        # (Inside the block: the parts are gone once the file is closed.)
        interleave = len(f.parts) == 1 and sorted(names) == ["A", "B", "G", "R"]
    if interleave:
        try:
            opened = OpenEXR.File(path, separate_channels=False)
        except ValueError:  # "cannot coalesce": the four channels differ in type (e.g. a half alpha)
            interleave = False
    if not interleave:
        opened = OpenEXR.File(path, separate_channels=True)
    with opened as f:
        pixels, interop, kinds, strings = {}, {}, {}, {}
        for part in f.parts:
            strings.update({k: v for k, v in part.header.items() if isinstance(v, str) and "/" in k})
            tag = part.header.get("colorInteropID")  # (the header is emptied on close)
            kind = part.header.get(DEPTH_KIND_ATTRIBUTE)
            for name, channel in part.channels.items():
                if interleave and name == "RGBA" and channel.pixels.ndim == 3:
                    for i, component in enumerate("RGBA"):
                        pixels[component] = channel.pixels[..., i]
                        interop[component], kinds[component] = tag, kind
                else:
                    pixels[name] = channel.pixels
                    interop[name], kinds[name] = tag, kind
    return pixels, names, interop, kinds, strings


@dataclass(frozen=True)
class ExrChannels:
    """Every channel of an EXR (all parts) and the string attributes of its headers."""

    path: str
    pixels: dict            # channel name -> (H, W) array as stored (row 0 = top)
    names: tuple[str, ...]  # channel names in file order
    attributes: dict        # string header attributes with a "/" in their name (Cryptomatte's), all parts
    interop: dict = field(default_factory=dict)  # channel name -> its part's colorInteropID
    kinds: dict = field(default_factory=dict)    # channel name -> its part's recorded depth kind

    def holds(self, path) -> bool:
        """Whether these are the channels of the file at ``path`` (so it need not be decoded again)."""
        return os.path.abspath(self.path) == os.path.abspath(os.fspath(path))


def read_channels(path) -> ExrChannels:
    """Every channel of the EXR at ``path`` (for passes beyond depth and color: index, normal, vector,
    Cryptomatte); :class:`ExrReadError` for a missing, non-EXR, truncated or corrupt file. Pass it to
    :func:`read_exr` as ``channels`` to read depth and color from it without decoding the file again."""
    path = os.fspath(path)
    pixels, names, interop, kinds, strings = _load(path)
    return ExrChannels(path, pixels, names, strings, interop, kinds)


def exr_window(box) -> tuple[int, int, int, int]:
    """An EXR header's box ``((x0, y0), (x1, y1))`` (inclusive corners) as ``(x0, y0, width, height)``."""
    (x0, y0), (x1, y1) = (tuple(int(v) for v in corner) for corner in box)
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def image_windows(path) -> tuple[tuple[tuple[int, int, int, int], tuple[int, int, int, int]], ...]:
    """Each part's ``(data window, display window)`` as ``(x0, y0, width, height)`` from the EXR's headers alone
    (no pixel is decoded); :class:`ExrReadError` for a missing, non-EXR or unreadable file."""
    path = os.fspath(path)
    _check_magic(path)
    OpenEXR = _openexr()

    try:
        with library_path(path) as readable, OpenEXR.File(readable, header_only=True) as f:
            return tuple((exr_window(p.header["dataWindow"]), exr_window(p.header["displayWindow"])) for p in f.parts)
    except Exception as exc:  # OpenEXR raises RuntimeError (and others) on a corrupt header
        raise ExrReadError(f"{path}: cannot read the EXR header: {exc}") from None


def _recorded_kind(path: str, value) -> str | None:
    """The depth kind a header records (None when it records none); :class:`ExrReadError` for any other value."""
    if value is None or (isinstance(value, str) and value in _RECORDED_KINDS):
        return value
    raise ExrReadError(f"{path}: the header's {DEPTH_KIND_ATTRIBUTE} is {value!r}; expected 'planar' or 'distance'")


def _grey_depth(layers, pixels, interop) -> tuple[str | None, str]:
    """The File-Output depth layout of Blender 4.5/5.0: ``R=G=B=depth, A=1``.

    Applies only when the file holds exactly one layer with channels R, G, B[, A] and nothing else,
    R == G == B everywhere and A == 1 everywhere. A grey *image* has the same layout, so:
    if the header names a color space (``colorInteropID``, written by 5.0), it must be ``data``;
    without it (4.5), every value must be > 0 and finite with at least one > 1 (Blender depth is
    >= clip_start > 0 and some pixel is almost always beyond 1 unit, or 1e10 for "no hit"), which
    rules out display-referred images in [0, 1] and any image with a black pixel.
    Returns ``(channel or None, reason for the error message)``.
    """
    if len(layers) != 1:
        return None, ""
    chans = next(iter(layers.values()))
    if set(chans) not in ({"R", "G", "B"}, {"R", "G", "B", "A"}):
        return None, ""
    r, g, b = (pixels[chans[c]] for c in "RGB")
    if r.size and not (r.flat[0] == g.flat[0] == b.flat[0]):  # a colour image, seen from one pixel (no full pass)
        return None, ""
    if not (np.array_equal(r, g) and np.array_equal(r, b)):
        return None, ""
    if "A" in chans and not np.all(pixels[chans["A"]] == 1):
        return None, "R == G == B but A is not 1 everywhere: a grey image, not depth"
    tag = interop[chans["R"]]
    if tag is not None:
        if tag == "data":
            return chans["R"], ""
        return None, f"R == G == B but the file is tagged as color ({tag!r}), not data"
    if np.all(r > 0) and np.all(np.isfinite(r)) and np.any(r > 1):
        return chans["R"], ""
    return None, "R == G == B but values are not all > 0 with some > 1: looks like a grey image"


def _color_array(pixels, names: tuple[str, ...], keep_half: bool = False) -> np.ndarray:
    base = pixels[names[0]].base
    stored = (np.float32, np.float16) if keep_half else (np.float32,)
    if (names == ("R", "G", "B", "A") and isinstance(base, np.ndarray) and base.dtype in stored
            and base.ndim == 3 and base.shape[2] == 4
            and all(pixels[n].base is base for n in names) and pixels["R"].ctypes.data == base.ctypes.data):
        return base  # read interleaved already (see _load)
    h, w = pixels[names[0]].shape
    out = np.empty((h, w, 4), dtype=np.float32)
    for i, name in enumerate(names):
        out[..., i] = pixels[name]  # converts half/uint to float32 in place
    if len(names) == 3:
        out[..., 3] = 1.0
    return out


def read_exr(path, *, depth_channel=None, color_layer=None, require_depth=True, view_layer=None,
             view_layer_required=True, channels: ExrChannels | None = None, keep_half: bool = False) -> ExrImage:
    """Read depth and color from an EXR written by Blender (any layout listed in the module doc).

    ``depth_channel``: full channel name to use as depth (else :func:`find_depth_channel`, then the
    ``R=G=B`` File-Output fallback described in ``_grey_depth``: a grey image is only taken as depth
    when it is tagged as data or its values look like depth; pass ``depth_channel="R"`` otherwise).
    ``color_layer``: layer prefix of the color channels, e.g. ``"ViewLayer.Combined"``,
    ``"ViewLayer"`` (``.Combined`` is appended if needed) or ``""`` for plain R, G, B[, A]
    (else :func:`find_color_channels`). Channels used as depth are not also returned as color,
    unless ``color_layer`` asks for them.

    ``view_layer``: in a multilayer render EXR, take depth and color from this view layer (by default
    the first one in the file, see :func:`find_depth_channel`). A file without view layers (a File Output
    EXR: one layer) ignores it. A view layer the file lacks is an error (:class:`MissingChannelError`,
    naming the layers there are), unless ``view_layer_required`` is False: then the first layer is read.
    The result's ``view_layer`` names the layer read (None for files without view layers).

    ``channels``: the file already decoded by :func:`read_channels` (read from it, not decoded again).
    ``keep_half``: a plain half-float RGBA colour file's ``color`` stays float16, as stored (for a caller that
    converts only the pixels it keeps: :meth:`..geometry.projection.PixelSet.take`); otherwise float32.

    The result's ``depth_kind`` is the kind recorded in the header of the part holding the depth
    channel (:data:`DEPTH_KIND_ATTRIBUTE`), None when there is none or no depth was read.

    Raises :class:`ExrReadError` for a missing, non-EXR, truncated or corrupt file, when depth and
    color differ in shape, or when the depth part records a kind other than "planar"/"distance";
    :class:`MissingChannelError` (message lists the channels present) when a requested channel/layer
    is absent, when no depth is found and ``require_depth`` is True, or when neither depth nor color
    is found.
    """
    path = os.fspath(path)
    if channels is not None and channels.holds(path):  # decoded already
        pixels, names, interop, kinds = channels.pixels, channels.names, channels.interop, channels.kinds
    else:
        pixels, names, interop, kinds, _ = _load(path)
    present = ", ".join(names) or "none"
    layers = _layers(names)
    in_file = view_layers(names)
    if view_layer is not None and depth_channel is None and in_file:
        if view_layer in in_file:
            depth_channel = f"{view_layer}.Depth.Z"
            if color_layer is None and {"R", "G", "B"} <= layers.get(f"{view_layer}.Combined", {}).keys():
                color_layer = f"{view_layer}.Combined"
        elif view_layer_required:
            raise MissingChannelError(f"{path}: no view layer {view_layer!r}; view layers in the file: "
                                      + ", ".join(repr(v) for v in in_file))

    why = ""
    if depth_channel is not None:
        if depth_channel not in pixels:
            raise MissingChannelError(
                f"{path}: no channel {depth_channel!r}; channels present: {present}"
            )
        depth_name = depth_channel
    else:
        depth_name = find_depth_channel(names)
        if depth_name is None:
            depth_name, why = _grey_depth(layers, pixels, interop)
    if depth_name is None and require_depth:
        hint = f" ({why}; pass depth_channel='R' if it holds depth)" if why else ""
        raise MissingChannelError(f"{path}: no depth channel{hint}; channels present: {present}")

    color_names: tuple[str, ...] | None
    if color_layer is not None:
        rgb_layers = [layers.get(p, {}) for p in (color_layer, f"{color_layer}.Combined")]
        chans = next((c for c in rgb_layers if {"R", "G", "B"} <= c.keys()), None)
        if chans is None:
            raise MissingChannelError(
                f"{path}: no R, G, B channels in layer {color_layer!r}; channels present: {present}"
            )
        color_names = tuple(chans[c] for c in ("R", "G", "B", "A") if c in chans)
    else:
        view_layer = depth_name.rsplit(".", 2)[0] if depth_name and depth_name.count(".") >= 2 else None
        color_names = find_color_channels(names, view_layer=view_layer)
        if color_names and depth_name in color_names:
            color_names = None
    if depth_name is None and color_names is None:
        raise MissingChannelError(f"{path}: no depth or color channels; channels present: {present}")

    depth, depth_kind = None, None
    if depth_name is not None:
        depth_kind = _recorded_kind(path, kinds[depth_name])
        depth = pixels[depth_name]
        if depth.dtype != np.float32:
            depth = depth.astype(np.float32)
    if color_names and len({pixels[n].shape for n in color_names}) != 1:
        raise ExrReadError(f"{path}: color channels {', '.join(color_names)} differ in size")
    color = _color_array(pixels, color_names, keep_half) if color_names else None
    if depth is not None and color is not None and depth.shape != color.shape[:2]:
        assert color_names is not None  # color is read from color_names
        raise ExrReadError(
            f"{path}: depth {depth_name!r} is {depth.shape[1]}x{depth.shape[0]} but color "
            f"{color_names[0]!r} is {color.shape[1]}x{color.shape[0]} (W x H)"
        )
    used_layer = depth_name.rsplit(".", 2)[0] if depth_name and depth_name.rsplit(".", 2)[0] in in_file else None
    return ExrImage(path, depth, color, names, depth_name, color_names, depth_kind, used_layer)


_COMPRESSIONS = {
    "none": "NO_COMPRESSION",
    "rle": "RLE_COMPRESSION",
    "zips": "ZIPS_COMPRESSION",
    "zip": "ZIP_COMPRESSION",
    "piz": "PIZ_COMPRESSION",
    "pxr24": "PXR24_COMPRESSION",
    "b44": "B44_COMPRESSION",
    "b44a": "B44A_COMPRESSION",
    "dwaa": "DWAA_COMPRESSION",
    "dwab": "DWAB_COMPRESSION",
}


def write_exr(path, channels: dict[str, np.ndarray], *, compression: str = "zip",
              depth_kind: str | None = None, attributes: dict[str, str] | None = None) -> None:
    """Write ``channels`` (name -> ``(H, W)`` array, row 0 = top) as a float32 single-part EXR.

    The file is written under a temporary name in the same folder, then renamed over ``path``, so
    readers never see a half-written file. ``compression``: one of ``none, rle, zips, zip, piz,
    pxr24, b44, b44a, dwaa, dwab``. ``depth_kind`` ("planar" or "distance"): record the kind of the
    depth it holds in the header, as the string attribute :data:`DEPTH_KIND_ATTRIBUTE` (every depth
    file Depth Cloud writes does; :func:`read_exr` returns it as ``depth_kind``). Raises ValueError on
    bad arguments, OSError if writing fails. ``attributes``: more string attributes for the header.

    Example: ``write_exr("d.exr", {"V": depth}, depth_kind="planar")`` or ``{"R": r, "G": g, "B": b, "A": a}``.
    """
    if depth_kind is not None and depth_kind not in _RECORDED_KINDS:
        raise ValueError(f"write_exr: depth_kind must be 'planar' or 'distance', got {depth_kind!r}")
    if compression not in _COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; use one of: {', '.join(_COMPRESSIONS)}")
    if not channels:
        raise ValueError("write_exr: no channels")
    arrays = {str(k): np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"write_exr: channels must be 2-D arrays of one shape, got {sorted(shapes)}")
    OpenEXR = _openexr()
    path = os.fspath(path)
    header = {
        "compression": getattr(OpenEXR, _COMPRESSIONS[compression]),
        "type": OpenEXR.scanlineimage,
    }
    if depth_kind is not None:
        header[DEPTH_KIND_ATTRIBUTE] = depth_kind
    header.update({str(k): str(v) for k, v in (attributes or {}).items()})  # e.g. a Cryptomatte manifest
    with atomic_path(path) as tmp, library_path(tmp) as writable:
        try:
            with OpenEXR.File(header, arrays) as f:
                f.write(writable)
        except RuntimeError as exc:
            raise OSError(f"{path}: cannot write EXR: {exc}") from exc
