"""`make extension`: build the installable Blender extension, dist/<id>-<version>.zip.

The zip holds the ``depth_cloud_addon`` package (its ``__init__.py`` at the root), the committed
``blender_manifest.toml`` plus a generated ``wheels = [...]`` list, and ``./wheels/``: the OpenEXR
wheels (the version pinned in requirements/blender-5.3.txt) for Linux x64, Windows x64, macOS arm64
and macOS x64, for CPython 3.11 (Blender 4.2-5.0) and 3.13 (Blender 5.1+). numpy is not bundled:
Blender ships it. Blender installs only the wheels that match its platform and Python.

Wheels are fetched from PyPI with ``pip download`` into ``wheels/`` (git-ignored) and reused from
there on later builds. The zip is built and then validated with Blender's own extension tool,
``blender_ext.py``, found inside the ``bpy`` wheel of the Python running this script.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADDON_DIR = ROOT / "depth_cloud_addon"
MANIFEST = ROOT / "blender_manifest.toml"
REQUIREMENTS = ROOT / "requirements" / "blender-5.3.txt"
WHEEL_CACHE = ROOT / "wheels"

# CPython versions Blender bundles: 3.11 in 4.2-5.0, 3.13 from 5.1.
PYTHON_VERSIONS = ("3.11", "3.13")

# Blender platform -> wheel platform tags we accept, best first (also passed to `pip download
# --platform`). Upper bounds follow Blender 4.2's minimum systems: glibc 2.28, macOS 11.2.
# Thin macOS wheels only (a universal2 wheel would carry both architectures twice).
PLATFORM_TAGS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64",),
    "macos-x64": ("macosx_11_0_x86_64", *(f"macosx_10_{minor}_x86_64" for minor in range(15, 8, -1))),
}

# Never copied into the extension from the add-on package.
EXCLUDE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "tests", ".*")


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def openexr_version(requirements: pathlib.Path = REQUIREMENTS) -> str:
    """The ``OpenEXR==X.Y.Z`` pin of the main venv (requirements/blender-5.3.txt)."""
    match = re.search(r"^\s*OpenEXR\s*==\s*([^\s;#]+)", requirements.read_text(), re.MULTILINE | re.IGNORECASE)
    if not match:
        raise BuildError(f"no 'OpenEXR==<version>' pin in {requirements}")
    return match.group(1)


def find_blender_ext() -> pathlib.Path:
    """Blender's extension CLI inside this interpreter's bpy wheel (located without importing bpy)."""
    if override := os.environ.get("BLENDER_EXT"):
        return pathlib.Path(override)
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"bpy is not installed for {sys.executable}; run `make setup` first "
                         "(or set BLENDER_EXT to a blender_ext.py)")
    for location in spec.submodule_search_locations:
        found = sorted(pathlib.Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise BuildError(f"no bpy/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py under "
                     f"{spec.submodule_search_locations}")


def _wheel_matches(filename: str, version: str, python: str, platform: str) -> bool:
    """Is ``filename`` an OpenEXR ``version`` wheel for CPython ``python`` on Blender ``platform``?"""
    parts = filename.removesuffix(".whl").split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        return False
    name, wheel_version, python_tags, abi_tags, platform_tags = parts[0], parts[1], *parts[-3:]
    cp = "cp" + python.replace(".", "")
    return (name.lower() == "openexr" and wheel_version == version
            and cp in python_tags.split(".") and cp in abi_tags.split(".")
            and any(tag in PLATFORM_TAGS[platform] for tag in platform_tags.split(".")))


def fetch_wheels(version: str, cache: pathlib.Path = WHEEL_CACHE, log=print) -> list[pathlib.Path]:
    """One OpenEXR ``version`` wheel per (Python, platform) pair, from ``cache`` or else PyPI."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = []
    for python in PYTHON_VERSIONS:
        for platform, tags in PLATFORM_TAGS.items():
            cached = sorted(p for p in cache.glob("*.whl") if _wheel_matches(p.name, version, python, platform))
            if cached:
                wheels.append(cached[0])
                continue
            log(f"downloading OpenEXR=={version} for CPython {python}, {platform}")
            with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
                cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                       "--only-binary=:all:", "--no-deps", "--implementation", "cp",
                       "--python-version", python, *(arg for tag in tags for arg in ("--platform", tag)),
                       "-d", tmp, f"OpenEXR=={version}"]
                result = subprocess.run(cmd, capture_output=True, text=True)
                got = [p for p in pathlib.Path(tmp).glob("*.whl")]
                ok = [p for p in got if _wheel_matches(p.name, version, python, platform)]
                if result.returncode != 0 or len(ok) != 1:
                    detail = (result.stderr or result.stdout).strip().splitlines()
                    raise BuildError(
                        f"PyPI has no OpenEXR=={version} wheel for CPython {python} on {platform} "
                        f"(platform tags tried: {', '.join(tags)}); "
                        + (f"pip downloaded {[p.name for p in got]}" if result.returncode == 0
                           else f"pip said: {detail[-1] if detail else 'exit code ' + str(result.returncode)}"))
                target = cache / ok[0].name
                os.replace(ok[0], target)  # atomic: a concurrent build never sees half a wheel
            wheels.append(target)
    return wheels


