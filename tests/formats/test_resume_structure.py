"""Resume checks a file's structure, not its header: a truncated (or altered) output of any format is redone, a
complete one of the same job is skipped. Read back by laspy, pye57, usd-core and plyfile."""

from __future__ import annotations

import laspy
import numpy as np
import pye57
import pytest
from plyfile import PlyData
from pxr import Usd, UsdGeom

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.frames.export import output_complete, recorded_job
from depth_cloud_addon.core.frames.files import write_camera_sidecar

CAMERA = CameraModel(width_px=32, height_px=24, lens_mm=30.0)
FRAMES = (1, 2)


@pytest.fixture
def frames(tmp_path):
    rows, cols = np.mgrid[0:24, 0:32]
    for frame in FRAMES:
        pose = np.eye(4)
        pose[:3, 3] = (0.3 * frame, 0.0, 1.0)
        write_exr(tmp_path / f"depth_{frame:04d}.exr", {"V": (4.0 + 0.05 * rows + 0.01 * cols).astype(np.float32)})
        color = np.stack([cols / 32.0, rows / 24.0, np.full(rows.shape, 0.3), np.ones(rows.shape)], -1)
        write_exr(tmp_path / f"color_{frame:04d}.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
        write_camera_sidecar(tmp_path / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame, cam2world=pose))
    return tmp_path


def convert(folder, output, *extra) -> tuple[int, str]:
    status = cli.main(["convert", str(folder / "depth_####.exr"), "--frames", "1-2", "-o", str(output), *extra])
    return status


def cut(path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def flip_byte(path, at: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


CUTS = ("cut at 90 %", "cut at 40 %", "cut to the header")
# An altered byte inside an uncompressed PLY's or LAS's coordinates leaves a well-formed file: its structure holds.
DAMAGES = [(name, cut) for name in ("c_####.ply", "c_####.npz", "c_####.las", "c_####.laz") for cut in CUTS]
DAMAGES += [("c_####.npz", "a byte altered"), ("c_####.laz", "a byte altered")]


@pytest.mark.parametrize("name, damage", DAMAGES)
def test_a_damaged_output_of_a_sequence_is_redone(frames, capsys, name, damage):
    out = frames / "out" / name
    assert convert(frames, out) == 0
    target = frames / "out" / name.replace("####", "0002")
    good = target.read_bytes()
    fmt = name.rsplit(".", 1)[1].replace("laz", "las")
    job = recorded_job(target, fmt)
    assert job and output_complete(target, fmt, job)
    if damage == "a byte altered":
        flip_byte(target, 0.7)
    else:
        cut(target, {"cut at 90 %": 0.9, "cut at 40 %": 0.4, "cut to the header": 0.02}[damage])
    assert not output_complete(target, fmt, job)
    capsys.readouterr()
    assert convert(frames, out) == 0
    err = capsys.readouterr().err
    assert "1 frame(s) already complete" in err and "1 of 1 frame(s) written" in err, err
    assert target.read_bytes() == good
    if fmt == "las":
        assert len(laspy.read(target).points) == 32 * 24
    elif fmt == "ply":
        assert PlyData.read(str(target))["vertex"].count == 32 * 24


@pytest.mark.parametrize("name", ["shot.e57", "shot.usdc", "shot.usda"])
def test_one_file_of_every_frame_is_skipped_when_complete_and_redone_when_damaged(frames, capsys, name):
    out = frames / name
    assert convert(frames, out) == 0
    good = out.read_bytes()
    capsys.readouterr()
    assert convert(frames, out) == 0
    assert "is complete already" in capsys.readouterr().err
    assert out.read_bytes() == good
    cut(out, 0.6)
    assert convert(frames, out) == 0
    assert "is complete already" not in capsys.readouterr().err
    if name.endswith(".e57"):
        assert pye57.E57(str(out)).scan_count == 2
        assert len(pye57.E57(str(out)).read_scan(1, ignore_missing_fields=True)["cartesianX"]) == 32 * 24
    else:
        stage = Usd.Stage.Open(str(out))
        points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points")).GetPointsAttr()
        assert points.GetNumTimeSamples() == 2 and len(points.Get(2)) == 32 * 24


def test_a_usda_cut_at_a_line_is_not_complete(frames):
    out = frames / "shot.usda"
    assert convert(frames, out) == 0
    text = out.read_text()
    job = next(line.split('"')[1] for line in text.splitlines() if "depthCloudJob" in line)
    assert output_complete(out, "usd", job)
    lines = text.splitlines(keepends=True)
    out.write_text("".join(lines[:len(lines) // 2]))
    assert not output_complete(out, "usd", job)


def test_a_ply_with_object_ids_is_complete_only_with_its_legend(frames, tmp_path):
    from depth_cloud_addon.core.formats.ply import write_ply

    out = tmp_path / "ids.ply"
    write_ply(out, np.zeros((3, 3), np.float32), attributes={"object_id": np.arange(3, dtype=np.int32)},
              comments=["depth-cloud job abc"])
    assert not output_complete(out, "ply", "abc")
    (tmp_path / "ids.legend.json").write_text('{"00000001": "Box"}')
    assert output_complete(out, "ply", "abc")
