"""voxel_keys / voxel_downsample / VoxelAccumulator, pure numpy.

* Conventions pinned with literal values worked out by hand: floor (not truncation) for negative
  coordinates, half-open voxels (a point on a boundary belongs to the voxel above), the origin
  shift, the key packing, ascending key order, radii raised to the covering radius of a voxel's face.
* Properties on random clouds through the reusable ``assert_*`` helpers below, against an
  independent oracle (a Python dict of ``tuple(floor((p - o) / s))`` -> member rows).
* The accumulator against ``voxel_downsample`` of the whole cloud, fed in random chunks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from depth_cloud_addon.core.errors import DepthCloudError
from depth_cloud_addon.core.geometry.voxel import (
    KEY_OFFSET,
    MAX_INDEX,
    MIN_INDEX,
    VoxelAccumulator,
    VoxelExtentError,
    group_integers,
    pack_voxel_indices,
    unpack_voxel_keys,
    voxel_downsample,
    voxel_keys,
)

# Means are float64 sums returned as float32: compare at float32 precision.
RTOL, ATOL = 1e-6, 1e-6


# -- oracle and property helpers --------------------------------------------------------------


def oracle_voxels(points, voxel_size, origin=(0.0, 0.0, 0.0)) -> dict[tuple[int, int, int], list[int]]:
    """Independent grouping: voxel index tuple -> row numbers, with Python's float and floor."""
    groups: dict[tuple[int, int, int], list[int]] = {}
    for row, p in enumerate(np.asarray(points, dtype=np.float64).tolist()):
        index = tuple(int(np.floor((c - o) / voxel_size)) for c, o in zip(p, origin))
        groups.setdefault(index, []).append(row)
    return groups


def assert_matches_oracle(points, colors, radii, voxel_size, origin=(0.0, 0.0, 0.0)):
    """voxel_downsample agrees with the oracle: voxel count, order, counts, means, containment."""
    out_points, out_colors, out_radii, counts = voxel_downsample(points, colors, radii, voxel_size=voxel_size,
                                                                 origin=origin)
    groups = oracle_voxels(points, voxel_size, origin)
    indices = sorted(groups)  # ascending keys == lexicographic (ix, iy, iz)
    m = len(indices)
    assert out_points.shape == (m, 3) and out_points.dtype == np.float32
    assert counts.shape == (m,) and counts.dtype == np.int64
    assert counts.sum() == len(points)
    np.testing.assert_array_equal(counts, [len(groups[i]) for i in indices])
    points64 = np.asarray(points, dtype=np.float64)
    expected = np.array([points64[groups[i]].mean(axis=0) for i in indices]).reshape(m, 3)
    np.testing.assert_allclose(out_points, expected, rtol=RTOL, atol=ATOL)
    assert_inside_voxels(out_points, np.array(indices, dtype=np.int64).reshape(m, 3), voxel_size, origin)
    if colors is not None:
        colors64 = np.asarray(colors, dtype=np.float64)
        expected_colors = np.array([colors64[groups[i]].mean(axis=0) for i in indices]).reshape(m, colors64.shape[1])
        assert out_colors.dtype == np.float32
        np.testing.assert_allclose(out_colors, expected_colors, rtol=RTOL, atol=ATOL)
    else:
        assert out_colors is None
    if radii is not None:
        radii64 = np.asarray(radii, dtype=np.float64)
        expected_radii = [max(radii64[groups[i]].mean(), voxel_size / np.sqrt(2)) for i in indices]
        assert out_radii.dtype == np.float32
        np.testing.assert_allclose(out_radii, expected_radii, rtol=RTOL, atol=ATOL)
    else:
        assert out_radii is None
    return out_points, out_colors, out_radii, counts


def assert_inside_voxels(points, indices, voxel_size, origin, tol=1e-5):
    """Every point lies in the closed cube of its voxel (float32 rounding of the mean allowed)."""
    low = np.asarray(origin) + indices * voxel_size
    assert np.all(points >= low - tol * voxel_size - 1e-6)
    assert np.all(points <= low + voxel_size + tol * voxel_size + 1e-6)


def assert_same_result(a, b):
    """Two (points, colors, radii, counts) tuples agree to float precision (and None where None)."""
    for got, want in zip(a, b):
        if want is None:
            assert got is None
        else:
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def random_cloud(rng, n, *, scale=3.0, offset=(-1.0, 0.5, -2.0), channels=4):
    points = rng.normal(size=(n, 3)) * scale + np.asarray(offset)
    colors = rng.random((n, channels)).astype(np.float32) if channels else None
    radii = (rng.random(n) * 0.3).astype(np.float32)
    return points.astype(np.float32), colors, radii


