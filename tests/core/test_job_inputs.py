"""A job's inputs are every file it reads, and a passes file is used only when it belongs to the frame.

Outputs named like the frame's passes file, the next frame's depth file or sidecar (which ``motion`` reads), a
camera given on the command line (as the ``object_id`` legend beside the output would be named), or another
frame's input, are refused and nothing is written over. A passes file of another size, or left from an earlier
render, is never read into a cloud.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from plyfile import PlyData

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, DepthCloudError, write_exr
from depth_cloud_addon.core.errors import OutputError
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from depth_cloud_addon.core.frames.export import read_cloud_for
from depth_cloud_addon.core.frames.files import CaptureInfo, frame_files_of, frame_inputs, write_camera_sidecar
from depth_cloud_addon.core.frames.passes import cryptomatte_float_bits, murmur3_32

CAMERA = CameraModel(width_px=12, height_px=8, lens_mm=30.0)
PASSES = ("OBJECT_INDEX", "CRYPTOMATTE", "MOTION")


def passes_channels(shape, index: float = 3.0, name: str = "Box") -> tuple[dict, dict]:
    ids = np.full(shape, murmur3_32(name), np.uint32)
    channels = {"IndexOB.V": np.full(shape, index, np.float32),
                "CryptoObject00.r": cryptomatte_float_bits(ids).view(np.float32),
                "CryptoObject00.g": np.ones(shape, np.float32), "CryptoObject00.b": np.zeros(shape, np.float32),
                "CryptoObject00.a": np.zeros(shape, np.float32)}
    manifest = {"cryptomatte/3ae39a5/name": "CryptoObject",
                "cryptomatte/3ae39a5/manifest": json.dumps({name: f"{murmur3_32(name):08x}"})}
    return channels, manifest


def write_frame(folder, frame: int, *, passes: tuple = PASSES, passes_shape=None, index: float = 3.0,
                name: str = "Box") -> None:
    write_exr(folder / f"depth_{frame:04d}.exr", {"V": np.full(CAMERA.shape, 5.0 + frame, np.float32)})
    if passes_shape is not None:
        channels, manifest = passes_channels(passes_shape, index, name)
        write_exr(folder / f"passes_{frame:04d}.exr", channels, attributes=manifest)
    objects = [{"name": "Box", "pass_index": 3, "matrix_world": np.eye(4).tolist(), "geometry": "b",
                "next": {"frame": frame + 1, "matrix_world": np.eye(4).tolist(), "geometry": "b"}}]
    capture = CaptureInfo(scene="Scene", passes=passes, objects=tuple(objects) if "MOTION" in passes else ())
    write_camera_sidecar(folder / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame), capture)


@pytest.fixture
def shot(tmp_path):
    """Frames 1-3 with passes files recorded in their sidecars."""
    for frame in (1, 2, 3):
        write_frame(tmp_path, frame, passes_shape=CAMERA.shape)
    return tmp_path


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def snapshot(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("depth-cloud: error: "), err
    return err[0]


# -- no output is an input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attributes, output", [
    ("object_index", "passes_0001.exr"),          # the frame's passes file
    ("", "passes_0001.exr"),                      # not read without attributes, and still never written over
    ("motion", "depth_0002.exr"),                 # the next frame's depth file: motion reads it
    ("motion", "camera_0002.json"),               # the next frame's sidecar
    ("motion", "passes_0002.exr"),                # the next frame's passes
])
def test_an_output_named_like_a_file_the_frame_reads_is_refused(shot, capsys, attributes, output):
    before = snapshot(shot)
    argv = ["convert", shot / "depth_0001.exr", "--format", "ply", "-o", shot / output]
    assert run(*argv, *(["--attributes", attributes] if attributes else [])) == 2
    assert "is an input of this job" in one_error(capsys)
    assert snapshot(shot) == before


def test_an_output_whose_legend_would_be_an_input_is_refused(shot, capsys):
    """--camera cam.legend.json and -o cam.ply: object_id's legend, cam.legend.json, would be the camera."""
    camera = shot / "cam.legend.json"
    camera.write_bytes((shot / "camera_0001.json").read_bytes())
    before = snapshot(shot)
    assert run("convert", shot / "depth_0001.exr", "--camera", camera, "--attributes", "object_id",
               "-o", shot / "cam.ply") == 2
    line = one_error(capsys)
    assert "legend" in line and "cam.legend.json" in line and "is an input of this job" in line
    assert snapshot(shot) == before
    assert run("convert", shot / "depth_0001.exr", "--camera", camera, "-o", shot / "cam.ply") == 0  # no legend


