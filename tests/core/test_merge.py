"""Fusion that scales past one machine: streaming memory, exact voxel sums, partial grids and `depth-cloud merge`.

* The exact accumulator against Python integers (the oracle), and its state the same bits for any split and
  order of the same points, where float64 sums are not.
* `convert --fuse --voxel S --partial` chunks merged by `depth-cloud merge` in every order and for 1, 2 and 3
  way splits (contiguous, uneven, interleaved): byte for byte the file of one `convert --fuse --voxel S`.
* The partial .npz as documented in core.frames.fusion; resumable chunks and merges; incompatible partials and bad
  options are one line, exit status 2.
* Streaming: 200 frames of 320x240 into a coarse grid; the grid's bytes and the peak memory do not grow with
  the number of frames once the scene is covered.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import tracemalloc

import numpy as np
import pytest
from plyfile import PlyData

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.frames.cloud import cloud_arrays
from depth_cloud_addon.core.frames.files import write_camera_sidecar
from depth_cloud_addon.core.frames.fusion import PARTIAL_FORMAT, Fusion, read_partial
from depth_cloud_addon.core.geometry.voxel import (
    ExactVoxelAccumulator,
    IncompatibleGridError,
    VoxelSumError,
    unpack_voxel_keys,
    voxel_downsample,
    voxel_keys,
)

CAMERA = CameraModel(width_px=40, height_px=30, lens_mm=25.0)
FRAMES = range(1, 10)
VOXEL = "0.2"


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def write_frames(folder, frames=FRAMES, camera=CAMERA, *, pose_of=None, color=True, seed=7):
    """depth/color/camera files of ``frames``: a wavy surface ~3 m away, seen from a camera that moves a little
    each frame (neighbouring frames share voxels), random HDR colors (or none), a few background pixels."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:camera.height_px, 0:camera.width_px]
    for frame in frames:
        pose = np.eye(4)
        pose[:3, 3] = pose_of(frame) if pose_of else (0.07 * frame, -0.03 * frame, 2.0)
        phase = frame % 20 if pose_of else frame
        depth = (3.0 + 0.4 * np.sin(cols / 7.0 + phase) + 0.2 * rows / camera.height_px
                 + rng.uniform(0.0, 0.01, rows.shape)).astype(np.float32)
        depth[0, :frame % 5] = 1e10  # background
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": depth})
        if color:  # HDR colors from 1e-7 to 100: float64 sums of these do depend (rarely) on the order
            rgba = (rng.uniform(0.0, 1.0, (*rows.shape, 4)) * 10.0 ** rng.uniform(-7, 2, (*rows.shape, 1)))
            rgba = rgba.astype(np.float32)
            write_exr(folder / f"color_{frame:04d}.exr", {c: rgba[..., i] for i, c in enumerate("RGBA")})
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", camera.replace(frame=frame, cam2world=pose))
    return folder


@pytest.fixture
def scene(tmp_path):
    return write_frames(tmp_path)


def fuse(folder, frames, out, *extra) -> int:
    return run("convert", folder / "depth_####.exr", "--frames", frames, "--fuse", "--voxel", VOXEL, "-o", out,
               *extra)


