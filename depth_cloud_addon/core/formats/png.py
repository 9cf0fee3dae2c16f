"""A small PNG writer: pure numpy + zlib (no Pillow in the core), atomic like every file the project writes.

What it writes (PNG 1.2 / ISO 15948): one ``IHDR``, one ``IDAT`` (zlib), ``IEND``; no interlacing, no
colour profile chunk (8-bit values are sRGB-encoded by the caller, see :func:`.ply.linear_to_srgb8`).

* ``uint8`` or ``uint16`` arrays of shape ``(H, W)`` (greyscale), ``(H, W, 2)`` (greyscale + alpha),
  ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA, straight, not premultiplied: PNG's alpha);
* 16-bit samples are stored big-endian, as the PNG specification requires;
* every row uses filter type 2 (Up: each byte minus the byte above it, modulo 256; row 0 is
  unfiltered in effect), which any decoder reads and which compresses smooth images far better than
  no filter, at the cost of one numpy subtraction.

Example::

    write_png("depth.png", np.array([[0, 1000], [65535, 7]], np.uint16))   # 16-bit greyscale
    write_png("image.png", np.zeros((48, 64, 3), np.uint8))                  # 8-bit RGB
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..atomic import atomic_write

__all__ = ["png_bytes", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Channels -> PNG colour type.
_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
_FILTER_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(array, *, level: int = 6) -> bytes:
    """The PNG file of ``array`` (see the module docstring for the shapes and dtypes) as bytes."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_png: expected uint8 or uint16 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _COLOR_TYPES:
        raise ValueError(f"write_png: expected shape (H, W), (H, W, 2), (H, W, 3) or (H, W, 4), got {array.shape}")
    height, width, channels = array.shape
    if height < 1 or width < 1 or height >= 1 << 31 or width >= 1 << 31:
        raise ValueError(f"write_png: a PNG holds 1 to 2**31 - 1 pixels per side, got {width}x{height}")
    depth = 8 * array.dtype.itemsize
    rows = np.ascontiguousarray(array, dtype=">u2" if depth == 16 else np.uint8).view(np.uint8)
    rows = rows.reshape(height, width * channels * array.dtype.itemsize)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = _FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps modulo 256, as Up needs
    header = struct.pack(">IIBBBBB", width, height, depth, _COLOR_TYPES[channels], 0, 0, 0)
    return b"".join([_SIGNATURE, _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(filtered.tobytes(), level)), _chunk(b"IEND", b"")])


def write_png(path, array, *, level: int = 6) -> str:
    """Write ``array`` as a PNG file at ``path`` atomically (a temporary file renamed over it); returns the path.

    ``array``: uint8 or uint16, ``(H, W)`` grey, ``(H, W, 2)`` grey + alpha, ``(H, W, 3)`` RGB or
    ``(H, W, 4)`` RGBA, row 0 at the top. ``level``: zlib compression level 0..9. Raises ValueError for
    another dtype or shape (nothing is written), OSError when the file cannot be written.
    """
    data = png_bytes(array, level=level)
    path = os.fspath(path)
    with atomic_write(path) as f:
        f.write(data)
    return path