# -- literal examples -------------------------------------------------------------------------


def test_four_points_three_voxels_by_hand():
    points = [[0.2, 0.5, 0.5], [0.4, 0.7, 0.1], [1.5, 0.5, 0.5], [0.5, 0.5, 2.5]]
    colors = [[1, 0, 0, 1], [0, 0, 1, 0.5], [0, 1, 0, 1], [0.2, 0.2, 0.2, 1]]
    radii = [0.1, 0.3, 0.9, 0.2]
    out_points, out_colors, out_radii, counts = voxel_downsample(points, colors, radii, voxel_size=1.0)
    # Voxels (0,0,0) [rows 0, 1], (0,0,2) [row 3], (1,0,0) [row 2], in (ix, iy, iz) order.
    np.testing.assert_allclose(out_points, [[0.3, 0.6, 0.3], [0.5, 0.5, 2.5], [1.5, 0.5, 0.5]], rtol=RTOL)
    np.testing.assert_allclose(out_colors, [[0.5, 0, 0.5, 0.75], [0.2, 0.2, 0.2, 1], [0, 1, 0, 1]], rtol=RTOL)
    # Mean radii 0.2, 0.2, 0.9, then at least the covering radius of a voxel's face, 1 / sqrt(2).
    np.testing.assert_allclose(out_radii, [0.5 ** 0.5, 0.5 ** 0.5, 0.9], rtol=RTOL)
    np.testing.assert_array_equal(counts, [2, 1, 1])
    assert out_points.dtype == out_colors.dtype == out_radii.dtype == np.float32
    assert counts.dtype == np.int64


def test_mean_radius_kept_when_larger_than_half_a_voxel():
    _, _, radii, _ = voxel_downsample([[0.0, 0, 0], [0.05, 0, 0]], radii=[0.2, 0.4], voxel_size=0.1)
    np.testing.assert_allclose(radii, [0.3], rtol=RTOL)


def test_rgb_colors_and_no_attributes():
    points, colors, radii, counts = voxel_downsample([[0.1, 0, 0], [0.2, 0, 0]], [[1, 0, 0], [0, 1, 0]],
                                                     voxel_size=1.0)
    np.testing.assert_allclose(colors, [[0.5, 0.5, 0.0]])
    assert colors.shape == (1, 3) and radii is None
    points, colors, radii, counts = voxel_downsample([[0.1, 0, 0]], voxel_size=1.0)
    assert colors is None and radii is None and counts.tolist() == [1]


def test_negative_coordinates_floor_not_truncate():
    points = [[-0.1, 0.0, 0.0], [0.1, 0.0, 0.0], [-1.0, -1.5, -0.0]]
    np.testing.assert_array_equal(unpack_voxel_keys(voxel_keys(points, 1.0)), [[-1, 0, 0], [0, 0, 0], [-1, -2, 0]])
    _, _, _, counts = voxel_downsample(points, voxel_size=1.0)
    np.testing.assert_array_equal(counts, [1, 1, 1])  # -0.1 and 0.1 are in different voxels


def test_points_on_boundaries_belong_to_the_voxel_above():
    # Sizes that are powers of two make the boundaries exact in binary.
    points = [[0.5, 1.0, -0.5], [0.25, 0.0, 0.75], [0.4999, 0.9999, -0.5001]]
    np.testing.assert_array_equal(unpack_voxel_keys(voxel_keys(points, 0.5)), [[1, 2, -1], [0, 0, 1], [0, 1, -2]])
    np.testing.assert_array_equal(unpack_voxel_keys(voxel_keys(points, 0.25)), [[2, 4, -2], [1, 0, 3], [1, 3, -3]])


def test_origin_shift():
    points = [[0.05, 0.0, 0.0], [0.15, 0.0, 0.0]]
    assert voxel_downsample(points, voxel_size=0.2)[3].tolist() == [2]
    origin = (0.1, -0.05, 0.0)
    np.testing.assert_array_equal(unpack_voxel_keys(voxel_keys(points, 0.2, origin)), [[-1, 0, 0], [0, 0, 0]])
    out_points, _, _, counts = voxel_downsample(points, voxel_size=0.2, origin=origin)
    np.testing.assert_allclose(out_points, [[0.05, 0, 0], [0.15, 0, 0]], rtol=RTOL)
    assert counts.tolist() == [1, 1]


def test_key_packing_literal():
    key = voxel_keys([[-0.1, 0.0, 1.0]], 1.0)
    assert key.dtype == np.int64 and key.shape == (1,)
    assert int(key[0]) == (KEY_OFFSET - 1) << 42 | KEY_OFFSET << 21 | (KEY_OFFSET + 1)


