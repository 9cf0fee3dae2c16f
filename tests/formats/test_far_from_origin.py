"""A shot 500 km from the world origin, as georeferenced sets are: read back by readers no one here wrote (laspy,
pye57, plyfile, usd-core), every format is within 1 mm of a float64 back-projection of the same depth and camera.

LAS and E57 store world positions in float64 (scaled integers, doubles): computed in float64 from the depth, not
from float32 points (a 1/32 m grid out there). The float32 formats (PLY, NPZ, USD) store positions relative to
``--origin`` (recorded in the file) instead of rounding them silently, and fusion works there with that origin.
"""

from __future__ import annotations

import math

import laspy
import numpy as np
import pye57
import pytest
from plyfile import PlyData
from pxr import Gf, Usd, UsdGeom

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, backproject, write_exr
from depth_cloud_addon.core.frames.files import write_camera_sidecar
from depth_cloud_addon.core.geometry.voxel import voxel_downsample

FAR = np.array([512_345.678, -301_234.567, 1_204.321])  # metres: the float32 grid there is 1/32 m (x, y)
CAMERA = CameraModel(width_px=40, height_px=30, lens_mm=28.0, clip_end=500.0)
TOLERANCE_M = 1e-3


def pose(frame: int) -> np.ndarray:
    angle = 0.3 * frame
    m = np.eye(4)
    forward = np.array([math.cos(angle), math.sin(angle), -0.35])
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    m[:3, 0], m[:3, 1], m[:3, 2] = right, up, -forward
    m[:3, 3] = FAR + (0.7 * frame, -0.4 * frame, 0.1 * frame)
    return m


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """Frames 1-3: depth of a tilted, wavy surface 8-60 m away; their float64 back-projections."""
    folder = tmp_path_factory.mktemp("far")
    rows, cols = np.mgrid[0:30, 0:40]
    truth = {}
    for frame in (1, 2, 3):
        camera = CAMERA.replace(frame=frame, cam2world=pose(frame))
        depth = (8.0 + 1.3 * rows + 0.05 * np.sin(cols * 0.7) + 0.2 * frame).astype(np.float32)
        color = np.stack([cols / 40.0, rows / 30.0, np.full(depth.shape, 0.4), np.ones(depth.shape)], -1)
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": depth})
        write_exr(folder / f"color_{frame:04d}.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", camera)
        truth[frame] = backproject(depth, camera, dtype=np.float64).reshape(-1, 3)
    return folder, truth


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def off(points, truth) -> float:
    return float(np.abs(np.asarray(points, np.float64) - truth).max())


def test_float32_points_out_there_are_a_32nd_of_a_metre_off(shot):
    """Why this matters: the same positions as float32 (what a PLY without an origin holds)."""
    _, truth = shot
    assert off(truth[1].astype(np.float32), truth[1]) > 5e-3


def test_las_per_frame_is_within_a_millimetre_of_float64(shot, capsys):
    folder, truth = shot
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "-o", folder / "las" / "f_####.las") == 0
    for frame in (1, 2, 3):
        las = laspy.read(folder / "las" / f"f_{frame:04d}.las")
        assert off(np.stack([las.x, las.y, las.z], -1), truth[frame]) < TOLERANCE_M


def test_e57_scans_are_within_a_millimetre_of_float64(shot):
    folder, truth = shot
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "-o", folder / "shot.e57") == 0
    reader = pye57.E57(str(folder / "shot.e57"))
    for index, frame in enumerate((1, 2, 3)):
        scan = reader.read_scan(index, ignore_missing_fields=True)  # the pose applied by the reader
        assert off(np.stack([scan["cartesianX"], scan["cartesianY"], scan["cartesianZ"]], -1), truth[frame]) \
            < TOLERANCE_M


def ply_points(path) -> tuple[np.ndarray, np.ndarray | None]:
    ply = PlyData.read(str(path))
    origin = next((np.array([float(v) for v in c.split()[1:]]) for c in ply.comments if c.startswith("origin ")),
                  None)
    vertex = ply["vertex"]
    return np.stack([vertex["x"], vertex["y"], vertex["z"]], -1).astype(np.float64), origin


