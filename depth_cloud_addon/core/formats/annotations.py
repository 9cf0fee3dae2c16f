"""Read pixel annotations (CSV or JSON) and export the 3D points picked at them (CSV or JSON).

Conventions (the full page is ``docs/conventions.md``):

* Pixel coordinates are continuous ``(x, y)``: x to the right, y **down**, origin at the top-left
  *corner* of the image, so pixel ``(col, row)`` covers ``[col, col+1) x [row, row+1)`` and its
  centre is ``(col + 0.5, row + 0.5)``. :class:`Annotations` always holds coordinates in this
  convention, ready for :func:`~depth_cloud_addon.core.geometry.projection.unproject_pixels`.
* ``convention`` says how the *file* counts, and therefore what is added on reading:

  ==========  ====================================================================  =========
  convention  the file's coordinates are                                            added
  ==========  ====================================================================  =========
  "center"    already this project's convention (e.g. from ``core.project``);       0
              the default
  "opencv"    OpenCV / COLMAP: integer coordinates at pixel centres, so pixel        +0.5
              ``(col, row)`` is ``(col, row)``; sub-pixel values allowed
  "index"     integer pixel indices ``(col, row)``; non-integers are an error        +0.5
  ==========  ====================================================================  =========

  Columns (CSV) or keys (JSON) named ``col``/``row`` (or ``column``/``row``) are pixel indices by
  their very name and are always read as ``"index"``, whatever ``convention`` says.

Accepted layouts (:func:`parse_annotations`):

* CSV with a header naming the coordinate columns, case-insensitively: ``x,y``, ``u,v``, ``px,py``,
  ``x_px,y_px``, ``pixel_x,pixel_y`` or ``col,row``/``column,row`` (the first pair found, in this
  order), and optionally a label column ``label``, ``name`` or ``id`` (same rule). Other columns
  are ignored. Delimiter ``,``, ``;`` or tab, sniffed (runs of blanks when none of them splits the
  first row). Blank lines and lines starting with ``#`` are skipped; a UTF-8 byte-order mark is
  ignored; quoted fields follow the ``csv`` module. Every row must have as many fields as the
  header (this catches decimal commas in a comma-separated file).
* CSV without a header (its first row holds numbers where the coordinates go): 2 columns ``x, y``
  or 3 columns ``label, x, y``.
* JSON: a list of ``[x, y]`` (or ``[label, x, y]`` with a string label); a list of objects with
  coordinate keys as above and an optional label key (``{"x": 1, "y": 2, "label": "tip"}``); either
  list wrapped as ``{"points": [...]}`` (other keys ignored); or a mapping ``{"tip": [x, y], ...}``
  (values may also be objects with coordinate keys). Numeric strings count as numbers.

Labels: the file's labels as strings (a JSON number ``3`` becomes ``"3"``); a point without one (no
label column, an empty cell, ``null``) gets its 0-based position ``"0"``, ``"1"``, ... Duplicate
labels are **allowed** (several clicks may share a class name such as ``"corner"``); use the
position in the arrays to tell them apart.

Errors are :class:`AnnotationError` whose message starts with the source (path or ``"<text>"``)
and the place: ``"line 3"`` for CSV (physical line numbers, 1-based, comments and blank lines
counted), the JSON path of the entry (``"[2]"``, ``"points[2]"``, ``"['tip']"``) for JSON.

Exports (:func:`write_points_csv`, :func:`write_points_json`) write one row per picked point with
the columns :data:`EXPORT_COLUMNS`; a NaN (no valid depth there) is an empty CSV cell or a JSON
``null``. Both files read back with :func:`read_annotations`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from ..atomic import write_text
from ..errors import DepthCloudError

__all__ = [
    "AnnotationError",
    "Annotations",
    "CONVENTIONS",
    "EXPORT_COLUMNS",
    "parse_annotations",
    "read_annotations",
    "write_points_csv",
    "write_points_json",
]

#: Values of ``convention`` -> what is added to the file's coordinates.
CONVENTIONS = {"center": 0.0, "opencv": 0.5, "index": 0.5}
#: Coordinate column/key names (lower case), in order of preference, and whether they are indices.
COORDINATE_NAMES = (
    ("x", "y", False),
    ("u", "v", False),
    ("px", "py", False),
    ("x_px", "y_px", False),
    ("pixel_x", "pixel_y", False),
    ("col", "row", True),
    ("column", "row", True),
)
#: Label column/key names (lower case), in order of preference.
LABEL_NAMES = ("label", "name", "id")
#: Columns of the exported picked points, in order.
EXPORT_COLUMNS = ("label", "x", "y", "world_x", "world_y", "world_z", "cam_x", "cam_y", "cam_z")
#: How many offending points an out-of-image error lists.
MAX_LISTED = 5

_DELIMITERS = ("\t", ";", ",")


class AnnotationError(DepthCloudError, ValueError):
    """An annotation file is missing, unreadable or malformed; the message names the file and place."""


@dataclass(frozen=True)
class Annotations:
    """Annotated pixels of one image.

    ``pixels``: (N, 2) float64, read-only, continuous ``(x, y)`` in the project's convention (x
    right, y down, origin at the top-left corner, pixel centres at +0.5). ``labels``: N strings,
    duplicates allowed. ``source``: the file's path or ``"<text>"``.
    """

    pixels: np.ndarray
    labels: tuple[str, ...]
    source: str = "<text>"

    def __post_init__(self):
        pixels = np.array(self.pixels, dtype=np.float64)
        if pixels.size == 0:
            pixels = pixels.reshape(0, 2)
        if pixels.ndim != 2 or pixels.shape[1] != 2:
            raise AnnotationError(f"pixels must have shape (N, 2), got {pixels.shape}")
        labels = tuple(str(label) for label in self.labels)
        if len(labels) != pixels.shape[0]:
            raise AnnotationError(f"{len(labels)} labels for {pixels.shape[0]} pixels")
        pixels.flags.writeable = False
        object.__setattr__(self, "pixels", pixels)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "source", str(self.source))

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other):
        if not isinstance(other, Annotations):
            return NotImplemented
        return (self.labels == other.labels and self.source == other.source
                and np.array_equal(self.pixels, other.pixels))

    # Unhashable: @dataclass(frozen=True) replaces any __hash__ here (a `__hash__ = None` included) with one over
    # the fields, and that raises TypeError on the pixels array.


# -- reading -----------------------------------------------------------------------------------


def read_annotations(path, *, convention: str = "center", width: int | None = None,
                     height: int | None = None) -> Annotations:
    """Read the annotated pixels of ``path`` (CSV or JSON, layouts in the module docstring).

    The format follows the extension (``.json``; ``.csv``/``.tsv``), otherwise the content (JSON if
    it starts with ``[`` or ``{``). ``convention``: ``"center"`` (default), ``"opencv"`` or
    ``"index"``, see the module docstring. ``width``/``height`` (pixels, optional): coordinates
    outside ``[0, width) x [0, height)`` raise :class:`AnnotationError` listing them.

    Example: a file ``x,y\\n10.5,20.5`` gives ``pixels == [[10.5, 20.5]]``, ``labels == ("0",)``;
    with ``convention="opencv"`` the same file gives ``[[11.0, 21.0]]``.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise AnnotationError(f"{source}: cannot read the annotation file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    ext = os.path.splitext(source)[1].lower()
    fmt = "json" if ext == ".json" else "csv" if ext in (".csv", ".tsv") else None
    return parse_annotations(text, fmt=fmt, convention=convention, width=width, height=height, source=source)


def parse_annotations(text: str, *, fmt: str | None = None, convention: str = "center",
                      width: int | None = None, height: int | None = None,
                      source: str = "<text>") -> Annotations:
    """Parse annotated pixels from ``text``; ``fmt`` ``"csv"``, ``"json"`` or None (sniffed).

    Same layouts, ``convention`` and ``width``/``height`` as :func:`read_annotations`; ``source``
    names the text in error messages and in the result.
    """
    if fmt not in (None, "csv", "json"):
        raise AnnotationError(f"fmt must be 'csv', 'json' or None, got {fmt!r}")
    if convention not in CONVENTIONS:
        raise AnnotationError(f"convention must be one of {', '.join(map(repr, CONVENTIONS))}, got {convention!r}")
    width, height = _check_size(width, "width"), _check_size(height, "height")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise AnnotationError(f"{source}: the annotation file is empty")
    if fmt is None:
        fmt = "json" if text.lstrip()[0] in "[{" else "csv"
    parser = _Parser(source, convention)
    if fmt == "json":
        parser.parse_json(text)
    else:
        parser.parse_csv(text)
    if not parser.points:
        raise AnnotationError(f"{source}: no annotated points")
    pixels = np.array([p for p, _, _ in parser.points], dtype=np.float64)
    labels = tuple(str(i) if label is None else label for i, (_, label, _) in enumerate(parser.points))
    _check_bounds(pixels, [where for _, _, where in parser.points], width, height, source)
    return Annotations(pixels, labels, source)


def _check_size(value, name: str) -> int | None:
    if value is None:
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or size != value:
        raise AnnotationError(f"{name} must be a positive whole number of pixels, got {value!r}")
    return size


def _check_bounds(pixels: np.ndarray, places: list[str], width, height, source: str) -> None:
    outside = np.zeros(pixels.shape[0], dtype=bool)
    ranges = []
    if width is not None:
        outside |= (pixels[:, 0] < 0) | (pixels[:, 0] >= width)
        ranges.append(f"x in [0, {width})")
    if height is not None:
        outside |= (pixels[:, 1] < 0) | (pixels[:, 1] >= height)
        ranges.append(f"y in [0, {height})")
    bad = np.flatnonzero(outside)
    if bad.size == 0:
        return
    listed = ", ".join(f"{places[i]} ({float(pixels[i, 0])!r}, {float(pixels[i, 1])!r})" for i in bad[:MAX_LISTED])
    more = f", and {bad.size - MAX_LISTED} more" if bad.size > MAX_LISTED else ""
    noun = "point lies" if bad.size == 1 else "points lie"
    raise AnnotationError(
        f"{source}: {bad.size} {noun} outside the image ({' and '.join(ranges)}, pixel centres at +0.5): "
        f"{listed}{more}"
    )


class _Parser:
    """Collects ``(pixel, label or None, place)`` per point; raises errors naming source and place."""

    def __init__(self, source: str, convention: str):
        self.source = source
        self.convention = convention
        self.points: list[tuple[tuple[float, float], str | None, str]] = []

    def error(self, where: str, message: str) -> AnnotationError:
        return AnnotationError(f"{self.source}: {where}: {message}")

    def number(self, value, where: str, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.error(where, f"{name}={value!r} is not a number")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise self.error(where, f"{name}={value!r} is not a number") from None
        if not math.isfinite(number):
            raise self.error(where, f"{name}={value!r} is not a finite number")
        return number

    def add(self, where: str, x, y, names: tuple[str, str], is_index: bool, label) -> None:
        x, y = self.number(x, where, names[0]), self.number(y, where, names[1])
        if is_index or self.convention == "index":
            for name, value in zip(names, (x, y)):
                if not value.is_integer():
                    raise self.error(where, f"{name}={value!r} is not a whole pixel index")
        offset = 0.5 if is_index else CONVENTIONS[self.convention]
        if isinstance(label, str):
            label = label.strip() or None
        elif label is not None:
            label = str(label)
        self.points.append(((x + offset, y + offset), label, where))

    # -- CSV ---------------------------------------------------------------------------------

    def parse_csv(self, text: str) -> None:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            raise AnnotationError(f"{self.source}: the annotation file holds only comments and blank lines")
        split = _sniff_splitter([line for _, line in lines])
        rows = [(n, [field.strip() for field in split(line)]) for n, line in lines]
        first_line, first = rows[0]
        if len(first) < 2:
            raise self.error(f"line {first_line}", f"one column only ({first}); expected x and y columns "
                                                   f"separated by ',', ';', a tab or blanks")
        if _is_data_row(first):
            if len(first) not in (2, 3):
                raise self.error(f"line {first_line}", f"a CSV without a header needs 2 columns (x, y) or 3 "
                                                       f"(label, x, y), found {len(first)}: {first}")
            columns = {"x": len(first) - 2, "y": len(first) - 1}
            label_col = 0 if len(first) == 3 else None
            names, is_index, data = ("x", "y"), False, rows
            expected, reference = len(first), f"line {first_line}"
        else:
            header = [name.lower() for name in first]
            seen = set()
            for name in header:
                if name and name in seen:
                    raise self.error(f"line {first_line}", f"the header names column {name!r} twice")
                seen.add(name)
            pair = next(((x, y, idx) for x, y, idx in COORDINATE_NAMES if x in header and y in header), None)
            if pair is None:
                accepted = ", ".join(f"{x}/{y}" for x, y, _ in COORDINATE_NAMES)
                raise self.error(f"line {first_line}", f"no x/y columns in the header; columns found: {first} "
                                                       f"(accepted pairs, any case: {accepted})")
            columns = {"x": header.index(pair[0]), "y": header.index(pair[1])}
            label_col = next((header.index(name) for name in LABEL_NAMES if name in header), None)
            names, is_index, data = (first[columns["x"]], first[columns["y"]]), pair[2], rows[1:]
            expected, reference = len(first), f"the header (line {first_line})"
        for n, row in data:
            where = f"line {n}"
            if len(row) != expected:
                raise self.error(where, f"{len(row)} fields where {reference} has {expected}: {row}")
            label = row[label_col] if label_col is not None else None
            self.add(where, row[columns["x"]], row[columns["y"]], names, is_index, label)

    # -- JSON --------------------------------------------------------------------------------

    def parse_json(self, text: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{self.source}: not valid JSON: {exc.msg} (line {exc.lineno}, "
                                  f"column {exc.colno})") from None
        if isinstance(data, dict) and isinstance(data.get("points"), list) and all(
                isinstance(item, (list, dict)) for item in data["points"]):
            self.json_list(data["points"], "points")
        elif isinstance(data, list):
            self.json_list(data, "")
        elif isinstance(data, dict):
            for key, value in data.items():
                self.json_entry(value, f"[{key!r}]", label=key, allow_label=False)
        else:
            raise AnnotationError(f"{self.source}: expected a JSON list of points or an object, got "
                                  f"{type(data).__name__} {data!r}")

    def json_list(self, items: list, path: str) -> None:
        for i, item in enumerate(items):
            self.json_entry(item, f"{path}[{i}]", label=None, allow_label=True)

    def json_entry(self, item, where: str, *, label, allow_label: bool) -> None:
        if isinstance(item, list):
            if len(item) == 2:
                self.add(where, item[0], item[1], ("x", "y"), False, label)
                return
            if len(item) == 3 and allow_label and isinstance(item[0], str):
                self.add(where, item[1], item[2], ("x", "y"), False, item[0])
                return
        elif isinstance(item, dict):
            keys = {str(key).lower(): key for key in item}
            pair = next(((x, y, idx) for x, y, idx in COORDINATE_NAMES if x in keys and y in keys), None)
            if pair is None:
                raise self.error(where, f"no x/y keys; keys found: {list(item)}")
            if allow_label:
                label = next((item[keys[name]] for name in LABEL_NAMES if name in keys), None)
            x_key, y_key = keys[pair[0]], keys[pair[1]]
            self.add(where, item[x_key], item[y_key], (str(x_key), str(y_key)), pair[2], label)
            return
        shapes = '[x, y], [label, x, y] or {"x": ..., "y": ...}' if allow_label else '[x, y] or {"x": ..., "y": ...}'
        raise self.error(where, f"expected {shapes}, got {json.dumps(item, default=str)}")


def _sniff_splitter(lines: list[str]):
    """The function splitting one line into fields: the first of tab, ``;``, ``,`` that splits the
    first line and gives every line the same number of fields; else the first that splits the
    first line; else runs of blanks."""
    def splitter(delimiter):
        return lambda line: next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))
    counts = {d: [len(splitter(d)(line)) for line in lines] for d in _DELIMITERS}
    splitting = [d for d in _DELIMITERS if counts[d][0] >= 2]
    for d in splitting:
        if len(set(counts[d])) == 1:
            return splitter(d)
    if splitting:
        return splitter(splitting[0])
    return str.split


def _is_data_row(row: list[str]) -> bool:
    """Whether a header-less first row: its last two fields (the coordinates) are numbers."""
    if len(row) < 2:
        return False
    try:
        float(row[-1]), float(row[-2])
    except ValueError:
        return False
    return True


# -- exporting ---------------------------------------------------------------------------------


def _export_rows(labels, pixels, points_world, points_camera) -> tuple[list[str], np.ndarray]:
    labels = [str(label) for label in labels]
    n = len(labels)
    arrays = []
    for name, value, width in (("pixels", pixels, 2), ("points_world", points_world, 3),
                               ("points_camera", points_camera, 3)):
        array = np.asarray(value, dtype=np.float64)
        if array.shape != (n, width):
            raise ValueError(f"{name} must have shape ({n}, {width}) for {n} labels, got {array.shape}")
        arrays.append(array)
    return labels, np.concatenate(arrays, axis=1)


def write_points_csv(path, labels, pixels, points_world, points_camera) -> int:
    """Write picked points as CSV with the columns :data:`EXPORT_COLUMNS`; return the row count.

    ``labels``: N strings; ``pixels``: (N, 2) ``(x, y)`` in the project's convention;
    ``points_world``/``points_camera``: (N, 3) in metres, world and Blender camera frame (x right,
    y up, -Z forward), NaN where the pixel had no valid depth: NaN (any non-finite value) is
    written as an empty cell.
    Floats are written with the shortest text that reads back to the same float64. One row per
    label, in order, none dropped. Written to a temporary name and renamed, so a failure never
    leaves a partial file.
    """
    labels, values = _export_rows(labels, pixels, points_world, points_camera)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for label, row in zip(labels, values.tolist()):
        writer.writerow([label] + [repr(v) if math.isfinite(v) else "" for v in row])
    write_text(path, out.getvalue(), newline="")
    return len(labels)


def write_points_json(path, labels, pixels, points_world, points_camera) -> int:
    """Write picked points as a JSON list of objects keyed by :data:`EXPORT_COLUMNS`; return the count.

    Same arguments as :func:`write_points_csv`; NaN (any non-finite value) is written as ``null``
    (the file is strict JSON), one object per line: ``[{"label": "tip", "x": 10.5, "y": 20.5, "world_x": ..., ...}]``.
    Written atomically.
    """
    labels, values = _export_rows(labels, pixels, points_world, points_camera)
    records = [
        json.dumps(dict(zip(EXPORT_COLUMNS, [label] + [v if math.isfinite(v) else None for v in row])),
                   allow_nan=False)
        for label, row in zip(labels, values.tolist())
    ]
    write_text(path, "[\n" + ",\n".join("  " + r for r in records) + ("\n" if records else "") + "]\n")
    return len(labels)