def test_extreme_indices_round_trip_and_sort_in_index_order():
    indices = np.array([[MIN_INDEX, MAX_INDEX, 0], [MAX_INDEX, MIN_INDEX, -1], [0, 0, 0], [-1, 5, MAX_INDEX],
                        [-1, 5, MIN_INDEX]], dtype=np.int64)
    keys = voxel_keys(indices.astype(np.float64) + 0.5, 1.0)
    np.testing.assert_array_equal(unpack_voxel_keys(keys), indices)
    assert np.all(keys >= 0)
    np.testing.assert_array_equal(np.argsort(keys), np.lexsort(indices.T[::-1]))


def test_output_order_does_not_depend_on_input_order():
    rng = np.random.default_rng(7)
    points, colors, radii = random_cloud(rng, 500)
    shuffled = rng.permutation(500)
    assert_same_result(voxel_downsample(points[shuffled], colors[shuffled], radii[shuffled], voxel_size=0.5),
                       voxel_downsample(points, colors, radii, voxel_size=0.5))


# -- properties on random data ----------------------------------------------------------------


@pytest.mark.parametrize("seed, n, voxel_size, origin", [
    (0, 1000, 0.5, (0.0, 0.0, 0.0)),
    (1, 2000, 1.7, (0.3, -0.2, 5.0)),
    (2, 300, 0.05, (0.0, 0.0, 0.0)),      # nearly one point per voxel
    (3, 3000, 25.0, (-1.0, 2.0, 3.0)),    # a handful of voxels
])
def test_matches_independent_oracle(seed, n, voxel_size, origin):
    rng = np.random.default_rng(seed)
    points, colors, radii = random_cloud(rng, n)
    assert_matches_oracle(points, colors, radii, voxel_size, origin)


def test_matches_oracle_with_float64_points_and_rgb():
    rng = np.random.default_rng(4)
    points = rng.uniform(-4, 4, size=(800, 3))
    assert_matches_oracle(points, rng.random((800, 3)), None, 0.75)


def test_matches_oracle_on_a_grid_of_boundary_points():
    # Integer points with voxel size 1: every point sits on a boundary.
    rng = np.random.default_rng(5)
    points = rng.integers(-3, 3, size=(400, 3)).astype(np.float32)
    assert_matches_oracle(points, None, rng.random(400), 1.0)


def test_both_grouping_paths_agree():
    # A tiny cloud spanning the whole key range makes the bounding box too large for the dense sort,
    # so the argsort fallback runs; its result must match the oracle the same way.
    points = np.array([[-1e6, 0, 0], [1e6, 0, 0], [-1e6, 1e6, -1e6], [1e6, -1e6, 1e6], [0.1, 0.2, 0.3],
                       [0.4, 0.5, 0.6], [-1e6 + 0.5, 0.25, 0.0]])
    assert_matches_oracle(points, None, None, 1.0)


# -- accumulator ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [1, 3, 10])
def test_accumulator_in_random_chunks_equals_whole(chunks):
    rng = np.random.default_rng(10 + chunks)
    points, colors, radii = random_cloud(rng, 5000)
    cuts = np.sort(rng.choice(np.arange(1, 5000), size=chunks - 1, replace=False))
    acc = VoxelAccumulator(0.4, origin=(0.1, 0.2, 0.3))
    for part in np.split(np.arange(5000), cuts):
        acc.add(points[part], colors[part], radii[part])
    whole = voxel_downsample(points, colors, radii, voxel_size=0.4, origin=(0.1, 0.2, 0.3))
    assert_same_result(acc.result(), whole)
    assert acc.points_added == 5000 and len(acc) == len(whole[0])


def test_accumulator_with_empty_frames_and_one_point():
    acc = VoxelAccumulator(1.0)
    acc.add(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros(0))
    assert len(acc) == 0 and acc.points_added == 0
    acc.add([[0.5, -0.5, 2.0]], [[0.1, 0.2, 0.3, 1.0]], [0.25])
    acc.add(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros(0))
    points, colors, radii, counts = acc.result()
    np.testing.assert_allclose(points, [[0.5, -0.5, 2.0]])
    np.testing.assert_allclose(colors, [[0.1, 0.2, 0.3, 1.0]], rtol=RTOL)
    np.testing.assert_allclose(radii, [0.5 ** 0.5])  # raised to the covering radius of a voxel's face
    assert counts.tolist() == [1] and len(acc) == 1 and acc.points_added == 1


