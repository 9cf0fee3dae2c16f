"""Pass decoding without Blender: MurmurHash3 and Cryptomatte's float ids (the published specification),
silhouette edges, rigid and Vector-pass motion, the passes file's layouts and the CLI's --attributes.
(The Blender captures are checked against ray casts in tests/blender/test_passes.py.)"""

import dataclasses
import json

import numpy as np
import pytest
from plyfile import PlyData

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core.formats.exr import read_channels
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from depth_cloud_addon.core.frames.files import CaptureInfo, frame_files_of, frame_inputs, write_camera_sidecar
from depth_cloud_addon.core.frames.passes import (
    check_attributes,
    cryptomatte_float_bits,
    decode_object_ids,
    edge_mask,
    murmur3_32,
    read_passes,
    rigid_motion,
    sample_depth,
    vector_motion,
)
from depth_cloud_addon.core.geometry.projection import backproject, project

CAMERA = CameraModel(width_px=12, height_px=8, lens_mm=30.0)


def test_murmur3_matches_published_vectors_and_blenders_manifest():
    # Reference values of MurmurHash3_x86_32 (seed 0) from its author's test suite / SMHasher.
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert murmur3_32(b"\x00\x00\x00\x00") == 0x2362F9DE
    assert murmur3_32(b"abc", seed=0) == 0xB3DD93FA
    # Hashes Blender 4.2 and 5.0 wrote into a Cryptomatte manifest (measured here).
    assert murmur3_32("Floor") == 0x6A2FB16E and murmur3_32("Mover") == 0xB94BD619


def test_cryptomatte_float_bits_clamp_the_exponent_only():
    hashes = np.array([0x6A2FB16E, 0x00000001, 0x7F800001, 0xFF812345], np.uint32)
    bits = cryptomatte_float_bits(hashes)
    assert bits[0] == hashes[0]                                          # an ordinary hash is its own bits
    assert np.isfinite(bits.view(np.float32)).all()                      # never inf or NaN
    assert (bits.view(np.float32)[1:] != 0).all() and bits[1] == 0x00800001  # never a denormal


def test_decoding_takes_the_rank_with_most_coverage_and_restores_clamped_hashes():
    a, b, odd = 0x6A2FB16E, 0xB94BD619, 0x7F812345  # odd: exponent 255, stored clamped to 254
    as_float = cryptomatte_float_bits(np.array([a, b, odd], np.uint32)).view(np.float32)
    ids0 = np.array([as_float[0], as_float[1], as_float[2], 0.0], np.float32)
    cov0 = np.array([0.9, 0.4, 1.0, 0.0], np.float32)
    ids1 = np.array([as_float[1], as_float[0], 0.0, 0.0], np.float32)
    cov1 = np.array([0.1, 0.6, 0.0, 0.0], np.float32)
    got = decode_object_ids([(ids0, cov0), (ids1, cov1)], {"A": a, "B": b, "Odd": odd})
    assert got.dtype == np.int32
    assert (got.view(np.uint32) == np.array([a, a, odd, 0], np.uint32)).all()


def test_edges_are_depth_jumps_in_the_neighbourhood_and_alpha_below_one():
    depth = np.full(CAMERA.shape, 10.0, np.float32)
    depth[:, 6:] = 10.3     # +3 %: one surface, no edge at 5 %
    depth[2:5, 2:4] = 4.0   # a box in front: an edge around its outline
    depth[7, 11] = 1e10     # background
    alpha = np.ones(CAMERA.shape, np.float32)
    alpha[0, 0] = 0.5
    edge = edge_mask(depth, CAMERA, alpha=alpha)
    expected = np.zeros(CAMERA.shape, bool)
    expected[1:6, 1:5] = True   # the box and the ring of pixels around it
    expected[6:8, 10:12] = True  # next to the background pixel
    expected[7, 11] = False      # background itself is no point
    expected[0, 0] = True        # alpha
    np.testing.assert_array_equal(edge, expected)
    assert not edge_mask(depth, CAMERA, threshold=0.5)[0, 6]


