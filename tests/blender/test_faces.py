"""Pixel-exact faces and torn surfaces under real Blender.

The proof of FACES: a cloud built from frame N, rendered with Cycles through the camera of frame N
(same resolution, emission material, a 1 px box pixel filter, several samples per pixel) reproduces
the frame's color pass. Every sample of a pixel lands in that pixel's square, which only its own quad
covers, so only exact tiling scores high: quads 10% too large or small, or round splats, leave gaps or
overlaps that the samples see.
"""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from depth_cloud_addon.blender import builder
from depth_cloud_addon.core import read_exr
from tools import scenes

PSNR_RESULTS: list[tuple[str, float, int]] = []


def box_filter(scene, samples: int = 16) -> None:
    scene.cycles.pixel_filter_type = "BOX"
    scene.cycles.filter_width = 1.0
    scene.cycles.samples = samples
    scene.view_settings.view_transform = "Standard"


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    mse = float(np.mean((reference - test) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def render_cloud_alone(scene, cloud, path) -> np.ndarray:
    for obj in scene.objects:
        obj.hide_render = obj.type == "MESH" and obj != cloud
    scene.render.use_compositing = False  # do not overwrite the frame's outputs
    color = read_exr(scenes.render_multilayer(scene, str(path)), require_depth=False).color
    for obj in scene.objects:
        obj.hide_render = False
    scene.render.use_compositing = True
    return color


def faces_psnr(name, scene, folder, frame: int, **build) -> float:
    """Build FACES from ``frame``'s outputs and compare its Cycles render with the frame's color pass."""
    scene.frame_set(frame)
    bpy.ops.depth_cloud.build(geometry="FACES", **build)
    cloud = bpy.context.active_object
    captured = read_exr(folder / f"color_{frame:04d}.exr", require_depth=False).color
    depth = read_exr(folder / f"depth_{frame:04d}.exr").depth
    valid = depth < 1e9
    assert len(cloud.data.polygons) == valid.sum()
    rendered = render_cloud_alone(scene, cloud, folder / f"faces_{frame}.exr")
    value = psnr(captured[valid][:, :3], rendered[valid][:, :3])
    PSNR_RESULTS.append((name, value, int(valid.sum())))
    return value


def rendered_still(folder, **camera):
    """The standard objects before a camera (``camera``: data settings), rendered through the outputs."""
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), **camera)
    scenes.standard_objects(cam)
    bpy.ops.depth_cloud.setup_outputs(directory=str(folder))
    bpy.context.scene.frame_set(1)
    bpy.ops.render.render(write_still=False)
    return cam


def test_faces_of_a_still_reproduce_the_render(addon, tmp_path):
    scene = addon
    box_filter(scene)
    rendered_still(tmp_path, lens=35.0)
    assert faces_psnr("still", scene, tmp_path, 1) >= 60.0


def test_faces_with_shift_and_non_square_pixels(addon, tmp_path):
    scene = addon
    box_filter(scene)
    scene.render.pixel_aspect_x = 1.4
    rendered_still(tmp_path, lens=30.0, shift_x=0.15, shift_y=-0.1, sensor_fit="VERTICAL")
    assert faces_psnr("shift + pixel aspect 1.4", scene, tmp_path, 1) >= 60.0


def test_faces_of_one_frame_of_a_moving_camera_sequence(addon, tmp_path):
    scene = addon
    box_filter(scene)
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    for frame, x, turn in ((1, 0.3, 0.05), (3, 1.5, 0.3)):
        cam.location.x, cam.rotation_euler.z = x, turn
        cam.keyframe_insert("location", frame=frame)
        cam.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = 1, 3
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.render.filepath = str(tmp_path / "render_")
    bpy.ops.render.render(animation=True)
    scene.frame_set(2)
    bpy.ops.depth_cloud.build(geometry="FACES", sequence=True)
    cloud = bpy.context.active_object
    captured = read_exr(tmp_path / "color_0002.exr", require_depth=False).color
    valid = read_exr(tmp_path / "depth_0002.exr").depth < 1e9
    rendered = render_cloud_alone(scene, cloud, tmp_path / "faces_seq.exr")
    value = psnr(captured[valid][:, :3], rendered[valid][:, :3])
    PSNR_RESULTS.append(("sequence frame 2 (moving camera)", value, int(valid.sum())))
    assert value >= 60.0
    scene.frame_set(3)  # the sequence swaps in frame 3's faces
    assert len(cloud.data.polygons) == (read_exr(tmp_path / "depth_0003.exr").depth < 1e9).sum()


def test_wrongly_sized_quads_score_far_lower(addon, tmp_path):
    """The measurement can fail: quads 10% too large (overlaps) lose tens of dB."""
    scene = addon
    box_filter(scene)
    rendered_still(tmp_path, lens=35.0)
    bpy.ops.depth_cloud.build(geometry="FACES")
    cloud = bpy.context.active_object
    corners = np.empty(len(cloud.data.vertices) * 3, np.float32)
    cloud.data.attributes["position"].data.foreach_get("vector", corners)
    quads = corners.reshape(-1, 4, 3)
    centres = quads.mean(axis=1, keepdims=True)
    cloud.data.attributes["position"].data.foreach_set("vector", (centres + 1.1 * (quads - centres)).ravel())
    cloud.data.update()
    captured = read_exr(tmp_path / "color_0001.exr", require_depth=False).color
    valid = read_exr(tmp_path / "depth_0001.exr").depth < 1e9
    value = psnr(captured[valid][:, :3], render_cloud_alone(scene, cloud, tmp_path / "big.exr")[valid][:, :3])
    assert value < 55.0


def test_faces_face_their_camera_and_carry_the_pixel_colors(addon, tmp_path):
    cam = rendered_still(tmp_path, lens=35.0)
    bpy.ops.depth_cloud.build(geometry="FACES")
    mesh = bpy.context.active_object.data
    normals = np.empty(len(mesh.polygons) * 3, np.float32)
    mesh.polygons.foreach_get("normal", normals)
    forward = -np.array(cam.matrix_world.normalized())[:3, 2]
    np.testing.assert_allclose(normals.reshape(-1, 3) @ forward, -1.0, atol=1e-5)  # planar depth: parallel
    colors = np.empty(len(mesh.polygons) * 4, np.float32)
    assert mesh.attributes[builder.COLOR_ATTRIBUTE].domain == "FACE"
    mesh.attributes[builder.COLOR_ATTRIBUTE].data.foreach_get("color", colors)
    captured = read_exr(tmp_path / "color_0001.exr", require_depth=False).color
    np.testing.assert_array_equal(colors.reshape(-1, 4), captured.reshape(-1, 4))
    assert not [m for m in bpy.context.active_object.modifiers if m.type == "NODES"]  # faces render as they are


def test_surface_tears_at_depth_discontinuities(addon, tmp_path):
    scene = addon
    cam = rendered_still(tmp_path, lens=35.0)
    _, object_ids = scenes.ray_cast_grid(scene, *scenes.pixel_rays_from_view_frame(scene, cam))

    def faces_by_objects(step):
        bpy.ops.depth_cloud.build(geometry="SURFACE", surface_step=step)
        mesh = bpy.context.active_object.data
        corners = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corners)
        pixel_ids = object_ids.ravel()  # every pixel hits something here: vertex i is pixel i
        ids = pixel_ids[corners.reshape(-1, 4)]
        across = int((ids != ids[:, :1]).any(axis=1).sum())
        return len(mesh.polygons), across, mesh

    faces, across, mesh = faces_by_objects(0.05)
    assert across == 0 and faces > 0.8 * 63 * 47
    _, stretched, _ = faces_by_objects(100.0)  # without tearing, silhouettes get faces
    assert stretched > 50
    faces, across, mesh = faces_by_objects(0.05)
    uvs = np.empty(len(mesh.loops) * 2, np.float32)
    mesh.uv_layers[builder.UV_MAP].data.foreach_get("uv", uvs)
    corners = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", corners)
    rows, cols = np.divmod(corners, 64)
    np.testing.assert_allclose(uvs.reshape(-1, 2), np.stack([(cols + 0.5) / 64, 1 - (rows + 0.5) / 48], -1),
                               atol=1e-7)


def test_shaded_material_and_faces_in_per_frame_bakes(addon, tmp_path):
    scene = addon
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    scene.frame_start, scene.frame_end = 1, 2
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.render.filepath = str(tmp_path / "render_")
    bpy.ops.render.render(animation=True)
    bpy.ops.depth_cloud.build(geometry="SURFACE", shading="SHADED")
    material = bpy.context.active_object.data.materials[0]
    assert material.get(builder.ROLE) == "shaded"
    assert any(n.bl_idname == "ShaderNodeBsdfPrincipled" for n in material.node_tree.nodes)
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME", geometry="FACES") == {"FINISHED"}
    baked = [o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]
    valid = (read_exr(tmp_path / "depth_0002.exr").depth < 1e9).sum()
    assert sorted(len(o.data.polygons) for o in baked) == [valid, valid]
    with pytest.raises(RuntimeError, match="a fused cloud is made of points"):
        bpy.ops.depth_cloud.bake_sequence(mode="FUSED", geometry="FACES")


def test_animation_render_of_a_live_sequence_shows_each_frames_cloud(addon, tmp_path):
    """Rendering the timeline (Render Animation, background) swaps in every frame's faces in time."""
    scene = addon
    box_filter(scene, samples=4)
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    for frame, x in ((1, 0.3), (3, 1.8)):
        cam.location.x = x
        cam.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = 1, 3
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.render.filepath = str(tmp_path / "render_")
    bpy.ops.render.render(animation=True)
    scene.frame_set(1)
    bpy.ops.depth_cloud.build(geometry="FACES", sequence=True)
    cloud = bpy.context.active_object
    for obj in scene.objects:
        obj.hide_render = obj.type == "MESH" and obj != cloud
    bpy.ops.depth_cloud.remove_outputs()
    scene.render.filepath = str(tmp_path / "cloud_")
    scenes.set_multilayer_output(scene)
    bpy.ops.render.render(animation=True)
    first, last = (read_exr(tmp_path / f"color_{f:04d}.exr", require_depth=False).color[..., :3] for f in (1, 3))
    assert psnr(first, last) < 40.0  # the frames differ, so a stale cloud could not pass
    for frame in (1, 2, 3):
        captured = read_exr(tmp_path / f"color_{frame:04d}.exr", require_depth=False).color[..., :3]
        rendered = read_exr(tmp_path / f"cloud_{frame:04d}.exr", require_depth=False).color[..., :3]
        value = psnr(captured, rendered)
        PSNR_RESULTS.append((f"animation render, frame {frame}", value, captured.shape[0] * captured.shape[1]))
        assert value >= 60.0, frame
