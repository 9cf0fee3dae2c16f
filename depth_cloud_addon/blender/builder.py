"""Write a point cloud into a Blender object: vertices, a ``Color`` attribute, and render-as-points or discs.

The object is a mesh of loose vertices with point-domain attributes ``Color`` (FLOAT_COLOR, linear
RGBA from the EXR) and ``radius`` (metres: ``CloudArrays.radii``, a round point of it covers its pixel's
footprint). A Geometry Nodes modifier turns it into points of that radius (times the modifier's "Point Size"
input) with a material that emits ``Color``, so the cloud renders as colored points in Cycles and EEVEE and
shows the captured colors unchanged. **Discs**: the vertices also hold ``disc_rotation`` (QUATERNION: +X, +Y, +Z
onto the ellipse's axes and the disc's normal) and ``disc_scale`` (the ellipse's semi-axes, ``CloudArrays``'
``disc_rotations``, ``disc_scales``), and another modifier instances a flat octagonal cone around each disc,
turned by the one and scaled by the other times Point Size; the material reads the attributes on the geometry and
on the instancer alike (a lookup that misses reads 0), so one material serves points, faces, surfaces and discs.

Bulk data goes through ``foreach_set`` on numpy buffers (the ``position`` attribute); there is no
per-point Python loop. Only objects and data blocks this add-on created (tagged with the
``depth_cloud_role`` custom property) are ever reused or replaced.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from ..core.frames.passes import ATTRIBUTES
from ..core.geometry.surfaces import grid_faces, grid_uvs, pixel_quads
from . import compat

ROLE = "depth_cloud_role"
#: Roles of the objects that show a cloud in renders (and so must never be in a captured render).
CLOUD_ROLES = ("cloud", "fused", "baked_frame")
CLOUD_NAME = "DepthCloud"
EMPTY_NAME = "DepthCloud Camera"
NODE_GROUP_NAME = "Depth Cloud Points"
DISCS_GROUP_NAME = "Depth Cloud Discs"
MATERIAL_NAME = "Depth Cloud Color"
SHADED_MATERIAL_NAME = "Depth Cloud Shaded"
GEOMETRY_MODES = ("POINTS", "FACES", "SURFACE", "DISCS")
UV_MAP = "UVMap"
TOPOLOGY = "depth_cloud_topology"  # on a mesh: what its faces are, so a rebuild of the same size keeps them
COLOR_ATTRIBUTE = "Color"  # an attribute named exactly "color" renders black through Cycles' Attribute node
RADIUS_ATTRIBUTE = "radius"
ROTATION_ATTRIBUTE = "disc_rotation"  # discs: QUATERNION (w, x, y, z): +X, +Y, +Z onto the ellipse's axes, normal
SCALE_ATTRIBUTE = "disc_scale"  # discs: FLOAT_VECTOR, the ellipse's semi-axes and the cone's height scale, metres
#: The shape instanced for a disc: a flat cone whose base's sides touch the unit circle (a disc of radius 1 is
#: inside it), its apex DISC_DOME above the centre along the normal (scaled by the ellipse's longer semi-axis).
#: Where neighbouring discs overlap, the one whose centre is nearer is in front (as with spheres), from any
#: viewpoint on the normal's side: coplanar flat discs would fight, each pixel showing a neighbour's colour at
#: random. Measured on tools/orbit.py's set (PSNR at 10 / 25 degrees): flat ellipses about 1.5 dB worse, a dome of
#: 0.1 of the shorter semi-axis 32.0 / 31.4 dB, of the longer 33.8 / 32.5 dB, of twice the circle's radius 29.9 /
#: 30.2 dB (taller domes stand out of the surface).
DISC_SIDES = 8
DISC_DOME = 0.1
MATERIAL_VERSION = 2  # 2: attributes read on the geometry and on the instancer (discs)
POINT_SIZE_INPUT = "Point Size"
LEGEND = "depth_cloud_legend"  # on a cloud object: its object_id legend (JSON: hash as 8 hex digits -> name)
#: positions, colors, radii of a cloud without points
EMPTY_CLOUD = (np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


def _tagged(collection, role: str):
    return next((item for item in collection if item.get(ROLE) == role), None)


def find_cloud(scene, role: str = "cloud"):
    """The add-on's cloud object in ``scene`` ("cloud": Build's; "fused": Bake's fused cloud), or None."""
    return _tagged(scene.objects, role)


