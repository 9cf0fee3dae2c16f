"""Differences between Blender 4.2 LTS, 4.5 LTS, 5.0, 5.2 LTS and 5.3, in one place, detected by feature.

* Compositor tree: 4.x ``scene.use_nodes`` + ``scene.node_tree``; 5.0-5.2 ``scene.compositing_node_group``
  (a ``CompositorNodeTree`` node group, None at first, shareable between scenes) whose result goes
  to a Group Output node instead of a Composite node; 5.3 a stack of effects
  (``scene.compositor_effects``), each with a node group that takes the image before it on a Group Input
  and may be off for renders (``enable_for_render``); ``compositing_node_group`` is deprecated there.
* File Output node: 4.x ``base_path`` + ``file_slots``; 5.0 ``directory`` + ``file_name`` +
  ``file_output_items``. 4.x always fills a ``#`` run with the frame number; 5.0 does too when
  the item name holds it.
* Actions: 4.x ``action.fcurves``; 5.0 layered actions (layers -> strips -> channel bags).
* Geometry Nodes modifier inputs: up to 5.1 an ID property of the modifier (``modifier[identifier]``);
  5.2+ ``modifier.properties.inputs.<identifier>.value`` (the modifier no longer holds ID properties).
* EXR formats: 5.0 has ``media_type`` that must be chosen before ``file_format``; the BW color mode
  for a single-channel EXR exists in 4.5/5.0 File Output nodes, not in 4.2 (whose float sockets are
  written as one ``V`` channel anyway).
"""

from __future__ import annotations

import bpy


def _effects(scene):
    """5.3+: the scene's compositor is a stack of effects, each running a node group; None before 5.3."""
    return getattr(scene, "compositor_effects", None)


def _passthrough_tree(name: str, *, from_input: bool):
    """A new compositor node group that leaves the image as it is: 5.3's effects get the image before them on a
    Group Input (``from_input``); 5.0-5.2's scene tree takes it from a Render Layers node."""
    tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
    if from_input:
        tree.interface.new_socket("Image", in_out="INPUT", socket_type="NodeSocketColor")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    source = tree.nodes.new("NodeGroupInput" if from_input else "CompositorNodeRLayers")
    output = tree.nodes.new("NodeGroupOutput")
    output.location = (300, 0)
    tree.links.new(source.outputs["Image"], output.inputs[0])
    return tree


def compositor_tree(scene, *, create: bool, holds=None):
    """The scene's compositor node tree, or None. With ``create``, make one that passes the render through.

    Returns ``(tree, created)``: ``created`` is True when this call made the tree (5.3: a new effect at the
    end of the stack whose group passes its image through; 5.0-5.2: a new node group with Render Layers ->
    Group Output; 4.x: Blender's default Render Layers -> Composite).

    5.3+ has one tree per compositor effect: the tree is the first whose ``holds(tree)`` is true (the one
    with our nodes), else the active effect's when it runs in renders, else the first effect's that does.
    """
    effects = _effects(scene)
    if effects is not None:
        rendered = [e for e in effects if e.node_group is not None and e.enable_for_render]
        trees = [e.node_group for e in effects if e.node_group is not None]
        found = next((t for t in trees if holds is not None and holds(t)), None)
        if found is None:
            active = effects.active
            found = active.node_group if active in rendered else (rendered[0].node_group if rendered else None)
        if found is not None or not create:
            return found, False
        effect = effects.new(f"{scene.name} Depth Cloud")
        effect.node_group = _passthrough_tree(f"{scene.name} Compositing", from_input=True)
        return effect.node_group, True
    if hasattr(scene, "compositing_node_group"):  # 5.0-5.2
        tree = scene.compositing_node_group
        if tree is not None or not create:
            return tree, False
        tree = _passthrough_tree(f"{scene.name} Compositing", from_input=False)
        scene.compositing_node_group = tree
        return tree, True
    if scene.node_tree is None and create:
        scene.use_nodes = True  # creates the default tree; never touches an existing one
        return scene.node_tree, True
    if create and not scene.use_nodes:
        scene.use_nodes = True
    return scene.node_tree, False


def effect_names(scene, tree) -> list[str]:
    """5.3+: the names of the scene's compositor effects that run ``tree``; empty before 5.3."""
    effects = _effects(scene)
    return [] if effects is None else [e.name for e in effects if e.node_group == tree]


def tree_renders(scene, tree) -> bool:
    """Whether a render of ``scene`` runs ``tree``'s nodes: 5.3+ only when an effect of the scene that uses it is
    enabled for renders; before 5.3 the scene's one tree always runs (compositing on is checked elsewhere)."""
    effects = _effects(scene)
    if effects is None:
        return True
    return any(e.node_group == tree and e.enable_for_render for e in effects)


def remove_compositor_tree(scene, tree) -> None:
    """Undo :func:`compositor_tree`'s creation of ``tree`` (called only for a tree we created)."""
    effects = _effects(scene)
    if effects is not None:
        for effect in [e for e in effects if e.node_group == tree]:
            effects.remove(effect)
        if tree.users == 0:
            bpy.data.node_groups.remove(tree)
    elif hasattr(scene, "compositing_node_group"):
        if scene.compositing_node_group == tree:
            scene.compositing_node_group = None
        if tree.users == 0:
            bpy.data.node_groups.remove(tree)
    else:
        scene.use_nodes = False


