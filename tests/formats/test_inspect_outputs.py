"""``depth-cloud inspect`` knows every file the tool writes (PLY, NPZ, USD, E57, LAS/LAZ, partial grids, datasets'
images, depth maps, COLMAP models and transforms.json, cameras.json, legends, passes files), says when one is
truncated, and reads at most what it needs from any file: a device or a FIFO is refused without being read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.frames.files import CaptureInfo, write_camera_sidecar
from depth_cloud_addon.core.frames.inspect import inspect_file
from depth_cloud_addon.core.frames.passes import cryptomatte_float_bits, murmur3_32

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAMERA = CameraModel(width_px=32, height_px=24, lens_mm=30.0)


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A shot with passes, and every kind of file the tool writes from it."""
    folder = tmp_path_factory.mktemp("inspect")
    rows, cols = np.mgrid[0:24, 0:32]
    ids = np.full(CAMERA.shape, murmur3_32("Box"), np.uint32)
    for frame in (1, 2, 3):
        pose = np.eye(4)
        pose[:3, 3] = (0.2 * frame, 0.0, 1.0)
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": (4.0 + 0.05 * rows + 0.02 * cols).astype(np.float32)})
        color = np.stack([cols / 32.0, rows / 24.0, np.full(rows.shape, 0.3), np.ones(rows.shape)], -1)
        write_exr(folder / f"color_{frame:04d}.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
        write_exr(folder / f"passes_{frame:04d}.exr", {
            "IndexOB.V": np.full(CAMERA.shape, 3.0), "CryptoObject00.r": cryptomatte_float_bits(ids).view(np.float32),
            "CryptoObject00.g": np.ones(CAMERA.shape), "CryptoObject00.b": np.zeros(CAMERA.shape),
            "CryptoObject00.a": np.zeros(CAMERA.shape)},
            attributes={"cryptomatte/3ae39a5/name": "CryptoObject",
                        "cryptomatte/3ae39a5/manifest": json.dumps({"Box": f"{murmur3_32('Box'):08x}"})})
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame, cam2world=pose),
                             CaptureInfo(passes=("OBJECT_INDEX", "CRYPTOMATTE")))
    seq = ["convert", folder / "depth_####.exr", "--frames", "1-3"]
    assert run(*seq, "--attributes", "object_id", "-o", folder / "o" / "c_####.ply") == 0
    assert run(*seq, "--origin", "1,2,3", "-o", folder / "o" / "c_####.npz") == 0
    for name in ("c_####.las", "c_####.laz", "shot.e57", "shot.usdc"):
        assert run(*seq, "-o", folder / "o" / name) == 0
    assert run(*seq, "--fuse", "--voxel", "0.1", "--partial", "-o", folder / "o" / "part.npz") == 0
    assert run("merge", folder / "o" / "part.npz", "-o", folder / "o" / "merged.ply") == 0
    assert run("dataset", folder / "depth_####.exr", "--frames", "1-3", "-o", folder / "ds") == 0
    assert run("cameras", "--camera", folder / "camera_####.json", "--frames", "1-3", "--images",
               folder / "color_####.exr", "-o", folder / "cams") == 0
    return folder