#: Color By modes: what a cloud's material shows, chosen per object (custom property COLOR_BY, an index).
COLOR_BY_MODES = ("IMAGE", "OBJECT", "NORMAL", "MOTION")
COLOR_BY = "depth_cloud_color_by"
#: The point attributes each Color By mode reads (any one of them).
COLOR_BY_NEEDS = {"OBJECT": ("object_id", "object_index"), "NORMAL": ("normal",), "MOTION": ("motion",)}
_COLOR_BY_NODE = "Color By"
_MATERIAL_VERSION_KEY = "depth_cloud_material_version"


def _attribute_node(nodes, name: str, kind: str = "GEOMETRY", location=(0, 0)):
    node = nodes.new("ShaderNodeAttribute")
    node.attribute_type, node.attribute_name, node.location = kind, name, location
    return node


def _cloud_attribute(nodes, links, name: str, output: str, location=(0, 0)):
    """The output ``output`` ("Color", "Vector" or "Fac") of the point attribute ``name``, read on the geometry
    (points, faces, surfaces) plus on the instancer (discs: instances carry their point's attributes); the lookup
    that misses reads 0."""
    geometry = _attribute_node(nodes, name, location=location)
    instancer = _attribute_node(nodes, name, "INSTANCER", location=(location[0], location[1] - 60))
    if output == "Fac":
        add = nodes.new("ShaderNodeMath")
        add.operation = "ADD"
    else:
        add = nodes.new("ShaderNodeVectorMath")
        add.operation = "ADD"
    add.location = (location[0] + 150, location[1])
    links.new(geometry.outputs[output], add.inputs[0])
    links.new(instancer.outputs[output], add.inputs[1])
    return add.outputs[0]


def _mix_colors(nodes, links, factor, a, b, location):
    """A Mix node (RGBA) of colour sockets ``a`` -> ``b`` by ``factor``; returns its colour result."""
    mix = nodes.new("ShaderNodeMix")
    mix.data_type, mix.location = "RGBA", location
    sockets = [s for s in mix.inputs if s.type == "RGBA"]
    links.new(factor, mix.inputs[0])
    links.new(a, sockets[0])
    links.new(b, sockets[1])
    return next(s for s in mix.outputs if s.type == "RGBA")


def _display_color(nodes, links):
    """What a cloud can show: its ``Color`` attribute, and (by the object's COLOR_BY index) a colour per
    object id, the normal or the motion as colours. Returns ``(image colour, attribute colour, factor)``:
    the factor is 1 when the object shows an attribute. The two are mixed as shaders, so an unknown (NaN)
    motion never reaches the image colour (Cycles skips a zero-weight branch)."""
    image = _cloud_attribute(nodes, links, COLOR_ATTRIBUTE, "Color", location=(-1100, 300))
    mode = _attribute_node(nodes, COLOR_BY, "OBJECT", location=(-900, 500))
    mode.name = mode.label = _COLOR_BY_NODE
    ids = nodes.new("ShaderNodeMath")
    ids.operation, ids.location = "ADD", (-700, 100)
    links.new(_cloud_attribute(nodes, links, "object_id", "Fac", location=(-1100, 150)), ids.inputs[0])
    links.new(_cloud_attribute(nodes, links, "object_index", "Fac", location=(-1100, 0)), ids.inputs[1])
    noise = nodes.new("ShaderNodeTexWhiteNoise")
    noise.noise_dimensions, noise.location = "1D", (-500, 100)
    links.new(ids.outputs["Value"], noise.inputs["W"])
    shown = {"OBJECT": noise.outputs["Color"]}
    for i, (name, scale) in enumerate((("normal", 0.5), ("motion", 2.0))):
        as_color = nodes.new("ShaderNodeVectorMath")
        as_color.operation, as_color.location = "MULTIPLY_ADD", (-500, -150 - 200 * i)
        links.new(_cloud_attribute(nodes, links, name, "Vector", location=(-1100, -150 - 200 * i)), as_color.inputs[0])
        as_color.inputs[1].default_value = (scale, scale, scale)
        as_color.inputs[2].default_value = (0.5, 0.5, 0.5)
        shown[name.upper()] = as_color.outputs["Vector"]
    color = shown["OBJECT"]
    for index, name in enumerate(COLOR_BY_MODES[2:], start=2):
        pick = nodes.new("ShaderNodeMath")
        pick.operation, pick.location = "COMPARE", (-300, 400 - 150 * index)
        links.new(mode.outputs["Fac"], pick.inputs[0])
        pick.inputs[1].default_value, pick.inputs[2].default_value = float(index), 0.5
        color = _mix_colors(nodes, links, pick.outputs["Value"], color, shown[name], (-100 + 50 * index, 300))
    factor = nodes.new("ShaderNodeMath")
    factor.operation, factor.location = "GREATER_THAN", (-300, 600)
    links.new(mode.outputs["Fac"], factor.inputs[0])
    factor.inputs[1].default_value = 0.5
    return image, color, factor.outputs["Value"]


