"""``--scheduler tcp://HOST:PORT``: the frames as tasks of a Dask cluster (PyPI ``distributed``, the optional extra
``depth-cloud[dask]``), through the executor of a :class:`distributed.Client` (``client.get_executor()``).

Dask is imported inside the functions, only when ``--scheduler`` is given: the package imports without it.

* **Start**: the scheduler must answer within Dask's connect timeout (``distributed.comm.timeouts.connect``,
  30 s by default; ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s`` in the environment), and have a worker within
  the same time. Each worker then shows it sees the files: a sample of the inputs (the first of each folder, the
  same size as here) and the outputs' folders (the nearest that exists here exists there and can be written).
  Anything else is one line naming the worker and the path, exit status 2, before any frame is written.
* **Faults**: a worker that dies in the middle of a task: the scheduler runs the task again on another worker
  (Dask's ``distributed.scheduler.allowed-failures``, 3 by default, then the run stops with one line). Every
  file is written atomically, so the killed task left at most a hidden temporary file; at the end of the run
  (however it ends) each worker, and this process, removes those of its own machine's dead processes from the
  outputs' folders.
* **Stop** (SIGTERM, SIGINT, SIGHUP of this process): every task of the run not finished is cancelled. A task
  already running on a worker cannot be interrupted: it finishes its frame (a complete file) and its result is
  dropped.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import socket
from collections.abc import Iterator

from .report import CliError
from .workers import sweep_folders

INSTALL = "pip install 'depth-cloud[dask]'"
SHARED = "every worker needs the inputs and outputs at the same paths as this machine (shared storage)"


def require_distributed() -> None:
    """One line, exit status 2, when Dask distributed is not installed here."""
    try:
        import distributed  # noqa: F401  (what --scheduler needs; imported once here, used by connect)
    except ImportError:
        raise CliError(f"--scheduler needs Dask distributed, which is not installed: {INSTALL}") from None


def connect_timeout() -> float:
    """Dask's connect timeout, seconds (``distributed.comm.timeouts.connect``)."""
    import dask
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds"))


def connect(address: str):
    """A :class:`distributed.Client` of the scheduler at ``address`` with at least one worker, or one line."""
    import distributed

    # Dask's own log lines are not the user's: a worker lost while its result is fetched ("Couldn't gather 1 keys,
    # rescheduling") is the engine doing its job, and what goes wrong reaches the user as one line of ours.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    timeout = connect_timeout()
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # refused, timed out, a bad address: OSError, TimeoutError, ValueError
        raise CliError(f"--scheduler: cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        client.close()
        raise CliError(f"--scheduler: the Dask scheduler at {address} has no worker (waited {timeout:g} s): start "
                       f"them, e.g. dask worker {address}") from None
    except BaseException:
        client.close()
        raise
    return client


# -- what the workers see ----------------------------------------------------------------------------


def _existing_folder(path: str) -> str:
    """``path``'s folder, or the nearest of its parents that exists."""
    folder = os.path.dirname(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def probes(inputs, outputs) -> tuple[list[tuple[str, int]], list[str]]:
    """What a worker must see, as this machine sees it: the first input file of each folder that exists here, with
    its size, and the nearest existing folder of each output."""
    files: dict[str, tuple[str, int]] = {}
    for path in inputs:
        if path is None:
            continue
        path = os.path.abspath(path)
        folder = os.path.dirname(path)
        if folder in files:
            continue
        with contextlib.suppress(OSError):
            files[folder] = (path, os.stat(path).st_size)
    folders = sorted({_existing_folder(os.path.abspath(path)) for path in outputs})
    return list(files.values()), folders


def worker_sees(files, folders) -> tuple[str, str | None]:
    """On a worker: its host name, and the first path of :func:`probes` it does not see as this machine does
    (with why), else None."""
    host = socket.gethostname()
    for path, size in files:
        try:
            seen = os.stat(path).st_size
        except OSError as exc:
            return host, f"{path} ({exc.strerror or exc})"
        if not os.access(path, os.R_OK):
            return host, f"{path} (it cannot read it)"
        if seen != size:
            return host, f"{path} (it sees {seen} bytes, this machine {size}: another file at that path)"
    for folder in folders:
        if not os.path.isdir(folder):
            return host, f"{folder} (no such folder there)"
        if not os.access(folder, os.W_OK | os.X_OK):
            return host, f"{folder} (it cannot write there)"
    return host, None


def check_workers(client, files, folders) -> None:
    """One line naming the first worker that does not see the files (or cannot run depth-cloud), exit 2."""
    seen = client.run(worker_sees, files, folders, on_error="return")
    blind = []
    for address in sorted(seen):
        answer = seen[address]
        if isinstance(answer, BaseException):
            blind.append(f"Dask worker {address} cannot run depth-cloud ({type(answer).__name__}: {answer}): "
                         "install depth-cloud on every worker")
        elif answer[1] is not None:
            blind.append(f"Dask worker {address} on host {answer[0]} cannot see {answer[1]}: {SHARED}")
    if blind:
        more = f" (and {len(blind) - 1} other worker(s))" if len(blind) > 1 else ""
        raise CliError(blind[0] + more)


# -- leftovers of killed workers ---------------------------------------------------------------------


def sweep(client, folders) -> None:
    folders = sorted(set(folders))
    if not folders:
        return
    with contextlib.suppress(Exception):  # a worker gone or a scheduler lost: the next run's writes remove them
        client.run(sweep_folders, folders, on_error="ignore")
    sweep_folders(folders)


@contextlib.contextmanager
def cluster_workers(address: str, *, inputs=(), outputs=()) -> Iterator[tuple[concurrent.futures.Executor, int]]:
    """The cluster at ``address`` as an engine: ``(executor, slots)``, checked first (:func:`connect`,
    :func:`check_workers`); on leaving, however it is left, the run's tasks not finished are cancelled and what
    killed workers left half-written in the outputs' folders is removed."""
    from distributed import KilledWorker

    outputs = [os.path.abspath(path) for path in outputs]
    client = connect(address)
    try:
        files, folders = probes(inputs, outputs)
        check_workers(client, files, folders)
        executor = client.get_executor(pure=False)
        slots = max(1, sum(client.nthreads().values()))
        try:
            yield executor, slots
        except KilledWorker as exc:
            raise CliError(f"the Dask cluster gave up on a task whose workers kept dying: {exc}") from None
        finally:
            executor.shutdown(wait=False)  # cancels every task not finished (a no-op once all are done)
            sweep(client, {os.path.dirname(path) for path in outputs})
    finally:
        client.close()