def test_accumulator_before_any_frame_is_empty():
    acc = VoxelAccumulator(0.5)
    points, colors, radii, counts = acc.result()
    assert points.shape == (0, 3) and points.dtype == np.float32
    assert colors is None and radii is None and counts.shape == (0,) and counts.dtype == np.int64
    assert len(acc) == 0 and acc.points_added == 0


def test_accumulator_memory_bounded_by_voxels_not_points():
    rng = np.random.default_rng(20)
    points, colors, radii = random_cloud(rng, 2000)
    acc = VoxelAccumulator(1.0)
    acc.add(points, colors, radii)
    voxels, nbytes = len(acc), acc.nbytes
    assert nbytes == voxels * (8 + 2 * 8 * 8 + 8)  # key, 3 + 4 + 1 exact sums of two int64 each, count
    for _ in range(5):
        acc.add(points, colors, radii)  # the same voxels again
    assert len(acc) == voxels and acc.nbytes == nbytes and acc.points_added == 12000
    single = voxel_downsample(points, colors, radii, voxel_size=1.0)
    fused = acc.result()
    assert_same_result(fused[:3], single[:3])
    np.testing.assert_array_equal(fused[3], single[3] * 6)


def test_accumulator_result_is_a_copy():
    acc = VoxelAccumulator(1.0)
    acc.add([[0.5, 0.5, 0.5]])
    acc.result()[3][0] = 99
    assert acc.result()[3].tolist() == [1]


def test_accumulator_rejects_frames_with_other_attributes_and_stays_unchanged():
    acc = VoxelAccumulator(1.0)
    acc.add([[0.5, 0.5, 0.5]], [[1, 1, 1, 1]], [0.1])
    with pytest.raises(ValueError, match=r"same attributes.*colors \(N, 4\), radii \(N,\).*colors None"):
        acc.add([[0.5, 0.5, 0.5]], None, [0.1])
    with pytest.raises(ValueError, match=r"colors \(N, 3\)"):
        acc.add([[0.5, 0.5, 0.5]], [[1, 1, 1]], [0.1])
    with pytest.raises(ValueError, match="non-finite"):
        acc.add([[np.nan, 0, 0]], [[1, 1, 1, 1]], [0.1])
    assert len(acc) == 1 and acc.points_added == 1 and acc.result()[3].tolist() == [1]


def test_accumulator_checks_its_arguments():
    with pytest.raises(ValueError, match="voxel_size"):
        VoxelAccumulator(0.0)
    with pytest.raises(ValueError, match=r"origin must have shape \(3,\), got \(2,\)"):
        VoxelAccumulator(1.0, origin=(0.0, 0.0))
    assert "voxels=0" in repr(VoxelAccumulator(1.0))


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (4, 2), (2, 4), (1, 3, 1), ()])
def test_bad_point_shapes_name_the_shape(shape):
    points = np.zeros(shape)
    for call in (lambda: voxel_keys(points, 1.0), lambda: voxel_downsample(points, voxel_size=1.0),
                 lambda: VoxelAccumulator(1.0).add(points)):
        with pytest.raises(ValueError, match=rf"points must have shape \(N, 3\), got {re_shape(shape)}"):
            call()


def re_shape(shape) -> str:
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_bad_attribute_shapes_name_the_shape():
    points = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"colors must have shape \(4, 3\) or \(4, 4\).*got \(4, 2\)"):
        voxel_downsample(points, np.zeros((4, 2)), voxel_size=1.0)
    with pytest.raises(ValueError, match=r"got \(3, 4\)"):
        voxel_downsample(points, np.zeros((3, 4)), voxel_size=1.0)
    with pytest.raises(ValueError, match=r"radii must have shape \(4,\).*got \(4, 1\)"):
        voxel_downsample(points, radii=np.zeros((4, 1)), voxel_size=1.0)
    with pytest.raises(ValueError, match=r"keys must be a 1-D integer array, got shape \(2, 2\)"):
        unpack_voxel_keys(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="dtype"):
        voxel_keys(np.array([["a", "b", "c"]]), 1.0)


@pytest.mark.parametrize("voxel_size", [0.0, -1.0, np.nan, np.inf, "big", None])
def test_bad_voxel_size(voxel_size):
    with pytest.raises(ValueError, match="voxel_size must be a finite number > 0"):
        voxel_keys(np.zeros((2, 3)), voxel_size)
    with pytest.raises(ValueError, match="voxel_size must be a finite number > 0"):
        voxel_downsample(np.zeros((2, 3)), voxel_size=voxel_size)