def cloud_material(shading: str = "EMISSION"):
    """The material that shows the ``Color`` attribute (or what the object's Color By picks):
    "EMISSION" (shadeless: a render shows the captured colors unchanged) or "SHADED" (a Principled BSDF
    lit by the scene). A material of ours from an earlier version (before Color By, before discs) is rebuilt."""
    role = {"EMISSION": "points", "SHADED": "shaded"}[shading]
    mat = _tagged(bpy.data.materials, role)
    if mat is not None and mat.get(_MATERIAL_VERSION_KEY) == MATERIAL_VERSION:
        return mat
    if mat is None:
        mat = bpy.data.materials.new(MATERIAL_NAME if shading == "EMISSION" else SHADED_MATERIAL_NAME)
        mat[ROLE] = role
    if mat.node_tree is None:  # 4.x; 5.0 materials always have nodes
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    image, attribute, factor = _display_color(nodes, links)
    kind, color_input, out = (("ShaderNodeEmission", "Color", "Emission") if shading == "EMISSION"
                              else ("ShaderNodeBsdfPrincipled", "Base Color", "BSDF"))
    mix = nodes.new("ShaderNodeMixShader")
    links.new(factor, mix.inputs["Fac"])
    for i, color in enumerate((image, attribute)):
        shader = nodes.new(kind)
        shader.location = (250, 200 - 300 * i)
        links.new(color, shader.inputs[color_input])
        links.new(shader.outputs[out], mix.inputs[1 + i])
    output = nodes.new("ShaderNodeOutputMaterial")
    links.new(mix.outputs["Shader"], output.inputs["Surface"])
    mix.location, output.location = (550, 0), (800, 0)
    mat[_MATERIAL_VERSION_KEY] = MATERIAL_VERSION
    return mat


def points_material():
    return cloud_material("EMISSION")


def _cloud_group(name: str, role: str):
    """Our Geometry Nodes group tagged ``role``: ``(group, None, None)`` when it exists; else a new one with Geometry
    and "Point Size" (default 1) in and Geometry out, ``(group, its input node, its output node)`` to fill."""
    group = _tagged(bpy.data.node_groups, role)
    if group is not None:
        return group, None, None
    group = bpy.data.node_groups.new(name, "GeometryNodeTree")
    group[ROLE] = role
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    size = group.interface.new_socket(POINT_SIZE_INPUT, in_out="INPUT", socket_type="NodeSocketFloat")
    size.default_value, size.min_value = 1.0, 0.0
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    return group, group.nodes.new("NodeGroupInput"), group.nodes.new("NodeGroupOutput")


