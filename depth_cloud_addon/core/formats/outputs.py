"""The one table of point-cloud output formats: which exist, by which file name, and what each can hold.

Every entry point (``depth-cloud convert`` and ``merge``, Export in Blender) asks this table which format an
output is (:func:`output_format`) and whether it holds what was asked for (:meth:`OutputFormat.refusal`); an
unknown extension is refused with the list of known ones (:class:`UnknownFormatError`), and a format whose optional
package is missing raises :class:`MissingPackageError` before any work (:meth:`OutputFormat.require`).

=========  ==========================  ============================================================================
format     extensions                  holds
=========  ==========================  ============================================================================
``ply``    ``.ply``                    a file per frame (or one fused file); sRGB 8-bit or linear float colours,
                                       normals, radius, point attributes (:mod:`.ply`)
``npz``    ``.npz``                    the same as NumPy arrays, plus each point's pixel and the camera (:mod:`.ply`)
``usd``    ``.usd .usda .usdc``        one point cache of every frame (time code = frame), the camera, widths,
                                       linear colours, attributes as primvars; Pixel Faces (:mod:`.usd`)
``e57``    ``.e57``                    one scan per frame, its camera as the scan's pose; positions and sRGB
                                       colours only (:mod:`.survey`)
``las``    ``.las .laz``               a file per frame (or one fused file); positions and 16-bit sRGB colours only
                                       (:mod:`.survey`; ``.laz`` compressed with lazrs)
=========  ==========================  ============================================================================
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from ..errors import MissingPackageError, OutputError, UnknownFormatError

__all__ = ["OUTPUT_FORMATS", "OutputFormat", "format_named", "output_format"]


@dataclass(frozen=True)
class OutputFormat:
    """One output format: its name, file name extensions and what it can hold."""

    name: str                       # "ply", "npz", "usd", "e57", "las"
    label: str                      # for messages: "PLY", "USD", ...
    holds: str                      # for messages: what a file holds
    extensions: tuple[str, ...]     # lower case, with the dot; the first is the usual one
    one_file: bool                  # one file holds every frame of a sequence (a USD point cache, E57 scans)
    attributes: bool                # point attributes (object_id, normal, motion, ...)
    normals: bool
    radius: bool
    linear_colors: bool             # float linear colours (else 8/16-bit sRGB)
    faces: bool = False             # Pixel Faces geometry
    packages: tuple[tuple[str, str], ...] = ()  # optional (module, pip extra) it needs
    compressed: tuple[str, tuple[str, str]] | None = None  # (extension, (module, extra)) needed for that extension

    def required(self, path=None) -> tuple[tuple[str, str], ...]:
        """The optional ``(module, pip extra)`` pairs writing ``path`` in this format needs."""
        needed = self.packages
        if self.compressed is not None and path is not None and os.fspath(path).lower().endswith(self.compressed[0]):
            needed += (self.compressed[1],)
        return needed

    def require(self, path=None) -> None:
        """Raise :class:`MissingPackageError` (one line: what to install) when a package this format needs for
        ``path`` cannot be imported. Checks without importing it."""
        for module, extra in self.required(path):
            if importlib.util.find_spec(module) is None:
                install = f"pip install 'depth-cloud[{extra}]'"
                where = f"{os.fspath(path)}: " if path is not None else ""
                raise MissingPackageError(f"{where}{self.label} output needs the Python package {module}: {install}"
                                          + (" (in Blender: a build that bundles it, or depth-cloud convert)"
                                             if module == "pxr" else ""), package=module, install=install)

    def refusal(self, *, attributes=(), normals: bool = False, radius: bool = False, linear_colors: bool = False,
                faces: bool = False, fused: bool = False) -> str | None:
        """Why this format cannot hold what is asked for (one line, without the file name), or None."""
        if fused and self.one_file:
            return f"{self.label} holds every frame of a sequence in one file already: not a fused cloud"
        lacking = [what for what, asked, held in (
            ("point attributes", bool(attributes), self.attributes), ("normals", normals, self.normals),
            ("radius", radius, self.radius), ("linear colours", linear_colors, self.linear_colors),
            ("Pixel Faces", faces, self.faces)) if asked and not held]
        if not lacking:
            return None
        holders = [f.label for f in OUTPUT_FORMATS if all(getattr(f, key) for key, asked in (
            ("attributes", bool(attributes)), ("normals", normals), ("radius", radius),
            ("linear_colors", linear_colors), ("faces", faces)) if asked)]
        return (f"{self.label} holds {self.holds}: {_join(lacking)} "
                + (f"need {_join(holders, 'or')}" if holders else "are held by no one format together"))

    def check(self, path, **asked) -> None:
        """Raise :class:`OutputError` naming ``path`` when :meth:`refusal` refuses."""
        why = self.refusal(**asked)
        if why is not None:
            raise OutputError(f"{os.fspath(path)}: {why}")


def _join(words, last: str = "and") -> str:
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


_POINTS = "points with sRGB or linear colours, normals, radius and point attributes"
OUTPUT_FORMATS = (
    OutputFormat("ply", "PLY", _POINTS, (".ply",), one_file=False, attributes=True, normals=True, radius=True,
                 linear_colors=True),
    OutputFormat("npz", "NPZ", _POINTS, (".npz",), one_file=False, attributes=True, normals=True, radius=True,
                 linear_colors=True),
    OutputFormat("usd", "USD", "points or Pixel Faces with linear colours, normals, widths and point attributes",
                 (".usd", ".usda", ".usdc"), one_file=True, attributes=True, normals=True, radius=True,
                 linear_colors=True, faces=True, packages=(("pxr", "usd"),)),
    OutputFormat("e57", "E57", "positions and 8-bit sRGB colours only", (".e57",), one_file=True, attributes=False,
                 normals=False, radius=False, linear_colors=False, packages=(("pye57", "survey"),)),
    OutputFormat("las", "LAS", "positions and 16-bit sRGB colours only", (".las", ".laz"), one_file=False,
                 attributes=False, normals=False, radius=False, linear_colors=False,
                 packages=(("laspy", "survey"),), compressed=(".laz", ("lazrs", "survey"))),
)
_BY_NAME = {f.name: f for f in OUTPUT_FORMATS}


def known_extensions() -> str:
    """Every extension of the table, for messages: ``.ply, .npz, .usd, ...``."""
    return ", ".join(ext for f in OUTPUT_FORMATS for ext in f.extensions)


def format_named(name: str) -> OutputFormat:
    """The format called ``name`` ("ply", "npz", "usd", "e57", "las"); :class:`UnknownFormatError` otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownFormatError(f"unknown output format {name!r}: choose {_join(_BY_NAME, 'or')}") from None


def output_format(path, name: str | None = None) -> OutputFormat:
    """The format of an output: ``name`` when given (whatever the extension), else by ``path``'s extension (case
    ignored). An extension the table does not know raises :class:`UnknownFormatError`, listing the known ones:
    nothing is ever written in a format the name does not say."""
    if name is not None:
        return format_named(name)
    lower = os.fspath(path).lower()
    for fmt in OUTPUT_FORMATS:
        if lower.endswith(fmt.extensions):
            return fmt
    ext = os.path.splitext(lower)[1] or "no extension"
    raise UnknownFormatError(f"{os.fspath(path)}: unknown output format ({ext}): the file name must end in one of "
                             f"{known_extensions()}")