def test_bad_origin():
    with pytest.raises(ValueError, match="origin must be finite"):
        voxel_keys(np.zeros((1, 3)), 1.0, origin=(0.0, np.nan, 0.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_points_are_an_error(bad):
    points = np.zeros((5, 3))
    points[3, 1] = bad
    with pytest.raises(ValueError, match=r"\(5, 3\) hold 1 non-finite row\(s\) \(first: row 3\)"):
        voxel_keys(points, 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        voxel_downsample(points, voxel_size=1.0)


def test_extent_too_large_names_the_extent():
    points = np.array([[0.0, 0.0, 0.0], [0.0, 3000.0, 0.0]])
    with pytest.raises(VoxelExtentError, match=r"voxel indices 0\.\.3000000 along y \(3000001 voxels of 0\.001 m"):
        voxel_downsample(points, voxel_size=0.001)
    assert issubclass(VoxelExtentError, ValueError) and issubclass(VoxelExtentError, DepthCloudError)
    # The same spread fits at a coarser size; a far-away cloud fits once the origin is near it.
    assert voxel_downsample(points, voxel_size=0.01)[3].tolist() == [1, 1]
    far = np.array([[5000.0, 0.0, 0.0], [5000.5, 0.0, 0.0]])
    with pytest.raises(VoxelExtentError, match="along x"):
        voxel_keys(far, 0.001)
    assert voxel_downsample(far, voxel_size=0.001, origin=(5000.0, 0.0, 0.0))[3].tolist() == [1, 1]


def test_limits_of_the_key_range():
    inside = np.array([[MIN_INDEX + 0.5, MAX_INDEX + 0.5, 0.0]])
    assert voxel_keys(inside, 1.0).shape == (1,)
    for outside in ([[MIN_INDEX - 0.5, 0.0, 0.0]], [[0.0, 0.0, MAX_INDEX + 1.0]]):
        with pytest.raises(VoxelExtentError):
            voxel_keys(outside, 1.0)


# -- degenerate sizes -------------------------------------------------------------------------


def test_no_points():
    keys = voxel_keys(np.zeros((0, 3)), 1.0)
    assert keys.shape == (0,) and keys.dtype == np.int64
    assert unpack_voxel_keys(keys).shape == (0, 3)
    points, colors, radii, counts = voxel_downsample(np.zeros((0, 3)), np.zeros((0, 4)), np.zeros(0), voxel_size=1.0)
    assert points.shape == (0, 3) and colors.shape == (0, 4) and radii.shape == (0,) and counts.shape == (0,)
    assert points.dtype == colors.dtype == radii.dtype == np.float32 and counts.dtype == np.int64


def test_one_point():
    points, colors, radii, counts = voxel_downsample([[-2.5, 7.25, 0.0]], [[0.5, 0.25, 0.0, 1.0]], [3.0],
                                                     voxel_size=0.1)
    np.testing.assert_allclose(points, [[-2.5, 7.25, 0.0]])
    np.testing.assert_allclose(colors, [[0.5, 0.25, 0.0, 1.0]])
    np.testing.assert_allclose(radii, [3.0])
    assert counts.tolist() == [1]


def test_all_points_in_one_voxel():
    points = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7], [0.5, 0.5, 0.5]])
    out, _, _, counts = voxel_downsample(points, voxel_size=1.0)
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.5]], rtol=RTOL)
    assert counts.tolist() == [3]


def test_importing_does_not_import_bpy():
    code = ("import sys, depth_cloud_addon.core.geometry.voxel; "
            "print('bpy' in sys.modules or 'mathutils' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "False"


def test_pack_voxel_indices_is_the_inverse_of_unpack():
    rng = np.random.default_rng(7)
    keys = voxel_keys(rng.uniform(-50.0, 50.0, (1000, 3)), 0.01)
    np.testing.assert_array_equal(pack_voxel_indices(unpack_voxel_keys(keys)), keys)
    assert pack_voxel_indices([[-1, 0, 1]]).tolist() == voxel_keys([[-0.1, 0.0, 1.0]], 1.0).tolist()
    with pytest.raises(VoxelExtentError):
        pack_voxel_indices([[0, 0, 1 << 20]])
    with pytest.raises(ValueError, match=r"\(N, 3\) integer"):
        pack_voxel_indices([[0.5, 0.0, 0.0]])


def test_group_integers_orders_by_value_then_index():
    order, starts, distinct = group_integers(np.array([3, 1, 3, 0, 1]))
    assert order.tolist() == [3, 1, 4, 0, 2] and starts.tolist() == [0, 1, 3] and distinct.tolist() == [0, 1, 3]
    values = np.array([5, 5], np.int64)
    order, starts, distinct = group_integers(values)
    assert values.tolist() == [5, 5] and order.tolist() == [0, 1] and distinct.tolist() == [5]  # input kept