def points_node_group():
    """Geometry Nodes: Mesh to Points (radius = ``radius`` attribute x Point Size) -> Set Material."""
    group, group_in, group_out = _cloud_group(NODE_GROUP_NAME, "points")
    if group_in is None:
        return group
    nodes, links = group.nodes, group.links
    radius = nodes.new("GeometryNodeInputNamedAttribute")
    radius.data_type = "FLOAT"
    radius.inputs["Name"].default_value = RADIUS_ATTRIBUTE
    scale = nodes.new("ShaderNodeMath")
    scale.operation = "MULTIPLY"
    to_points = nodes.new("GeometryNodeMeshToPoints")
    set_material = nodes.new("GeometryNodeSetMaterial")
    set_material.inputs["Material"].default_value = points_material()
    for i, node in enumerate((group_in, radius, scale, to_points, set_material, group_out)):
        node.location = (200 * i, 0)
    links.new(radius.outputs["Attribute"], scale.inputs[0])
    links.new(group_in.outputs[POINT_SIZE_INPUT], scale.inputs[1])
    links.new(group_in.outputs["Geometry"], to_points.inputs["Mesh"])
    links.new(scale.outputs["Value"], to_points.inputs["Radius"])
    links.new(to_points.outputs["Points"], set_material.inputs["Geometry"])
    links.new(set_material.outputs["Geometry"], group_out.inputs["Geometry"])
    return group


def discs_node_group():
    """Geometry Nodes: Instance on Points of a flat cone around the unit disc (its material set), each turned by
    ``disc_rotation`` and scaled by ``disc_scale`` x Point Size. The instances keep their point's attributes, which
    the material reads on the instancer."""
    group, group_in, group_out = _cloud_group(DISCS_GROUP_NAME, "discs")
    if group_in is None:
        return group
    nodes, links = group.nodes, group.links
    cone = nodes.new("GeometryNodeMeshCone")
    cone.fill_type = "NONE"
    cone.inputs["Vertices"].default_value = DISC_SIDES
    cone.inputs["Radius Top"].default_value = 0.0
    cone.inputs["Radius Bottom"].default_value = 1.0 / np.cos(np.pi / DISC_SIDES)  # its sides touch the unit circle
    cone.inputs["Depth"].default_value = DISC_DOME
    polygon = nodes.new("GeometryNodeTransform")  # the base on the disc's plane (the cone is centred on 0)
    polygon.inputs["Translation"].default_value = (0.0, 0.0, 0.5 * DISC_DOME)
    links.new(cone.outputs["Mesh"], polygon.inputs["Geometry"])
    set_material = nodes.new("GeometryNodeSetMaterial")
    set_material.inputs["Material"].default_value = points_material()
    rotation = nodes.new("GeometryNodeInputNamedAttribute")
    rotation.data_type = "QUATERNION"
    rotation.inputs["Name"].default_value = ROTATION_ATTRIBUTE
    axes = nodes.new("GeometryNodeInputNamedAttribute")
    axes.data_type = "FLOAT_VECTOR"
    axes.inputs["Name"].default_value = SCALE_ATTRIBUTE
    scale = nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    instance = nodes.new("GeometryNodeInstanceOnPoints")
    for i, node in enumerate((group_in, cone, polygon, set_material, rotation, axes, scale, instance, group_out)):
        node.location = (200 * i, 0)
    links.new(polygon.outputs["Geometry"], set_material.inputs["Geometry"])
    links.new(axes.outputs["Attribute"], scale.inputs[0])
    links.new(group_in.outputs[POINT_SIZE_INPUT], scale.inputs["Scale"])
    links.new(group_in.outputs["Geometry"], instance.inputs["Points"])
    links.new(set_material.outputs["Geometry"], instance.inputs["Instance"])
    links.new(rotation.outputs["Attribute"], instance.inputs["Rotation"])
    links.new(scale.outputs["Vector"], instance.inputs["Scale"])
    links.new(instance.outputs["Instances"], group_out.inputs["Geometry"])
    return group


#: Each geometry mode's Geometry Nodes group (the others are plain meshes).
_MODIFIER_GROUPS = {"POINTS": points_node_group, "DISCS": discs_node_group}


