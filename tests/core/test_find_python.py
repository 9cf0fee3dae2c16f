"""tools/find_python.sh: the Makefile's way to the CPython each bpy wheel needs (3.11 for 4.2-5.0, 3.13 for 5.1+)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "tools" / "find_python.sh"
WANT = "{}.{}".format(*sys.version_info[:2])  # the version of the Python running the tests: one that surely runs


def _wrapper(path: pathlib.Path, body: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _find(tmp_path, version: str = WANT, *, path_dirs=()) -> subprocess.CompletedProcess:
    env = {"PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]), "HOME": str(tmp_path / "home"),
           "PYENV_ROOT": str(tmp_path / "pyenv")}
    return subprocess.run(["sh", str(SCRIPT), version], capture_output=True, text=True, env=env)


def test_a_shim_on_the_path_that_refuses_is_passed_over_for_pyenvs_newest_patch_release(tmp_path):
    shims = tmp_path / "shims"
    _wrapper(shims / f"python{WANT}", f'echo "pyenv: python{WANT}: command not found" >&2; exit 127')
    for patch in ("0", "2", "10"):  # 10 is newer than 2: a version sort, not a text sort
        _wrapper(tmp_path / "pyenv" / "versions" / f"{WANT}.{patch}" / "bin" / f"python{WANT}",
                 f'exec "{sys.executable}" "$@"')
    found = _find(tmp_path, path_dirs=[shims])
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(tmp_path / "pyenv" / "versions" / f"{WANT}.10" / "bin" / f"python{WANT}")


def test_a_python_on_the_path_that_runs_comes_first(tmp_path):
    bin_dir = tmp_path / "bin"
    _wrapper(bin_dir / f"python{WANT}", f'exec "{sys.executable}" "$@"')
    _wrapper(tmp_path / "pyenv" / "versions" / f"{WANT}.0" / "bin" / f"python{WANT}", f'exec "{sys.executable}" "$@"')
    found = _find(tmp_path, path_dirs=[bin_dir])
    assert found.returncode == 0 and found.stdout.strip() == str(bin_dir / f"python{WANT}")


def test_a_python_of_another_version_under_the_name_is_not_taken(tmp_path):
    bin_dir = tmp_path / "bin"
    _wrapper(bin_dir / "python3.99", f'exec "{sys.executable}" "$@"')  # runs, but is not 3.99
    found = _find(tmp_path, "3.99", path_dirs=[bin_dir])
    assert found.returncode == 1 and found.stdout == ""


def test_a_bad_argument_is_a_usage_error(tmp_path):
    found = _find(tmp_path, "three")
    assert found.returncode == 2 and "usage" in found.stderr