def test_rigid_motion_is_the_transform_minus_the_point():
    points = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, -5.0], [4.0, 4.0, 4.0]])
    turn = np.eye(4)
    turn[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    turn[:3, 3] = [0.5, 0.0, 0.0]
    motion = rigid_motion(points, np.stack([np.eye(4), turn]), np.array([0, 1, -1]))
    np.testing.assert_array_equal(motion[0], 0.0)
    np.testing.assert_allclose(motion[1], [0.5, 0.0, 0.0])
    assert np.isnan(motion[2]).all()


def test_vector_motion_follows_the_pixel_to_the_next_depth():
    """A plane that steps 0.2 m towards the camera and 0.3 m right: Vector's Z, W are this frame's pixel
    minus the next one's (y up), the next depth is sampled there."""
    depth1 = np.full(CAMERA.shape, 6.0, np.float32)
    depth2 = np.full(CAMERA.shape, 5.8, np.float32)
    points1 = backproject(depth1, CAMERA)
    moved = points1 + np.array([0.3, 0.0, 0.2])  # the camera looks down -Z: +Z is towards it
    pix1, pix2 = project(points1, CAMERA), project(moved, CAMERA)
    vector = np.zeros((*CAMERA.shape, 4), np.float32)
    vector[..., 2] = pix1[..., 0] - pix2[..., 0]
    vector[..., 3] = -(pix1[..., 1] - pix2[..., 1])  # y up
    rows, cols = np.nonzero(np.ones(CAMERA.shape, bool))
    motion = vector_motion(points1.reshape(-1, 3), rows, cols, vector, depth2, CAMERA, "planar")
    inside = np.isfinite(motion).all(axis=1)
    assert inside.sum() > 0.7 * inside.size  # pixels that move out of the image are NaN
    np.testing.assert_allclose(motion[inside], np.broadcast_to([0.3, 0.0, 0.2], motion[inside].shape), atol=2e-5)


def test_depth_is_sampled_exactly_on_a_tilted_plane():
    rows, cols = np.mgrid[0:8, 0:12]
    inverse = 0.1 + 0.001 * cols + 0.0008 * rows  # 1/Z affine in pixels: a plane under perspective
    depth = (1.0 / inverse).astype(np.float32)
    position = np.array([[5.3, 2.8], [0.2, 0.1]])
    truth = 1.0 / (0.1 + 0.001 * (position[:, 0] - 0.5) + 0.0008 * (position[:, 1] - 0.5))
    np.testing.assert_allclose(sample_depth(depth, CAMERA, "planar", position)[:1], truth[:1], rtol=1e-6)


@pytest.fixture
def passes_frame(tmp_path):
    """depth_0001.exr + passes_0001.exr in 5.0's layout (lower-case Cryptomatte channels, a manifest) and a
    sidecar recording the pass kinds and two objects (one moves rigidly to frame 2)."""
    depth = np.full(CAMERA.shape, 8.0, np.float32)
    depth[:, 6:] = 5.0
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    hashes = {"Wall": murmur3_32("Wall"), "Box": murmur3_32("Box")}
    ids = np.where(np.arange(12)[None, :] < 6, hashes["Wall"], hashes["Box"]).astype(np.uint32)
    ids = np.broadcast_to(ids, CAMERA.shape)
    channels = {"IndexOB.V": np.where(ids == hashes["Wall"], 2.0, 4.0),
                "Normal.X": np.zeros(CAMERA.shape), "Normal.Y": np.zeros(CAMERA.shape),
                "Normal.Z": np.full(CAMERA.shape, 2.0),
                "CryptoObject00.r": cryptomatte_float_bits(ids).view(np.float32),
                "CryptoObject00.g": np.ones(CAMERA.shape), "CryptoObject00.b": np.zeros(CAMERA.shape),
                "CryptoObject00.a": np.zeros(CAMERA.shape)}
    write_exr(tmp_path / "passes_0001.exr", channels, attributes={
        "cryptomatte/3ae39a5/name": "CryptoObject", "cryptomatte/3ae39a5/hash": "MurmurHash3_32",
        "cryptomatte/3ae39a5/conversion": "uint32_to_float32",
        "cryptomatte/3ae39a5/manifest": json.dumps({k: f"{v:08x}" for k, v in hashes.items()})})
    moved = np.eye(4)
    moved[:3, 3] = [0.0, 0.0, 1.0]
    objects = [{"name": "Wall", "pass_index": 2, "matrix_world": np.eye(4).tolist(), "geometry": "a",
                "next": {"frame": 2, "matrix_world": np.eye(4).tolist(), "geometry": "a"}},
               {"name": "Box", "pass_index": 4, "matrix_world": np.eye(4).tolist(), "geometry": "b",
                "next": {"frame": 2, "matrix_world": moved.tolist(), "geometry": "b"}}]
    capture = CaptureInfo(passes=("OBJECT_INDEX", "NORMAL", "MOTION", "CRYPTOMATTE"), objects=tuple(objects))
    write_camera_sidecar(tmp_path / "camera_0001.json", CAMERA.replace(frame=1), capture)
    return tmp_path


def test_a_frame_reads_its_attributes_from_the_passes_file(passes_frame):
    inputs = frame_inputs(frame_files_of(passes_frame / "depth_0001.exr"), 1)
    assert inputs.files.passes_path == str(passes_frame / "passes_0001.exr")
    cloud = read_cloud(inputs, BuildOptions(attributes="object_index,object_id,normal,motion,motion_source"))
    box = cloud.cols >= 6
    np.testing.assert_array_equal(cloud.attributes["object_index"], np.where(box, 4, 2))
    assert {cloud.legend[f"{h & 0xFFFFFFFF:08x}"] for h in cloud.attributes["object_id"][box].tolist()} == {"Box"}
    np.testing.assert_array_equal(cloud.attributes["normal"], np.broadcast_to([0, 0, 1], (len(box), 3)))
    np.testing.assert_array_equal(cloud.attributes["motion"][box], np.broadcast_to([0, 0, 1.0], (box.sum(), 3)))
    np.testing.assert_array_equal(cloud.attributes["motion"][~box], 0.0)
    assert (cloud.attributes["motion_source"] == 1).all()


def test_a_missing_pass_is_one_line_naming_the_file(passes_frame, capsys):
    assert cli.main(["convert", str(passes_frame / "depth_0001.exr"), "--attributes", "material_pass_index",
                     "-o", str(passes_frame / "x.ply")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "passes_0001.exr" in err and "MATERIAL_INDEX" in err
    assert cli.main(["convert", str(passes_frame / "depth_0001.exr"), "--attributes", "colour",
                     "-o", str(passes_frame / "x.ply")]) == 2
    assert "unknown attribute(s) colour" in capsys.readouterr().err


def test_cli_writes_attribute_properties_and_drops_edges(passes_frame):
    out = passes_frame / "cloud.ply"
    assert cli.main(["convert", str(passes_frame / "depth_0001.exr"), "--attributes", "object_id,normal,edge",
                     "-o", str(out)]) == 0
    vertex = PlyData.read(str(out))["vertex"]
    names = [p.name for p in vertex.properties]
    assert names == ["x", "y", "z", "red", "green", "blue", "object_id", "normal_x", "normal_y", "normal_z", "edge"]
    assert vertex.count == 96 and vertex["edge"].sum() == 16  # the columns either side of the step
    assert json.loads((passes_frame / "cloud.legend.json").read_text())[f"{murmur3_32('Box'):08x}"] == "Box"
    assert cli.main(["convert", str(passes_frame / "depth_0001.exr"), "--drop-edges", "-o", str(out)]) == 0
    assert PlyData.read(str(out))["vertex"].count == 80


def test_passes_are_found_in_a_multilayer_render_exr(tmp_path):
    ones = np.ones(CAMERA.shape, np.float32)
    write_exr(tmp_path / "render.exr", {"ViewLayer.Depth.Z": ones * 3, "ViewLayer.IndexOB.X": ones * 6,
                                        "ViewLayer.Vector.X": ones, "ViewLayer.Vector.Y": ones,
                                        "ViewLayer.Vector.Z": ones, "ViewLayer.Vector.W": ones * 2})
    passes = read_passes(read_channels(tmp_path / "render.exr"))
    assert (passes.object_index == 6).all() and (passes.vector[..., 3] == 2).all() and passes.normal is None


def test_a_render_exr_holding_depth_and_passes_is_decoded_once(tmp_path, monkeypatch):
    from depth_cloud_addon.core.formats import exr

    index = np.arange(CAMERA.width_px * CAMERA.height_px, dtype=np.float32).reshape(CAMERA.shape) % 5
    write_exr(tmp_path / "render.exr", {"ViewLayer.Depth.Z": np.full(CAMERA.shape, 3.0, np.float32),
                                        "ViewLayer.IndexOB.X": index})
    write_camera_sidecar(tmp_path / "render.json", CAMERA)
    inputs = frame_inputs(frame_files_of(tmp_path / "render.exr"), 1)
    loads = []
    load = exr._load
    monkeypatch.setattr(exr, "_load", lambda path: loads.append(path) or load(path))
    cloud = read_cloud(inputs, BuildOptions(attributes=("object_index",)))
    assert loads == [str(tmp_path / "render.exr")]
    np.testing.assert_array_equal(cloud.attributes["object_index"], index.reshape(-1).astype(np.int32))
    assert len(cloud.points) == index.size and np.allclose(cloud.depths, 3.0)


def test_vector_motion_of_a_render_exr_reads_the_same_view_layer_in_the_next_frame_decoding_it_once(tmp_path,
                                                                                                   monkeypatch):
    """Two view layers in each render EXR: the motion of the second layer's points is found in the second layer's
    depth of the next frame (not the first layer's), and each frame's file is decoded once."""
    from depth_cloud_addon.core.formats import exr
    from depth_cloud_addon.core.frames.passes import MOTION_VECTOR

    still = np.zeros(CAMERA.shape, np.float32)  # the Vector pass: nothing moves across the image
    for frame, depths in ((1, {"A": 5.0, "B": 3.0}), (2, {"A": 7.0, "B": 4.0})):
        channels = {}
        for layer, depth in depths.items():
            channels[f"{layer}.Depth.Z"] = np.full(CAMERA.shape, depth, np.float32)
            channels.update({f"{layer}.Vector.{c}": still for c in "XYZW"})
        write_exr(tmp_path / f"render_{frame:04d}.exr", channels)
        write_camera_sidecar(tmp_path / f"render_{frame:04d}.json", dataclasses.replace(CAMERA, frame=frame))
    inputs = frame_inputs(frame_files_of(tmp_path / "render_0001.exr"), 1)
    loads = []
    load = exr._load
    monkeypatch.setattr(exr, "_load", lambda path: loads.append(path) or load(path))
    for layer, steps in (("B", 4.0 / 3.0), ("A", 7.0 / 5.0)):
        loads.clear()
        cloud = read_cloud(inputs, BuildOptions(view_layer=layer, attributes=("motion", "motion_source")))
        assert cloud.view_layer == layer and (cloud.attributes["motion_source"] == MOTION_VECTOR).all()
        np.testing.assert_allclose(cloud.attributes["motion"], cloud.points * (steps - 1.0), atol=1e-5)
        assert loads == [str(tmp_path / "render_0001.exr"), str(tmp_path / "render_0002.exr")]


def test_discs_with_attributes_read_the_passes_file_once(passes_frame, monkeypatch):
    """The discs' normals and the attributes come from one read of the frame's passes (one decode, one parse)."""
    from depth_cloud_addon.core.formats import exr
    from depth_cloud_addon.core.frames import cloud as cloud_module

    loads, parses = [], []
    load, parse = exr._load, cloud_module.read_passes
    monkeypatch.setattr(exr, "_load", lambda path: loads.append(path) or load(path))
    monkeypatch.setattr(cloud_module, "read_passes", lambda *a, **k: parses.append(1) or parse(*a, **k))
    inputs = frame_inputs(frame_files_of(passes_frame / "depth_0001.exr"), 1)
    cloud = read_cloud(inputs, BuildOptions(discs=True, attributes="object_index,normal"))
    assert loads.count(str(passes_frame / "passes_0001.exr")) == 1 and len(parses) == 1
    np.testing.assert_array_equal(cloud.normals, np.broadcast_to([0, 0, 1], (cloud.count, 3)))
    np.testing.assert_array_equal(cloud.attributes["normal"], cloud.normals)


def test_attribute_names_are_checked():
    assert check_attributes("edge, normal") == ("normal", "edge")
    with pytest.raises(ValueError, match="unknown attribute"):
        check_attributes(["material_index"])


def test_fused_clouds_drop_edges_but_refuse_attributes(passes_frame, capsys):
    args = ["convert", str(passes_frame / "depth_####.exr"), "--frames", "1", "--fuse", "-o",
            str(passes_frame / "fused.ply")]
    assert cli.main(args + ["--attributes", "normal"]) == 2
    assert "not with --fuse" in capsys.readouterr().err
    assert cli.main(args + ["--drop-edges"]) == 0
    assert PlyData.read(str(passes_frame / "fused.ply"))["vertex"].count == 80


def test_an_unreadable_next_sidecar_leaves_vector_motion_unknown_and_says_why(passes_frame):
    write_exr(passes_frame / "depth_0002.exr", {"V": np.full(CAMERA.shape, 8.0, np.float32)})
    (passes_frame / "camera_0002.json").write_text("{not json")
    inputs = frame_inputs(frame_files_of(passes_frame / "depth_0001.exr"), 1)
    objects = tuple({**o, "next": None} for o in inputs.capture.objects)  # not rigid-known: Vector pass needed
    inputs = dataclasses.replace(inputs, capture=dataclasses.replace(inputs.capture, objects=objects))
    cloud = read_cloud(inputs, BuildOptions(attributes="motion,motion_source"))
    assert (cloud.attributes["motion_source"] == 0).all() and np.isnan(cloud.attributes["motion"]).all()
    assert any("next frame's sidecar cannot be read" in w for w in cloud.warnings)


def test_motion_source_alone_finds_objects_by_cryptomatte_like_motion(passes_frame):
    """Two objects that move differently share a pass index: only Cryptomatte tells them apart, whichever
    of motion and motion_source is asked for."""
    inputs = frame_inputs(frame_files_of(passes_frame / "depth_0001.exr"), 1)
    shared = tuple({**o, "pass_index": 2} for o in inputs.capture.objects)
    inputs = dataclasses.replace(inputs, capture=dataclasses.replace(inputs.capture, objects=shared))
    for attributes in ("motion_source", "motion,motion_source", "object_id,motion_source"):
        cloud = read_cloud(inputs, BuildOptions(attributes=attributes))
        assert (cloud.attributes["motion_source"] == 1).all(), attributes


def test_a_passes_file_is_never_read_as_depth(passes_frame, capsys):
    """passes_NNNN.exr's single-channel IndexOB.V is an object index, not depth: refused in one line."""
    assert cli.main(["convert", str(passes_frame / "passes_0001.exr"), "--camera",
                     str(passes_frame / "camera_0001.json"), "-o", str(passes_frame / "wrong.ply")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no depth channel" in err and not (passes_frame / "wrong.ply").exists()


def test_a_resumed_motion_output_is_redone_when_the_next_frame_appears(passes_frame, capsys):
    """Motion reads frame N+1: an output made before N+1 was rendered is not the same job any more."""
    args = ["convert", str(passes_frame / "depth_####.exr"), "--frames", "1", "--attributes", "motion",
            "-o", str(passes_frame / "m_####.ply")]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(args) == 0
    assert "already complete" in capsys.readouterr().err
    write_exr(passes_frame / "depth_0002.exr", {"V": np.full(CAMERA.shape, 8.0, np.float32)})
    write_camera_sidecar(passes_frame / "camera_0002.json", CAMERA.replace(frame=2))
    assert cli.main(args) == 0
    assert "already complete" not in capsys.readouterr().err
