"""Self-contained helpers for the EXR tests: a tiny scene with known depth, and every EXR writer.

Scene (``known_depth_scene``), 64x48 px, Cycles CPU, 1 sample, no denoising, film_transparent:
camera at the origin looking down -Z (lens 50 mm, sensor 36 mm: 7.2 m x 5.4 m wide at 10 m);

* a plane at exactly 10 m whose right edge is x = 1.8 m, so pixel columns 0..47 see it and
  columns 48..63 see background (depth 1e10);
* a quad at 5 m covering x < 0, y > 0.3 m: rows 0..18 of columns 0..31 (top half only);

both emissive with known colors, so Combined = emission color, alpha 1 on them and 0 elsewhere.
Handles the compositor API split: 4.x ``scene.node_tree`` / ``base_path`` / ``file_slots`` /
``layer_slots``, 5.0 ``scene.compositing_node_group`` (5.3: an effect of ``scene.compositor_effects``) /
``directory`` / ``file_name`` / ``file_output_items``.
"""

from __future__ import annotations

import glob
import os

import bpy

from tools import scenes

W, H = 64, 48
FAR_COLOR = (0.2, 0.4, 0.6)
NEAR_COLOR = (0.9, 0.3, 0.1)
V5 = bpy.app.version >= (5, 0, 0)
V45 = bpy.app.version >= (4, 5, 0)


def add_quad(scene, name: str, x0: float, x1: float, y0: float, y1: float, z: float, rgb):
    """An emissive rectangle in the plane z = ``z``, facing +Z (the camera)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], [], [(0, 1, 2, 3)])
    mesh.materials.append(scenes.emission_material(name, rgb))
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    return obj


def known_depth_scene() -> bpy.types.Scene:
    """Empty factory file + the scene described in the module docstring."""
    scene = scenes.empty_scene(W, H)
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    cam.data.lens, cam.data.sensor_width, cam.data.sensor_fit = 50.0, 36.0, "AUTO"
    scene.collection.objects.link(cam)
    scene.camera = cam
    add_quad(scene, "Far", -50.0, 1.8, -50.0, 50.0, -10.0, FAR_COLOR)
    add_quad(scene, "Near", -50.0, 0.0, 0.3, 50.0, -5.0, NEAR_COLOR)
    return scene


def set_exr(fmt, *, multilayer: bool, color_mode: str | None = None) -> None:
    """Set an ImageFormatSettings to 32-bit (multilayer) OpenEXR, on 4.x and 5.0."""
    if V5:
        fmt.media_type = "MULTI_LAYER_IMAGE" if multilayer else "IMAGE"
    fmt.file_format = "OPEN_EXR_MULTILAYER" if multilayer else "OPEN_EXR"
    fmt.color_depth = "32"
    if color_mode:
        fmt.color_mode = color_mode


def compositor(scene):
    """A fresh compositor tree passing the render through; returns (tree, Render Layers node)."""
    if V5:
        tree = bpy.data.node_groups.new("Compositor", "CompositorNodeTree")
        if hasattr(scene, "compositor_effects"):  # 5.3: a stack of effects; compositing_node_group is deprecated
            scene.compositor_effects.clear()
            scene.compositor_effects.new("Compositor").node_group = tree
        else:
            scene.compositing_node_group = tree
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        out = tree.nodes.new("NodeGroupOutput")
    else:
        scene.use_nodes = True
        tree = scene.node_tree
        for node in list(tree.nodes):
            tree.nodes.remove(node)
        out = tree.nodes.new("CompositorNodeComposite")
    layers = tree.nodes.new("CompositorNodeRLayers")
    tree.links.new(layers.outputs["Image"], out.inputs[0])
    return tree, layers


def file_output(tree, layers, directory: str, name: str, sockets, *, multilayer=False, color_mode=None):
    """Add a File Output node writing ``sockets`` ((item name, Render Layers output, socket type)).

    Single layer: one file per item, named ``<name>0001.exr`` (4.x) or ``<name><item>.exr`` (5.0).
    Multilayer: one file ``<name>0001.exr`` (4.x) / ``<name>.exr`` (5.0), a layer per item.
    """
    node = tree.nodes.new("CompositorNodeOutputFile")
    set_exr(node.format, multilayer=multilayer, color_mode=color_mode)
    if V5:
        node.directory, node.file_name = directory, name
        for item, output, socket_type in sockets:
            node.file_output_items.new(socket_type, item)
            tree.links.new(layers.outputs[output], node.inputs[item])
    elif multilayer:
        node.base_path = os.path.join(directory, name)
        node.layer_slots.clear()
        for item, output, _ in sockets:
            node.layer_slots.new(item)
            tree.links.new(layers.outputs[output], node.inputs[item])
    else:
        node.base_path = directory
        node.file_slots.clear()
        for _item, output, _ in sockets:
            node.file_slots.new(name)
            tree.links.new(layers.outputs[output], node.inputs[-1])
    return node


def render_still(scene, filepath: str) -> None:
    scene.render.filepath = filepath
    bpy.ops.render.render(write_still=True)


def one_file(directory: str, prefix: str) -> str:
    """The single ``<prefix>*.exr`` in ``directory`` (names differ between 4.x and 5.0)."""
    found = glob.glob(os.path.join(glob.escape(directory), glob.escape(prefix) + "*.exr"))
    assert len(found) == 1, (prefix, sorted(os.listdir(directory)))
    return found[0]


def write_all_layouts(directory: str) -> dict[str, str]:
    """Render ``known_depth_scene`` once and write every EXR layout; returns kind -> path.

    Kinds: ``render_ml`` (render output multilayer, compositing on, so it also holds
    ``Composite.Combined``), ``fo_depth`` (File Output single-layer depth, default color mode),
    ``fo_depth_bw`` (4.5+ only, BW), ``fo_color`` (RGBA), ``fo_ml`` (multilayer Image + Depth),
    and on 5.0 ``render_ml_interleave`` (a second render, compositing off).
    """
    scene = known_depth_scene()
    set_exr(scene.render.image_settings, multilayer=True)
    tree, layers = compositor(scene)
    fo = os.path.join(directory, "fo")
    file_output(tree, layers, fo, "depth_", [("Depth", "Depth", "FLOAT")])
    if V45:
        file_output(tree, layers, fo, "depthbw_", [("Depth", "Depth", "FLOAT")], color_mode="BW")
    file_output(tree, layers, fo, "color_", [("Image", "Image", "RGBA")], color_mode="RGBA")
    file_output(tree, layers, fo, "ml_", [("Image", "Image", "RGBA"), ("Depth", "Depth", "FLOAT")],
                multilayer=True)
    paths = {"render_ml": os.path.join(directory, "render_ml.exr")}
    render_still(scene, paths["render_ml"])
    for kind, prefix in (("fo_depth", "depth_"), ("fo_depth_bw", "depthbw_"), ("fo_color", "color_"),
                         ("fo_ml", "ml_")):
        if kind != "fo_depth_bw" or V45:
            paths[kind] = one_file(fo, prefix)
    if V5:
        scene.render.use_compositing = False
        scene.render.image_settings.use_exr_interleave = True
        paths["render_ml_interleave"] = os.path.join(directory, "render_ml_interleave.exr")
        render_still(scene, paths["render_ml_interleave"])
    return paths