def test_a_sequence_output_that_is_another_frames_input_is_refused_before_any_work(shot, capsys):
    """Frame 1's output would be frame 2's passes file (its own name pattern differs): nothing is written."""
    (shot / "out").mkdir()
    for frame in (1, 2, 3):
        os.link(shot / f"passes_{frame:04d}.exr", shot / "out" / f"p_{frame + 1:04d}.exr")
    before = snapshot(shot)
    assert run("convert", shot / "depth_####.exr", "--frames", "1-2", "--format", "ply",
               "-o", shot / "out" / "p_####.exr") == 2
    line = one_error(capsys)
    assert "is an input of this job" in line and "frame 1" in line
    assert snapshot(shot) == before
    assert sorted(p.name for p in (shot / "out").iterdir()) == ["p_0002.exr", "p_0003.exr", "p_0004.exr"]


def test_one_output_of_every_frame_may_be_none_of_their_files(shot, capsys):
    before = snapshot(shot)
    assert run("convert", shot / "depth_####.exr", "--frames", "1-3", "--fuse", "--format", "ply",
               "-o", shot / "passes_0003.exr") == 2
    assert "is an input of this job" in one_error(capsys)
    assert snapshot(shot) == before


def test_depth_never_writes_over_the_frames_files(shot, capsys):
    before = snapshot(shot)
    for name in ("passes_####.exr", "depth_####.exr", "camera_####.json"):
        assert run("depth", shot / "depth_####.exr", "--camera", shot / "camera_####.json", "--frames", "1-2",
                   "--to", "distance", "-o", shot / name) == 1
        assert capsys.readouterr().err.count("is an input of this job") == 2
    assert snapshot(shot) == before


def test_read_cloud_for_refuses_every_input_of_the_frame(shot):
    inputs = frame_inputs(frame_files_of(shot / "depth_0001.exr"), 1)
    motion = BuildOptions(attributes=("motion",))
    for name in ("passes_0001.exr", "depth_0002.exr", "camera_0002.json", "passes_0002.exr"):
        with pytest.raises(OutputError, match="is an input of this job"):
            read_cloud_for(inputs, shot / name, motion)
    read_cloud_for(inputs, shot / "depth_0002.exr")  # without motion frame 2 is not read (nothing written here)


# -- a passes file belongs to its frame ----------------------------------------------------------------------


def test_a_passes_file_of_another_size_fails_the_frame_in_one_line_never_an_index_error(tmp_path, capsys):
    write_frame(tmp_path, 1, passes_shape=(4, 6))            # smaller: its top-left corner was read
    write_frame(tmp_path, 2, passes_shape=(16, 24))          # larger: IndexError before
    write_frame(tmp_path, 3, passes_shape=CAMERA.shape)
    assert run("convert", tmp_path / "depth_####.exr", "--frames", "1-3", "--attributes", "object_index",
               "-o", tmp_path / "o" / "c_####.ply") == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if "failed:" in line]
    assert len(failed) == 2, err
    assert "frame 1: " in failed[0] and "passes_0001.exr: 6x4 px" in failed[0] and "12x8 px" in failed[0]
    assert "frame 2: " in failed[1] and "passes_0002.exr: 24x16 px" in failed[1]
    assert "IndexError" not in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["c_0003.ply"]
    assert (PlyData.read(str(tmp_path / "o" / "c_0003.ply"))["vertex"]["object_index"] == 3).all()


