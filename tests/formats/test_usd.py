"""USD point caches, read back by usd-core (Pixar's own library) and by Blender's USD importer.

Runs in the venv with the format readers (requirements/blender-4.2.txt: numpy 2 + usd-core); Blender's
importer runs in a subprocess of each Blender venv (usd-core and bpy bundle different USD builds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from plyfile import PlyData
from pxr import Usd, UsdGeom

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.frames.files import CaptureInfo, write_camera_sidecar
from depth_cloud_addon.core.frames.passes import cryptomatte_float_bits, murmur3_32

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAMERA = CameraModel(width_px=40, height_px=30, lens_mm=28.0, shift_x=0.07, shift_y=-0.04, pixel_aspect_y=1.25,
                     clip_start=0.5, clip_end=80.0)
FRAMES = (1, 2, 3)


def pose(frame: int) -> np.ndarray:
    turn = 0.1 * frame
    m = np.eye(4)
    m[:3, :3] = [[np.cos(turn), 0, np.sin(turn)], [0, 1, 0], [-np.sin(turn), 0, np.cos(turn)]]
    m[:3, 3] = (0.4 * frame, -0.2 * frame, 1.5)
    return m


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("usd")
    rows, cols = np.mgrid[0:CAMERA.height_px, 0:CAMERA.width_px]
    for frame in FRAMES:
        depth = (4.0 + 0.05 * rows + 0.02 * frame + 0.5 * ((cols // 8) % 2)).astype(np.float32)
        depth[: 2 + frame, :5] = 1e10  # background: fewer points on later frames
        color = np.stack([cols / 40.0, rows / 30.0, np.full(depth.shape, 0.25), np.ones(depth.shape)], -1)
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": depth})
        write_exr(folder / f"color_{frame:04d}.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame, cam2world=pose(frame)),
                             CaptureInfo(fps=25.0))
    return folder


def _usd(frames, name: str, *extra) -> str:
    out = str(frames / name)
    argv = ["convert", str(frames / "depth_####.exr"), "--frames", "1-3", "-o", out, *extra]
    assert cli.main(argv) == 0
    return out


@pytest.mark.parametrize("name", ["cloud.usda", "cloud.usdc", "cloud.usd"])
def test_points_per_frame_are_the_ply_exports_values(frames, name):
    path = _usd(frames, name)
    assert cli.main(["convert", str(frames / "depth_####.exr"), "--frames", "1-3", "-o",
                     str(frames / "ply_####.ply")]) == 0
    stage = Usd.Stage.Open(path)
    assert stage.GetTimeCodesPerSecond() == 25.0 and stage.GetFramesPerSecond() == 25.0  # the sidecars' fps
    assert (stage.GetStartTimeCode(), stage.GetEndTimeCode()) == (1.0, 3.0)
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    counts = []
    for frame in FRAMES:
        vertex = PlyData.read(str(frames / f"ply_{frame:04d}.ply"))["vertex"]
        ply = np.stack([vertex["x"], vertex["y"], vertex["z"]], -1)
        usd = np.asarray(points.GetPointsAttr().Get(frame), np.float32)
        np.testing.assert_array_equal(usd, ply)  # the same float32 values
        widths = np.asarray(points.GetWidthsAttr().Get(frame))
        ids = np.asarray(points.GetIdsAttr().Get(frame))
        colors = np.asarray(UsdGeom.PrimvarsAPI(points).GetPrimvar("displayColor").Get(frame))
        assert len(widths) == len(ids) == len(colors) == len(usd) and (widths > 0).all()
        np.testing.assert_allclose(colors[:, 0], (ids % CAMERA.width_px) / 40.0, atol=1e-6)  # linear, per pixel
        counts.append(len(usd))
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]  # the count changes per frame


def test_discs_carry_their_normals_and_widths(frames):
    """--geometry discs: UsdGeom.Points with per-point ``normals`` and ``widths`` (the discs' diameters), the values of
    the PLY surfel export of the same frames, read back by usd-core."""
    stage = Usd.Stage.Open(_usd(frames, "discs.usdc", "--geometry", "discs"))
    assert cli.main(["convert", str(frames / "depth_####.exr"), "--frames", "1-3", "--geometry", "discs", "-o",
                     str(frames / "discs_####.ply")]) == 0
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    assert points.GetNormalsInterpolation() == UsdGeom.Tokens.vertex
    for frame in FRAMES:
        vertex = PlyData.read(str(frames / f"discs_{frame:04d}.ply"))["vertex"]
        normals = np.asarray(points.GetNormalsAttr().Get(frame), np.float32)
        np.testing.assert_array_equal(normals, np.stack([vertex["nx"], vertex["ny"], vertex["nz"]], -1))
        np.testing.assert_array_equal(np.asarray(points.GetWidthsAttr().Get(frame), np.float32),
                                      2 * vertex["radius"])
        np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    plain = Usd.Stage.Open(_usd(frames, "plain.usda"))
    assert not UsdGeom.Points(plain.GetPrimAtPath("/DepthCloud/Points")).GetNormalsAttr().HasAuthoredValue()
    facing = Usd.Stage.Open(_usd(frames, "facing.usda", "--normals"))  # --normals: towards the camera
    world = np.asarray(UsdGeom.Points(facing.GetPrimAtPath("/DepthCloud/Points")).GetPointsAttr().Get(1), np.float64)
    towards = pose(1)[:3, 3] - world
    np.testing.assert_allclose(UsdGeom.Points(facing.GetPrimAtPath("/DepthCloud/Points")).GetNormalsAttr().Get(1),
                               towards / np.linalg.norm(towards, axis=1, keepdims=True), atol=1e-5)


def test_the_camera_reprojects_every_point_to_its_pixel_centre(frames):
    stage = Usd.Stage.Open(_usd(frames, "camera.usda"))
    camera = UsdGeom.Camera(stage.GetPrimAtPath("/DepthCloud/Camera"))
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    w, h = CAMERA.width_px, CAMERA.height_px
    worst = 0.0
    for frame in FRAMES:
        gf = camera.GetCamera(frame)
        frustum = gf.frustum
        view, projection = frustum.ComputeViewMatrix(), frustum.ComputeProjectionMatrix()
        matrix = np.array(view * projection)  # row vectors: p_ndc = p @ view @ projection
        world = np.asarray(points.GetPointsAttr().Get(frame), np.float64)
        clip = np.c_[world, np.ones(len(world))] @ matrix
        ndc = clip[:, :2] / clip[:, 3:4]
        pixels = np.stack([(ndc[:, 0] + 1) / 2 * w, (1 - ndc[:, 1]) / 2 * h], -1)
        ids = np.asarray(points.GetIdsAttr().Get(frame))
        centres = np.stack([ids % w + 0.5, ids // w + 0.5], -1)
        worst = max(worst, float(np.abs(pixels - centres).max()))
        near, far = gf.clippingRange.min, gf.clippingRange.max
        assert (near, far) == pytest.approx((0.5, 80.0))
    assert worst < 1e-3, worst


def test_orthographic_cameras_reproject_too(tmp_path):
    ortho = CameraModel(width_px=20, height_px=10, projection="ORTHO", ortho_scale=7.0, shift_x=0.1,
                        pixel_aspect_x=1.2, frame=1, cam2world=pose(1))
    write_exr(tmp_path / "depth_0001.exr", {"V": np.full(ortho.shape, 6.0, np.float32)})
    write_camera_sidecar(tmp_path / "camera_0001.json", ortho)
    assert cli.main(["convert", str(tmp_path / "depth_0001.exr"), "-o", str(tmp_path / "o.usda"), "--fps", "30"]) == 0
    stage = Usd.Stage.Open(str(tmp_path / "o.usda"))
    assert stage.GetTimeCodesPerSecond() == 30.0
    frustum = UsdGeom.Camera(stage.GetPrimAtPath("/DepthCloud/Camera")).GetCamera(1).frustum
    matrix = np.array(frustum.ComputeViewMatrix() * frustum.ComputeProjectionMatrix())
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    world = np.asarray(points.GetPointsAttr().Get(1), np.float64)
    clip = np.c_[world, np.ones(len(world))] @ matrix
    ids = np.asarray(points.GetIdsAttr().Get(1))
    pixels = np.stack([(clip[:, 0] / clip[:, 3] + 1) / 2 * 20, (1 - clip[:, 1] / clip[:, 3]) / 2 * 10], -1)
    assert np.abs(pixels - np.stack([ids % 20 + 0.5, ids // 20 + 0.5], -1)).max() < 1e-3


def test_faces_are_a_mesh_and_velocities_are_motion_times_fps(tmp_path):
    camera = CAMERA.replace(frame=1, cam2world=pose(1))
    write_exr(tmp_path / "depth_0001.exr", {"V": np.full(camera.shape, 5.0, np.float32)})
    box = np.uint32(murmur3_32("Box"))
    ids = np.full(camera.shape, cryptomatte_float_bits(box), np.uint32).view(np.float32)
    write_exr(tmp_path / "passes_0001.exr", {"CryptoObject00.r": ids, "CryptoObject00.g": np.ones(camera.shape),
                                             "CryptoObject00.b": np.zeros(camera.shape),
                                             "CryptoObject00.a": np.zeros(camera.shape)},
              attributes={"cryptomatte/x/name": "CryptoObject",
                          "cryptomatte/x/manifest": json.dumps({"Box": f"{int(box):08x}"})})
    moved = np.eye(4)
    moved[:3, 3] = (0.0, 0.0, 0.04)
    objects = ({"name": "Box", "pass_index": 0, "matrix_world": np.eye(4).tolist(), "geometry": "g",
                "next": {"frame": 2, "matrix_world": moved.tolist(), "geometry": "g"}},)
    write_camera_sidecar(tmp_path / "camera_0001.json", camera,
                         CaptureInfo(fps=25.0, passes=("MOTION", "CRYPTOMATTE"), objects=objects))
    assert cli.main(["convert", str(tmp_path / "depth_0001.exr"), "--attributes", "motion,object_id",
                     "-o", str(tmp_path / "m.usdc")]) == 0
    stage = Usd.Stage.Open(str(tmp_path / "m.usdc"))
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    velocities = np.asarray(points.GetVelocitiesAttr().Get(1))
    np.testing.assert_allclose(velocities, np.broadcast_to([0, 0, 1.0], velocities.shape), atol=1e-5)  # 0.04 x 25
    object_id = np.asarray(UsdGeom.PrimvarsAPI(points).GetPrimvar("object_id").Get(1))
    assert (object_id == np.array(box).view(np.int32)).all()
    assert cli.main(["convert", str(tmp_path / "depth_0001.exr"), "--geometry", "faces",
                     "-o", str(tmp_path / "f.usda")]) == 0
    faces_stage = Usd.Stage.Open(str(tmp_path / "f.usda"))  # (a prim needs its stage alive)
    mesh = UsdGeom.Mesh(faces_stage.GetPrimAtPath("/DepthCloud/Faces"))
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get(1))
    assert len(counts) == camera.width_px * camera.height_px and (counts == 4).all()
    assert len(mesh.GetPointsAttr().Get(1)) == 4 * len(counts)


def test_a_failed_usd_write_leaves_nothing_and_bad_options_are_one_line(frames, capsys):
    out = frames / "never.usda"
    assert cli.main(["convert", str(frames / "depth_####.exr"), "--frames", "7-8", "-o", str(out)]) == 2
    assert not out.exists() and not [p for p in os.listdir(frames) if p.startswith(".never")]
    capsys.readouterr()
    assert cli.main(["convert", str(frames / "depth_####.exr"), "--frames", "1-3", "--fuse", "-o",
                     str(frames / "x.usd")]) == 2
    assert "USD holds every frame of a sequence in one file already: not a fused cloud" in capsys.readouterr().err
    assert cli.main(["convert", str(frames / "depth_0001.exr"), "--geometry", "faces", "-o",
                     str(frames / "x.ply")]) == 2


def test_a_second_run_of_the_same_job_is_skipped(frames, capsys):
    path = _usd(frames, "again.usdc")
    before = os.stat(path).st_mtime_ns
    capsys.readouterr()
    _usd(frames, "again.usdc")
    assert "complete already" in capsys.readouterr().err and os.stat(path).st_mtime_ns == before


BLENDER_VENVS = (".venv-bpy4.2", ".venv-bpy4.5", ".venv-bpy5.0", ".venv-bpy5.2", ".venv")  # .venv: 5.3
IMPORT = """
import sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.wm.usd_import(filepath=sys.argv[1])
counts = []
for frame in (1, 2, 3):
    bpy.context.scene.frame_set(frame)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    found = [o.evaluated_get(depsgraph) for o in bpy.context.scene.objects if o.type in ("POINTCLOUD", "MESH")]
    counts.append([len(o.data.points) if o.type == "POINTCLOUD" else len(o.data.vertices) for o in found])
print("COUNTS", counts)
"""


@pytest.mark.parametrize("venv", BLENDER_VENVS)
def test_blenders_usd_importer_shows_the_points_of_each_frame(frames, venv):
    path = _usd(frames, "blender.usdc")
    stage = Usd.Stage.Open(path)
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points"))
    expected = [len(points.GetPointsAttr().Get(frame)) for frame in FRAMES]
    python = os.path.join(ROOT, venv, "bin", "python")
    run = subprocess.run([python, "-c", IMPORT, path], capture_output=True, text=True, timeout=300)
    line = next((x for x in run.stdout.splitlines() if x.startswith("COUNTS")), None)
    assert line is not None, run.stdout[-2000:] + run.stderr[-2000:]
    counts = json.loads(line[len("COUNTS "):])
    assert [c[0] for c in counts] == expected, (venv, counts, expected)


def test_the_library_names_the_missing_dependency():
    code = ("import sys; sys.modules['pxr'] = None\n"
            "from depth_cloud_addon.core.formats.usd import UsdWriter\nUsdWriter('x.usda')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "pip install 'depth-cloud[usd]'" in run.stderr


def test_blenders_export_operator_writes_the_same_point_cache(frames, tmp_path):
    """Export PLY / NPZ / USD in Blender (here bpy 4.2 with usd-core's pxr, as Blender's own builds bundle
    pxr) writes the same points as the CLI."""
    import bpy

    import depth_cloud_addon

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end, scene.render.fps = 1, 3, 25
    depth_cloud_addon.register()
    try:
        result = bpy.ops.depth_cloud.export_ply(filepath=str(frames / "depth_####.exr"), all_frames=True,
                                                output=str(tmp_path / "blender.usdc"))
        assert result == {"FINISHED"}, scene.depth_cloud.last_message
    finally:
        depth_cloud_addon.unregister()
    ours = Usd.Stage.Open(str(tmp_path / "blender.usdc"))
    cli_stage = Usd.Stage.Open(_usd(frames, "cli.usdc"))
    for frame in FRAMES:
        a = UsdGeom.Points(ours.GetPrimAtPath("/DepthCloud/Points")).GetPointsAttr().Get(frame)
        b = UsdGeom.Points(cli_stage.GetPrimAtPath("/DepthCloud/Points")).GetPointsAttr().Get(frame)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert ours.GetTimeCodesPerSecond() == 25.0