def manifest_with_wheels(manifest_text: str, wheel_names: list[str]) -> str:
    """The committed manifest with a top-level ``wheels = [...]`` list (before the first table)."""
    if "wheels" in tomllib.loads(manifest_text):
        raise BuildError(f"{MANIFEST.name} already lists wheels; the build generates that list")
    entries = "".join(f'  "./wheels/{name}",\n' for name in wheel_names)
    block = f"# Added by tools/build_extension.py\nwheels = [\n{entries}]\n\n"
    lines = manifest_text.splitlines(keepends=True)
    first_table = next((i for i, line in enumerate(lines) if re.match(r"\s*\[", line)), len(lines))
    if first_table == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    text = "".join(lines[:first_table]) + block + "".join(lines[first_table:])
    assert tomllib.loads(text)["wheels"] == [f"./wheels/{name}" for name in wheel_names]
    return text


def stage(stage_dir: pathlib.Path, wheels: list[pathlib.Path]) -> pathlib.Path:
    """Fill ``stage_dir`` (emptied first) with the extension's source: add-on, manifest, wheels."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    shutil.copytree(ADDON_DIR, stage_dir, ignore=EXCLUDE)
    shutil.copy2(ROOT / "LICENSE", stage_dir / "LICENSE")
    (stage_dir / "wheels").mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, stage_dir / "wheels" / wheel.name)
    names = sorted(wheel.name for wheel in wheels)
    (stage_dir / "blender_manifest.toml").write_text(manifest_with_wheels(MANIFEST.read_text(), names))
    return stage_dir


def _run_blender_ext(blender_ext: pathlib.Path, *args: str) -> str:
    result = subprocess.run([sys.executable, str(blender_ext), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"blender_ext.py {args[0]} failed ({blender_ext}):\n{result.stdout}{result.stderr}")
    return result.stdout


def build(stage_dir: pathlib.Path = ROOT / "build" / "extension", out_dir: pathlib.Path = ROOT / "dist",
          wheel_cache: pathlib.Path = WHEEL_CACHE, log=print) -> pathlib.Path:
    """Fetch the wheels, stage, build and validate; return the zip's path."""
    blender_ext = find_blender_ext()
    wheels = fetch_wheels(openexr_version(), wheel_cache, log=log)
    stage(pathlib.Path(stage_dir), wheels)
    manifest = tomllib.loads(MANIFEST.read_text())
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    zip_path.unlink(missing_ok=True)
    _run_blender_ext(blender_ext, "build", "--source-dir", str(stage_dir), "--output-filepath", str(zip_path))
    _run_blender_ext(blender_ext, "validate", str(zip_path))
    if not zip_path.is_file():
        raise BuildError(f"blender_ext.py build did not write {zip_path}")
    return zip_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        zip_path = build(out_dir=pathlib.Path(args.out))
    except BuildError as error:
        print(f"build_extension: error: {error}", file=sys.stderr)
        return 1
    size_mb = zip_path.stat().st_size / 1e6
    try:
        shown = zip_path.relative_to(pathlib.Path.cwd())
    except ValueError:
        shown = zip_path
    print(f"{shown} ({size_mb:.1f} MB, built and validated in {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