def test_a_passes_file_with_another_data_window_is_not_the_frames(tmp_path):
    """Same pixel count, another place: a crop of another render (a data window that does not start at 0, 0)."""
    import OpenEXR

    write_frame(tmp_path, 1)
    channels, manifest = passes_channels(CAMERA.shape)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "dataWindow": ((2, 1), (13, 8)), "displayWindow": ((0, 0), (15, 9)), **manifest}
    with OpenEXR.File(header, channels) as f:
        f.write(str(tmp_path / "passes_0001.exr"))
    inputs = frame_inputs(frame_files_of(tmp_path / "depth_0001.exr"), 1)
    with pytest.raises(DepthCloudError, match=r"passes_0001.exr: 12x8 px at \(2, 1\) in a 16x10 px display window "
                                              r"but the depth file depth_0001.exr is 12x8 px"):
        read_cloud(inputs, BuildOptions(attributes=("object_index",)))


def test_a_passes_file_the_sidecar_does_not_record_is_stale_a_warning_and_no_attribute(tmp_path, capsys):
    """Extra Passes turned off and frame 1 rendered again: its old passes_0001.exr (labels of an object that is
    not in this render) is left beside it. Its sidecar records no passes: the file is not read."""
    write_frame(tmp_path, 1, passes_shape=CAMERA.shape, name="Gone", index=9.0)
    write_frame(tmp_path, 1, passes=())                      # rendered again without Extra Passes
    write_frame(tmp_path, 2, passes_shape=CAMERA.shape)      # this one's passes belong to it
    inputs = frame_inputs(frame_files_of(tmp_path / "depth_0001.exr"), 1)
    cloud = read_cloud(inputs, BuildOptions(attributes=("object_id", "object_index", "edge")))
    assert "object_id" not in cloud.attributes and "object_index" not in cloud.attributes
    assert "edge" in cloud.attributes  # not from a pass
    assert any("passes_0001.exr is not of this render" in w and "camera_0001.json records no Extra Passes" in w
               for w in cloud.warnings), cloud.warnings
    assert run("convert", tmp_path / "depth_####.exr", "--frames", "1-2", "--attributes", "object_id",
               "--format", "npz", "-o", tmp_path / "o" / "c_####.npz") == 0
    err = capsys.readouterr().err
    assert "warning: passes_0001.exr is not of this render" in err and "(frame 1)" in err
    with np.load(tmp_path / "o" / "c_0001.npz") as data:
        assert "object_id" not in data.files
    with np.load(tmp_path / "o" / "c_0002.npz") as data:
        assert (data["object_id"].view(np.uint32) == murmur3_32("Box")).all()
    assert not (tmp_path / "o" / "c_0001.legend.json").exists()


def test_without_a_capture_record_a_passes_file_older_than_the_depth_is_stale(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": np.full(CAMERA.shape, 6.0, np.float32)})
    (tmp_path / "camera_0001.json").write_text(CAMERA.replace(frame=1).to_json())  # no capture block
    channels, manifest = passes_channels(CAMERA.shape)
    write_exr(tmp_path / "passes_0001.exr", channels, attributes=manifest)
    depth_time = os.stat(tmp_path / "depth_0001.exr").st_mtime_ns
    os.utime(tmp_path / "passes_0001.exr", ns=(depth_time + 10**9, depth_time + 10**9))  # newer: belongs
    inputs = frame_inputs(frame_files_of(tmp_path / "depth_0001.exr"), 1)
    assert (read_cloud(inputs, BuildOptions(attributes=("object_index",))).attributes["object_index"] == 3).all()
    # written 1 ms before the depth by the same render (Blender's File Output nodes write in any order): belongs
    os.utime(tmp_path / "passes_0001.exr", ns=(depth_time - 10**6, depth_time - 10**6))
    assert (read_cloud(inputs, BuildOptions(attributes=("object_index",))).attributes["object_index"] == 3).all()
    os.utime(tmp_path / "passes_0001.exr", ns=(depth_time - 60 * 10**9, depth_time - 60 * 10**9))  # a minute older
    cloud = read_cloud(inputs, BuildOptions(attributes=("object_index",)))
    assert cloud.attributes == {} and any("older than depth_0001.exr" in w for w in cloud.warnings)
