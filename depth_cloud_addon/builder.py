"""Write a point cloud into a Blender object: vertices, a ``Color`` attribute, and render-as-points.

The object is a mesh of loose vertices with point-domain attributes ``Color`` (FLOAT_COLOR, linear
RGBA from the EXR) and ``radius`` (metres: half the pixel's footprint at its depth). A Geometry Nodes
modifier turns it into points of that radius (times the modifier's "Point Size" input) with a
material that emits ``Color``, so the cloud renders as colored points in Cycles and EEVEE and shows
the captured colors unchanged.

Bulk data goes through ``foreach_set`` on numpy buffers (the ``position`` attribute); there is no
per-point Python loop. Only objects and data blocks this add-on created (tagged with the
``depth_cloud_role`` custom property) are ever reused or replaced.
"""

from __future__ import annotations

import bpy
import numpy as np

ROLE = "depth_cloud_role"
CLOUD_NAME = "DepthCloud"
EMPTY_NAME = "DepthCloud Camera"
NODE_GROUP_NAME = "Depth Cloud Points"
MATERIAL_NAME = "Depth Cloud Color"
COLOR_ATTRIBUTE = "Color"  # an attribute named exactly "color" renders black through Cycles' Attribute node
RADIUS_ATTRIBUTE = "radius"
POINT_SIZE_INPUT = "Point Size"
#: positions, colors, radii of a cloud without points
EMPTY_CLOUD = (np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


def _tagged(collection, role: str):
    return next((item for item in collection if item.get(ROLE) == role), None)


def find_cloud(scene, role: str = "cloud"):
    """The add-on's cloud object in ``scene`` ("cloud": Build's; "fused": Bake's fused cloud), or None."""
    return _tagged(scene.objects, role)


def points_material():
    mat = _tagged(bpy.data.materials, "points")
    if mat is not None:
        return mat
    mat = bpy.data.materials.new(MATERIAL_NAME)
    mat[ROLE] = "points"
    if mat.node_tree is None:  # 4.x; 5.0 materials always have nodes
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    attribute = nodes.new("ShaderNodeAttribute")
    attribute.attribute_type, attribute.attribute_name = "GEOMETRY", COLOR_ATTRIBUTE
    emission = nodes.new("ShaderNodeEmission")
    output = nodes.new("ShaderNodeOutputMaterial")
    emission.location, output.location = (250, 0), (450, 0)
    links.new(attribute.outputs["Color"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return mat


def points_node_group():
    """Geometry Nodes: Mesh to Points (radius = ``radius`` attribute x Point Size) -> Set Material."""
    group = _tagged(bpy.data.node_groups, "points")
    if group is not None:
        return group
    group = bpy.data.node_groups.new(NODE_GROUP_NAME, "GeometryNodeTree")
    group[ROLE] = "points"
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    size = group.interface.new_socket(POINT_SIZE_INPUT, in_out="INPUT", socket_type="NodeSocketFloat")
    size.default_value, size.min_value = 1.0, 0.0
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = group.nodes, group.links
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
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


def add_points_modifier(obj, point_size: float = 1.0):
    group = points_node_group()
    modifier = next((m for m in obj.modifiers if m.type == "NODES" and m.node_group == group), None)
    if modifier is None:
        modifier = obj.modifiers.new(NODE_GROUP_NAME, "NODES")
        modifier.node_group = group
    modifier[group.interface.items_tree[POINT_SIZE_INPUT].identifier] = float(point_size)
    return modifier


def write_mesh(mesh, positions: np.ndarray, colors: np.ndarray, radii: np.ndarray) -> None:
    """Replace ``mesh``'s geometry by loose vertices with ``Color`` and ``radius`` point attributes."""
    mesh.clear_geometry()
    n = len(positions)
    mesh.vertices.add(n)
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(positions, np.float32).ravel())
    color = mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
    color.data.foreach_set("color", np.ascontiguousarray(colors, np.float32).ravel())
    radius = mesh.attributes.new(RADIUS_ATTRIBUTE, "FLOAT", "POINT")
    radius.data.foreach_set("value", np.ascontiguousarray(radii, np.float32).ravel())
    mesh.color_attributes.active_color = color
    mesh.update()


def clear_mesh(mesh) -> None:
    """Empty ``mesh`` (a sequence frame that cannot be shown)."""
    mesh.clear_geometry()
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
                       source: str = "", frame: int | None = None, role: str = "cloud", name: str = CLOUD_NAME):
    """Create or update the add-on's cloud object of ``role`` in ``context.scene``; return it, active and selected.

    ``positions`` (N, 3): world space when ``cam2world`` is None, else the Blender camera frame, the
    object then being parented to a camera-aligned empty placed at ``cam2world`` (4x4). ``colors``
    (N, 4) linear RGBA; ``radii`` (N,) metres.
    """
    scene = context.scene
    collection = context.collection or scene.collection
    obj = find_cloud(scene, role)
    if obj is None:
        mesh = bpy.data.meshes.new(name)
        obj = bpy.data.objects.new(name, mesh)
        obj[ROLE] = role
        collection.objects.link(obj)
    write_mesh(obj.data, positions, colors, radii)
    obj.data.materials.clear()
    obj.data.materials.append(points_material())
    add_points_modifier(obj, point_size)
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
