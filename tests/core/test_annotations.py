"""Annotation files: every accepted layout with literal values, conventions, errors, export round trip."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from depth_cloud_addon.core.errors import DepthCloudError
from depth_cloud_addon.core.formats.annotations import (
    EXPORT_COLUMNS,
    AnnotationError,
    Annotations,
    parse_annotations,
    read_annotations,
    write_points_csv,
    write_points_json,
)


def parsed(text, **kwargs):
    a = parse_annotations(text, **kwargs)
    return a.pixels.tolist(), list(a.labels)


def error_of(text, **kwargs) -> str:
    with pytest.raises(AnnotationError) as info:
        parse_annotations(text, **kwargs)
    return str(info.value)


# -- CSV layouts -----------------------------------------------------------------------------


def test_csv_header_xy_without_labels_numbers_labels():
    a = parse_annotations("x,y\n10.5,20.25\n0,479.75\n")
    assert isinstance(a, Annotations)
    assert a.pixels.dtype == np.float64 and a.pixels.shape == (2, 2)
    assert a.pixels.tolist() == [[10.5, 20.25], [0.0, 479.75]]
    assert a.labels == ("0", "1")
    assert a.source == "<text>"
    assert not a.pixels.flags.writeable


@pytest.mark.parametrize("header", ["x,y", "X,Y", "u,v", "U,V", "px,py", "PX,PY", "x_px,y_px", "Pixel_X,Pixel_Y"])
def test_csv_coordinate_column_names_case_insensitive(header):
    assert parsed(f"{header}\n3.25,7.5\n") == ([[3.25, 7.5]], ["0"])


def test_csv_columns_in_any_order_and_extra_columns_ignored():
    text = "visible,Y,name,X,confidence\n1,20.5,tip,10.5,0.9\n0,1.5,base,2.5,0.1\n"
    assert parsed(text) == ([[10.5, 20.5], [2.5, 1.5]], ["tip", "base"])


@pytest.mark.parametrize("column", ["label", "Label", "name", "NAME", "id"])
def test_csv_label_column_names(column):
    assert parsed(f"{column},x,y\nnose,1.5,2.5\n")[1] == ["nose"]


def test_csv_label_column_preference_label_over_name_over_id():
    assert parsed("id,name,label,x,y\n7,n,l,1,2\n")[1] == ["l"]
    assert parsed("id,name,x,y\n7,n,1,2\n")[1] == ["n"]
    assert parsed("id,x,y\n7,1,2\n")[1] == ["7"]


def test_csv_empty_label_cell_falls_back_to_position():
    assert parsed("label,x,y\ntip,1,2\n,3,4\n  ,5,6\n")[1] == ["tip", "1", "2"]


def test_csv_duplicate_labels_are_allowed():
    assert parsed("label,x,y\ncorner,1,2\ncorner,3,4\n")[1] == ["corner", "corner"]


def test_csv_col_row_are_indices_converted_to_centres():
    # Pixel (col=3, row=7) has its centre at (3.5, 7.5), whatever the convention argument says.
    assert parsed("col,row\n3,7\n0,0\n") == ([[3.5, 7.5], [0.5, 0.5]], ["0", "1"])
    assert parsed("Column,Row\n3,7\n", convention="center")[0] == [[3.5, 7.5]]
    assert "<text>: line 2: col=3.5 is not a whole pixel index" in error_of("col,row\n3.5,7\n")


def test_csv_xy_preferred_over_col_row_when_both_present():
    assert parsed("col,row,x,y\n3,7,3.25,7.75\n")[0] == [[3.25, 7.75]]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters_are_sniffed(delimiter):
    text = delimiter.join(["label", "x", "y"]) + "\n" + delimiter.join(["a", "1.5", "2.5"]) + "\n"
    assert parsed(text) == ([[1.5, 2.5]], ["a"])


def test_csv_whitespace_separated_and_spaces_after_delimiters():
    assert parsed("x y\n1.5   2.5\n") == ([[1.5, 2.5]], ["0"])
    assert parsed("label, x, y\ntip, 1.5, 2.5\n") == ([[1.5, 2.5]], ["tip"])


def test_csv_semicolon_file_with_commas_inside_labels():
    assert parsed("label;x;y\nleft, top;1;2\n") == ([[1.0, 2.0]], ["left, top"])


def test_csv_quoted_labels_with_delimiter():
    assert parsed('label,x,y\n"a, b",1,2\n') == ([[1.0, 2.0]], ["a, b"])


def test_csv_headerless_two_columns_are_x_y():
    assert parsed("10.5,20.5\n1,2\n") == ([[10.5, 20.5], [1.0, 2.0]], ["0", "1"])


def test_csv_headerless_three_columns_are_label_x_y():
    assert parsed("tip,10.5,20.5\n4,1,2\n") == ([[10.5, 20.5], [1.0, 2.0]], ["tip", "4"])


def test_csv_blank_lines_comments_bom_and_crlf_are_skipped():
    text = "\ufeff# exported by tool\r\n\r\nx,y\r\n  # a comment\r\n1.5,2.5\r\n\r\n3.5,4.5\r\n"
    assert parsed(text) == ([[1.5, 2.5], [3.5, 4.5]], ["0", "1"])


def test_csv_headerless_wrong_column_count():
    msg = error_of("1,2,3,4\n")
    assert msg.startswith("<text>: line 1: ")
    assert "2 columns (x, y) or 3 (label, x, y), found 4" in msg


# -- JSON layouts ----------------------------------------------------------------------------


def test_json_list_of_pairs():
    assert parsed("[[10.5, 20.5], [1, 2]]") == ([[10.5, 20.5], [1.0, 2.0]], ["0", "1"])


def test_json_list_of_label_x_y_triples():
    assert parsed('[["tip", 10.5, 20.5], ["base", 1, 2]]') == ([[10.5, 20.5], [1.0, 2.0]], ["tip", "base"])


def test_json_list_of_objects_with_and_without_labels():
    text = '[{"x": 10.5, "y": 20.5, "label": "tip"}, {"X": 1, "Y": 2}, {"u": 3, "v": 4, "id": 7}]'
    assert parsed(text) == ([[10.5, 20.5], [1.0, 2.0], [3.0, 4.0]], ["tip", "1", "7"])


def test_json_objects_with_col_row_are_indices():
    assert parsed('[{"col": 3, "row": 7}]')[0] == [[3.5, 7.5]]


def test_json_points_wrapper_ignores_other_keys():
    text = '{"image": "render.exr", "width": 640, "points": [{"x": 1.5, "y": 2.5, "name": "a"}, [3, 4]]}'
    assert parsed(text) == ([[1.5, 2.5], [3.0, 4.0]], ["a", "1"])


def test_json_label_mapping_keeps_order():
    text = '{"tip": [10.5, 20.5], "base": {"x": 1, "y": 2}, "points": [3, 4]}'
    assert parsed(text) == ([[10.5, 20.5], [1.0, 2.0], [3.0, 4.0]], ["tip", "base", "points"])


def test_json_numeric_strings_count_as_numbers():
    assert parsed('[{"x": "1.5", "y": "2"}]')[0] == [[1.5, 2.0]]


def test_json_null_label_falls_back_to_position():
    assert parsed('[{"x": 1, "y": 2, "label": null}, {"x": 1, "y": 2, "label": "a"}]')[1] == ["0", "a"]


def test_format_sniffed_from_content_and_forced():
    assert parsed("  \n [[1, 2]]") == ([[1.0, 2.0]], ["0"])
    assert parsed("x,y\n1,2", fmt="csv")[0] == [[1.0, 2.0]]
    assert "not valid JSON" in error_of("x,y\n1,2", fmt="json")
    assert "fmt must be 'csv', 'json' or None" in error_of("x,y\n1,2", fmt="xml")


# -- conventions and bounds ------------------------------------------------------------------


def test_conventions_pinned():
    text = "x,y\n0,0\n639,479\n10.25,20.75\n"
    assert parsed(text)[0] == [[0.0, 0.0], [639.0, 479.0], [10.25, 20.75]]
    assert parsed(text, convention="opencv")[0] == [[0.5, 0.5], [639.5, 479.5], [10.75, 21.25]]
    assert parsed("x,y\n0,0\n639,479\n", convention="index")[0] == [[0.5, 0.5], [639.5, 479.5]]
    assert parsed("[[3, 7]]", convention="index")[0] == [[3.5, 7.5]]


def test_index_convention_requires_whole_numbers():
    assert error_of("x,y\n1,2\n3,4.5\n", convention="index") == \
        "<text>: line 3: y=4.5 is not a whole pixel index"
    assert parsed("x,y\n3.0,4.0\n", convention="index")[0] == [[3.5, 4.5]]


def test_unknown_convention():
    assert "convention must be one of 'center', 'opencv', 'index', got 'opengl'" in \
        error_of("x,y\n1,2\n", convention="opengl")


def test_bounds_accept_the_whole_image_half_open():
    # Asymmetric size (W != H) so a swapped axis fails.
    text = "x,y\n0,0\n639.999,479.999\n"
    assert parsed(text, width=640, height=480)[0] == [[0.0, 0.0], [639.999, 479.999]]


def test_bounds_error_lists_offending_lines():
    text = "# header comment\nx,y\n1,1\n640,1\n1,480\n-0.5,3\n"
    msg = error_of(text, width=640, height=480, source="clicks.csv")
    assert msg == ("clicks.csv: 3 points lie outside the image (x in [0, 640) and y in [0, 480), "
                   "pixel centres at +0.5): line 4 (640.0, 1.0), line 5 (1.0, 480.0), line 6 (-0.5, 3.0)")


def test_bounds_checked_after_the_convention_shift():
    # OpenCV x = 639.6 is x = 640.1 here: outside a 640 px wide image.
    assert "line 2 (640.1, 1.5)" in error_of("x,y\n639.6,1\n", convention="opencv", width=640)
    assert parsed("x,y\n639.4,1\n", convention="opencv", width=640)[0] == [[639.9, 1.5]]


def test_bounds_width_only_height_only_and_truncated_list():
    assert "(x in [0, 4), pixel" in error_of("x,y\n5,100\n", width=4)
    assert "(y in [0, 3), pixel" in error_of("x,y\n100,5\n", height=3)
    text = "x,y\n" + "\n".join(f"{i + 10},0" for i in range(8)) + "\n"
    msg = error_of(text, width=4)
    assert "8 points lie outside" in msg and "line 6 (14.0, 0.0), and 3 more" in msg
    assert "line 7" not in msg


def test_bounds_in_json_name_entries():
    assert "points[1] (9.0, 1.0)" in error_of('{"points": [[1, 1], [9, 1]]}', width=5, height=5)
    assert "['tip'] (1.0, 9.0)" in error_of('{"tip": [1, 9]}', width=5, height=5)


def test_bad_width_height():
    assert "width must be a positive whole number of pixels, got 0" in error_of("x,y\n1,2\n", width=0)
    assert "height must be a positive whole number of pixels, got 2.5" in error_of("x,y\n1,2\n", height=2.5)


# -- errors ----------------------------------------------------------------------------------


def test_error_type():
    assert issubclass(AnnotationError, DepthCloudError) and issubclass(AnnotationError, ValueError)


def test_missing_xy_columns_lists_the_columns_found():
    msg = error_of("label,a,b\ntip,1,2\n", source="clicks.csv")
    assert msg.startswith("clicks.csv: line 1: no x/y columns in the header; columns found: ['label', 'a', 'b']")
    assert "x/y, u/v" in msg
    assert "columns found: ['label', 'X']" in error_of("label,X\ntip,1\n")


def test_non_number_names_line_and_value():
    assert error_of("x,y\n1,2\nabc,3\n") == "<text>: line 3: x='abc' is not a number"
    assert error_of("# c\n\nU;V\n1;\n") == "<text>: line 4: V='' is not a number"
    assert error_of("tip,1,2\nbase,1,zz\n") == "<text>: line 2: y='zz' is not a number"


def test_decimal_comma_in_a_comma_file_is_a_field_count_error():
    assert error_of("x,y\n1,5,2,5\n") == \
        "<text>: line 2: 4 fields where the header (line 1) has 2: ['1', '5', '2', '5']"
    assert error_of("1,2\n1,2,3\n") == "<text>: line 2: 3 fields where line 1 has 2: ['1', '2', '3']"


def test_decimal_comma_in_a_semicolon_file_is_not_a_number():
    assert error_of("x;y\n1,5;2,5\n") == "<text>: line 2: x='1,5' is not a number"


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_non_finite_csv_values(value):
    assert error_of(f"x,y\n1,{value}\n") == f"<text>: line 2: y='{value}' is not a finite number"


def test_non_finite_json_values():
    assert error_of("[[1, 2], [NaN, 2]]") == "<text>: [1]: x=nan is not a finite number"
    assert error_of('{"a": [1, Infinity]}') == "<text>: ['a']: y=inf is not a finite number"


def test_json_non_numbers():
    assert error_of('[{"x": "abc", "y": 2}]') == "<text>: [0]: x='abc' is not a number"
    assert error_of('[{"x": true, "y": 2}]') == "<text>: [0]: x=True is not a number"
    assert error_of('{"points": [{"x": 1, "Y": null}]}') == "<text>: points[0]: Y=None is not a number"


def test_wrong_json_shapes():
    assert error_of("[[1, 2, 3]]") == \
        '<text>: [0]: expected [x, y], [label, x, y] or {"x": ..., "y": ...}, got [1, 2, 3]'
    assert error_of('[{"a": 1, "b": 2}]') == "<text>: [0]: no x/y keys; keys found: ['a', 'b']"
    assert error_of('{"tip": [1, 2], "image": "render.exr"}') == \
        '<text>: [\'image\']: expected [x, y] or {"x": ..., "y": ...}, got "render.exr"'
    assert error_of('{"tip": ["a", 1, 2]}').startswith("<text>: ['tip']: expected [x, y] or")
    assert error_of("42", fmt="json") == "<text>: expected a JSON list of points or an object, got int 42"
    assert error_of('[1, 2]') == '<text>: [0]: expected [x, y], [label, x, y] or {"x": ..., "y": ...}, got 1'


def test_invalid_json_names_position():
    # Python's own wording and column (3.11: "Expecting value", column 6; 3.13: "Illegal trailing comma ...",
    # column 4): the message is Python's, with the line and column it names.
    text = '[[1, 2],\n [3, ]]'
    with pytest.raises(json.JSONDecodeError) as python:
        json.loads(text)
    assert python.value.lineno == 2
    assert error_of(text) == f"<text>: not valid JSON: {python.value.msg} (line 2, column {python.value.colno})"


@pytest.mark.parametrize("text", ["", "   \n\n", "\ufeff"])
def test_empty_text(text):
    assert error_of(text, source="a.csv") == "a.csv: the annotation file is empty"


@pytest.mark.parametrize("text", ["x,y\n", "x,y\n# nothing yet\n", "[]", '{"points": []}', "{}"])
def test_no_points(text):
    assert error_of(text) == "<text>: no annotated points"


def test_only_comments():
    assert error_of("# a\n  # b\n") == "<text>: the annotation file holds only comments and blank lines"


def test_single_column_csv():
    assert error_of("42\n43\n") == ("<text>: line 1: one column only (['42']); expected x and y columns "
                                     "separated by ',', ';', a tab or blanks")


def test_duplicate_header_column():
    assert error_of("x,y,X\n1,2,3\n") == "<text>: line 1: the header names column 'x' twice"


# -- files -----------------------------------------------------------------------------------


def test_read_annotations_from_files(tmp_path):
    csv_path = tmp_path / "clicks.csv"
    csv_path.write_text("label;x;y\ntip;10.5;20.5\n", encoding="utf-8")
    a = read_annotations(csv_path, width=640, height=480)
    assert (a.pixels.tolist(), a.labels, a.source) == ([[10.5, 20.5]], ("tip",), str(csv_path))

    json_path = tmp_path / "clicks.json"
    json_path.write_text('{"tip": [10, 20]}', encoding="utf-8")
    assert read_annotations(json_path, convention="opencv").pixels.tolist() == [[10.5, 20.5]]

    txt_path = tmp_path / "clicks.txt"
    txt_path.write_text("[[1, 2]]", encoding="utf-8")
    assert read_annotations(str(txt_path)).pixels.tolist() == [[1.0, 2.0]]


def test_read_annotations_extension_decides_format(tmp_path):
    path = tmp_path / "clicks.json"
    path.write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"clicks\.json: not valid JSON"):
        read_annotations(path)


def test_read_annotations_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y\n1,2\nabc,3\n", encoding="utf-8")
    with pytest.raises(AnnotationError) as info:
        read_annotations(path)
    assert str(info.value) == f"{path}: line 3: x='abc' is not a number"
    with pytest.raises(AnnotationError, match="cannot read the annotation file"):
        read_annotations(tmp_path / "missing.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("label,x,y\ncaf\xe9,1,2\n".encode("latin-1"))
    with pytest.raises(AnnotationError, match=r"latin1\.csv: not UTF-8 text"):
        read_annotations(latin1)


def test_annotations_dataclass_checks_and_equality():
    a = Annotations(np.array([[1, 2]]), ["a"], "s")
    assert a.pixels.dtype == np.float64 and a.labels == ("a",) and len(a) == 1
    assert a == Annotations([[1.0, 2.0]], ("a",), "s")
    assert a != Annotations([[1.0, 2.5]], ("a",), "s")
    with pytest.raises(AnnotationError, match=r"shape \(N, 2\), got \(1, 3\)"):
        Annotations([[1, 2, 3]], ["a"], "s")
    with pytest.raises(AnnotationError, match="2 labels for 1 pixels"):
        Annotations([[1, 2]], ["a", "b"], "s")
    with pytest.raises(ValueError):
        a.pixels[0, 0] = 5.0


# -- exports ---------------------------------------------------------------------------------


LABELS = ["tip", "a, b", "sky"]
PIXELS = np.array([[10.5, 20.5], [0.1, 0.2], [639.5, 0.5]])
WORLD = np.array([[1.0, -2.5, 0.1], [1 / 3, 1e-9, 123456.789], [np.nan, np.nan, np.nan]])
CAMERA = np.array([[0.5, 0.25, -4.0], [-0.125, 2.0, -1e3], [np.nan, np.nan, np.nan]])


def test_export_csv_round_trip(tmp_path):
    path = tmp_path / "points.csv"
    assert write_points_csv(path, LABELS, PIXELS, WORLD, CAMERA) == 3
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert rows[1] == ["tip", "10.5", "20.5", "1.0", "-2.5", "0.1", "0.5", "0.25", "-4.0"]
    assert rows[3] == ["sky", "639.5", "0.5", "", "", "", "", "", ""]
    assert rows[2][0] == "a, b"
    back = np.array([[float(v) if v else np.nan for v in row[1:]] for row in rows[1:]])
    np.testing.assert_array_equal(back, np.concatenate([PIXELS, WORLD, CAMERA], axis=1))  # exact, NaN == NaN
    assert not list(tmp_path.glob("*.tmp-*"))


def test_export_json_round_trip(tmp_path):
    path = tmp_path / "points.json"
    assert write_points_json(path, LABELS, PIXELS, WORLD, CAMERA) == 3
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text
    records = json.loads(text)
    assert records[0] == {"label": "tip", "x": 10.5, "y": 20.5, "world_x": 1.0, "world_y": -2.5, "world_z": 0.1,
                          "cam_x": 0.5, "cam_y": 0.25, "cam_z": -4.0}
    assert records[2] == {"label": "sky", "x": 639.5, "y": 0.5, "world_x": None, "world_y": None, "world_z": None,
                          "cam_x": None, "cam_y": None, "cam_z": None}
    back = np.array([[np.nan if r[k] is None else r[k] for k in EXPORT_COLUMNS[1:]] for r in records])
    np.testing.assert_array_equal(back, np.concatenate([PIXELS, WORLD, CAMERA], axis=1))
    assert [r["label"] for r in records] == LABELS
    assert len(text.splitlines()) == 5  # "[", one line per point, "]"


@pytest.mark.parametrize("writer, name", [(write_points_csv, "p.csv"), (write_points_json, "p.json")])
def test_exports_read_back_as_annotations(tmp_path, writer, name):
    path = tmp_path / name
    writer(path, LABELS, PIXELS, WORLD, CAMERA)
    a = read_annotations(path, width=640, height=480)
    assert a.labels == tuple(LABELS)
    np.testing.assert_array_equal(a.pixels, PIXELS)


def test_export_accepts_numpy_labels_and_inf_is_empty(tmp_path):
    path = tmp_path / "p.csv"
    world = np.array([[np.inf, 1.0, 2.0]])
    write_points_csv(path, np.array(["a"]), np.array([[1.5, 2.5]], dtype=np.float32), world, np.zeros((1, 3)))
    rows = list(csv.reader(path.open(newline="")))
    assert rows[1] == ["a", "1.5", "2.5", "", "1.0", "2.0", "0.0", "0.0", "0.0"]


def test_export_empty_and_shape_errors(tmp_path):
    path = tmp_path / "e.json"
    assert write_points_json(path, [], np.zeros((0, 2)), np.zeros((0, 3)), np.zeros((0, 3))) == 0
    assert json.loads(path.read_text()) == []
    with pytest.raises(ValueError, match=r"points_world must have shape \(1, 3\) for 1 labels, got \(3,\)"):
        write_points_csv(tmp_path / "x.csv", ["a"], [[1, 2]], [1, 2, 3], [[1, 2, 3]])
    assert not (tmp_path / "x.csv").exists()


def test_export_failure_leaves_no_file(tmp_path):
    path = tmp_path / "missing_dir" / "p.csv"
    with pytest.raises(OSError):
        write_points_csv(path, ["a"], [[1, 2]], [[1, 2, 3]], [[1, 2, 3]])
    assert not list(tmp_path.rglob("*p.csv*"))


def test_export_replaces_existing_file_atomically(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("old", encoding="utf-8")
    write_points_csv(path, ["a"], [[1, 2]], [[1, 2, 3]], [[1, 2, 3]])
    assert path.read_text(encoding="utf-8").startswith("label,x,y,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]
    assert math.isclose(read_annotations(path).pixels[0, 0], 1.0)
