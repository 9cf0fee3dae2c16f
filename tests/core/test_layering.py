"""The package's layering, checked from the source files (``ast``) and by importing without Blender.

- ``depth_cloud_addon/core``: pure numpy + OpenEXR; never imports ``bpy``, ``mathutils`` or ``bmesh``.
- ``depth_cloud_addon/cli.py`` (or ``cli/``): imports the core; at most one ``depth_cloud_addon.blender``
  module, and only inside a function.
- ``depth_cloud_addon/blender/``: every module that touches Blender; never imports the CLI.
- ``depth_cloud_addon/__init__.py``: registers the add-on (may import ``.blender`` inside functions).
- Inside the core, imports run one way: the base (``errors``, ``atomic``, ``_parallel``) <- ``geometry/`` <-
  ``formats/`` <- ``frames/`` (<- ``core/__init__.py``, the public API, which no core module imports).
- No import cycles inside the package; ``tools/*.py`` use no test code and no private names.

Modules are discovered from the files, so a module added or moved later is checked too.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "depth_cloud_addon"
PACKAGE_DIR = REPO_ROOT / PACKAGE
BLENDER_PACKAGE = f"{PACKAGE}.blender"
CLI_PACKAGE = f"{PACKAGE}.cli"
BLENDER_ONLY = ("bpy", "mathutils", "bmesh")  # importable only inside Blender (or with the bpy wheel)
TOOLS_DIR = REPO_ROOT / "tools"


# -- discovery and parsing (once per session) ----------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str  # dotted: depth_cloud_addon.core.geometry.camera; a package is named by its __init__.py
    path: Path
    is_package: bool  # an __init__.py

    @property
    def package(self) -> str:
        """The package relative imports start from (the module itself for an ``__init__.py``)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]

    @property
    def where(self) -> str:
        return self.path.relative_to(REPO_ROOT).as_posix()