def set_exr_format(image_format, *, single_channel: bool, codec: str = "ZIP", half: bool = False) -> None:
    """Single-layer OpenEXR of ``codec`` (a lossless one: "ZIP", "NONE"); one channel (``V``) for a scalar, RGBA
    otherwise; float32, or half-float with ``half`` (for colour only: depth stays float32)."""
    if hasattr(image_format, "media_type"):  # 5.0: the media type gates the list of formats
        image_format.media_type = "IMAGE"
    image_format.file_format = "OPEN_EXR"
    image_format.color_depth = "16" if half else "32"
    image_format.exr_codec = codec
    if not single_channel:
        image_format.color_mode = "RGBA"
        return
    try:
        image_format.color_mode = "BW"  # 4.5/5.0 File Output: one V channel instead of R=G=B
    except TypeError:
        pass  # 4.2 offers only RGB/RGBA here, and writes a float socket as one V channel anyway


def new_file_output(tree, directory: str, file_stem: str, socket_type: str):
    """A File Output node writing one single-layer EXR per frame: ``<directory>/<file_stem><frame>.exr``.

    ``file_stem`` ends in a ``#`` run (e.g. ``depth_####``). ``socket_type``: "FLOAT" or "RGBA".
    Returns ``(node, input_socket)``; :func:`set_exr_format` on ``node.format`` chooses the codec.
    """
    node = tree.nodes.new("CompositorNodeOutputFile")
    set_exr_format(node.format, single_channel=socket_type == "FLOAT")
    set_file_output_directory(node, directory)
    if hasattr(node, "file_output_items"):  # 5.0
        node.file_name = ""
        node.file_output_items.new(socket_type, file_stem)
    else:
        node.file_slots.clear()
        node.file_slots.new(file_stem)
    return node, node.inputs[0]


def new_multilayer_file_output(tree, directory: str, file_stem: str, items, codec: str = "ZIP"):
    """A File Output node writing one float32 multilayer EXR per frame, ``<directory>/<file_stem><frame>.exr``,
    with a layer per ``(name, socket_type)`` of ``items`` ("FLOAT", "VECTOR", "RGBA"). A layer named
    ``Vector`` keeps all four components (5.0 asks for them; 4.5 writes them; 4.2 writes X, Y, Z only).
    5.0 writes each layer as its own part. Returns the node; its inputs are in the order of ``items``."""
    node = tree.nodes.new("CompositorNodeOutputFile")
    set_multilayer_render_output(node.format)  # float32 always: Cryptomatte ids are float32 bits
    node.format.exr_codec = codec
    if hasattr(node, "file_output_items"):  # 5.0
        node.directory, node.file_name = directory, file_stem
        for name, socket_type in items:
            item = node.file_output_items.new(socket_type, name)
            if name == "Vector":
                item.vector_socket_dimensions = 4
    else:  # 4.x: the multilayer path names the file
        node.base_path = directory + file_stem
        node.layer_slots.clear()
        for name, _ in items:
            node.layer_slots.new(name)
    return node


def set_file_output_directory(node, directory: str) -> None:
    if hasattr(node, "directory"):  # 5.0
        node.directory = directory
    else:
        node.base_path = directory


def file_output_directory(node) -> str:
    return node.directory if hasattr(node, "directory") else node.base_path


def set_multilayer_render_output(image_settings) -> None:
    """Render output (or a File Output node's format) as a float32 multilayer EXR (all passes in one file)."""
    if hasattr(image_settings, "media_type"):  # 5.0
        image_settings.media_type = "MULTI_LAYER_IMAGE"
    image_settings.file_format = "OPEN_EXR_MULTILAYER"
    image_settings.color_depth = "32"


def set_modifier_input(modifier, identifier: str, value) -> None:
    """Set a Geometry Nodes modifier's input ``identifier`` (the interface socket's ``identifier``)."""
    properties = getattr(modifier, "properties", None)
    if properties is not None and hasattr(properties, "inputs"):  # 5.2+
        getattr(properties.inputs, identifier).value = value
    else:
        modifier[identifier] = value


def modifier_input(modifier, identifier: str):
    """The value of a Geometry Nodes modifier's input ``identifier`` (see :func:`set_modifier_input`)."""
    properties = getattr(modifier, "properties", None)
    if properties is not None and hasattr(properties, "inputs"):  # 5.2+
        return getattr(properties.inputs, identifier).value
    return modifier[identifier]


def action_fcurves(action):
    """Every F-curve of ``action``: 4.x ``action.fcurves``; 5.0 layered actions keep them per layer,
    strip and channel bag."""
    if hasattr(action, "fcurves"):
        yield from action.fcurves
        return
    for layer in getattr(action, "layers", ()):
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", ()):
                yield from bag.fcurves


#: Options for a path property whose value may start with Blender's "//" (relative to the .blend): 4.5 and
#: 5.0 know PATH_SUPPORTS_BLEND_RELATIVE (5.0 warns about "//" without it); 4.2 rejects it.
_RELATIVE = "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties
PATH_OPTIONS = {"PATH_SUPPORTS_BLEND_RELATIVE"} if _RELATIVE else set()


def path_options(*extra: str) -> set:
    """``options=`` for a FILE_PATH / DIR_PATH property (see :data:`PATH_OPTIONS`)."""
    return set(extra) | PATH_OPTIONS
