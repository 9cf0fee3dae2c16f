"""Render passes beyond depth and color, read as per-point attributes. Pure numpy (no bpy).

Where the passes are (see :func:`find_pass_layers`): ``passes_NNNN.exr`` beside ``depth_NNNN.exr``, the
multilayer EXR that Set Up EXR Outputs writes when extra passes are asked for, with one layer per
Blender pass named as Blender names it (``IndexOB.V``, ``IndexMA.V``, ``Normal.X/Y/Z``,
``Vector.X/Y/Z/W``, ``CryptoObject00..02.R/G/B/A``; 5.0 writes one part per layer and the Cryptomatte
channels in lower case), or a multilayer render EXR holding them (``<ViewLayer>.IndexOB.X`` ...).

Semantics (measured on Blender 4.2, 4.5 and 5.0; ``docs/conventions.md``):

* ``IndexOB`` / ``IndexMA``: the object's / material's ``pass_index`` as float32 (exact integers); 0 for
  the background (and for objects whose index is 0). Cycles only.
* ``Normal``: the world-space shading normal (unit) of the surface hit through the pixel.
* ``Vector``: screen-space motion in pixels, x right and y *up*; ``Z, W`` is the position of the
  surface point in this frame minus its position in the *next* frame (``X, Y``: the previous frame).
  Blender 4.2's File Output node writes only ``X, Y, Z`` (no ``W``), so motion from the Vector pass
  needs Blender 4.5 or later to capture.
* Cryptomatte (the published specification, v1.2): an object's name hashed with MurmurHash3_32 (seed 0,
  UTF-8), the hash stored as the bits of a float32 (exponent clamped to 1..254), ranked pairs
  ``(id, coverage)`` per pixel; the header's ``cryptomatte/<key>/manifest`` maps names to 8-hex-digit hashes.

Attributes (:data:`ATTRIBUTES`; POINT-domain attributes in Blender, NPZ arrays and PLY properties of the
same names): ``object_index``, ``material_pass_index``, ``object_id`` (the hash's 32 bits as int32, 0
where no object covers the pixel), ``normal`` (unit, world), ``motion`` (metres, world: the surface point's
position in the next frame minus its position in this one; NaN where unknown), ``motion_source`` (0
unknown, 1 rigid, 2 vector pass) and ``edge`` (1 where the pixel straddles a silhouette).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import DepthCloudError
from ..formats.exr import ExrChannels
from ..geometry.camera import CameraModel
from ..geometry.projection import resolve_depth_kind, unproject_depths, valid_depth_mask

__all__ = [
    "ATTRIBUTES", "CRYPTO_LAYERS", "EDGE_THRESHOLD", "MOTION_RIGID", "MOTION_UNKNOWN", "MOTION_VECTOR",
    "PASS_KINDS", "FramePasses", "attribute_passes", "check_attributes", "cryptomatte_float_bits",
    "decode_object_ids", "edge_mask", "legend_of", "murmur3_32", "parse_manifest", "read_passes",
    "rigid_motion", "sample_depth", "vector_motion", "MOTION_ATTRIBUTES", "OBJECT_ATTRIBUTES", "from_passes",
    "needs_next_frame", "next_pixels", "seen_in_next_frame", "ROUND_TRIP_PX", "CREASE_ANGLE", "crease_mask",
]

#: The extra passes Set Up EXR Outputs can capture (``extra_passes``).
PASS_KINDS = ("OBJECT_INDEX", "MATERIAL_INDEX", "NORMAL", "MOTION", "CRYPTOMATTE")
#: The point attributes a cloud can carry, in output order.
ATTRIBUTES = ("object_index", "material_pass_index", "object_id", "normal", "motion", "motion_source", "edge",
              "crease")
#: Cryptomatte object layers (Blender's default of 6 levels: 3 layers of 2 ranks).
CRYPTO_LAYERS = ("CryptoObject00", "CryptoObject01", "CryptoObject02")
#: Blender pass name -> (the names it goes by in render EXRs, its components).
_LAYERS = {
    "IndexOB": (("IndexOB", "Object Index"), ("V", "X")),
    "IndexMA": (("IndexMA", "Material Index"), ("V", "X")),
    "Normal": (("Normal",), ("X", "Y", "Z")),
    "Vector": (("Vector",), ("X", "Y", "Z", "W")),
    **{name: ((name,), ("R", "G", "B", "A")) for name in CRYPTO_LAYERS},
}
#: The passes each extra pass kind writes (MOTION finds its objects by Cryptomatte).
PASS_LAYERS = {"OBJECT_INDEX": ("IndexOB",), "MATERIAL_INDEX": ("IndexMA",), "NORMAL": ("Normal",),
               "MOTION": ("Vector",) + CRYPTO_LAYERS, "CRYPTOMATTE": CRYPTO_LAYERS}
#: attribute -> the pass kind it is read from (None: from depth and alpha)
_ATTRIBUTE_PASS = {"object_index": "OBJECT_INDEX", "material_pass_index": "MATERIAL_INDEX",
                   "object_id": "CRYPTOMATTE", "normal": "NORMAL", "motion": "MOTION", "motion_source": "MOTION",
                   "edge": None, "crease": "NORMAL"}
#: A pixel is an edge when a neighbour's depth differs from its own by more than this fraction of it.
EDGE_THRESHOLD = 0.05
#: A pixel is on a crease when a neighbour's normal turns by more than this (degrees) from its own: a smooth
#: surface of a few pixels per degree stays under it; the pixel's attributes are a mix of the two faces' samples.
CREASE_ANGLE = 20.0
MOTION_UNKNOWN, MOTION_RIGID, MOTION_VECTOR = 0, 1, 2


def check_attributes(names) -> tuple[str, ...]:
    """``names`` (an iterable, or a comma-separated string) as a tuple in :data:`ATTRIBUTES` order;
    ValueError naming the unknown ones."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = set(names)
    unknown = sorted(names - set(ATTRIBUTES))
    if unknown:
        raise ValueError(f"unknown attribute(s) {', '.join(unknown)}; choose from {', '.join(ATTRIBUTES)}")
    return tuple(a for a in ATTRIBUTES if a in names)