def test_ply_with_an_origin_records_it_and_is_within_a_millimetre(shot, capsys):
    folder, truth = shot
    assert run("convert", folder / "depth_####.exr", "--frames", "1-2", "--origin", "auto",
               "-o", folder / "ply" / "f_####.ply") == 0
    auto = ", ".join(f"{v:g}" for v in np.rint(pose(1)[:3, 3]))
    assert f"origin {auto} (auto: the first frame's camera)" in capsys.readouterr().err
    for frame in (1, 2):
        points, origin = ply_points(folder / "ply" / f"f_{frame:04d}.ply")
        np.testing.assert_array_equal(origin, np.rint(pose(1)[:3, 3]))  # one origin for the whole sequence
        assert off(points + origin, truth[frame]) < TOLERANCE_M
    given = (512000.0, -301000.0, 1200.0)
    assert run("convert", folder / "depth_0003.exr", "--origin", "512000,-301000,1200", "--format", "npz",
               "-o", folder / "f3.npz") == 0
    with np.load(folder / "f3.npz") as data:
        assert tuple(data["origin"]) == given and data["points"].dtype == np.float32
        assert off(data["points"] + data["origin"], truth[3]) < TOLERANCE_M


def test_a_float32_output_out_there_without_an_origin_says_so(shot, capsys):
    folder, truth = shot
    assert run("convert", folder / "depth_0001.exr", "-o", folder / "plain.ply") == 0
    err = capsys.readouterr().err
    assert "warning: positions up to" in err and "stored as float32" in err and "--origin auto" in err
    points, origin = ply_points(folder / "plain.ply")
    assert origin is None and off(points, truth[1]) > 5e-3


def test_usd_root_holds_the_origin_in_double_precision(shot):
    folder, truth = shot
    out = folder / "shot.usda"
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "--origin", "auto", "-o", out) == 0
    stage = Usd.Stage.Open(str(out))
    root = UsdGeom.Xformable(stage.GetPrimAtPath("/DepthCloud"))
    ops = root.GetOrderedXformOps()
    assert [op.GetPrecision() for op in ops] == [UsdGeom.XformOp.PrecisionDouble]
    points_prim = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    camera = UsdGeom.Camera(stage.GetPrimAtPath("/DepthCloud/Camera"))
    for frame in (1, 2, 3):
        to_world = np.array(points_prim.ComputeLocalToWorldTransform(frame), np.float64).T  # double
        local = np.array(points_prim.GetPointsAttr().Get(frame), np.float64)
        world = local @ to_world[:3, :3].T + to_world[:3, 3]
        assert off(world, truth[frame]) < TOLERANCE_M
        cam = np.array(camera.ComputeLocalToWorldTransform(frame), np.float64).T
        np.testing.assert_allclose(cam, pose(frame), atol=1e-9)
        assert isinstance(camera.ComputeLocalToWorldTransform(frame), Gf.Matrix4d)


def test_fusion_out_there_needs_an_origin_and_works_with_one(shot, capsys):
    folder, truth = shot
    voxel = 0.25
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", voxel,
               "-o", folder / "fused.ply") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("depth-cloud: error: --voxel 0.25:") and "--origin auto" in line
    origin = (512300.0, -301250.0, 1200.0)
    text = ",".join(f"{v:g}" for v in origin)
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", voxel, "--origin", text,
               "-o", folder / "fused.ply") == 0
    relative, _, _, _ = voxel_downsample(np.concatenate([truth[f] for f in (1, 2, 3)]) - origin, voxel_size=voxel)
    expected = relative.astype(np.float64) + origin  # float64 voxel means, far out (the grid anchored at origin)
    points, recorded = ply_points(folder / "fused.ply")
    np.testing.assert_array_equal(recorded, origin)
    assert len(points) == len(expected)
    np.testing.assert_allclose(points + recorded, expected, atol=TOLERANCE_M, rtol=0)
    # LAZ: world positions; voxel means far out, computed exactly then written in float64
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", voxel, "--origin", text,
               "-o", folder / "fused.laz") == 0
    las = laspy.read(folder / "fused.laz")
    np.testing.assert_allclose(np.stack([las.x, las.y, las.z], -1), points + recorded, atol=TOLERANCE_M, rtol=0)
    # a farm: chunks with that origin, merged, are byte for byte the one-machine file
    for chunk in ("1-2", "3"):
        assert run("convert", folder / "depth_####.exr", "--frames", chunk, "--fuse", "--voxel", voxel, "--origin",
                   text, "--partial", "-o", folder / "parts" / f"{chunk}.npz") == 0
    assert run("merge", folder / "parts" / "3.npz", folder / "parts" / "1-2.npz", "-o", folder / "merged.ply") == 0
    assert (folder / "merged.ply").read_bytes() == (folder / "fused.ply").read_bytes()
    capsys.readouterr()
    assert run("convert", folder / "depth_####.exr", "--frames", "1-3", "--fuse", "--voxel", voxel, "--origin",
               "auto", "--partial", "-o", folder / "parts" / "auto.npz") == 2
    assert "the chunks of one fusion need one origin" in capsys.readouterr().err
