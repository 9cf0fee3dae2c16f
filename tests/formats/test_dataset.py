"""export_dataset: a dataset read back by readers no one here wrote (pycolmap, Pillow, plyfile).

Three synthetic frames of a box on a ground plane (ray-cast here), written with the core's own writers, seen
by three cameras (the third with another lens: two COLMAP cameras, per-frame nerfstudio intrinsics). Runs in
the venv with the format readers (requirements/blender-4.2.txt + pycolmap and Pillow).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zlib

import numpy as np
import pycolmap  # noqa: E402  (readers no one here wrote; installed by `make test`: a missing one fails)
import pytest
from PIL import Image  # noqa: E402
from plyfile import PlyData

from depth_cloud_addon.core import CameraModel, DepthCloudError, backproject, read_exr, write_exr
from depth_cloud_addon.core.errors import CameraError, ResolutionMismatchError
from depth_cloud_addon.core.formats.ply import linear_to_srgb8
from depth_cloud_addon.core.formats.png import write_png
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from depth_cloud_addon.core.frames.dataset import export_dataset
from depth_cloud_addon.core.frames.files import find_frame_files, frame_inputs, write_camera_sidecar
from depth_cloud_addon.core.geometry.projection import camera_rays, pixel_centers
from depth_cloud_addon.core.geometry.voxel import voxel_downsample

FRAMES = (1, 2, 3)
BOX = (np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.5, 1.0]))
PLANE_HALF = 2.5
# The reference 3DGS save_ply order at SH degree 3, written out here rather than imported.
SPLAT_NAMES = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(45)]
               + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def look_at(eye, target=(0.0, 0.0, 0.4)) -> np.ndarray:
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -forward, eye
    return m


def camera_of(frame: int) -> CameraModel:
    angle = 0.6 * (frame - 2)
    eye = (4.0 * math.sin(angle), -4.0 * math.cos(angle), 2.5)
    return CameraModel(width_px=64, height_px=48, lens_mm=40.0 if frame == 3 else 35.0, clip_end=100.0,
                       cam2world=look_at(eye), frame=frame, name="Camera")


def render(camera: CameraModel):
    """Planar depth (1e10 where the ray misses), world points and linear colour of every pixel."""
    _, directions = camera_rays(pixel_centers(camera), camera)     # camera frame, planar length 1
    d = directions @ camera.cam2world[:3, :3].T
    o = camera.cam2world[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_plane = -o[2] / d[..., 2]
        hit = o + t_plane[..., None] * d
        t_plane = np.where((t_plane > 0) & (np.abs(hit[..., 0]) <= PLANE_HALF) & (np.abs(hit[..., 1]) <= PLANE_HALF),
                           t_plane, np.inf)
        t1, t2 = (BOX[0] - o) / d, (BOX[1] - o) / d
        near = np.minimum(t1, t2).max(axis=-1)
        far = np.maximum(t1, t2).min(axis=-1)
        t_box = np.where((near <= far) & (near > 0), near, np.inf)
    t = np.minimum(t_plane, t_box)
    depth = np.where(np.isfinite(t), t, 1e10).astype(np.float32)
    points = o + np.where(np.isfinite(t), t, 0.0)[..., None] * d
    checker = (np.floor(2 * points[..., 0]) + np.floor(2 * points[..., 1])) % 2
    color = np.stack([0.15 + 0.6 * checker, 0.1 + 0.7 * np.clip(points[..., 2], 0, 1), np.full(t.shape, 0.3),
                      np.ones(t.shape)], axis=-1)
    color[~np.isfinite(t)] = (0.02, 0.03, 0.08, 1.0)
    return depth, color.astype(np.float32), np.isfinite(t)


def write_frames(folder, *, transparent: bool = False, bad_frame: int | None = None) -> list:
    os.makedirs(folder, exist_ok=True)
    for frame in FRAMES:
        camera = camera_of(frame)
        depth, color, hit = render(camera)
        if transparent:
            alpha = np.where(hit, 1.0, 0.0)
            alpha[hit & ((np.arange(64)[None, :] % 5) == 0)] = 0.5  # partly covered pixels
            alpha[hit & ((np.arange(64)[None, :] % 7) == 0)] = 0.25
            color[..., 3] = alpha
            color[..., :3] *= alpha[..., None]                     # premultiplied, as Blender writes it
        write_exr(os.path.join(folder, f"depth_{frame:04d}.exr"), {"V": depth})
        write_exr(os.path.join(folder, f"color_{frame:04d}.exr"), {c: color[..., i] for i, c in enumerate("RGBA")})
        sidecar = camera.replace(width_px=32, height_px=24) if frame == bad_frame else camera
        write_camera_sidecar(os.path.join(folder, f"camera_{frame:04d}.json"), sidecar)
    return [frame_inputs(find_frame_files(folder, n, from_setup=True), n) for n in FRAMES]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene")
    return folder, write_frames(str(folder / "shot"))


@pytest.fixture(scope="module")
def exported(scene):
    folder, frames = scene
    return {fmt: export_dataset(frames, folder / f"out_{fmt}", colmap_format=fmt) for fmt in ("binary", "text")}


def quaternion_matrix(q) -> np.ndarray:
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


# -- COLMAP ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["binary", "text"])
def test_pycolmap_reads_the_model_and_reprojects_every_observation_exactly(scene, exported, fmt):
    _, frames = scene
    result = exported[fmt]
    folder = os.path.join(result.out_dir, "colmap", "sparse", "0")
    ext = ".bin" if fmt == "binary" else ".txt"
    assert sorted(os.listdir(folder)) == [f"cameras{ext}", f"images{ext}", f"points3D{ext}"]
    rec = pycolmap.Reconstruction(folder)
    assert rec.num_images() == 3 and rec.num_reg_images() == 3
    assert rec.num_cameras() == 2 == result.cameras          # frame 3 has another lens
    assert rec.num_points3D() == result.colmap_points > 0
    assert rec.compute_num_observations() == result.observations
    lengths = []
    worst = 0.0
    for point_id, point in rec.points3D.items():
        elements = point.track.elements
        lengths.append(len(elements))
        assert len({e.image_id for e in elements}) == len(elements)   # at most one 2D point per image
        for element in elements:
            image = rec.images[element.image_id]
            observation = image.points2D[element.point2D_idx]
            assert observation.point3D_id == point_id
            xy = image.project_point(point.xyz)                   # pycolmap's own pose and camera model
            worst = max(worst, float(np.linalg.norm(xy - observation.xy)))
            assert 0 <= observation.xy[0] < 64 and 0 <= observation.xy[1] < 48
    assert worst < 1e-3
    assert min(lengths) >= 1 and max(lengths) == 3 and np.mean(lengths) > 1.2  # points seen by several frames
    for inputs, image_id in zip(frames, (1, 2, 3)):
        image = rec.images[image_id]
        camera = inputs.camera
        assert image.name == f"frame_{inputs.frame:04d}.png"
        assert rec.cameras[image.camera_id].model_name == "PINHOLE"
        np.testing.assert_allclose(rec.cameras[image.camera_id].params, camera.intrinsics_px(), rtol=1e-12)
        # COLMAP's convention independently of our projection: a pixel's back-projected point lands on the pixel
        # centre (col + 0.5, row + 0.5) by pycolmap's camera model and pose.
        depth = read_exr(inputs.files.depth_path).depth
        world = backproject(depth, camera)
        rows, cols = np.nonzero(np.isfinite(world[..., 0]))
        cam = world[rows, cols] @ image.cam_from_world().matrix()[:, :3].T + image.cam_from_world().matrix()[:, 3]
        xy = rec.cameras[image.camera_id].img_from_cam(cam)
        np.testing.assert_allclose(xy, np.stack([cols + 0.5, rows + 0.5], -1), atol=1e-6)


def test_binary_and_text_models_hold_the_same_reconstruction(exported):
    models = [pycolmap.Reconstruction(os.path.join(exported[f].out_dir, "colmap", "sparse", "0"))
              for f in ("binary", "text")]
    binary, text = models
    assert sorted(binary.point3D_ids()) == sorted(text.point3D_ids())
    for point_id in binary.point3D_ids():
        np.testing.assert_array_equal(binary.points3D[point_id].xyz, text.points3D[point_id].xyz)
        np.testing.assert_array_equal(binary.points3D[point_id].color, text.points3D[point_id].color)
    for image_id in (1, 2, 3):
        a, b = binary.images[image_id], text.images[image_id]
        np.testing.assert_array_equal(a.cam_from_world().matrix(), b.cam_from_world().matrix())
        np.testing.assert_array_equal([p.xy for p in a.points2D], [p.xy for p in b.points2D])


# -- nerfstudio ------------------------------------------------------------------------------


def test_every_transforms_path_exists_and_loads(scene, exported):
    _, frames = scene
    result = exported["binary"]
    with open(result.transforms_path, encoding="utf-8") as f:
        transforms = json.load(f)
    assert transforms["camera_model"] == "OPENCV" and transforms["ply_file_path"] == "sparse_pc.ply"
    assert "fl_x" not in transforms                                # the lenses differ: per-frame intrinsics
    assert len(transforms["frames"]) == 3
    for record, inputs in zip(transforms["frames"], frames):
        assert "mask_path" not in record                           # an opaque film
        for key in ("file_path", "depth_file_path"):
            assert "\\" not in record[key] and not os.path.isabs(record[key])
            assert os.path.isfile(os.path.join(result.out_dir, record[key]))
        fx, fy, cx, cy = inputs.camera.intrinsics_px()
        assert (record["fl_x"], record["fl_y"], record["cx"], record["cy"]) == (fx, fy, cx, cy)
        np.testing.assert_array_equal(record["transform_matrix"], inputs.camera.cam2world)
        depth, color, hit = render(inputs.camera)
        with Image.open(os.path.join(result.out_dir, record["file_path"])) as image:
            assert image.mode == "RGB" and image.size == (64, 48)
            np.testing.assert_array_equal(np.asarray(image), linear_to_srgb8(color[..., :3]))
        with Image.open(os.path.join(result.out_dir, record["depth_file_path"])) as image:
            assert image.mode == "I;16" and image.size == (64, 48)
            millimetres = np.asarray(image).astype(np.float64)
        assert (millimetres[~hit] == 0).all() and (millimetres[hit] > 0).all()
        assert np.abs(millimetres[hit] - depth[hit].astype(np.float64) * 1000.0).max() <= 0.5 + 1e-6
        exact = read_exr(os.path.join(result.out_dir, record["depth_file_path"][:-4] + ".exr"))
        assert exact.depth_kind == "planar"
        np.testing.assert_array_equal(exact.depth, np.where(hit, depth, np.nan).astype(np.float32))
    ply = PlyData.read(os.path.join(result.out_dir, transforms["ply_file_path"]))["vertex"]
    assert ply.count == result.points
    assert [p.name for p in ply.properties][:6] == ["x", "y", "z", "red", "green", "blue"]


def test_a_transparent_film_gives_rgba_images_with_straight_alpha_and_masks(tmp_path):
    frames = write_frames(str(tmp_path / "shot"), transparent=True)
    result = export_dataset(frames, tmp_path / "out")
    assert result.has_alpha and len(result.mask_paths) == 3
    with open(result.transforms_path, encoding="utf-8") as f:
        transforms = json.load(f)
    for record, inputs in zip(transforms["frames"], frames):
        color = read_exr(inputs.files.color_path, require_depth=False).color
        alpha = color[..., 3]
        with Image.open(os.path.join(result.out_dir, record["file_path"])) as image:
            assert image.mode == "RGBA"
            rgba = np.asarray(image)
        np.testing.assert_array_equal(rgba[..., 3], np.rint(alpha * 255).astype(np.uint8))
        covered = alpha > 0
        straight = color[..., :3][covered] / alpha[covered][:, None]
        np.testing.assert_array_equal(rgba[..., :3][covered], linear_to_srgb8(straight))
        assert (rgba[..., :3][~covered] == 0).all()
        with Image.open(os.path.join(result.out_dir, record["mask_path"])) as image:
            assert image.mode == "L"
            np.testing.assert_array_equal(np.asarray(image), np.where(alpha >= 0.5, 255, 0))
    assert pycolmap.Reconstruction(result.colmap_dir).num_images() == 3


# -- splats ----------------------------------------------------------------------------------


def test_splats_follow_the_reference_layout_and_face_their_camera(scene, exported):
    _, frames = scene
    result = exported["binary"]
    vertex = PlyData.read(result.splats_path)["vertex"]
    assert [p.name for p in vertex.properties] == SPLAT_NAMES
    assert {p.val_dtype for p in vertex.properties} == {"f4"}
    cloud = PlyData.read(result.sparse_pc_path)["vertex"]
    assert vertex.count == cloud.count == result.points
    for axis in "xyz":
        np.testing.assert_array_equal(vertex[axis], cloud[axis])
    for k, channel in enumerate(("red", "green", "blue")):
        np.testing.assert_allclose((vertex[f"f_dc_{k}"] * 0.28209479177387814 + 0.5) * 255, cloud[channel], atol=1e-3)
    assert all((vertex[f"f_rest_{i}"] == 0).all() for i in range(45))
    np.testing.assert_allclose(1 / (1 + np.exp(-vertex["opacity"].astype(np.float64))), 0.9, atol=1e-6)
    np.testing.assert_array_equal(vertex["scale_0"], vertex["scale_1"])
    np.testing.assert_allclose(vertex["scale_2"] - vertex["scale_0"], math.log(0.01), atol=1e-5)
    assert (np.exp(vertex["scale_0"]) >= result.voxel_size / np.sqrt(2) * (1 - 1e-6)).all()  # covers a voxel's face
    q = np.stack([vertex[f"rot_{i}"] for i in range(4)], -1).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-6)
    q /= np.linalg.norm(q, axis=1, keepdims=True)                  # float32 storage: unit to ~1e-7
    points = np.stack([vertex[a] for a in "xyz"], -1).astype(np.float64)
    centres = np.array([f.camera.cam2world[:3, 3] for f in frames])
    to_cameras = centres[None] - points[:, None]
    to_cameras /= np.linalg.norm(to_cameras, axis=2, keepdims=True)
    z_axes = np.array([quaternion_matrix(qi)[:, 2] for qi in q])
    alignment = np.einsum("nk,nck->nc", z_axes, to_cameras)
    chosen = alignment.argmax(axis=1)
    assert np.arccos(np.clip(alignment.max(axis=1), -1, 1)).max() < 1e-5  # local +z points at a camera (float32)
    # ... the closest of the cameras that observe the point (its COLMAP track, read by pycolmap)
    rec = pycolmap.Reconstruction(result.colmap_dir)
    distance = np.linalg.norm(centres[None] - points[:, None], axis=2)
    for point_id, point in rec.points3D.items():
        row = point_id - 1
        observers = [e.image_id - 1 for e in point.track.elements]
        assert distance[row, chosen[row]] <= distance[row, observers].min() + 1e-6


# -- voxels ----------------------------------------------------------------------------------


def test_the_automatic_voxel_size_is_a_power_of_two_and_respects_max_points(scene, exported):
    _, frames = scene
    auto = exported["binary"]
    assert auto.voxel_size_auto and math.log2(auto.voxel_size).is_integer()
    footprint = 2 * np.median(read_cloud(frames[0]).radii)
    assert auto.voxel_size <= footprint < 2 * auto.voxel_size    # the first frame's footprint, no coarsening
    small = export_dataset(frames, os.path.join(auto.out_dir, "..", "small"), max_points=300)
    assert small.points <= 300 and math.log2(small.voxel_size).is_integer() and small.voxel_size > auto.voxel_size
    clouds = [read_cloud(f) for f in frames]
    expected = voxel_downsample(np.concatenate([c.points for c in clouds]), voxel_size=small.voxel_size)[0]
    assert small.points == len(expected)
    assert len(voxel_downsample(np.concatenate([c.points for c in clouds]), voxel_size=small.voxel_size / 2)[0]) > 300


def test_a_given_voxel_size_and_build_options_are_used(scene, tmp_path):
    _, frames = scene
    result = export_dataset(frames, tmp_path / "out", voxel_size=0.1, build=BuildOptions(stride=2))
    clouds = [read_cloud(f, BuildOptions(stride=2)) for f in frames]
    expected = voxel_downsample(np.concatenate([c.points for c in clouds]), voxel_size=0.1)[0]
    assert result.voxel_size == 0.1 and not result.voxel_size_auto and result.points == len(expected)
    with Image.open(os.path.join(result.out_dir, result.image_paths[0])) as image:
        assert image.size == (64, 48)                             # the stride thins the cloud, not the images


# -- bad input -------------------------------------------------------------------------------


def test_a_bad_frame_raises_and_writes_nothing(tmp_path):
    frames = write_frames(str(tmp_path / "shot"), bad_frame=2)
    out = tmp_path / "out"
    with pytest.raises(ResolutionMismatchError) as info:
        export_dataset(frames, out)
    message = str(info.value)
    assert isinstance(info.value, DepthCloudError) and "\n" not in message
    assert os.path.join("shot", "depth_0002.exr") in message and "32x24" in message
    assert not out.exists()


def test_non_perspective_and_colourless_frames_are_refused(scene, tmp_path):
    folder, frames = scene
    ortho = dataclasses.replace(frames[0], camera=frames[0].camera.replace(projection="ORTHO"))
    with pytest.raises(CameraError, match="camera_0001.json.*perspective"):
        export_dataset([ortho], tmp_path / "ortho")
    bare = tmp_path / "bare"
    bare.mkdir()
    camera = camera_of(1)
    write_exr(bare / "depth_0001.exr", {"V": render(camera)[0]})
    write_camera_sidecar(bare / "camera_0001.json", camera)
    with pytest.raises(DepthCloudError, match="depth_0001.exr: no colour image"):
        export_dataset([frame_inputs(find_frame_files(bare, 1, from_setup=True), 1)], tmp_path / "bare_out")
    with pytest.raises(DepthCloudError, match="colmap_format"):
        export_dataset(frames, tmp_path / "x", colmap_format="json")
    assert not (tmp_path / "ortho").exists() and not (tmp_path / "bare_out").exists()


# -- the PNG writer --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 2), (5, 7, 3), (5, 7, 4), (1, 1)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_writer_is_read_back_by_pillow(tmp_path, shape, dtype):
    values = np.random.default_rng(7).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    path = write_png(tmp_path / "x.png", values)
    with Image.open(path) as image:
        decoded = np.asarray(image)
    if dtype == np.uint8 or len(shape) == 2:
        np.testing.assert_array_equal(decoded, values)
    else:  # Pillow reads 16-bit colour as 8-bit: the high bytes (big-endian storage, filters and all)
        high = (values >> 8).astype(np.uint8)
        expected = np.concatenate([high[..., :1]] * 3 + [high[..., 1:]], -1) if shape[-1] == 2 else high
        np.testing.assert_array_equal(decoded, expected)
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert int.from_bytes(data[29:33], "big") == zlib.crc32(data[12:29])
    assert sorted(os.listdir(tmp_path)) == ["x.png"]              # no temporary file left


def test_png_writer_refuses_other_arrays_and_writes_nothing(tmp_path):
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 5), np.uint8), np.zeros(4, np.uint8)):
        with pytest.raises(ValueError, match="write_png"):
            write_png(tmp_path / "bad.png", bad)
    assert os.listdir(tmp_path) == []


def test_the_dataset_command_lists_missing_frames_and_writes_the_rest(scene, tmp_path, capsys):
    from depth_cloud_addon import cli

    scene_dir = scene[0] / "shot"
    out = tmp_path / "cli_dataset"
    status = cli.main(["dataset", str(scene_dir / "depth_####.exr"), "--frames", "1-4", "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 1 and "frame 4:" in err and "3 of 4 frame(s) written, 1 failed" in err
    transforms = json.loads((out / "transforms.json").read_text())
    assert len(transforms["frames"]) == 3
    for frame in transforms["frames"]:
        assert (out / frame["file_path"]).is_file() and (out / frame["depth_file_path"]).is_file()
    assert len(pycolmap.Reconstruction(str(out / "colmap" / "sparse" / "0")).images) == 3
    assert cli.main(["dataset", str(scene_dir / "depth_####.exr"), "--frames", "1-3", "--voxel", "-1",
                     "-o", str(out)]) == 2


def test_blenders_export_dataset_operator_writes_a_model_pycolmap_reads(scene, tmp_path):
    import bpy

    import depth_cloud_addon

    bpy.ops.wm.read_factory_settings(use_empty=True)
    context_scene = bpy.context.scene
    context_scene.frame_start, context_scene.frame_end = 1, 3
    depth_cloud_addon.register()
    try:
        result = bpy.ops.depth_cloud.export_dataset(filepath=str(scene[0] / "shot" / "depth_####.exr"),
                                                    directory=str(tmp_path / "from_blender"), colmap_format="TEXT")
        assert result == {"FINISHED"}, context_scene.depth_cloud.last_message
    finally:
        depth_cloud_addon.unregister()
    model = pycolmap.Reconstruction(str(tmp_path / "from_blender" / "colmap" / "sparse" / "0"))
    assert len(model.images) == 3 and len(model.points3D) > 100
    transforms = json.loads((tmp_path / "from_blender" / "transforms.json").read_text())
    assert all((tmp_path / "from_blender" / f["file_path"]).is_file() for f in transforms["frames"])