#: The attributes of a point's motion to the next frame (both read frame N+1's files).
MOTION_ATTRIBUTES = ("motion", "motion_source")
#: The attributes that need each pixel's object (Cryptomatte): its id, and its motion (rigid per object).
OBJECT_ATTRIBUTES = ("object_id", *MOTION_ATTRIBUTES)


def from_passes(attributes) -> list[str]:
    """The attributes read from the captured passes (all but ``edge``, which comes from depth and alpha)."""
    return [a for a in attributes if _ATTRIBUTE_PASS[a] is not None]


def needs_next_frame(attributes) -> bool:
    """Whether ``attributes`` read the next frame's files (the motion attributes)."""
    return any(a in MOTION_ATTRIBUTES for a in attributes)


def attribute_passes(attributes) -> set[str]:
    """The pass kinds (:data:`PASS_KINDS`) that ``attributes`` need."""
    return {kind for a in attributes if (kind := _ATTRIBUTE_PASS[a]) is not None}


# --- Cryptomatte -------------------------------------------------------------------------------------

def murmur3_32(data, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of ``data`` (bytes, or str as UTF-8) as an unsigned int: Cryptomatte's name hash."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[n:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def cryptomatte_float_bits(hashes) -> np.ndarray:
    """Hashes (uint32) -> the bits of the float32 Cryptomatte stores for them (exponent clamped to 1..254,
    so no id is a denormal, an infinity or a NaN)."""
    h = np.asarray(hashes, dtype=np.uint32)
    exponent = np.clip((h >> np.uint32(23)) & np.uint32(0xFF), 1, 254).astype(np.uint32)
    return (h & np.uint32(0x807FFFFF)) | (exponent << np.uint32(23))


def parse_manifest(text, *, path="the EXR") -> dict[str, int]:
    """A Cryptomatte manifest (JSON: name -> 8 hex digits) as name -> hash; :class:`DepthCloudError` if bad."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return {str(name): int(str(value), 16) & 0xFFFFFFFF for name, value in data.items()}
    except (ValueError, TypeError, RecursionError) as exc:
        raise DepthCloudError(f"{path}: the Cryptomatte manifest cannot be read: {str(exc)[:200]}") from None


def decode_object_ids(ranks, manifest: dict[str, int] | None = None) -> np.ndarray:
    """Per pixel, the hash of the object with the highest coverage, as int32 (0 where none covers it).

    ``ranks``: a list of ``(id, coverage)`` float32 array pairs (each (...)), rank 0 first. The id's bits
    are matched to ``manifest``'s hashes through :func:`cryptomatte_float_bits` (which changes a hash only
    when its exponent bits are 0 or 255); ids not in the manifest keep their bits.
    """
    first_id, first_coverage = ranks[0]
    bits = np.asarray(first_id, np.float32).view(np.uint32).copy()
    most = np.asarray(first_coverage, np.float32).copy()
    for rank_id, rank_coverage in ranks[1:]:  # a running maximum: no (..., ranks) copies of the arrays
        rank_coverage = np.asarray(rank_coverage, np.float32)
        better = rank_coverage > most
        if better.any():
            most[better] = rank_coverage[better]
            bits[better] = np.asarray(rank_id, np.float32).view(np.uint32)[better]
    bits[~(most > 0)] = 0
    if manifest:
        hashes = np.fromiter(manifest.values(), np.uint32, len(manifest))
        stored = cryptomatte_float_bits(hashes)
        changed = stored != hashes
        if changed.any():  # rare: put back the hashes whose exponent the float conversion clamped
            lookup = dict(zip(stored[changed].tolist(), hashes[changed].tolist()))
            for value_bits, value_hash in lookup.items():
                bits[bits == value_bits] = value_hash
    return bits.view(np.int32)


def legend_of(manifest: dict[str, int]) -> dict[str, str]:
    """name -> hash as the legend a cloud carries: hash as 8 hex digits -> object name."""
    return {f"{h:08x}": name for name, h in sorted(manifest.items(), key=lambda item: item[1])}


# --- Reading ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FramePasses:
    """The passes of one frame that were found (None: not in the files), each (H, W[, C]) float32, row 0 at
    the top."""

    path: str
    object_index: np.ndarray | None = None
    material_index: np.ndarray | None = None
    normal: np.ndarray | None = None       # (H, W, 3)
    vector: np.ndarray | None = None       # (H, W, 4): X, Y (previous frame), Z, W (next frame); W may be NaN
    crypto_ranks: tuple = ()               # ((id, coverage), ...) in rank order
    manifest: dict = field(default_factory=dict)  # object name -> Cryptomatte hash

    def has(self, kind: str) -> bool:
        """Whether the pass kind (:data:`PASS_KINDS`) was found."""
        return {"OBJECT_INDEX": self.object_index is not None, "MATERIAL_INDEX": self.material_index is not None,
                "NORMAL": self.normal is not None, "MOTION": self.vector is not None,
                "CRYPTOMATTE": bool(self.crypto_ranks)}[kind]


def _find_layer(channels: ExrChannels, blender_pass: str, view_layer: str | None):
    """The channels of ``blender_pass`` (component -> array) in ``channels``, or None."""
    aliases, components = _LAYERS[blender_pass]
    by_prefix: dict[str, dict[str, str]] = {}
    for name in channels.names:
        prefix, _, comp = name.rpartition(".")
        by_prefix.setdefault(prefix, {})[comp.upper()] = name
    candidates = []
    for prefix, chans in by_prefix.items():
        layer, _, last = prefix.rpartition(".")
        if last in aliases and (view_layer is None or layer in ("", view_layer)):
            candidates.append((layer != "", prefix, chans))
    for _, _, chans in sorted(candidates, key=lambda c: c[0]):  # our passes file first, then view layers in order
        if blender_pass.startswith("Index"):
            index_comp = next((c for c in components if c in chans), None)
            if index_comp is not None:
                return {"V": channels.pixels[chans[index_comp]]}
            continue
        present = {c: channels.pixels[chans[c]] for c in components if c in chans}
        if len(present) >= 3:
            return present
    return None


def read_passes(channels: ExrChannels, *, view_layer: str | None = None) -> FramePasses:
    """The passes :data:`PASS_LAYERS` names that ``channels`` hold (a ``passes_NNNN.exr`` or a multilayer
    render EXR; ``view_layer``: take a render EXR's passes from that layer)."""
    found = {p: _find_layer(channels, p, view_layer) for p in _LAYERS}

    def stack(layer, comps):
        if layer is None:
            return None
        h, w = next(iter(layer.values())).shape
        out = np.full((h, w, len(comps)), np.nan, np.float32)
        for i, c in enumerate(comps):
            if c in layer:
                out[..., i] = layer[c]
        return out

    ranks = []
    for name in CRYPTO_LAYERS:
        layer = found[name]
        if layer is None or len(layer) < 4:
            break
        ranks += [(layer["R"].astype(np.float32), layer["G"].astype(np.float32)),
                  (layer["B"].astype(np.float32), layer["A"].astype(np.float32))]
    manifest: dict[str, int] = {}
    for key, text in channels.attributes.items():
        if key.startswith("cryptomatte/") and key.endswith("/manifest"):
            name = channels.attributes.get(key[:-len("manifest")] + "name", "")
            if name.endswith("CryptoObject") or not manifest:
                manifest = parse_manifest(text, path=channels.path)
    index = {k: found[k]["V"].astype(np.float32) if found[k] is not None else None for k in ("IndexOB", "IndexMA")}
    return FramePasses(channels.path, index["IndexOB"], index["IndexMA"], stack(found["Normal"], "XYZ"),
                       stack(found["Vector"], "XYZW"), tuple(ranks), manifest)


def missing_passes(passes: FramePasses, attributes) -> list[str]:
    """The pass kinds ``attributes`` need that ``passes`` lack (MOTION also needs the Vector pass's W)."""
    missing = [kind for kind in sorted(attribute_passes(attributes)) if not passes.has(kind)]
    return missing


# --- Per-pixel facts ----------------------------------------------------------------------------------

def edge_mask(depth: np.ndarray, camera: CameraModel, *, alpha: np.ndarray | None = None, depth_kind: str = "auto",
              threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """(H, W) bool: the pixel straddles a silhouette. Its 3x3 neighbourhood holds a depth that differs from
    its own by more than ``threshold`` times its own, or a pixel without valid depth (background, clip
    range); or its ``alpha`` is below 1 (its colour is a blend). Pixels outside the image do not count."""
    valid = valid_depth_mask(depth, camera, depth_kind=depth_kind)
    d = np.where(valid, depth, np.nan).astype(np.float32)
    padded = np.pad(d, 1, mode="edge")
    h, w = d.shape
    hi = np.full((h, w), -np.inf, np.float32)
    lo = np.full((h, w), np.inf, np.float32)
    any_invalid = np.zeros((h, w), bool)
    inner = np.pad(valid, 1, mode="edge")
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            window = padded[dy:dy + h, dx:dx + w]
            np.fmax(hi, window, out=hi)
            np.fmin(lo, window, out=lo)
            any_invalid |= ~inner[dy:dy + h, dx:dx + w]
    with np.errstate(invalid="ignore"):
        limit = np.float32(threshold) * d
        edge = ((hi - d) > limit) | ((d - lo) > limit) | any_invalid
    if alpha is not None:
        edge |= np.asarray(alpha) < np.float32(1.0 - 1e-6)
    return edge & valid


def crease_mask(normal: np.ndarray, *, angle: float = CREASE_ANGLE) -> np.ndarray:
    """(H, W) bool: the pixel is on a crease: the normal of a pixel of its 3x3 neighbourhood turns by more than
    ``angle`` degrees from its own (a box's edge, a fold). Under Blender's default pixel filter such a pixel's
    attributes (normal, motion) mix samples of both sides. ``normal``: (H, W, 3) from the Normal pass (NaN or zero
    where nothing was hit: those neighbours do not count; silhouettes are :func:`edge_mask`'s)."""
    n = np.asarray(normal, np.float32)[..., :3]
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(np.isfinite(n).all(axis=-1, keepdims=True), n, np.nan)
    padded = np.pad(n, ((1, 1), (1, 1), (0, 0)), mode="constant", constant_values=np.nan)
    h, w = n.shape[:2]
    limit = np.float32(np.cos(np.radians(angle)))
    crease = np.zeros((h, w), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            with np.errstate(invalid="ignore"):
                crease |= np.einsum("ijk,ijk->ij", n, padded[dy:dy + h, dx:dx + w]) < limit  # NaN: False
    return crease


def rigid_motion(points_world: np.ndarray, transforms: np.ndarray, which: np.ndarray) -> np.ndarray:
    """(N, 3) float32 displacement of each point under its object's motion: ``transforms`` (K, 4, 4) maps
    a world point of this frame to the next (``next_matrix_world @ inverse(matrix_world)``), ``which`` (N,)
    picks one per point (-1: unknown, NaN). Computed as ``(T - I) p + t`` in float64."""
    points = np.asarray(points_world, np.float64)
    out = np.full(points.shape, np.nan, np.float32)
    present: np.ndarray | list[int] = (np.flatnonzero(np.bincount(which[which >= 0], minlength=len(transforms)))
                                       if len(transforms) else [])
    for k in present:  # (bincount: no sort of the points)
        sel = which == k
        t = np.asarray(transforms[k], np.float64)
        out[sel] = points[sel] @ (t[:3, :3] - np.eye(3)).T + t[:3, 3]
    return out


#: A point is seen again in the next frame when the next frame's Vector pass, at the pixel the point moved to,
#: leads back to within this many pixels of where it started (forward-backward consistency).
ROUND_TRIP_PX = 1.0


def next_pixels(rows: np.ndarray, cols: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """(N, 2) where each pixel's surface point is in the next frame, from this frame's Vector pass: ``(x - Z, y + W)``
    (our pixel coordinates: x right, y down, centres at +0.5)."""
    zw = vector[rows, cols, 2:4].astype(np.float64)
    return np.stack([cols + 0.5 - zw[:, 0], rows + 0.5 + zw[:, 1]], axis=-1)


def seen_in_next_frame(rows: np.ndarray, cols: np.ndarray, vector: np.ndarray, next_vector: np.ndarray, *,
                       ids: np.ndarray | None = None, next_ids: np.ndarray | None = None,
                       tolerance: float = ROUND_TRIP_PX) -> np.ndarray:
    """(N,) bool: the pixels' surface points are seen in the next frame on the same surface, so the next frame's
    depth there is theirs. The point moves to ``p' = (x - Z, y + W)`` (this frame's Vector pass); the next frame's
    Vector pass leads from there back to the previous frame, ``(x' + X', y' - Y')``, which must land within
    ``tolerance`` pixels of where the point started: an occluder in front of it in the next frame leads back to
    where the occluder was, not here. With the Cryptomatte ids of both frames (``ids`` (N,) of these pixels,
    ``next_ids`` (H, W)), the object there must also be the same."""
    h, w = next_vector.shape[:2]
    moved = next_pixels(rows, cols, vector)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(moved).all(axis=1) & (moved[:, 0] >= 0) & (moved[:, 0] < w) & (moved[:, 1] >= 0) \
            & (moved[:, 1] < h)
    col = np.where(inside, np.floor(np.nan_to_num(moved[:, 0])), 0).astype(np.intp)
    row = np.where(inside, np.floor(np.nan_to_num(moved[:, 1])), 0).astype(np.intp)
    back = next_vector[row, col, 0:2].astype(np.float64)
    back_x, back_y = moved[:, 0] + back[:, 0], moved[:, 1] - back[:, 1]
    with np.errstate(invalid="ignore"):
        seen = inside & (np.hypot(back_x - (cols + 0.5), back_y - (rows + 0.5)) <= tolerance)
    if ids is not None and next_ids is not None:
        seen &= next_ids[row, col] == ids
    return seen


def sample_depth(depth: np.ndarray, camera: CameraModel, depth_kind: str, pixels: np.ndarray, *,
                 threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """Depth values (of ``depth_kind``) at continuous pixel positions (N, 2) (x right, y down, centres at +0.5).

    Between four valid pixel centres whose depths agree within ``threshold`` (one surface), planar depth is
    interpolated bilinearly in 1/Z for perspective cameras (exact on planes) and in Z for orthographic ones;
    elsewhere (near silhouettes, panoramas, ray distances) the containing pixel's value is taken. NaN outside
    the image and where the pixel has no valid depth."""
    kind = resolve_depth_kind(depth_kind, camera)
    h, w = depth.shape
    valid = valid_depth_mask(depth, camera, depth_kind=kind)
    x, y = pixels[:, 0], pixels[:, 1]
    with np.errstate(invalid="ignore"):
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    col = np.where(inside, np.floor(np.nan_to_num(x)), 0).astype(np.intp)
    row = np.where(inside, np.floor(np.nan_to_num(y)), 0).astype(np.intp)
    out = np.where(inside & valid[row, col], depth[row, col], np.nan).astype(np.float64)
    if kind != "planar" or camera.projection == "PANO":
        return out
    x0 = np.clip(np.floor(np.nan_to_num(x - 0.5)).astype(np.intp), 0, max(w - 2, 0))
    y0 = np.clip(np.floor(np.nan_to_num(y - 0.5)).astype(np.intp), 0, max(h - 2, 0))
    fx = np.clip(np.nan_to_num(x - 0.5) - x0, 0.0, 1.0)
    fy = np.clip(np.nan_to_num(y - 0.5) - y0, 0.0, 1.0)
    corners = [(y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)]
    values = np.stack([np.where(valid[r, c], depth[r, c], np.nan) for r, c in corners], axis=-1).astype(np.float64)
    with np.errstate(invalid="ignore"):
        low, high = values.min(axis=-1), values.max(axis=-1)
        smooth = inside & np.isfinite(low) & (high - low <= threshold * low)
    if camera.projection == "PERSP":
        values = 1.0 / values
    weights = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=-1)
    blended = np.sum(np.nan_to_num(values) * weights, axis=-1)
    if camera.projection == "PERSP":
        with np.errstate(divide="ignore"):
            blended = 1.0 / blended
    return np.where(smooth, blended, out)


def vector_motion(points_world: np.ndarray, rows: np.ndarray, cols: np.ndarray, vector: np.ndarray,
                  next_depth: np.ndarray, next_camera: CameraModel, next_depth_kind: str) -> np.ndarray:
    """(N, 3) float32 displacement from the Vector pass and the next frame's depth: the pixel's surface
    point moves to ``(x - Z, y + W)`` (:func:`next_pixels`) in the next frame, whose depth there
    (:func:`sample_depth`) is back-projected with the next frame's camera. NaN where the position leaves
    the image, the next frame has no valid depth there, or ``W`` was not captured. Whether the next frame's depth
    there is the point's own (not an occluder's) is :func:`seen_in_next_frame`'s to say."""
    pixels = next_pixels(rows, cols, vector)
    depths = sample_depth(next_depth, next_camera, next_depth_kind, pixels)
    moved = unproject_depths(pixels, depths, next_camera, depth_kind=next_depth_kind, space="world")
    return (moved - np.asarray(points_world, np.float64)).astype(np.float32)
