"""`depth-cloud convert` into survey formats: one E57 of one scan per frame, LAS/LAZ per frame or fused,
read back by pye57, the `e57` package and laspy."""

import os

import e57
import laspy
import numpy as np
import pye57
from plyfile import PlyData

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.formats.ply import linear_to_srgb8
from depth_cloud_addon.core.frames.files import write_camera_sidecar

CAMERA = CameraModel(width_px=24, height_px=16, lens_mm=30.0)


def frames(folder):
    rows, cols = np.mgrid[0:16, 0:24]
    for frame in (1, 2, 3):
        pose = np.eye(4)
        pose[:3, 3] = (0.5 * frame, 0.0, 2.0)
        depth = (3.0 + 0.1 * rows + 0.01 * frame).astype(np.float32)
        depth[:frame, :] = 1e10
        color = np.stack([cols / 24.0, rows / 16.0, np.full(depth.shape, 0.5), np.ones(depth.shape)], -1)
        write_exr(folder / f"depth_{frame:04d}.exr", {"V": depth})
        write_exr(folder / f"color_{frame:04d}.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
        write_camera_sidecar(folder / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame, cam2world=pose))
    assert cli.main(["convert", str(folder / "depth_####.exr"), "--frames", "1-3", "-o",
                     str(folder / "ply_####.ply")]) == 0


def ply_frame(folder, frame):
    vertex = PlyData.read(str(folder / f"ply_{frame:04d}.ply"))["vertex"]
    return (np.stack([vertex["x"], vertex["y"], vertex["z"]], -1).astype(np.float64),
            np.stack([vertex["red"], vertex["green"], vertex["blue"]], -1))


def test_one_e57_holds_one_scan_per_frame_with_its_camera_pose(tmp_path):
    frames(tmp_path)
    out = tmp_path / "survey.e57"
    assert cli.main(["convert", str(tmp_path / "depth_####.exr"), "--frames", "1-3", "-o", str(out)]) == 0
    reader = pye57.E57(str(out))
    assert reader.scan_count == 3
    everything = []
    for index, frame in enumerate((1, 2, 3)):
        scan = reader.read_scan(index, colors=True, ignore_missing_fields=True)
        xyz = np.stack([scan["cartesianX"], scan["cartesianY"], scan["cartesianZ"]], -1)
        points, rgb = ply_frame(tmp_path, frame)
        np.testing.assert_allclose(xyz, points, atol=1e-6)
        np.testing.assert_array_equal(np.stack([scan["colorRed"], scan["colorGreen"], scan["colorBlue"]], -1), rgb)
        np.testing.assert_allclose(reader.get_header(index).translation, (0.5 * frame, 0.0, 2.0), atol=1e-12)
        everything.append(points)
    independent = e57.read_points(str(out))  # a second reader: every scan, poses applied
    np.testing.assert_allclose(np.asarray(independent.points), np.concatenate(everything), atol=1e-6)


def test_las_per_frame_and_laz_fused_keep_positions_and_16_bit_colours(tmp_path, capsys):
    frames(tmp_path)
    assert cli.main(["convert", str(tmp_path / "depth_####.exr"), "--frames", "1-3", "-o",
                     str(tmp_path / "frame_####.las")]) == 0
    for frame in (1, 2, 3):
        las = laspy.read(str(tmp_path / f"frame_{frame:04d}.las"))
        points, rgb = ply_frame(tmp_path, frame)
        assert abs(las.header.scales[0] - 1e-4) < 1e-12
        np.testing.assert_allclose(np.stack([las.x, las.y, las.z], -1), points, atol=0.5e-4 + 1e-9)
        np.testing.assert_array_equal(np.stack([las.red, las.green, las.blue], -1), rgb.astype(np.uint16) * 257)
    before = os.stat(tmp_path / "frame_0001.las").st_mtime_ns
    capsys.readouterr()
    assert cli.main(["convert", str(tmp_path / "depth_####.exr"), "--frames", "1-3", "-o",
                     str(tmp_path / "frame_####.las")]) == 0  # the same job: resumed, nothing rewritten
    assert "3 frame(s) already complete" in capsys.readouterr().err
    assert os.stat(tmp_path / "frame_0001.las").st_mtime_ns == before
    assert cli.main(["convert", str(tmp_path / "depth_####.exr"), "--frames", "1-3", "--fuse", "-o",
                     str(tmp_path / "fused.laz")]) == 0
    fused = laspy.read(str(tmp_path / "fused.laz"))
    assert len(fused.x) == sum(len(ply_frame(tmp_path, f)[0]) for f in (1, 2, 3))
    assert set(np.unique(fused.red % 257)) == {0}
    assert int(linear_to_srgb8(np.array([0.5]))[0]) * 257 in set(np.unique(fused.blue).tolist())


def test_what_survey_formats_cannot_hold_is_refused_in_one_line(tmp_path, capsys):
    frames(tmp_path)
    capsys.readouterr()
    for extra, out in ((["--attributes", "edge"], "x.las"), (["--normals"], "x.e57"), (["--radius"], "x.laz"),
                       (["--colors", "linear"], "x.las")):
        assert cli.main(["convert", str(tmp_path / "depth_0001.exr"), *extra, "-o", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "holds positions and " in err and "sRGB colours only: " in err
        assert not (tmp_path / out).exists()
