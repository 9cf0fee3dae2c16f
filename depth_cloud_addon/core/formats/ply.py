"""Write point clouds as binary little-endian PLY or as NumPy ``.npz``, in bulk, atomically.

PLY vertex properties, in this order: ``x y z`` (float32, metres, in whatever frame the caller
passes), optionally ``nx ny nz`` (float32 unit normals), ``red green blue`` (by default ``uchar``
encoded with the sRGB transfer function from the EXR's **linear** values, which is what MeshLab,
CloudCompare and Open3D display; with ``linear_float=True`` float32 values left linear), and
``radius`` (float32, metres), then the point attributes asked for (see :mod:`.passes`: ``int`` for
integer ones, ``uchar`` for booleans, ``char`` for ``motion_source``, ``float`` for vectors as
``NAME_x NAME_y NAME_z``). Files are written under a temporary name in the same folder and renamed,
so a failure never leaves a partial file behind, and :func:`ply_is_complete` tells whether an existing
file was written to the end (resumable batch jobs skip those).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._parallel import parallel_chunks
from ..atomic import atomic_write
from ..errors import NoValidDepthError

__all__ = ["binary_ply_header", "linear_to_srgb8", "npz_is_complete", "npz_shapes", "ply_comments", "ply_header",
           "ply_is_complete", "ply_properties", "write_npz", "write_ply"]

_PLY_TYPES = {"<f4": "float", "u1": "uchar", "<i4": "int", "i1": "char"}
_PLY_SIZES = {"float": 4, "float32": 4, "uchar": 1, "uint8": 1, "double": 8, "int": 4, "uint": 4,
              "short": 2, "ushort": 2, "char": 1, "int32": 4, "uint32": 4}


def linear_to_srgb8(linear) -> np.ndarray:
    """Linear values (clipped to 0..1) -> sRGB-encoded uint8 (IEC 61966-2-1 transfer function, rounded)."""
    c = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    dark = c <= 0.0031308
    srgb = np.power(c, np.float32(1.0 / 2.4))  # in place from here on: few full-size temporaries
    srgb *= np.float32(1.055)
    srgb -= np.float32(0.055)
    srgb[dark] = np.float32(12.92) * c[dark]
    srgb *= np.float32(255.0)
    return np.rint(srgb, out=srgb).astype(np.uint8)


def _comment_text(text) -> str:
    """One PLY header comment: ASCII on one line (non-ASCII escaped as ``\\uXXXX``, line breaks and other
    control characters as spaces), so no value can break the header."""
    text = str(text).encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() else " " for c in text)


#: Rows converted and written at a time (one chunk is written while the next is converted): the writer's extra
#: memory is a few of these, whatever the cloud's size.
CHUNK_ROWS = 1 << 18


def _attribute_fields(attributes: dict) -> list[tuple[str, str, str, int | None]]:
    """(PLY property, numpy type, attribute, component or None) of each point attribute."""
    fields: list[tuple[str, str, str, int | None]] = []
    for name, values in attributes.items():
        kind = np.asarray(values).dtype
        dtype = "u1" if kind == np.bool_ else "i1" if kind == np.int8 else "<i4" if kind.kind in "iu" else "<f4"
        if np.ndim(values) == 2:
            fields += [(f"{name}_{axis}", dtype, name, k) for k, axis in enumerate("xyz")]
        else:
            fields.append((name, dtype, name, None))
    return fields


def write_ply(path, points, colors=None, *, linear_float: bool = False, normals=None, radii=None,
              comments=(), attributes: dict | None = None) -> int:
    """Write ``points`` (N, 3) with optional linear ``colors`` (N, 3|4), ``normals`` (N, 3), ``radii`` (N,)
    and point ``attributes`` (name -> (N,) or (N, 3) array).

    ``normals`` may also be a function ``(start, stop) -> (stop - start, 3)`` of a range of rows, so that
    they are never held for the whole cloud. Rows with a non-finite coordinate are skipped (pass
    ``backproject`` output reshaped to (-1, 3)). The file is streamed :data:`CHUNK_ROWS` rows at a time
    (converted, interleaved and written), so writing costs a few tens of MB beyond the arrays passed in.
    Returns the number of points written; raises :class:`NoValidDepthError` (writing nothing) when there
    is none.
    """
    points = np.asarray(points).reshape(-1, 3)
    n = points.shape[0]
    everything = bool(np.isfinite(points).all())  # one fast reduction; a row mask only when some are not finite
    keep = None if everything else np.isfinite(points).all(axis=1)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    normals_of = None
    if normals is not None:
        if callable(normals):
            normals_of = normals
        else:
            whole = np.asarray(normals).reshape(n, 3)

            def normals_of(a: int, b: int) -> np.ndarray:
                return whole[a:b]
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if colors is not None:
        colors = np.asarray(colors).reshape(n, -1)
        fields += [(c, "<f4" if linear_float else "u1") for c in ("red", "green", "blue")]
    if radii is not None:
        radii = np.asarray(radii).reshape(n)
        fields.append(("radius", "<f4"))
    attributes = attributes or {}
    extra = _attribute_fields(attributes)
    fields += [(prop, dtype) for prop, dtype, _, _ in extra]
    count = n if keep is None else int(keep.sum())
    if count == 0:  # an empty cloud is never a success: nothing is written
        raise NoValidDepthError(f"{os.fspath(path)}: no point to write (none has finite coordinates: check the "
                                "camera's values)")
    header = binary_ply_header(count, [(_PLY_TYPES[t], name) for name, t in fields], ["written by depth-cloud",
                                                                                       *comments])

    def chunk_rows(start: int, stop: int) -> np.ndarray:
        """Input rows ``start:stop`` as interleaved PLY rows (the finite ones)."""
        rows_kept = None if keep is None else keep[start:stop]

        def part(array):
            return array if rows_kept is None else array[rows_kept]

        xyz = part(points[start:stop])
        data = np.empty(len(xyz), dtype=fields)
        normal = part(np.asarray(normals_of(start, stop)).reshape(-1, 3)) if normals_of is not None else None
        rgb = part(colors[start:stop, :3]) if colors is not None else None
        radius = part(radii[start:stop]) if radii is not None else None
        extra_rows = [(prop, part(np.asarray(attributes[name])[start:stop] if k is None
                                  else np.asarray(attributes[name])[start:stop, k])) for prop, _, name, k in extra]

        def fill(a: int, b: int) -> None:  # one slice of the chunk, in a thread
            rows = data[a:b]
            rows["x"], rows["y"], rows["z"] = (xyz[a:b, k] for k in range(3))
            if normal is not None:
                rows["nx"], rows["ny"], rows["nz"] = (normal[a:b, k] for k in range(3))
            if rgb is not None:
                values = rgb[a:b].astype(np.float32) if linear_float else linear_to_srgb8(rgb[a:b])
                rows["red"], rows["green"], rows["blue"] = values[:, 0], values[:, 1], values[:, 2]
            if radius is not None:
                rows["radius"] = radius[a:b]
            for prop, values in extra_rows:
                rows[prop] = values[a:b]

        parallel_chunks(len(data), fill)
        return data

    with atomic_write(path) as f, ThreadPoolExecutor(1, thread_name_prefix="depth-cloud-ply") as writer:
        f.write(header)
        pending = None  # the previous chunk's write, under way while this chunk is converted (writes release the GIL)
        for start in range(0, n, CHUNK_ROWS):
            rows = chunk_rows(start, min(start + CHUNK_ROWS, n))
            if pending is not None:
                pending.result()
            pending = writer.submit(f.write, memoryview(rows).cast("B"))
        if pending is not None:
            pending.result()
    return count


def binary_ply_header(count: int, properties, comments=()) -> bytes:
    """The header of a binary little-endian PLY of ``count`` vertices with ``properties`` ``[(type, name)]`` (PLY
    types: ``float``, ``uchar``, ...) and ``comments`` (each made one safe line)."""
    lines = ["ply", "format binary_little_endian 1.0", *(f"comment {_comment_text(line)}" for line in comments),
             f"element vertex {count}", *(f"property {kind} {name}" for kind, name in properties), "end_header"]
    return ("\n".join(lines) + "\n").encode("ascii")


def ply_is_complete(path) -> bool:
    """True if ``path`` is a binary PLY whose size matches its header (written to the end)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    end = head.find(b"end_header\n")
    if not head.startswith(b"ply\n") or end < 0:
        return False
    text = head[:end].decode("ascii", "replace")
    match = re.search(r"^element vertex (\d+)$", text, re.MULTILINE)
    props = re.findall(r"^property (\w+) \w+$", text, re.MULTILINE)
    elements = re.findall(r"^element ", text, re.MULTILINE)
    names = re.findall(r"^property \w+ (\w+)$", text, re.MULTILINE)
    if (match is None or "format binary_little_endian 1.0" not in text or any(p not in _PLY_SIZES for p in props)
            or len(elements) != 1 or len(props) != text.count("\nproperty ") or names[:3] != ["x", "y", "z"]):
        return False
    row = sum(_PLY_SIZES[p] for p in props)
    return size == end + len(b"end_header\n") + int(match.group(1)) * row