def _dotted(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _modules() -> dict[str, Module]:
    """Every ``depth_cloud_addon/**/*.py``, by dotted name."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        modules[_dotted(path)] = Module(_dotted(path), path, path.name == "__init__.py")
    return modules


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _in_blender(module: Module) -> bool:
    return module.name == BLENDER_PACKAGE or module.name.startswith(BLENDER_PACKAGE + ".")


def _is_cli(name: str) -> bool:
    return name == CLI_PACKAGE or name.startswith(CLI_PACKAGE + ".")


def _core_and_cli() -> list[Module]:
    """Every module outside ``blender/`` except the add-on's own ``depth_cloud_addon/__init__.py``."""
    return [m for m in _modules().values() if m.name != PACKAGE and not _in_blender(m)]


def _imports(tree: ast.AST):
    """Every ``import``/``from ... import`` at any depth, with whether it sits inside a function."""

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            yield from visit(child, in_function
                             or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    yield from visit(tree, False)


def _from_name(module: Module, node: ast.ImportFrom) -> str | None:
    """The absolute module a ``from X import ...`` reads from, relative imports resolved (None: beyond the top)."""
    if node.level == 0:
        return node.module
    parts = module.package.split(".")
    if node.level - 1 >= len(parts):
        return None
    base = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


def _named(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Every absolute name the statement may import: the modules, and ``X.name`` for ``from X import name``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    source = _from_name(module, node)
    if source is None:
        return []
    return [source] + [f"{source}.{alias.name}" for alias in node.names if alias.name != "*"]


def _internal_targets(module: Module, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package modules the statement imports (its edges in the import graph).

    ``from . import a, b`` imports the submodules ``a`` and ``b`` (when they are files); ``from .x import name``
    imports ``x`` (``x/__init__.py`` for a package), unless ``name`` is itself a submodule of ``x``. Parent packages
    that Python initialises on the way (``core/__init__.py`` for ``from .errors import ...`` inside ``core/``) are
    not edges: they are already importing by the time their submodule runs.
    """
    known = _modules()
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    source = _from_name(module, node)
    if source is None:
        return set()
    submodules = {f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known}
    attributes = [alias for alias in node.names if f"{source}.{alias.name}" not in known]
    targets = set(submodules)
    if attributes and source in known:
        targets.add(source)
    return targets


def _line(module: Module, node: ast.AST) -> str:
    return f"{module.where}:{node.lineno}: {ast.unparse(node)}"


# -- importing without Blender -------------------------------------------------------------------------

NO_BLENDER = "import sys; sys.modules['bpy'] = sys.modules['mathutils'] = sys.modules['bmesh'] = None; "


@pytest.mark.parametrize("name", [m.name for m in _core_and_cli()] or ["<nothing discovered>"])
def test_core_and_cli_modules_import_without_blender(name):
    discovered = {m.name for m in _core_and_cli()}
    required = {f"{PACKAGE}.core.geometry.camera", CLI_PACKAGE}
    assert required <= discovered, (
        f"module discovery under {PACKAGE_DIR} found {sorted(discovered)}, missing {sorted(required - discovered)}")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", NO_BLENDER + f"import importlib; importlib.import_module({name!r})"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (
        f"`import {name}` fails with bpy, mathutils and bmesh unimportable (exit {result.returncode}):\n"
        f"{result.stderr}")


# -- what imports what (static, every nesting level) -----------------------------------------------------


def test_only_the_blender_package_imports_blender_modules():
    offenders = []
    for module in _core_and_cli():
        for node, _ in _imports(_tree(module.path)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""] if node.level == 0 else []
            if any(name.split(".")[0] in BLENDER_ONLY for name in names):
                offenders.append(_line(module, node))
    assert not offenders, (
        f"only {PACKAGE}/blender/ may import {', '.join(BLENDER_ONLY)} (even inside a function); move these "
        "modules there or drop the import:\n" + "\n".join(offenders))


def test_the_blender_package_never_imports_the_cli():
    offenders = []
    for module in _modules().values():
        if not _in_blender(module):
            continue
        for node, _ in _imports(_tree(module.path)):
            if any(_is_cli(name) for name in _named(module, node)):
                offenders.append(_line(module, node))
    assert not offenders, (
        f"{PACKAGE}/blender/ must not import {CLI_PACKAGE} (the CLI may use blender, not the reverse):\n"
        + "\n".join(offenders))


def test_the_cli_imports_the_core_and_at_most_one_blender_module_inside_a_function():
    cli_modules = [m for m in _modules().values() if _is_cli(m.name)]
    assert cli_modules, f"no {CLI_PACKAGE} module under {PACKAGE_DIR}"
    known = _modules()
    at_module_level, elsewhere, blender_modules = [], [], {}
    for module in cli_modules:
        for node, in_function in _imports(_tree(module.path)):
            names = _named(module, node)
            if not any(name == PACKAGE or name.startswith(PACKAGE + ".") for name in names):
                continue  # the standard library and third-party packages
            if isinstance(node, ast.ImportFrom):
                source = names[0]
                imported = [n for n in names[1:] if n in known] or [source]  # submodules, else the module itself
            else:
                imported = names
            for name in imported:
                if name == BLENDER_PACKAGE or name.startswith(BLENDER_PACKAGE + "."):
                    blender_modules.setdefault(name, []).append(_line(module, node))
                    if not in_function:
                        at_module_level.append(_line(module, node))
                elif not (name.startswith(f"{PACKAGE}.core.") or name == f"{PACKAGE}.core" or _is_cli(name)
                          or name == PACKAGE):  # the package root (__version__): always imported, imports nothing
                    elsewhere.append(_line(module, node))
    problems = []
    if at_module_level:
        problems.append(f"imports {BLENDER_PACKAGE} at module level (import it inside the function that needs "
                        "Blender):\n  " + "\n  ".join(at_module_level))
    if len(blender_modules) > 1:
        problems.append(f"imports {len(blender_modules)} {BLENDER_PACKAGE} modules (at most one):\n  "
                        + "\n  ".join(line for lines in blender_modules.values() for line in lines))
    if elsewhere:
        problems.append(f"imports package modules outside {PACKAGE}.core:\n  " + "\n  ".join(elsewhere))
    assert not problems, "the CLI " + "\nthe CLI ".join(problems)


CORE_PACKAGE = f"{PACKAGE}.core"
#: The core's rooms, lowest first: a module may import core modules of its own room and of the rooms below.
CORE_ROOMS = ("base", "geometry", "formats", "frames")
CORE_BASE = ("errors", "atomic", "_parallel")


def _core_room(name: str) -> str | None:
    """The room of a core module (None: not a core module, or the core's own ``__init__``)."""
    if not name.startswith(CORE_PACKAGE + "."):
        return None
    first = name[len(CORE_PACKAGE) + 1:].split(".")[0]
    if first in CORE_BASE:
        return "base"
    return first if first in CORE_ROOMS else "unplaced"


def test_the_core_rooms_import_one_way():
    rooms = {name: _core_room(name) for name in _modules()}
    unplaced = sorted(name for name, room in rooms.items() if room == "unplaced")
    assert not unplaced, (f"core modules outside the rooms {CORE_ROOMS[1:]} and the base {CORE_BASE}: "
                          f"{unplaced} (put each in the room that says what it is)")
    assert {"geometry", "formats", "frames", "base"} <= set(rooms.values())
    rank = {room: i for i, room in enumerate(CORE_ROOMS)}
    upward = []
    for name, targets in _import_graph().items():
        room = rooms[name]
        if room is None:
            continue
        for target, lines in targets.items():
            if target == CORE_PACKAGE:
                upward += [f"{line}  (the core's public API imports the rooms, not the reverse)" for line in lines]
            elif rooms.get(target) is not None and rank[rooms[target]] > rank[room]:
                upward += [f"{line}  ({room} -> {rooms[target]})" for line in lines]
    assert not upward, ("core imports that run back up (base <- geometry <- formats <- frames):\n"
                        + "\n".join(sorted(upward)))


def _import_graph() -> dict[str, dict[str, list[str]]]:
    """module -> {imported package module -> the import lines}, from imports at every nesting level."""
    graph: dict[str, dict[str, list[str]]] = {name: {} for name in _modules()}
    for module in _modules().values():
        for node, _ in _imports(_tree(module.path)):
            for target in _internal_targets(module, node):
                graph[module.name].setdefault(target, []).append(_line(module, node))
    return graph


def _strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_no_import_cycles_inside_the_package():
    graph = _import_graph()
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1 or c[0] in graph[c[0]]]
    report = []
    for component in cycles:
        report.append("cycle: " + " <-> ".join(component))
        report += [f"  {line}" for line in sorted({line for name in component for target, lines in graph[name].items()
                                                   if target in component for line in lines})]
    assert not cycles, (
        "import cycles (imports inside functions count: they only hide the cycle until that call):\n"
        + "\n".join(report))


# -- tools/ ----------------------------------------------------------------------------------------------


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(name: str | None) -> bool:
    return name is not None and (name == PACKAGE or name.startswith(PACKAGE + "."))


def test_tools_use_no_test_code_and_no_private_names():
    tool_paths = sorted(TOOLS_DIR.glob("*.py"))
    assert tool_paths, f"no tools/*.py under {TOOLS_DIR}"
    offenders = []
    for path in tool_paths:
        where = path.relative_to(REPO_ROOT).as_posix()
        tree = _tree(path)
        bound = set()  # names bound to something imported from depth_cloud_addon
        for node, _ in _imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "tests":
                        offenders.append(f"{where}:{node.lineno}: imports test code: {ast.unparse(node)}")
                    if _ours(alias.name):
                        if any(_private(part) for part in alias.name.split(".")):
                            offenders.append(f"{where}:{node.lineno}: imports a private module: {ast.unparse(node)}")
                        bound.add(alias.asname or alias.name.split(".")[0])
            elif node.level == 0:  # tools/ is no package: a relative import is a tools/ helper
                if (node.module or "").split(".")[0] == "tests":
                    offenders.append(f"{where}:{node.lineno}: imports test code: {ast.unparse(node)}")
                if _ours(node.module):
                    private = [p for p in node.module.split(".") if _private(p)]
                    private += [alias.name for alias in node.names if _private(alias.name)]
                    if private:
                        offenders.append(f"{where}:{node.lineno}: imports private {', '.join(private)}: "
                                         f"{ast.unparse(node)}")
                    bound.update(alias.asname or alias.name for alias in node.names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in bound:
                    offenders.append(f"{where}:{node.lineno}: uses private {ast.unparse(node)}")
    assert not offenders, (
        "tools/ must use only the package's public API and no test code (a shared helper belongs in the "
        "package or in tools/ itself):\n" + "\n".join(sorted(set(offenders), key=_line_order)))


def _line_order(report: str):
    path, line, _ = report.split(":", 2)
    return path, int(line)
