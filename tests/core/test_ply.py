"""write_ply: binary little-endian layout, sRGB encoding, NaN rows skipped, atomic write."""

import numpy as np
import pytest

from depth_cloud_addon.core.formats.ply import linear_to_srgb8, write_ply


def read_ply(path):
    raw = path.read_bytes()
    header, _, body = raw.partition(b"end_header\n")
    lines = header.decode("ascii").splitlines()
    props = [line.split()[1:] for line in lines if line.startswith("property")]
    count = int(next(line.split()[2] for line in lines if line.startswith("element vertex")))
    dtype = [(name, {"float": "<f4", "uchar": "u1"}[kind]) for kind, name in props]
    return lines, np.frombuffer(body, dtype=dtype, count=count)


def test_srgb_encoding_pinned():
    # 0 -> 0, 1 -> 255, linear 0.5 -> sRGB 0.7354 -> 188, 0.0031308 is the linear-segment knee (~10).
    assert linear_to_srgb8([0.0, 1.0, 0.5, 0.0031308, 2.0, -1.0]).tolist() == [0, 255, 188, 10, 255, 0]


def test_points_and_colors_round_trip(tmp_path):
    points = np.array([[0.0, 1.0, 2.0], [np.nan, np.nan, np.nan], [-3.5, 4.25, 1e3]])
    colors = np.array([[1.0, 0.5, 0.0, 1.0], [0.2, 0.2, 0.2, 1.0], [0.0, 0.0, 1.0, 0.5]])
    path = tmp_path / "c.ply"
    assert write_ply(path, points, colors) == 2
    lines, data = read_ply(path)
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"]
    assert "element vertex 2" in lines
    np.testing.assert_array_equal(np.stack([data["x"], data["y"], data["z"]], -1), points[[0, 2]].astype(np.float32))
    assert data[["red", "green", "blue"]].tolist() == [(255, 188, 0), (0, 0, 255)]


def test_linear_float_colors(tmp_path):
    path = tmp_path / "f.ply"
    write_ply(path, np.zeros((1, 3)), np.array([[0.25, 2.0, 0.0]]), linear_float=True)
    _, data = read_ply(path)
    assert data[["red", "green", "blue"]].tolist() == [(0.25, 2.0, 0.0)]


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        write_ply(tmp_path / "missing_dir" / "x.ply", np.zeros((1, 3)))
    assert list(tmp_path.iterdir()) == []


def test_streamed_chunks_write_the_same_file(tmp_path, monkeypatch):
    """Rows are written CHUNK_ROWS at a time: chunk edges, skipped non-finite rows and normals given as a
    function of a row range must not change a byte."""
    from plyfile import PlyData

    from depth_cloud_addon.core.formats import ply

    rng = np.random.default_rng(5)
    points = rng.normal(size=(50, 3)).astype(np.float32)
    points[[0, 6, 7, 31, 49]] = np.nan  # non-finite rows, some at chunk edges
    colors = rng.uniform(0, 1, (50, 4)).astype(np.float32)
    normals = rng.normal(size=(50, 3)).astype(np.float32)
    radii = rng.uniform(0, 1, 50).astype(np.float32)
    write_ply(tmp_path / "whole.ply", points, colors, normals=normals, radii=radii)
    monkeypatch.setattr(ply, "CHUNK_ROWS", 7)
    write_ply(tmp_path / "chunks.ply", points, colors, normals=lambda a, b: normals[a:b], radii=radii)
    assert (tmp_path / "chunks.ply").read_bytes() == (tmp_path / "whole.ply").read_bytes()
    vertex = PlyData.read(str(tmp_path / "chunks.ply"))["vertex"]
    keep = np.isfinite(points).all(axis=1)
    assert vertex.count == keep.sum() == 45
    np.testing.assert_array_equal(np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], -1), normals[keep])
    np.testing.assert_array_equal(vertex["red"], linear_to_srgb8(colors[keep, :3])[:, 0])
