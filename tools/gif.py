"""A small animated-GIF writer in numpy and plain Python (the Blender 5.0 venv has no Pillow).

:func:`write_gif` takes 8-bit RGB frames, picks one global palette of at most 256 colours for all of
them (the colours themselves when there are at most 256; else a median cut of a 5-bit-per-channel
histogram, each pixel mapped to the palette colour nearest its bin through a 32x32x32 lookup table, no
dithering) and writes a looping GIF89a with LZW-compressed frames. It returns the palette and the
indices written, so a test can compare a decoder's frames with them.
"""

from __future__ import annotations

import pathlib

import numpy as np

BITS = 5  # per channel, for the histogram and the lookup table
LEVELS = 1 << BITS


def _bin_index(frames: np.ndarray) -> np.ndarray:
    """The 5-bit (r, g, b) bin of every pixel of ``frames`` (..., 3) uint8, as one int64 in 0..32767."""
    q = (frames >> (8 - BITS)).astype(np.int64)
    return (q[..., 0] << (2 * BITS)) | (q[..., 1] << BITS) | q[..., 2]


def median_cut_palette(frames: np.ndarray, colours: int = 256) -> np.ndarray:
    """At most ``colours`` RGB colours (K, 3) uint8 for ``frames`` (..., 3) uint8: median cut of the
    occupied 5-bit bins, each box's colour the mean of the pixels in it."""
    pixels = frames.reshape(-1, 3)
    index = _bin_index(pixels)
    counts = np.bincount(index, minlength=LEVELS ** 3)
    bins = np.nonzero(counts)[0]
    weights = counts[bins].astype(np.float64)
    sums = np.stack([np.bincount(index, pixels[:, c].astype(np.float64), LEVELS ** 3)[bins] for c in range(3)], 1)
    centres = np.stack([bins >> (2 * BITS), (bins >> BITS) & (LEVELS - 1), bins & (LEVELS - 1)], axis=1)

    def score(box):  # split first the box with the most pixels times its widest extent
        return float(np.ptp(centres[box], axis=0).max() * weights[box].sum()) if box.size > 1 else -1.0

    boxes = [np.arange(bins.size)]
    scores = [score(boxes[0])]
    while len(boxes) < colours:
        i = int(np.argmax(scores))
        if scores[i] <= 0:
            break
        box = boxes.pop(i)
        scores.pop(i)
        axis = int(np.argmax(np.ptp(centres[box], axis=0)))
        box = box[np.argsort(centres[box, axis], kind="stable")]
        cumulative = np.cumsum(weights[box])  # cut at the weighted median, leaving both halves non-empty
        cut = min(max(int(np.searchsorted(cumulative, cumulative[-1] / 2)) + 1, 1), box.size - 1)
        for half in (box[:cut], box[cut:]):
            boxes.append(half)
            scores.append(score(half))
    palette = np.array([sums[b].sum(axis=0) / weights[b].sum() for b in boxes])
    return np.clip(np.round(palette), 0, 255).astype(np.uint8)


def quantize(frames: np.ndarray, colours: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` (N, H, W, 3) uint8 -> (palette (K, 3) uint8, indices (N, H, W) uint8). With at most
    ``colours`` distinct colours the palette is exactly those; otherwise :func:`median_cut_palette`, and every
    pixel gets the palette colour nearest to the centre of its 5-bit bin."""
    frames = np.asarray(frames, np.uint8)
    packed = (frames[..., 0].astype(np.int64) << 16) | (frames[..., 1].astype(np.int64) << 8) | frames[..., 2]
    distinct, inverse = np.unique(packed, return_inverse=True)
    if distinct.size <= colours:
        palette = np.stack([distinct >> 16, (distinct >> 8) & 0xFF, distinct & 0xFF], axis=1).astype(np.uint8)
        return palette, inverse.reshape(frames.shape[:-1]).astype(np.uint8)
    palette = median_cut_palette(frames, colours)
    grid = (np.arange(LEVELS) + 0.5) * (256 / LEVELS) - 0.5
    centres = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    lut = np.empty(centres.shape[0], np.uint8)
    for start in range(0, centres.shape[0], 4096):
        d = ((centres[start:start + 4096, None, :] - palette[None].astype(np.float64)) ** 2).sum(axis=-1)
        lut[start:start + 4096] = np.argmin(d, axis=1)
    return palette, lut[_bin_index(frames)]


def lzw_encode(indices: np.ndarray, min_code_size: int = 8) -> bytes:
    """GIF's variable-length LZW of a flat sequence of palette indices (codes packed LSB first)."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    acc = nbits = 0

    def emit(code: int, size: int) -> None:
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += size
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    symbols = np.asarray(indices, np.uint8).ravel().tolist()
    size, next_code, table = min_code_size + 1, end + 1, {}
    emit(clear, size)
    prefix = symbols[0]
    for symbol in symbols[1:]:
        key = (prefix, symbol)
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix, size)
        if next_code < 4096:
            table[key] = next_code
            next_code += 1
            # the decoder adds its entries one code later: it reads wider codes once it reaches 2**size
            if next_code > (1 << size) and size < 12:
                size += 1
        else:  # table full: start again
            emit(clear, size)
            size, next_code, table = min_code_size + 1, end + 1, {}
        prefix = symbol
    emit(prefix, size)
    emit(end, size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def _sub_blocks(data: bytes) -> bytes:
    chunks = [bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255)]
    return b"".join(chunks) + b"\x00"


def write_gif(path, frames, delay_ms: int = 100, loop: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write ``frames`` (N, H, W, 3) uint8 RGB, top row first, as a looping animated GIF (``loop`` 0:
    forever; ``delay_ms`` per frame, rounded to 10 ms). Returns ``(palette, indices)`` as written."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    n, h, w, _ = frames.shape
    palette, indices = quantize(frames)
    table = np.zeros((256, 3), np.uint8)
    table[:len(palette)] = palette
    delay = max(1, round(delay_ms / 10))
    parts = [b"GIF89a", w.to_bytes(2, "little"), h.to_bytes(2, "little"), bytes([0xF7, 0, 0]), table.tobytes(),
             b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + loop.to_bytes(2, "little") + b"\x00"]
    for frame in indices:
        parts += [b"\x21\xf9\x04\x04" + delay.to_bytes(2, "little") + b"\x00\x00",  # keep the frame, no transparency
                  b"\x2c\x00\x00\x00\x00" + w.to_bytes(2, "little") + h.to_bytes(2, "little") + b"\x00",
                  b"\x08", _sub_blocks(lzw_encode(frame))]
    parts.append(b"\x3b")
    pathlib.Path(path).write_bytes(b"".join(parts))
    return palette, indices