def add_points_modifier(obj, point_size: float = 1.0, geometry: str = "POINTS"):
    """The modifier that renders ``obj``'s vertices as points (or discs), added if missing, with its Point Size."""
    group = _MODIFIER_GROUPS[geometry]()
    modifier = next((m for m in obj.modifiers if m.type == "NODES" and m.node_group == group), None)
    if modifier is None:
        modifier = obj.modifiers.new(group.name, "NODES")
        modifier.node_group = group
    compat.set_modifier_input(modifier, group.interface.items_tree[POINT_SIZE_INPUT].identifier, float(point_size))
    return modifier


def _same_points_layout(mesh, n: int) -> bool:
    """Whether ``mesh`` is already ``n`` loose vertices with our ``Color`` and ``radius`` point attributes and
    nothing else but cloud attributes (so writing the new values over them equals rebuilding it)."""
    if len(mesh.vertices) != n or len(mesh.edges) or len(mesh.polygons) or TOPOLOGY in mesh:
        return False
    color, radius = mesh.attributes.get(COLOR_ATTRIBUTE), mesh.attributes.get(RADIUS_ATTRIBUTE)
    if (color is None or radius is None or (color.data_type, color.domain) != ("FLOAT_COLOR", "POINT")
            or (radius.data_type, radius.domain) != ("FLOAT", "POINT")):
        return False
    known = {"position", COLOR_ATTRIBUTE, RADIUS_ATTRIBUTE, ROTATION_ATTRIBUTE, SCALE_ATTRIBUTE, *ATTRIBUTES}
    return all(a.name in known or a.name.startswith(".") for a in mesh.attributes) and not len(mesh.uv_layers)


def write_mesh(mesh, positions: np.ndarray, colors: np.ndarray, radii: np.ndarray) -> None:
    """Replace ``mesh``'s geometry by loose vertices with ``Color`` and ``radius`` point attributes.

    A mesh that already holds as many points (a sequence's next frame, a rebuild) gets the new values
    written over its attributes instead: no reallocation of the geometry."""
    arrays = {"points": positions, "colors": colors, "radii": radii}
    write_mesh_from(mesh, len(positions), arrays.__getitem__)


def _flat(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, np.float32).ravel()


def write_mesh_from(mesh, n: int, take, discs: bool = False) -> None:
    """:func:`write_mesh` of ``n`` points whose arrays come one at a time from ``take(name)`` ("points",
    "colors", "radii", and with ``discs`` "disc_rotations", "disc_scales"; e.g.
    :meth:`..core.frames.cloud.CloudArrays.take`): each is written, then dropped here, so an array the caller let go
    of is freed before the next attribute is allocated. Without ``discs``, the disc attributes of a former build go."""
    if _same_points_layout(mesh, n):
        mesh.attributes["position"].data.foreach_set("vector", _flat(take("points")))
        mesh.attributes[COLOR_ATTRIBUTE].data.foreach_set("color", _flat(take("colors")))
        mesh.attributes[RADIUS_ATTRIBUTE].data.foreach_set("value", _flat(take("radii")))
        if mesh.color_attributes.active_color_name != COLOR_ATTRIBUTE:
            mesh.color_attributes.active_color = mesh.color_attributes[COLOR_ATTRIBUTE]
    else:
        mesh.clear_geometry()
        mesh.pop(TOPOLOGY, None)
        mesh.vertices.add(n)
        mesh.attributes["position"].data.foreach_set("vector", _flat(take("points")))
        color = mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
        color.data.foreach_set("color", _flat(take("colors")))
        radius = mesh.attributes.new(RADIUS_ATTRIBUTE, "FLOAT", "POINT")
        radius.data.foreach_set("value", _flat(take("radii")))
        mesh.color_attributes.active_color = color
    for name, kind, key, array in ((ROTATION_ATTRIBUTE, "QUATERNION", "value", "disc_rotations"),
                                   (SCALE_ATTRIBUTE, "FLOAT_VECTOR", "vector", "disc_scales")):
        if discs:
            _write_attribute(mesh, name, kind, key, _flat(take(array)))
        elif name in mesh.attributes:
            mesh.attributes.remove(mesh.attributes[name])
    mesh.update()


