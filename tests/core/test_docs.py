"""docs/architecture.md stays true: every module of the package is named in it, and every module path it names
exists (a module added, moved or removed without the map fails here)."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "depth_cloud_addon"
ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"
#: A module path as the map writes it: in backquotes, relative to depth_cloud_addon/ (``core/frames/loop.py``).
NAMED = re.compile(r"`((?:core|blender|cli)/[\w/]*\.py|__init__\.py)`")


def _modules() -> set[str]:
    return {p.relative_to(PACKAGE_DIR).as_posix() for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts}


def test_every_module_is_named_in_the_architecture_map():
    named = set(NAMED.findall(ARCHITECTURE.read_text(encoding="utf-8")))
    missing = sorted(_modules() - named)
    assert len(_modules()) > 50
    assert not missing, f"docs/architecture.md does not name these modules (add a line for each): {missing}"


def test_every_module_path_the_map_names_exists():
    named = set(NAMED.findall(ARCHITECTURE.read_text(encoding="utf-8")))
    gone = sorted(named - _modules())
    assert not gone, f"docs/architecture.md names modules that do not exist (moved or removed?): {gone}"