EXPECTED = {
    "o/c_0001.ply": ("ply", "PLY (binary_little_endian)", ["768 vertices", "object_id", "job: "]),
    "o/c_0001.legend.json": ("legend", "object_id legend", ["1 object: Box", "of c_0001.ply beside it"]),
    "o/c_0001.npz": ("npz", "NPZ (depth-cloud convert)", ["768 points (float32)", "origin: 1.0, 2.0, 3.0"]),
    "o/c_0001.las": ("las", "LAS 1.2", ["768 points, point format 2", "bounds: x"]),
    "o/c_0001.laz": ("las", "LAS 1.2 (LAZ, compressed)", ["768 points"]),
    "o/shot.e57": ("e57", "E57", ["3 scans, 2,304 points", "job: "]),
    "o/shot.usdc": ("usd", "USD point cache (Points)", ["3 frames (1 .. 3) at 24 fps; 768 points in the first",
                                                         "camera: animated /DepthCloud/Camera"]),
    "o/part.npz": ("npz", "partial voxel grid (convert --fuse --partial)", ["voxel size 0.1 m", "frames: frames 1-3",
                                                                            "depth_####.exr"]),
    "o/merged.ply": ("ply", "PLY (binary_little_endian)", ["fused from 3 frames"]),
    "ds/images/frame_0001.png": ("png", "PNG", ["32x24 px, 8-bit RGB: a dataset image"]),
    "ds/depth/frame_0001.png": ("png", "PNG", ["16-bit grey: a dataset depth map"]),
    "ds/depth/frame_0001.exr": ("exr", "OpenEXR", ["depth kind: planar"]),
    "ds/colmap/sparse/0/points3D.bin": ("colmap", "COLMAP model: points3D.bin", ["points"]),
    "ds/colmap/sparse/0/images.bin": ("colmap", "COLMAP model: images.bin", ["3 images"]),
    "ds/transforms.json": ("transforms", "nerfstudio transforms.json", ["3 frames, camera model OPENCV",
                                                                        "6 file paths (relative to its folder), 0 "
                                                                        "missing", "initial cloud: sparse_pc.ply"]),
    "ds/splats.ply": ("ply", "3D Gaussian splats", ["f_dc_0"]),
    "cams/cameras.json": ("cameras", "cameras (depth-cloud cameras)", ["3 frames", "0 missing"]),
    "cams/transforms.json": ("transforms", "nerfstudio transforms.json", ["3 frames", "0 missing"]),
    "passes_0001.exr": ("passes", "OpenEXR", ["extra passes: OBJECT_INDEX, CRYPTOMATTE",
                                              "of depth_0001.exr beside it"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_file_the_tool_writes_is_known_and_usable(outputs, name):
    kind, title, facts = EXPECTED[name]
    ins = inspect_file(outputs / name)
    assert ins.usable and ins.kind == kind, ins.text
    assert title in ins.lines[0], ins.text
    for fact in facts:
        assert fact in ins.text, ins.text


@pytest.mark.parametrize("name", ["o/c_0002.ply", "o/c_0002.npz", "o/c_0002.las", "o/c_0002.laz", "o/shot.e57",
                                  "o/shot.usdc", "o/part.npz", "ds/colmap/sparse/0/cameras.bin"])
def test_a_truncated_output_is_a_problem(outputs, tmp_path, name):
    damaged = tmp_path / os.path.basename(name)
    data = (outputs / name).read_bytes()
    damaged.write_bytes(data[:max(4, int(len(data) * 0.6))] if not name.endswith("cameras.bin") else data[:5])
    ins = inspect_file(damaged)
    assert not ins.usable, ins.text
    if name.endswith(("ply", "npz", "las", "laz", "e57")):
        assert any("truncated" in p or "damaged" in p or "cannot be read" in p or "not a readable" in p
                   for p in ins.problems), ins.text


def test_a_legend_missing_beside_a_ply_with_object_ids_is_a_warning(outputs, tmp_path):
    copy = tmp_path / "alone.ply"
    copy.write_bytes((outputs / "o" / "c_0001.ply").read_bytes())
    assert "its object_id legend is not beside it" in "\n".join(inspect_file(copy).warnings)


def test_passes_files_that_are_not_the_frames_are_problems_or_warnings(outputs, tmp_path):
    for name in ("depth_0001.exr", "camera_0001.json"):
        (tmp_path / name).write_bytes((outputs / name).read_bytes())
    write_exr(tmp_path / "passes_0001.exr", {"IndexOB.V": np.full((12, 16), 3.0)})
    ins = inspect_file(tmp_path / "passes_0001.exr")
    assert ins.problems == ["16x12 px but the depth file depth_0001.exr is 32x24 px: not this frame's passes file "
                            "(render the frame again)"], ins.text
    write_exr(tmp_path / "passes_0001.exr", {"IndexOB.V": np.full(CAMERA.shape, 3.0)})
    write_camera_sidecar(tmp_path / "camera_0001.json", CAMERA.replace(frame=1), CaptureInfo(scene="S"))
    ins = inspect_file(tmp_path / "passes_0001.exr")
    assert ins.usable and any("is not of this render" in w for w in ins.warnings), ins.text


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_special_files_are_refused_without_being_read(tmp_path, special):
    if special == "fifo":
        special = str(tmp_path / "pipe.json")
        os.mkfifo(special)
    start = time.monotonic()
    run_ = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", "inspect", special], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 30
    assert run_.returncode == 1 and "not a regular file" in run_.stdout and not run_.stderr, run_
    assert inspect_file(special).problems == [
        "not a regular file (a device, a pipe or a socket): nothing was read from it"]
    assert run("convert", tmp_path / "missing.exr", "--camera", special, "-o", tmp_path / "x.ply") == 2


def test_a_huge_json_is_not_read_whole(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate((64 << 20) + 10)  # sparse: 64 MB of zeros
    ins = inspect_file(big)
    assert not ins.usable and "larger than 64 MB" in ins.text
