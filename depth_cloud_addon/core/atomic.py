"""The one atomic writer: every file the project writes goes through here.

A file is written under a unique hidden temporary name in its own folder
(``.NAME.<host>~<pid>-<random>.tmp``) and renamed over the target with ``os.replace`` only once it is
complete, so a reader sees the old file or the new one, never half of one; a failure (an exception,
SIGTERM/SIGINT handled as one) removes the temporary file, and a process killed outright leaves at most
that temporary file (never a truncated target). The next write of the same target removes such leftovers
of processes of this machine that no longer run (host and pid are in the name); files of a live process,
of another machine (a farm's shared folder: its pids mean nothing here), and any file whose name does not
follow this pattern, are never touched (leftovers named ``NAME.tmp-<pid>`` by earlier versions of the
writer are removed by the same rule). Two writers of one name never share a temporary
file. The temporary name stays within the file system's 255-byte limit whatever the target's name
(a long name is shortened, with a hash to keep it unique).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket

__all__ = ["atomic_path", "atomic_write", "check_writable", "library_path", "remove_stale_temporaries",
           "temporary_prefix", "write_text"]

_MAX_BASE = 120  # bytes of the target's name kept in a temporary name (+ host, pid, random part, ".tmp")
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32] or "host"


def temporary_prefix(path) -> str:
    """The folder-relative prefix of every temporary file of ``path``: ``.NAME.`` (shortened if long; a name that
    is not valid UTF-8 with its bytes written as ``\\xNN``, so that libraries that take a str path can open it)."""
    base = os.path.basename(os.path.abspath(os.fspath(path)))
    try:
        base.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the OS's name (surrogate escapes)
        base = base.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if len(base.encode("utf-8")) > _MAX_BASE:
        digest = hashlib.sha1(base.encode("utf-8")).hexdigest()[:12]
        base = base.encode("utf-8")[:_MAX_BASE - 13].decode("utf-8", "ignore") + "~" + digest
    return f".{base}."


def _temporary_path(path: str, suffix: str = "") -> str:
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, f"{temporary_prefix(path)}{_HOST}~{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}")


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: keep its files
    return True


_LEFTOVER = re.compile(r"^(\..+\.)([A-Za-z0-9_-]+)~(\d+)-[0-9a-f]{8}\.tmp(?:\.[A-Za-z0-9]+)?$")  # prefix, host, pid
_LEGACY = re.compile(r"^(.+)\.tmp-(\d+)$")  # NAME.tmp-<pid>: the naming of earlier versions of the writer
#: folder -> {target key -> [(name, pid)]}: each folder is listed once per process, not once per write
#: (a sequence folder of 10,000 frames takes ~10 ms to list).
_candidates: dict[str, dict[tuple[str, str], list[tuple[str, int]]]] = {}


def _index(folder: str) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """This machine's temporary files in ``folder`` (both namings), by the target they belong to."""
    index: dict[tuple[str, str], list[tuple[str, int]]] = {}
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = _LEFTOVER.match(entry.name)
            if match is not None and match.group(2) == _HOST:
                index.setdefault(("new", match.group(1)), []).append((entry.name, int(match.group(3))))
                continue
            match = _LEGACY.match(entry.name)
            if match is not None:
                index.setdefault(("legacy", match.group(1)), []).append((entry.name, int(match.group(2))))
    return index


def remove_stale_temporaries(path, *, refresh: bool = False) -> list[str]:
    """Remove the temporary files of ``path`` left by this machine's processes that no longer run; returns
    their paths. The folder is listed once per process; a target's leftovers are looked at once (``refresh``:
    list the folder again, e.g. after this process stopped its own workers)."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if refresh or folder not in _candidates:
        _candidates[folder] = _index(folder)
    index = _candidates[folder]
    candidates = index.pop(("new", temporary_prefix(path)), []) + index.pop(("legacy", os.path.basename(path)), [])
    removed = []
    for name, pid in candidates:
        if _running(pid):
            continue
        with contextlib.suppress(OSError):
            os.remove(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
    return removed


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path to write ``path``'s new content to (for writers that take a path, like
    OpenEXR); on success it replaces ``path``, on any exception it is removed and ``path`` is untouched.
    ``suffix`` ends the temporary name (e.g. ``".usdc"``, for writers that pick a format by extension)."""
    path = os.fspath(path)
    remove_stale_temporaries(path)
    tmp = _temporary_path(path, suffix)
    try:
        # Created here, so a folder that cannot take it is an OSError with its reason (not a library's message).
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@contextlib.contextmanager
def library_path(path):
    """A name of ``path`` for libraries that take a str path and encode it as UTF-8 (OpenEXR, libE57, USD): the path
    itself, or, when the OS's name is not valid UTF-8 (Python holds its bytes as surrogate escapes), a name through
    ``/proc/self/fd`` (Linux): the folder opened, for a file to read or create in it, or the file itself when its
    own name is the undecodable part (to read it). ``OSError`` where there is no such way."""
    path = os.fspath(path)
    if _encodable(path):
        yield path
        return
    fds = "/proc/self/fd"
    if not os.path.isdir(fds):
        raise OSError(errno.EILSEQ, "a name that is not UTF-8, which this system gives no other way to reach", path)
    folder, name = os.path.split(os.path.abspath(path))
    fd = os.open(folder, os.O_RDONLY) if _encodable(name) else os.open(path, os.O_RDONLY)
    try:
        yield f"{fds}/{fd}/{name}" if _encodable(name) else f"{fds}/{fd}"
    finally:
        os.close(fd)


def check_writable(path) -> None:
    """Raise ``OSError`` (with its reason, e.g. "Permission denied") unless a file can be written at ``path``: its
    folder is made if needed and a temporary file is created there and removed. For outputs written only at the end
    of a long job (every frame in one file), so that a folder that refuses them stops the job before any work."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder", path)
    tmp = _temporary_path(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
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