def one_line_error(capsys, pattern: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depth-cloud: error: ") and pattern in err[0], err
    return err[0]


# -- the exact accumulator ----------------------------------------------------------------------------


def mixed_cloud(rng, n):
    """Points in a few big voxels whose coordinates, colors and radii span many binary orders of magnitude (so
    float64 sums of them depend on the order), including negatives."""
    magnitudes = 10.0 ** rng.uniform(-8, 3, (n, 3))
    points = (rng.choice([-1.0, 1.0], (n, 3)) * magnitudes).astype(np.float32)
    colors = (rng.uniform(-0.01, 1.0, (n, 4)) * 10.0 ** rng.uniform(-7, 2, (n, 1))).astype(np.float32)
    radii = (10.0 ** rng.uniform(-6, 1, n)).astype(np.float32)
    return points, colors, radii


def test_exact_sums_are_the_integer_sums_of_the_rounded_values():
    rng = np.random.default_rng(1)
    points, colors, radii = mixed_cloud(rng, 3000)
    acc = ExactVoxelAccumulator(250.0)
    for part in np.array_split(np.arange(3000), 7):
        acc.add(points[part], colors[part], radii[part])
    state = acc.arrays()
    assert acc.channels == ("x", "y", "z", "red", "green", "blue", "alpha", "radius")
    # Oracle: Python integers, per voxel, of round(v * 2**32) (exact for float32: v * 2**32 is exact in float64).
    keys = voxel_keys(points, 250.0)
    values = np.concatenate([points, colors, radii[:, None]], axis=1).astype(np.float64)
    expected = {}
    for key, row in zip(keys.tolist(), values):
        sums = expected.setdefault(key, [0] * 8)
        for k, v in enumerate(row.tolist()):
            sums[k] += round(v * 2**32)
    assert state["keys"].tolist() == sorted(expected)
    for m, key in enumerate(state["keys"].tolist()):
        for k in range(8):
            hi, lo = int(state["sums_hi"][k, m]), int(state["sums_lo"][k, m])
            assert 0 <= lo < 2**32 and hi * 2**32 + lo == expected[key][k]
    assert state["counts"].tolist() == [int(np.count_nonzero(keys == key)) for key in sorted(expected)]
    # The float64 sums are the exact sums, rounded once.
    sums = acc.sums()
    for m, key in enumerate(state["keys"].tolist()):
        assert sums[:, m].tolist() == [float(np.float64(s) / 2**32) if abs(s) < 2**53 else s / 2**32
                                       for s in expected[key]]


def test_the_exact_state_is_the_same_bits_for_any_split_and_order_where_float64_sums_are_not():
    rng = np.random.default_rng(2)
    points, colors, radii = mixed_cloud(rng, 4000)
    states, results = [], []
    for trial in range(6):
        order = rng.permutation(4000) if trial else np.arange(4000)
        pieces = []
        for part in np.array_split(order, trial + 1):  # 1 to 6 machines
            acc = ExactVoxelAccumulator(250.0)
            for frame in np.array_split(part, 3):
                acc.add(points[frame], colors[frame], radii[frame])
            pieces.append(acc)
        merged = ExactVoxelAccumulator(250.0)
        for piece in reversed(pieces) if trial % 2 else pieces:
            merged.merge(piece)
        states.append(merged.arrays())
        results.append(merged.result())
        assert merged.points_added == 4000
    for state, result in zip(states[1:], results[1:]):
        for name in state:
            assert state[name].tobytes() == states[0][name].tobytes(), name
        for got, want in zip(result, results[0]):
            assert got.tobytes() == want.tobytes()
    # The control: float64 sums of the same values in another order differ (so the above is not luck) ...
    x = points[:, 0].astype(np.float64)
    keys = voxel_keys(points, 250.0)
    _, inverse = np.unique(keys, return_inverse=True)
    forward = np.bincount(inverse, weights=x)
    order = rng.permutation(4000)
    shuffled = np.bincount(inverse[order], weights=x[order])
    assert np.any(forward != shuffled)
    # ... and the exact means agree with voxel_downsample's float64 ones to float32 precision.
    whole = voxel_downsample(points, colors, radii, voxel_size=250.0)
    for got, want in zip(results[0], whole):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_exact_accumulator_limits_and_merge_checks():
    acc = ExactVoxelAccumulator(1.0)
    acc.add([[0.5, 0.5, 0.5]], [[1, 1, 1, 1]], [0.1])
    for colors, radii in (([[np.nan, 0, 0, 1]], [0.1]), ([[0, 0, 0, 1]], [np.inf]), ([[2.0**30, 0, 0, 1]], [0.1])):
        with pytest.raises(VoxelSumError, match="cannot be summed exactly"):
            acc.add([[0.5, 0.5, 0.5]], colors, radii)
    with pytest.raises(VoxelSumError, match="cannot be summed exactly"):
        ExactVoxelAccumulator(2.0**31).add([[2.0**30, 0.0, 0.0]])
    with pytest.raises(ValueError, match="non-finite"):
        acc.add([[np.nan, 0, 0]], [[1, 1, 1, 1]], [0.1])
    assert len(acc) == 1 and acc.points_added == 1  # unchanged by the refusals
    with pytest.raises(IncompatibleGridError, match="voxel size 0.5"):
        acc.merge(ExactVoxelAccumulator(0.5))
    with pytest.raises(IncompatibleGridError, match="origin"):
        acc.merge(ExactVoxelAccumulator(1.0, origin=(0.5, 0.0, 0.0)))
    rgb = ExactVoxelAccumulator(1.0)
    rgb.add([[0.5, 0.5, 0.5]], [[1, 1, 1]], [0.1])
    with pytest.raises(IncompatibleGridError, match="other channels"):
        acc.merge(rgb)
    empty = ExactVoxelAccumulator(1.0)
    empty.merge(acc)  # an accumulator before its first add() takes the other's channels
    assert empty.channels == acc.channels and len(empty) == 1 and empty.points_added == 1
    acc.merge(ExactVoxelAccumulator(1.0))  # merging an empty one changes nothing
    assert acc.arrays()["counts"].tolist() == [1]


def test_from_arrays_round_trips_and_refuses_what_is_not_a_state():
    rng = np.random.default_rng(3)
    points, colors, radii = mixed_cloud(rng, 500)
    acc = ExactVoxelAccumulator(100.0)
    acc.add(points, colors, radii)
    copy = ExactVoxelAccumulator.from_arrays(100.0, (0, 0, 0), acc.channels, **acc.arrays())
    for got, want in zip(copy.result(), acc.result()):
        assert got.tobytes() == want.tobytes()
    state = acc.arrays()
    with pytest.raises(ValueError, match="strictly ascending"):
        ExactVoxelAccumulator.from_arrays(100.0, (0, 0, 0), acc.channels, **{**state, "keys": state["keys"][::-1]})
    lo = state["sums_lo"].copy()
    lo[0, 0] = 2**32
    with pytest.raises(ValueError, match="sums_lo"):
        ExactVoxelAccumulator.from_arrays(100.0, (0, 0, 0), acc.channels, **{**state, "sums_lo": lo})
    with pytest.raises(ValueError, match="channels"):
        ExactVoxelAccumulator.from_arrays(100.0, (0, 0, 0), ("x", "y", "z", "alpha"), **state)
    with pytest.raises(ValueError, match="points_added"):
        ExactVoxelAccumulator.from_arrays(100.0, (0, 0, 0), acc.channels, points_added=1, **state)


# -- partial grids and depth-cloud merge: the same bytes as one machine ------------------------------------


SPLITS = {
    "1 way": ["1-9"],
    "2 ways": ["1-4", "5-9"],
    "3 ways": ["1-3", "4-6", "7-9"],
    "3 ways, uneven": ["1", "2-8", "9"],
    "3 ways, interleaved": ["1,4,7", "2,5,8", "3,6,9"],
}


@pytest.mark.parametrize("options", [[], ["--colors", "linear", "--radius"]])
def test_merged_partials_are_byte_for_byte_one_machine_whatever_the_split_and_order(scene, capsys, options):
    reference = scene / "fused.ply"
    assert fuse(scene, "1-9", reference, *options) == 0
    expected = reference.read_bytes()
    vertex = PlyData.read(str(reference))["vertex"]
    assert 0 < vertex.count < 9 * CAMERA.width_px * CAMERA.height_px  # voxels shared by frames
    for name, chunks in SPLITS.items():
        partials = []
        for index, chunk in enumerate(chunks):
            partial = scene / name.replace(" ", "_").replace(",", "") / f"chunk_{index}.npz"
            assert fuse(scene, chunk, partial, "--partial") == 0
            partials.append(partial)
        for order in itertools.permutations(partials):
            out = scene / "merged.ply"
            assert run("merge", *order, "-o", out, "--overwrite", *options) == 0, name
            assert out.read_bytes() == expected, (name, order)
    err = capsys.readouterr().err
    assert "merged 3 partial grid(s), 9 frame(s)" in err and "warning" not in err


def test_merged_npz_equals_one_machine_and_partials_hold_the_documented_arrays(scene):
    assert fuse(scene, "1-9", scene / "fused.npz") == 0
    for chunk in ("1-5", "6-9"):
        assert fuse(scene, chunk, scene / f"part_{chunk}.npz", "--partial") == 0
    assert run("merge", scene / "part_6-9.npz", scene / "part_1-5.npz", "-o", scene / "merged.npz") == 0
    with np.load(scene / "fused.npz") as a, np.load(scene / "merged.npz") as b:
        assert sorted(a.files) == sorted(b.files) == ["colors", "job", "points", "radii"]
        for name in a.files:
            assert a[name].tobytes() == b[name].tobytes(), name
        fused_points = a["points"]
    with np.load(scene / "part_1-5.npz") as data:
        assert sorted(data.files) == sorted(["format", "version", "voxel_size", "origin", "channels",
                                             "fraction_bits", "keys", "counts", "sums_hi", "sums_lo",
                                             "points_added", "frames", "fused", "frame_jobs", "job"])
        assert str(data["format"]) == PARTIAL_FORMAT and int(data["version"]) == 1
        assert float(data["voxel_size"]) == 0.2 and data["origin"].tolist() == [0.0, 0.0, 0.0]
        assert data["channels"].tolist() == ["x", "y", "z", "red", "green", "blue", "alpha", "radius"]
        assert int(data["fraction_bits"]) == 32
        keys, counts, hi, lo = data["keys"], data["counts"], data["sums_hi"], data["sums_lo"]
        m = keys.size
        assert keys.dtype == counts.dtype == hi.dtype == lo.dtype == np.int64
        assert hi.shape == lo.shape == (8, m) and np.all(np.diff(keys) > 0) and counts.min() >= 1
        assert lo.min() >= 0 and lo.max() < 2**32 and int(data["points_added"]) == counts.sum()
        assert data["frames"].tolist() == [1, 2, 3, 4, 5] and data["fused"].tolist() == [True] * 5
        frame_jobs = json.loads(str(data["frame_jobs"]))
        assert [j["frame"] for j in frame_jobs] == [1, 2, 3, 4, 5] and "export" not in frame_jobs[0]
        assert frame_jobs[0]["inputs"][0][0].endswith("depth_0001.exr")
        # The documented reading: mean position = (hi + lo / 2**32) / count, inside its voxel.
        means = (hi[:3] + lo[:3] / 2**32) / counts
        index = unpack_voxel_keys(keys)
        assert np.all(means.T >= index * 0.2 - 1e-9) and np.all(means.T <= (index + 1) * 0.2 + 1e-9)
    # Every voxel of the chunk is a voxel of the fused cloud.
    assert set(keys.tolist()) <= set(voxel_keys(fused_points.astype(np.float64), 0.2).tolist())


def test_chunks_and_merges_resume_and_a_failed_frame_is_reported_not_fused(scene, capsys):
    parts = [scene / "p1.npz", scene / "p2.npz"]
    assert fuse(scene, "1-4", parts[0], "--partial") == 0
    assert fuse(scene, "1-4", parts[0], "--partial") == 0
    assert "complete already" in capsys.readouterr().err
    (scene / "depth_0007.exr").unlink()
    assert fuse(scene, "5-9", parts[1], "--partial") == 1  # frame 7 failed; the partial holds the others
    err = capsys.readouterr().err
    assert "failed: frame 7" in err and "fused 4 of 5 frame(s)" in err
    assert read_partial(parts[1], grid=False).fused == [True, True, False, True, True]
    assert fuse(scene, "5-9", parts[1], "--partial") == 1  # not complete: a retry tries frame 7 again
    assert "failed: frame 7" in capsys.readouterr().err
    out = scene / "merged.ply"
    assert run("merge", *parts, "-o", out) == 0
    err = capsys.readouterr().err
    assert "warning: failed in their chunk, not in the cloud (frame 7)" in err
    assert run("merge", *reversed(parts), "-o", out) == 0
    assert "complete already" in capsys.readouterr().err
    # One machine with the same frame missing: exit status 1, and the same bytes.
    assert fuse(scene, "1-9", scene / "fused.ply") == 1
    assert (scene / "fused.ply").read_bytes() == out.read_bytes()
    assert "comment fused from 8 frames" in out.read_bytes()[:400].decode("ascii", "replace")


def test_incompatible_partials_and_bad_options_are_one_line_exit_2(scene, capsys):
    a, b, c = scene / "a.npz", scene / "b.npz", scene / "c.npz"
    assert fuse(scene, "1-3", a, "--partial") == 0
    assert run("convert", scene / "depth_####.exr", "--frames", "4-6", "--fuse", "--voxel", "0.25", "--partial",
               "-o", b) == 0
    assert fuse(scene, "2-5", c, "--partial") == 0
    capsys.readouterr()
    out = scene / "merged.ply"
    assert run("merge", a, b, "-o", out) == 2
    one_line_error(capsys, "has voxel size 0.25 m but")
    assert run("merge", a, c, "-o", out) == 2
    one_line_error(capsys, "is in both")
    assert run("merge", a, a, "-o", out) == 2
    one_line_error(capsys, "is in both")
    assert run("convert", scene / "depth_0001.exr", "-o", scene / "plain.npz") == 0
    capsys.readouterr()
    assert run("merge", a, scene / "plain.npz", "-o", out) == 2
    one_line_error(capsys, "plain.npz: not a partial voxel grid")
    assert run("merge", a, scene / "missing.npz", "-o", out) == 2
    one_line_error(capsys, "missing.npz: no such file")
    (scene / "truncated.npz").write_bytes(a.read_bytes()[:300])
    assert run("merge", scene / "truncated.npz", "-o", out) == 2
    one_line_error(capsys, "truncated.npz: not a readable partial voxel grid")
    assert run("convert", scene / "depth_####.exr", "--frames", "7-9", "--fuse", "--voxel", VOXEL, "--stride", "2",
               "--partial", "-o", scene / "strided.npz") == 0
    capsys.readouterr()
    assert run("merge", a, scene / "strided.npz", "-o", out) == 2
    one_line_error(capsys, "other options")
    assert run("merge", a, "-o", a) == 2
    one_line_error(capsys, "the output is an input")
    assert run("merge", a, "-o", scene / "fused.usda") == 2
    one_line_error(capsys, "not a fused cloud")
    assert run("convert", scene / "depth_####.exr", "--frames", "1-3", "--fuse", "--partial", "-o", c) == 2
    one_line_error(capsys, "--partial needs --voxel")
    assert run("convert", scene / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", VOXEL, "--partial",
               "-o", scene / "chunk.ply") == 2
    one_line_error(capsys, "--partial writes a partial grid, a .npz file")
    assert not out.exists() and not (scene / "chunk.ply").exists()


# -- streaming: memory bounded by the grid, not by the frames ---------------------------------------------


def orbit(frame):
    """20 camera positions, visited again and again: after frame 20 the scene is covered."""
    angle = 2 * np.pi * ((frame - 1) % 20) / 20
    return (0.3 * np.cos(angle), 0.3 * np.sin(angle), 2.0)


def test_streaming_fusion_memory_does_not_grow_with_the_number_of_frames(tmp_path, capsys):
    camera = CameraModel(width_px=320, height_px=240, lens_mm=30.0)
    write_frames(tmp_path, range(1, 201), camera, pose_of=orbit, color=False)
    # The grid: voxels x bytes per voxel stop growing once every camera position was seen.
    fusion = Fusion(0.25)
    sizes = {}
    for frame in range(1, 201):
        pose = np.eye(4)
        pose[:3, 3] = orbit(frame)
        rows, cols = np.mgrid[0:240, 0:320]
        depth = (3.0 + 0.4 * np.sin(cols / 7.0 + frame % 20) + 0.2 * rows / 240).astype(np.float32)
        color = np.full((240, 320, 4), frame / 200.0, np.float32)
        fusion.add(cloud_arrays(depth, color, camera.replace(frame=frame, cam2world=pose)))
        sizes[frame] = (len(fusion.grid), fusion.grid.nbytes)
    assert fusion.points_in == 200 * 320 * 240
    voxels, nbytes = sizes[20]
    assert nbytes == voxels * (8 + 8 + 8 * 16)  # key, count, 8 channels of two int64
    assert sizes[200] == sizes[20] and sizes[20][0] > sizes[1][0]
    # The CLI, through real files: the peak of Python/numpy memory of 200 frames is that of 40.
    peaks = {}
    for last in (40, 200):
        tracemalloc.start()
        try:
            assert run("convert", tmp_path / "depth_####.exr", "--frames", f"1-{last}", "--fuse", "--voxel", "0.25",
                       "-o", tmp_path / f"fused_{last}.ply") == 0
            peaks[last] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    frame_bytes = 320 * 240 * (4 + 16)  # one frame's depth and (white) colors
    assert peaks[200] < peaks[40] + frame_bytes // 4, peaks
    assert peaks[40] < 12 * frame_bytes, peaks  # a few frames' worth, not 40
    assert "fused 200 of 200 frame(s)" in capsys.readouterr().err


def test_partial_without_fuse_is_refused(scene, capsys):
    assert run("convert", scene / "depth_0001.exr", "--partial", "-o", scene / "p.npz") == 2
    assert "--partial needs --fuse" in one_line_error(capsys, "--partial")
    assert not (scene / "p.npz").exists()


def test_an_output_that_cannot_be_written_is_named_not_its_temporary_file(scene, capsys, monkeypatch):
    """The disk fills while merge writes: the one line names the output, as convert's does (not the hidden
    temporary file the error carries)."""
    assert fuse(scene, "1-3", scene / "chunk.npz", "--partial") == 0
    capsys.readouterr()
    os_open = os.open

    def full_disk(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return os_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", full_disk)
    assert run("merge", scene / "chunk.npz", "-o", scene / "merged.ply") == 2
    line = one_line_error(capsys, f"{scene / 'merged.ply'}: cannot write: No space left on device")
    assert ".tmp" not in line and not (scene / "merged.ply").exists()