def _write_attribute(mesh, name: str, kind: str, key: str, data: np.ndarray, domain: str = "POINT") -> None:
    """``data`` into ``mesh``'s attribute ``name`` of type ``kind`` on ``domain`` (its ``foreach_set`` key ``key``),
    made anew when missing or of another type or domain."""
    existing = mesh.attributes.get(name)
    if existing is not None and (existing.data_type != kind or existing.domain != domain):
        mesh.attributes.remove(existing)
        existing = None
    attribute = existing or mesh.attributes.new(name, kind, domain)
    attribute.data.foreach_set(key, data)


def write_point_attributes(mesh, attributes: dict, domain: str = "POINT") -> None:
    """The cloud's point attributes (``core.frames.passes``) as mesh attributes of their names on ``domain``:
    integers as INT, booleans as BOOLEAN, (N, 3) arrays as FLOAT_VECTOR. Attributes of those names that
    ``attributes`` no longer holds are removed (a rebuild that keeps the quads keeps its attributes)."""
    for name in [a for a in ATTRIBUTES if a not in attributes and a in mesh.attributes]:
        mesh.attributes.remove(mesh.attributes[name])
    for name, values in attributes.items():
        values = np.asarray(values)
        if values.ndim == 2:
            kind, key, data = "FLOAT_VECTOR", "vector", np.ascontiguousarray(values, np.float32).ravel()
        elif values.dtype == np.bool_:
            kind, key, data = "BOOLEAN", "value", np.ascontiguousarray(values)
        elif values.dtype.kind in "iu":
            kind, key, data = "INT", "value", np.ascontiguousarray(values, np.int32)
        else:
            kind, key, data = "FLOAT", "value", np.ascontiguousarray(values, np.float32)
        _write_attribute(mesh, name, kind, key, data, domain)


def set_legend(obj, legend: dict | None) -> None:
    """The cloud's object_id legend as the object's custom property (removed when it has none)."""
    if legend is None:
        obj.pop(LEGEND, None)
    else:
        obj[LEGEND] = json.dumps(legend)


def _set_int_attribute(mesh, name: str, values: np.ndarray) -> None:
    mesh.attributes[name].data.foreach_set("value", np.ascontiguousarray(values, np.int32).ravel())


def _new_quads(mesh, corner_vertices: np.ndarray) -> None:
    """Add quads whose corners are ``corner_vertices`` (F, 4); fast bulk topology through the mesh's
    internal attributes (``.corner_vert``; ``loops.foreach_set`` is 40x slower at this size)."""
    n_faces = len(corner_vertices)
    mesh.loops.add(4 * n_faces)
    mesh.polygons.add(n_faces)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 4 * n_faces, 4, dtype=np.int32))
    _set_int_attribute(mesh, ".corner_vert", corner_vertices)


def write_faces_mesh(mesh, corners: np.ndarray, colors: np.ndarray) -> None:
    """One quad per pixel: ``corners`` (N, 4, 3) counter-clockwise seen from the camera, ``Color`` per face.

    Quads share no vertices (each lies at its own pixel's depth), so the edges are known: corner
    ``i`` of the mesh runs from vertex ``i`` to the next corner of its quad; they are written directly
    instead of letting Blender search for them.
    """
    n = len(corners)
    positions = np.ascontiguousarray(corners, np.float32).ravel()
    if mesh.get(TOPOLOGY) == f"faces:{n}" and len(mesh.polygons) == n:  # same quads: move them, recolor them
        mesh.attributes["position"].data.foreach_set("vector", positions)
        mesh.attributes[COLOR_ATTRIBUTE].data.foreach_set("color", np.ascontiguousarray(colors, np.float32).ravel())
        mesh.update()
        return
    mesh.clear_geometry()
    mesh.vertices.add(4 * n)
    mesh.attributes["position"].data.foreach_set("vector", positions)
    corner = np.arange(4 * n, dtype=np.int32)
    mesh.edges.add(4 * n)
    _set_int_attribute(mesh, ".edge_verts", np.stack([corner, corner.reshape(-1, 4)[:, [1, 2, 3, 0]].ravel()], -1))
    _new_quads(mesh, corner.reshape(-1, 4))
    _set_int_attribute(mesh, ".corner_edge", corner)
    # A face-domain attribute (not a "color attribute", which Blender keeps to points and corners);
    # the material's Attribute node reads it all the same.
    color = mesh.attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "FACE")
    color.data.foreach_set("color", np.ascontiguousarray(colors, np.float32).ravel())
    mesh[TOPOLOGY] = f"faces:{n}"
    mesh.update()


