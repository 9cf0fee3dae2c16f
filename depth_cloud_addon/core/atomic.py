"""The one atomic writer: every file the project writes goes through here.

A file is written under a unique hidden temporary name in its own folder (``.NAME.<random>.tmp``)
and renamed over the target with ``os.replace`` only once it is complete, so a reader sees the old
file or the new one, never half of one; a failure removes the temporary file, and a process killed
mid-write leaves at most that temporary file (never a truncated target). Two writers of one name
never share a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets

__all__ = ["atomic_path", "atomic_write", "write_text"]


def _temporary_path(path: str) -> str:
    folder, base = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path to write ``path``'s new content to (for writers that take a path, like
    OpenEXR); on success it replaces ``path``, on any exception it is removed and ``path`` is untouched."""
    path = os.fspath(path)
    tmp = _temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None):
    """Open a temporary file for ``path`` in ``mode`` ("wb" or "w"); see :func:`atomic_path`."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as f:
        yield f


def write_text(path, text: str, *, newline: str | None = "\n") -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically."""
    with atomic_write(path, "w", newline=newline) as f:
        f.write(text)
