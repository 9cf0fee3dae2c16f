"""Open3D reads the PLY that ``core.formats.ply.write_ply`` writes: same points, colors and normals.

Open3D is not in the Blender venvs (Open3D 0.20 needs numpy 2), so ``make test`` does not collect this
folder; ``make bench`` runs it in ``.venv-open3d`` with ``DEPTH_CLOUD_REQUIRE_OPEN3D=1``, where an Open3D
that is missing or cannot be imported (e.g. no ``libusb-1.0.so.0``) fails the test. Run by hand
without the variable, a missing Open3D skips it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from depth_cloud_addon.core.formats.ply import linear_to_srgb8, write_ply

REQUIRED = os.environ.get("DEPTH_CLOUD_REQUIRE_OPEN3D") == "1"


@pytest.fixture(scope="module")
def o3d():
    if not REQUIRED:
        return pytest.importorskip("open3d")
    try:
        import open3d
    except ImportError as exc:  # includes a missing shared library (OSError is not raised by the import)
        pytest.fail(f"DEPTH_CLOUD_REQUIRE_OPEN3D=1 but open3d cannot be imported: {exc} "
                    "(pip install -r requirements/bench-open3d.txt; Linux needs libusb-1.0-0)", pytrace=False)
    return open3d


def _cloud(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    points = rng.uniform(-50.0, 50.0, (n, 3)).astype(np.float32)
    points[:5] = [[0, 0, 0], [1e-7, -1e-7, 3.0], [1234.5678, -0.001, 9.75], [-7.0, 7.0, -7.0], [0.1, 0.2, 0.3]]
    colors = rng.uniform(0.0, 1.0, (n, 4)).astype(np.float32)  # linear RGBA, as the EXR holds it
    colors[:3, :3] = [[0, 0, 0], [1, 1, 1], [0.0031308, 0.5, 2.0]]  # edges of the transfer function, clipping
    normals = rng.normal(size=(n, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return points, colors, normals


def test_open3d_reads_points_colors_normals(o3d, tmp_path):
    points, colors, normals = _cloud(10_007)
    path = tmp_path / "cloud.ply"
    n = write_ply(path, points, colors, normals=normals, comments=["frame 1", "space world"])
    assert n == len(points)

    cloud = o3d.io.read_point_cloud(str(path), format="ply")
    got_points = np.asarray(cloud.points)
    assert got_points.shape == points.shape
    # Open3D holds doubles: every float32 we wrote converts back exactly.
    np.testing.assert_array_equal(got_points.astype(np.float32), points)
    np.testing.assert_array_equal(got_points, points.astype(np.float64))

    assert cloud.has_colors()
    expected = linear_to_srgb8(colors[:, :3])
    np.testing.assert_array_equal(np.asarray(cloud.colors), expected.astype(np.float64) / 255.0)
    np.testing.assert_array_equal(np.rint(np.asarray(cloud.colors) * 255.0).astype(np.uint8), expected)
    assert tuple(expected[1]) == (255, 255, 255) and tuple(expected[0]) == (0, 0, 0)

    assert cloud.has_normals()
    np.testing.assert_array_equal(np.asarray(cloud.normals), normals.astype(np.float64))


def test_open3d_reads_points_only_and_skips_nan_rows(o3d, tmp_path):
    points, _, _ = _cloud(1_000, seed=3)
    points[10] = np.nan  # write_ply drops non-finite rows
    path = tmp_path / "points.ply"
    assert write_ply(path, points) == 999
    cloud = o3d.io.read_point_cloud(str(path), format="ply")
    assert not cloud.has_colors() and not cloud.has_normals()
    np.testing.assert_array_equal(np.asarray(cloud.points), np.delete(points, 10, axis=0).astype(np.float64))