def write_surface_mesh(mesh, positions: np.ndarray, faces: np.ndarray, colors: np.ndarray, uvs: np.ndarray) -> None:
    """A grid surface: a vertex per pixel, ``faces`` (F, 4) vertex indices, ``Color`` per vertex, UVs per corner."""
    mesh.clear_geometry()
    mesh.pop(TOPOLOGY, None)
    mesh.vertices.add(len(positions))
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(positions, np.float32).ravel())
    _new_quads(mesh, faces)
    color = mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
    color.data.foreach_set("color", np.ascontiguousarray(colors, np.float32).ravel())
    mesh.color_attributes.active_color = color
    uv = mesh.uv_layers.new(name=UV_MAP)
    uv.data.foreach_set("uv", np.ascontiguousarray(uvs[faces.ravel()], np.float32).ravel())
    mesh.update(calc_edges=True)


def write_cloud_mesh(mesh, cloud, geometry: str = "POINTS", surface_step: float = 0.05,
                     release: bool = False) -> None:
    """Fill ``mesh`` from a :class:`..core.frames.cloud.CloudArrays` as points, per-pixel quads or a torn grid surface,
    with the cloud's attributes (per point; per face for quads).

    ``release``: points are written from the cloud's own arrays, each taken from it (and so freed) as soon
    as it is written; the cloud is left without its arrays (a Build's cloud, never a cached one)."""
    if geometry in ("POINTS", "DISCS"):
        discs = geometry == "DISCS"
        if discs and cloud.disc_rotations is None:
            raise ValueError("discs need a cloud read with BuildOptions(discs=True)")
        if release:
            for name in ("rows", "cols", "depths") + (("normals",) if discs else ()):  # not drawn: freed first
                cloud.take(name)
            write_mesh_from(mesh, len(cloud.points), cloud.take, discs)
        else:
            arrays = {"points": cloud.points, "colors": cloud.colors, "radii": cloud.radii,
                      "disc_rotations": cloud.disc_rotations, "disc_scales": cloud.disc_scales}
            write_mesh_from(mesh, len(cloud.points), arrays.__getitem__, discs)
    elif geometry == "FACES":
        corners = pixel_quads(cloud.depths, cloud.rows, cloud.cols, cloud.camera, depth_kind=cloud.depth_kind,
                              space=cloud.space, size=cloud.stride)
        write_faces_mesh(mesh, corners, cloud.colors)
        write_point_attributes(mesh, cloud.attributes, "FACE")
        return
    elif geometry == "SURFACE":
        shape = (-(-cloud.camera.height_px // cloud.stride), -(-cloud.camera.width_px // cloud.stride))
        rows, cols = cloud.rows // cloud.stride, cloud.cols // cloud.stride
        faces = grid_faces(rows, cols, cloud.depths, shape, max_relative_step=surface_step)
        write_surface_mesh(mesh, cloud.points, faces, cloud.colors, grid_uvs(cloud.rows, cloud.cols,
                                                                                cloud.camera.shape))
    else:
        raise ValueError(f"geometry must be one of {GEOMETRY_MODES}, got {geometry!r}")
    write_point_attributes(mesh, cloud.attributes)


def style_object(obj, geometry: str = "POINTS", shading: str = "EMISSION", point_size: float = 1.0) -> None:
    """Material, and the Geometry Nodes modifier of POINTS or DISCS (faces and surfaces render as they are; the other
    mode's modifier goes)."""
    obj.data.materials.clear()
    obj.data.materials.append(cloud_material(shading))
    if geometry in _MODIFIER_GROUPS:
        add_points_modifier(obj, point_size, geometry)
    ours = {_tagged(bpy.data.node_groups, role) for role in ("points", "discs")} - {None}
    keep = _tagged(bpy.data.node_groups, geometry.lower()) if geometry in _MODIFIER_GROUPS else None
    for modifier in [m for m in obj.modifiers if m.type == "NODES" and m.node_group in ours - {keep}]:
        obj.modifiers.remove(modifier)


def clear_mesh(mesh) -> None:
    """Empty ``mesh`` (a sequence frame that cannot be shown)."""
    mesh.clear_geometry()
    mesh.pop(TOPOLOGY, None)
    mesh.update()


def _camera_empty(scene, collection, cam2world):
    empty = _tagged(scene.objects, "camera_empty")
    if empty is None:
        empty = bpy.data.objects.new(EMPTY_NAME, None)
        empty[ROLE] = "camera_empty"
        empty.empty_display_type = "ARROWS"
        collection.objects.link(empty)
    empty.matrix_world = _matrix(cam2world)
    return empty


def _matrix(array):
    from mathutils import Matrix

    return Matrix(np.asarray(array, dtype=np.float64).tolist())


def build_cloud_object(context, positions, colors, radii, *, cam2world=None, point_size: float = 1.0,
                       source: str = "", frame: int | None = None, role: str = "cloud", name: str = CLOUD_NAME,
                       shading: str = "EMISSION"):
    """Create or update the add-on's point cloud object of ``role`` in ``context.scene``; see :func:`place_cloud`.

    ``positions`` (N, 3): world space when ``cam2world`` is None, else the Blender camera frame.
    ``colors`` (N, 4) linear RGBA; ``radii`` (N,) metres.
    """
    return place_cloud(context, lambda mesh: write_mesh(mesh, positions, colors, radii), cam2world=cam2world,
                       geometry="POINTS", shading=shading, point_size=point_size, source=source, frame=frame,
                       role=role, name=name)


def build_cloud(context, cloud, *, geometry: str = "POINTS", shading: str = "EMISSION", point_size: float = 1.0,
                surface_step: float = 0.05, source: str = "", frame: int | None = None, role: str = "cloud",
                name: str = CLOUD_NAME, release: bool = False):
    """Create or update the cloud object from a :class:`..core.frames.cloud.CloudArrays` in any geometry mode
    (``release``: see :func:`write_cloud_mesh`)."""
    cam2world = cloud.camera.cam2world if cloud.space == "camera" else None
    obj = place_cloud(context, lambda mesh: write_cloud_mesh(mesh, cloud, geometry, surface_step, release),
                      cam2world=cam2world, geometry=geometry, shading=shading, point_size=point_size,
                      source=source, frame=frame, role=role, name=name)
    set_legend(obj, cloud.legend)
    return obj


def place_cloud(context, write, *, cam2world=None, geometry="POINTS", shading="EMISSION", point_size=1.0,
                source="", frame=None, role="cloud", name=CLOUD_NAME):
    """The add-on's object of ``role`` in ``context.scene`` (created if needed), filled by ``write(mesh)``.

    With ``cam2world`` the mesh is in the camera frame and the object is parented to a camera-aligned
    empty placed at ``cam2world`` (4x4); else it is in world space. Returns the object, active and selected.
    """
    scene = context.scene
    collection = context.collection or scene.collection
    obj = find_cloud(scene, role)
    if obj is None:
        mesh = bpy.data.meshes.new(name)
        obj = bpy.data.objects.new(name, mesh)
        obj[ROLE] = role
        collection.objects.link(obj)
    write(obj.data)
    style_object(obj, geometry, shading, point_size)
    if cam2world is None:
        obj.parent = None
        obj.matrix_world = _matrix(np.eye(4))
        empty = _tagged(scene.objects, "camera_empty")
        if empty is not None and not empty.children:  # left over from a build in camera space
            bpy.data.objects.remove(empty)
    else:
        empty = _camera_empty(scene, collection, cam2world)
        obj.parent = empty
        obj.matrix_parent_inverse = _matrix(np.eye(4))
        obj.matrix_basis = _matrix(np.eye(4))
    obj["depth_cloud_source"] = source
    if frame is not None:
        obj["depth_cloud_frame"] = int(frame)
    for other in context.selected_objects:
        other.select_set(False)
    obj.hide_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj
