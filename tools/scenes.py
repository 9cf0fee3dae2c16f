"""Tiny test scenes built in code, rendered with Cycles on the CPU, and Blender's own ground truth.

Everything here talks to real ``bpy``; nothing is mocked. Scenes start from an empty factory file,
render at 64x48 px (1 sample) and write a multilayer EXR holding Combined, Depth and a world
position AOV named ``Pos`` (the hit point of the same pixel-centre sample that the Depth pass
records). Ground truth comes from Blender independently of our camera model: ``scene.ray_cast``
along rays through pixel centres built from ``Camera.view_frame(scene=...)`` (perspective and
orthographic), or the ``Pos`` AOV (every camera type).
"""

from __future__ import annotations

import math
import os

import bpy
import numpy as np
from mathutils import Vector

W, H = 64, 48
POS_AOV = "Pos"


def empty_scene(width: int = W, height: int = H) -> bpy.types.Scene:
    """Reset to an empty factory file and set up a 1-sample Cycles CPU render without denoising."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return configure_scene(bpy.context.scene, width, height)


def configure_scene(scene, width: int = W, height: int = H) -> bpy.types.Scene:
    """The render settings of :func:`empty_scene`, applied to ``scene`` without resetting the file."""
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    # Sample 0 goes through the pixel centre only up to an offset proportional to the filter width
    # (Cycles' filter table: about +0.0005 px at the default 1.5 px); the narrowest filter makes it ~0.
    scene.cycles.filter_width = 0.01
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.use_persistent_data = False
    view_layer = scene.view_layers[0]
    view_layer.use_pass_z = True
    if POS_AOV not in view_layer.aovs:
        aov = view_layer.aovs.add()
        aov.name, aov.type = POS_AOV, "COLOR"
    return scene


def emission_material(name: str, rgb) -> bpy.types.Material:
    """An emission material of a flat color that also writes the world position into the Pos AOV."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # 4.x; in 5.0 materials always have nodes (use_nodes is deprecated)
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Color"].default_value = (*rgb, 1.0)
    links.new(emission.outputs["Emission"], out.inputs["Surface"])
    geometry = nodes.new("ShaderNodeNewGeometry")
    aov = nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = POS_AOV
    links.new(geometry.outputs["Position"], aov.inputs["Color"])
    return mat


def add_mesh(name: str, verts, faces, rgb, location=(0, 0, 0), rotation=(0, 0, 0)) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in verts], [], [tuple(f) for f in faces])
    mesh.update()
    mesh.materials.append(emission_material(name, rgb))
    obj = bpy.data.objects.new(name, mesh)
    obj.location, obj.rotation_euler = location, rotation
    bpy.context.scene.collection.objects.link(obj)
    return obj


def add_plane(name, size, rgb, location=(0, 0, 0), rotation=(0, 0, 0)):
    s = size / 2
    return add_mesh(name, [(-s, -s, 0), (s, -s, 0), (s, s, 0), (-s, s, 0)], [(0, 1, 2, 3)], rgb, location, rotation)


def add_cube(name, size, rgb, location=(0, 0, 0), rotation=(0, 0, 0)):
    s = size / 2
    verts = [(x, y, z) for x in (-s, s) for y in (-s, s) for z in (-s, s)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return add_mesh(name, verts, faces, rgb, location, rotation)


def add_uv_sphere(name, radius, rgb, location=(0, 0, 0), segments=24, rings=12):
    verts = [(0, 0, radius)]
    for i in range(1, rings):
        theta = math.pi * i / rings
        for j in range(segments):
            phi = 2 * math.pi * j / segments
            verts.append((radius * math.sin(theta) * math.cos(phi), radius * math.sin(theta) * math.sin(phi),
                          radius * math.cos(theta)))
    verts.append((0, 0, -radius))
    faces = [(0, 1 + (j + 1) % segments, 1 + j) for j in range(segments)]
    for i in range(rings - 2):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        faces += [(a + j, a + (j + 1) % segments, b + (j + 1) % segments, b + j) for j in range(segments)]
    last, base = len(verts) - 1, 1 + (rings - 2) * segments
    faces += [(base + j, base + (j + 1) % segments, last) for j in range(segments)]
    return add_mesh(name, verts, faces, rgb, location)


def add_camera(name="Camera", location=(0, 0, 0), rotation=(0, 0, 0), **data_props) -> bpy.types.Object:
    """A camera object made the scene camera; ``data_props`` are set on ``camera.data`` in order."""
    cam_data = bpy.data.cameras.new(name)
    for key, value in data_props.items():
        setattr(cam_data, key, value)
    cam = bpy.data.objects.new(name, cam_data)
    cam.location, cam.rotation_euler = location, rotation
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    bpy.context.view_layer.update()  # so matrix_world is current for placing objects in front of it
    return cam


def standard_objects(camera) -> None:
    """A back wall, a tilted plane, a cube and a sphere in front of ``camera`` (3 to 12 m away)."""
    def forward(d, x=0.0, y=0.0):
        return tuple(camera.matrix_world.normalized() @ Vector((x, y, -d)))

    rot = camera.rotation_euler
    add_plane("Wall", 40.0, (0.2, 0.3, 0.8), forward(12.0), rot)
    add_plane("Tilted", 3.0, (0.9, 0.4, 0.1), forward(6.0, -1.2, 0.3), (rot.x + 0.6, rot.y + 0.3, rot.z))
    add_cube("Cube", 1.2, (0.1, 0.8, 0.2), forward(4.0, 1.0, -0.4), (0.3, 0.5, 0.2))
    add_uv_sphere("Sphere", 0.8, (0.8, 0.8, 0.1), forward(8.0, 0.5, 1.0))


def set_multilayer_output(scene) -> None:
    """Render output: a float32 multilayer EXR, on 4.x and 5.0."""
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0: choose the media type before the format
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    # 5.0 cannot write the multi-part layout when the pixel aspect is not 1; one part always works.
    if hasattr(settings, "use_exr_interleave"):
        settings.use_exr_interleave = scene.render.pixel_aspect_x != scene.render.pixel_aspect_y


def render_multilayer(scene, path: str) -> str:
    """Render the current frame with Cycles into a multilayer EXR at ``path`` (a plain name, no '#')."""
    set_multilayer_output(scene)
    scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    if not os.path.exists(path):
        raise RuntimeError(f"render did not write {path}")
    return path


def pixel_rays_from_view_frame(scene, camera) -> tuple[np.ndarray, np.ndarray]:
    """World-space ray origins and unit directions through every pixel centre, from Blender's view_frame.

    ``view_frame`` returns the frame corners top-right, bottom-right, bottom-left, top-left in the
    camera's local frame; a pixel centre is interpolated bilinearly between them. Perspective rays
    start at the camera centre; orthographic rays start on the frame and run along local -Z.
    """
    w, h = render_size(scene)
    tr, br, bl, tl = (np.array(v, dtype=np.float64) for v in camera.data.view_frame(scene=scene))
    fx = (np.arange(w) + 0.5) / w
    fy = (np.arange(h) + 0.5) / h
    local = tl + fx[None, :, None] * (tr - tl) + fy[:, None, None] * (bl - tl)
    matrix = np.array(camera.matrix_world.normalized(), dtype=np.float64)
    rot, loc = matrix[:3, :3], matrix[:3, 3]
    if camera.data.type == "ORTHO":
        origins = local.copy()
        origins[..., 2] = 0.0
        origins = origins @ rot.T + loc
        directions = np.broadcast_to(-rot[:, 2], origins.shape).copy()
    else:
        directions = local @ rot.T
        origins = np.broadcast_to(loc, directions.shape).copy()
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    return origins, directions


def room_around(camera) -> None:
    """An icosphere room of radius 9 m centred on ``camera`` plus two small plates facing it.

    For panoramic cameras: every surface is nearly perpendicular to the rays that see it, so Cycles'
    tiny sample-0 offset from the pixel centre barely changes the depth (see test_accuracy).
    """
    centre = camera.matrix_world.translation.copy()
    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=5, radius=9.0, location=centre)
    room = bpy.context.active_object
    room.name = "Room"
    room.data.materials.append(emission_material("Room", (0.6, 0.6, 0.6)))
    for i, (direction, rgb) in enumerate((((0.3, 1.0, 0.2), (0.9, 0.2, 0.2)), ((-1.0, 0.4, -0.3), (0.2, 0.9, 0.2)))):
        d = Vector(direction).normalized()
        plate = add_plane(f"Plate{i}", 1.0, rgb, tuple(centre + 5.0 * d))
        plate.rotation_euler = d.to_track_quat("Z", "Y").to_euler()


def ray_cast_grid(scene, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scene.ray_cast`` for each ray: (H, W, 3) world hit points (NaN: no hit) and (H, W) object ids (-1)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    hits = np.full(origins.shape, np.nan)
    ids = np.full(origins.shape[:2], -1, dtype=np.int64)
    names: dict[str, int] = {}
    for idx in np.ndindex(origins.shape[:2]):
        hit, location, _normal, _index, obj, _matrix = scene.ray_cast(
            depsgraph, origins[idx].tolist(), directions[idx].tolist())
        if hit:
            hits[idx] = tuple(location)
            ids[idx] = names.setdefault(obj.name, len(names))
    return hits, ids


def vertex_positions_world(obj) -> np.ndarray:
    """(N, 3) float64 world positions of a mesh object's vertices (its ``position`` attribute, bulk read)."""
    positions = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.attributes["position"].data.foreach_get("vector", positions)
    matrix = np.array(obj.matrix_world, dtype=np.float64)
    return positions.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]


def render_size(scene) -> tuple[int, int]:
    r = scene.render
    return r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100


def set_render_region(scene, min_x: float, max_x: float, min_y: float, max_y: float, crop: bool = True) -> None:
    """Turn on Render Region with the given border (0..1; y from the *bottom*, as Blender measures it) and,
    when ``crop``, Crop to Border (Blender then writes only the region)."""
    render = scene.render
    render.use_border = True
    render.use_crop_to_border = crop
    render.border_min_x, render.border_max_x = min_x, max_x
    render.border_min_y, render.border_max_y = min_y, max_y
