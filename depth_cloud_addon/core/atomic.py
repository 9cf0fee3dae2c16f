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
import shutil
import socket
import stat
import sys

__all__ = ["FolderBusyError", "atomic_path", "atomic_write", "check_writable", "folder_lock", "library_path",
           "remove_stale_temporaries", "remove_stale_temporaries_in", "replace_folder", "staging_folder",
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


def not_regular(path) -> str | None:
    """What ``path`` is when it exists but is no regular file: "a folder", or "a device or a pipe" (``/dev/zero``, a
    FIFO, a socket: reading it would never end or block); None for a regular file or nothing there. One ``stat``:
    every reader asks before it opens."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    return "a folder" if stat.S_ISDIR(mode) else "a device or a pipe"


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
    return _remove_leftovers(folder, candidates, path)


def remove_stale_temporaries_in(folder) -> list[str]:
    """Remove every temporary file (and staged folder) in ``folder`` left by this machine's processes that no
    longer run, whatever its target (the folder's outputs were written by many processes: a cluster's workers, one
    of them killed); returns their paths. The previous content of a folder output set aside (``.old``) is kept: its
    target is not known here, and the next write of it puts it back or removes it. Lists the folder afresh."""
    folder = os.path.abspath(os.fspath(folder))
    _candidates.pop(folder, None)  # a later write lists the folder again
    return [path for candidates in _index(folder).values() for path in _remove_leftovers(folder, candidates)]


def _remove_leftovers(folder: str, candidates, target: str | None = None) -> list[str]:
    """Remove the leftovers ``candidates`` ([(name, pid)] in ``folder``) of processes that no longer run; returns
    their paths. A staged folder (see :func:`replace_folder`) goes whole; the previous content set aside by a run
    killed between two renames goes back to ``target`` when that is missing (it was never replaced), and is kept
    when the target is not known."""
    removed = []
    for name, pid in candidates:
        if _running(pid):
            continue
        leftover = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.path.isdir(leftover) and not os.path.islink(leftover):
                if name.endswith(_OLD_SUFFIX) and (target is None or not os.path.lexists(target)):
                    if target is not None:
                        os.rename(leftover, target)
                    continue
                shutil.rmtree(leftover)
            else:
                os.remove(leftover)
            removed.append(leftover)
    return removed


_OLD_SUFFIX = ".old"


def staging_folder(path) -> str:
    """A new hidden folder beside ``path`` (``.NAME.<host>~<pid>-<random>.tmp``) to write a whole output of many
    files into (a dataset), then :func:`replace_folder`. A run killed before that leaves only this folder, which
    the next write of ``path`` removes (:func:`remove_stale_temporaries`)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    remove_stale_temporaries(path, refresh=True)  # (an output of many files is written rarely: list it again)
    stage = _temporary_path(path)
    os.mkdir(stage)
    return stage


def _exchange(a: str, b: str) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not
    available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", -1)):
            return False  # a kernel or file system without it
        raise OSError(code, os.strerror(code), b)
    return True


def replace_folder(stage: str, path) -> None:
    """Put the folder ``stage`` (from :func:`staging_folder`) at ``path``, whole: a reader sees the previous folder
    or the new one, never a mix. On Linux the two are exchanged in one step and the previous content (now under
    the staging name) is then removed; elsewhere the previous folder is first renamed aside (a run killed between
    the two renames gets it back at the next write) and removed last."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        os.rename(stage, path)
        return
    if _exchange(stage, path):
        shutil.rmtree(stage, ignore_errors=True)
        return
    aside = _temporary_path(path, _OLD_SUFFIX)
    os.rename(path, aside)
    os.rename(stage, path)
    shutil.rmtree(aside, ignore_errors=True)


class FolderBusyError(OSError):
    """Another live run holds the lock of a folder (:func:`folder_lock`)."""


@contextlib.contextmanager
def folder_lock(path):
    """Hold the lock of the output ``path`` (a folder written whole) for one run at a time: ``.NAME.lock`` beside
    it, locked with ``flock`` (released by the OS when the run ends, however it ends: a run that was killed holds
    nothing). A second run raises :class:`FolderBusyError` naming the holder. The lock file is removed on exit."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    lock = os.path.join(folder, "." + os.path.basename(os.path.abspath(path)) + ".lock")
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one run at a time is not enforced
        yield
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise FolderBusyError(errno.EBUSY, "another depth-cloud run is writing it"
                                      + (f" ({holder})" if holder else ""), path) from None
            raise
        try:  # the holder before may have removed the file we locked: lock the one at that name
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{_HOST} pid {os.getpid()}".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock)
        os.close(fd)


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
    itself, or, when the OS's name is not valid UTF-8 (Python holds its bytes as surrogate escapes), another name of
    it: through ``/proc/self/fd`` (Linux) with the folder opened, for a file to read or create in it, or, when the
    file's own name is the undecodable part (to read it), a symbolic link to it in a temporary folder, with its
    extension. ``OSError`` where there is no such way."""
    path = os.fspath(path)
    if _encodable(path):
        yield path
        return
    fds = "/proc/self/fd"
    if not os.path.isdir(fds):
        raise OSError(errno.EILSEQ, "a name that is not UTF-8, which this system gives no other way to reach", path)
    folder, name = os.path.split(os.path.abspath(path))
    if _encodable(name):
        fd = os.open(folder, os.O_RDONLY)
        try:
            yield f"{fds}/{fd}/{name}"
        finally:
            os.close(fd)
        return
    # The file's own name is the undecodable part: a link to it under a name that keeps its extension (USD picks
    # the format by it), in a private temporary folder.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="depth-cloud-") as scratch:
        extension = os.path.splitext(name)[1]
        link = os.path.join(scratch, "file" + (extension if _encodable(extension) else ""))
        os.symlink(os.fsencode(os.path.abspath(path)), link)
        yield link


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