def ply_header(path) -> dict | None:
    """A PLY's header, read from at most its first 64 KB: ``format`` (``binary_little_endian``, ``ascii``, ...),
    ``count`` (vertices), ``properties`` ``[(type, name)]`` and ``comments``; None when it is not a PLY header.
    Never raises."""
    text = _header_text(path)
    if text is None:
        return None
    fmt = re.search(r"^format (\w+) ", text, re.MULTILINE)
    count = re.search(r"^element vertex (\d+)$", text, re.MULTILINE)
    if fmt is None or count is None:
        return None
    return {"format": fmt.group(1), "count": int(count.group(1)),
            "properties": re.findall(r"^property (\w+) (\w+)$", text, re.MULTILINE),
            "comments": [line[len("comment "):] for line in text.splitlines() if line.startswith("comment ")]}


def _header_text(path) -> str | None:
    """The text of a PLY's header before ``end_header`` (None when ``path`` is not a readable PLY). Never raises."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return None
    end = head.find(b"end_header\n")
    if not head.startswith(b"ply\n") or end < 0:
        return None
    return head[:end].decode("ascii", "replace")


def ply_properties(path) -> list[str]:
    """The vertex properties' names of a binary PLY's header (empty when unreadable). Never raises."""
    text = _header_text(path)
    return [] if text is None else re.findall(r"^property \w+ (\w+)$", text, re.MULTILINE)


def npz_shapes(path) -> dict[str, tuple[tuple, np.dtype, bool]]:
    """Each array of a ``.npz``: its shape, its dtype and whether its member holds exactly the bytes they make, from
    the npy headers (no array is read). Raises what :mod:`zipfile` and numpy raise for what is not one."""
    import zipfile

    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(member)
                whole = info.file_size == member.tell() + int(np.prod(shape)) * dtype.itemsize
            arrays[info.filename[:-4]] = (shape, dtype, whole)
    return arrays


def npz_is_complete(path, rows_of: str = "points") -> bool:
    """True if ``path`` is a ``.npz`` whose every member is there and reads back (each one's CRC is checked: a
    truncated or altered file is not complete) and whose ``rows_of`` array is (N, 3), all its bytes there (its npy
    header read, not the array). Never raises."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                return False
        shape, _, whole = npz_shapes(path)[rows_of]
        return whole and len(shape) == 2 and shape[1] == 3
    except Exception:  # truncated, foreign, a folder, no such array ...
        return False


def ply_comments(path) -> list[str]:
    """The ``comment`` lines of a PLY header (empty when ``path`` is not a readable PLY)."""
    text = _header_text(path)
    return [] if text is None else [line[len("comment "):] for line in text.splitlines()
                                    if line.startswith("comment ")]


def write_npz(path, **arrays) -> None:
    """``np.savez`` of named arrays (e.g. points, colors, pixels, camera JSON), atomically."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)
