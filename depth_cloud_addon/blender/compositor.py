"""Compositor set-up: File Output nodes that write, per rendered frame, a depth EXR and a color EXR.

Non-destructive and idempotent. Every node we add carries the custom property ``depth_cloud`` with
its role and sits in one labelled Frame node; nothing else in the tree is touched (no user node is
moved, relinked or deleted). Running the set-up again only refreshes our nodes' settings and links;
removing it deletes exactly our nodes (and the tree itself only if we created it and nothing but our
nodes is left).

Capture never sees the add-on's own clouds: while one of them (Build's, a sequence's, a bake's) would
be in the render of the captured view layer, the capture nodes are muted (:func:`sync_capture`), so a
render shows the cloud (the Pixel Faces check, Render Animation of a live cloud) and writes no depth,
color or camera file; hiding the clouds from renders resumes the capture. The panel says which.

Per frame N the folder receives ``depth_NNNN.exr`` (one float32 channel, Blender's Depth pass as Cycles
writes it, not normalised: planar Z, or ray distance for panoramic cameras), ``color_NNNN.exr`` (float32
linear premultiplied RGBA), with extra passes asked for ``passes_NNNN.exr`` (one multilayer EXR, layers
named as Blender names the passes, see ``core.frames.passes``) and, written by a render handler (see
``handlers``), ``camera_NNNN.json`` (the ``CameraModel`` of that frame and the capture facts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from ..core.frames.files import CaptureInfo, setup_stem
from ..core.frames.passes import PASS_KINDS, PASS_LAYERS
from . import compat
from .builder import CLOUD_ROLES, ROLE

TAG = "depth_cloud"
DEPTH_STEM = setup_stem("depth")
COLOR_STEM = setup_stem("color")
PASSES_STEM = setup_stem("passes")
#: Extra pass kind -> the view layer switches it needs.
PASS_SWITCHES = {"OBJECT_INDEX": ("use_pass_object_index",), "MATERIAL_INDEX": ("use_pass_material_index",),
                 "NORMAL": ("use_pass_normal",), "MOTION": ("use_pass_vector", "use_pass_cryptomatte_object"),
                 "CRYPTOMATTE": ("use_pass_cryptomatte_object",)}
#: Blender pass (a layer of passes_NNNN.exr) -> (File Output socket type, Render Layers output names 4.x / 5.0).
_PASS_SOCKETS = {"IndexOB": ("FLOAT", ("IndexOB", "Object Index")), "IndexMA": ("FLOAT", ("IndexMA", "Material Index")),
                 "Normal": ("VECTOR", ("Normal",)), "Vector": ("VECTOR", ("Vector",)),
                 **{f"CryptoObject0{i}": ("RGBA", (f"CryptoObject0{i}",)) for i in range(3)}}
PASSES_PROPERTY = "depth_cloud_passes"  # on our passes node: the pass kinds it writes
FRAME_LABEL = "Depth Cloud outputs"
#: Nodes that make a tree we created pass the render through; removed only with the tree.
PASSTHROUGH = "passthrough"


@dataclass(frozen=True)
class SetupResult:
    added: int
    directory: str
    created_tree: bool
    passes_lacking: tuple = ()  # extra passes the render engine does not write (EEVEE: the index passes)


def our_nodes(tree) -> dict:
    """role -> node for the nodes this add-on added to ``tree``."""
    if tree is None:
        return {}
    return {node[TAG]: node for node in tree.nodes if TAG in node and node[TAG] != PASSTHROUGH}


def _holds_ours(tree) -> bool:
    return bool(our_nodes(tree))


def capture_tree(scene):
    """The compositor tree that holds our nodes (5.3: the effect's group that has them), else the one Set Up
    would use; None when the scene has no compositor."""
    tree, _ = compat.compositor_tree(scene, create=False, holds=_holds_ours)
    return tree


def capture_runs(scene) -> bool:
    """Whether a render of ``scene`` runs the tree that holds our nodes (5.3: its effect is on for renders)."""
    tree = capture_tree(scene)
    return tree is not None and compat.tree_renders(scene, tree)


def outputs_node(scene):
    """Our depth File Output node in the scene's compositor, or None (outputs not set up)."""
    return our_nodes(capture_tree(scene)).get("depth")


def output_directory(scene) -> str | None:
    """The folder our File Output nodes write into (Blender path, may start with //), or None."""
    node = outputs_node(scene)
    return compat.file_output_directory(node) if node is not None else None


CAPTURE_ROLES = ("depth", "color", "passes")  # our File Output nodes


def render_layers_node(scene):
    """Our Render Layers node in the scene's compositor (what the capture renders), or None."""
    return our_nodes(capture_tree(scene)).get("render_layers")


def capture_layer(scene):
    """``(scene, view layer)`` our Render Layers node captures (None, None without outputs)."""
    layers = render_layers_node(scene)
    if layers is None:
        return None, None
    source = layers.scene or scene
    return source, source.view_layers.get(layers.layer)


def _animated(obj, path: str) -> bool:
    action = obj.animation_data.action if obj.animation_data is not None else None
    return action is not None and any(c.data_path == path and not c.mute for c in compat.action_fcurves(action))


def clouds_in_render(scene) -> list:
    """The add-on's clouds that a render of the captured view layer would show: tagged cloud objects not
    hidden from renders (or with animated render visibility, like baked frames), in collections that are
    rendered and not excluded from that layer."""
    source, view_layer = capture_layer(scene)
    if view_layer is None:
        return []
    found = {}

    def walk(layer_collection):
        if layer_collection.exclude or layer_collection.collection.hide_render:
            return
        for obj in layer_collection.collection.objects:
            if obj.get(ROLE) in CLOUD_ROLES and (not obj.hide_render or _animated(obj, "hide_render")):
                found[obj.name] = obj
        for child in layer_collection.children:
            walk(child)

    walk(view_layer.layer_collection)
    return list(found.values())


def unwritable_folder(directory: str) -> str | None:
    """Why files cannot be written into ``directory`` (a Blender path: ``//`` is the .blend's folder; it, or the
    nearest folder above it that exists, must be a writable folder), or None. Creates nothing."""
    probe = os.path.abspath(bpy.path.abspath(directory))
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe.rstrip(os.sep))
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is read-only"
    return None


def capture_blockers(scene) -> list[str]:
    """Why a render of ``scene`` must write no capture file at all now, one line each (empty: it may capture, unless
    one of our clouds is in the render, see :func:`clouds_in_render`): the outputs were set up for another scene
    (a compositor node group shared between scenes), the view layer they capture is gone, the scene camera is not
    a camera, or the folder cannot be written. Their files of an earlier render are then never rewritten."""
    layers = render_layers_node(scene)
    if layers is None:
        return []
    reasons = []
    source = layers.scene or scene
    if source != scene:
        reasons.append(f"the outputs capture scene '{source.name}', not '{scene.name}' (their compositor is shared)")
    elif source.view_layers.get(layers.layer) is None:
        reasons.append(f"the captured view layer '{layers.layer}' is not in scene '{source.name}' any more")
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        what = "no camera" if camera is None else f"'{camera.name}', a {camera.type.lower()}, not a camera"
        reasons.append(f"the scene camera is {what}")
    directory = output_directory(scene)
    if directory is not None:
        problem = unwritable_folder(directory)
        if problem is not None:
            reasons.append(f"the capture folder cannot be written: {problem}")
    return reasons


def capture_paused(scene) -> bool:
    """True when our capture nodes are muted (a cloud would be in the render)."""
    nodes = our_nodes(capture_tree(scene))
    return any(nodes[role].mute for role in CAPTURE_ROLES if role in nodes)


def sync_capture(scene) -> list:
    """Mute our capture nodes while any of the add-on's clouds would be in the captured render, unmute them
    otherwise; returns those clouds (empty: capturing). Writes only what changes."""
    nodes = our_nodes(capture_tree(scene))
    clouds = clouds_in_render(scene) if nodes else []
    mute = bool(clouds) or bool(nodes and capture_blockers(scene))
    for role in CAPTURE_ROLES:
        node = nodes.get(role)
        if node is not None and node.mute != mute:
            node.mute = mute
    return clouds


def capture_status(scene) -> str | None:
    """One line for the panel when capture is paused (naming the clouds) or off (5.3: the compositor effect
    holding our nodes is off for renders); None while capturing."""
    tree = capture_tree(scene)
    if our_nodes(tree) and not compat.tree_renders(scene, tree):
        names = ", ".join(f"'{n}'" for n in compat.effect_names(scene, tree)) or "holding the outputs"
        return (f"Capture off: the compositor effect {names} is off for renders, so renders write no depth, "
                "color or camera files; turn it on for renders to capture")
    blockers = capture_blockers(scene)
    if blockers:
        return (f"Capture off: {'; '.join(blockers)}. Renders write no depth, color or camera files (nothing "
                "captured before is rewritten)")
    names = [obj.name for obj in clouds_in_render(scene)] if capture_paused(scene) else []
    if not names:  # capturing (nodes muted for a reason gone by now are unmuted by the next render)
        return None
    shown = ", ".join(f"'{n}'" for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"Capture paused: {shown} would be in the render, so renders write no depth, color "
            "or camera files; hide the clouds from renders to capture again")


def capture_info(scene, camera_object, depth_files: dict | None = None) -> CaptureInfo:
    """The capture facts of ``scene``'s render through ``camera_object`` (recorded in the sidecar)."""
    render = scene.render
    data = getattr(camera_object, "data", None)
    dof = getattr(data, "dof", None)
    depth_of_field = None
    if dof is not None and dof.use_dof:
        depth_of_field = {"fstop": float(dof.aperture_fstop), "focus_distance": float(dof.focus_distance)}
    motion_blur = {"shutter": float(render.motion_blur_shutter)} if render.use_motion_blur else None
    layers = render_layers_node(scene)
    return CaptureInfo(scene=scene.name, view_layer=layers.layer if layers is not None else None,
                       depth_files=dict(depth_files or {}), depth_of_field=depth_of_field, motion_blur=motion_blur,
                       fps=float(render.fps / render.fps_base), engine=str(render.engine),
                       samples=eevee_samples(scene), passes=captured_passes(scene))


def captured_passes(scene) -> tuple[str, ...]:
    """The extra pass kinds our passes node writes (empty: none)."""
    node = our_nodes(capture_tree(scene)).get("passes")
    return tuple(node.get(PASSES_PROPERTY, ())) if node is not None else ()


def eevee_samples(scene) -> int | None:
    """EEVEE's render samples per pixel (each jittered: its Depth pass comes from one of them), else None."""
    if "EEVEE" not in scene.render.engine or getattr(scene, "eevee", None) is None:
        return None
    return int(scene.eevee.taa_render_samples)


def doubtful_settings(scene) -> list[str]:
    """The scene's render settings that make the Depth pass disagree with the pixel rays (for the panel):
    the scene camera's depth of field and the render's motion blur, read as they are now."""
    camera = scene.camera
    return capture_info(scene, camera).warnings() if camera is not None else []


def _free_location(tree) -> tuple[float, float]:
    """A spot to the right of every node that is not ours, so nothing overlaps the user's layout."""
    others = [n for n in tree.nodes if TAG not in n and n.bl_idname != "NodeFrame"]
    if not others:
        return (400.0, 0.0)
    return (max(n.location.x for n in others) + 400.0, max(n.location.y for n in others))


def _setup_passes(scene, tree, layers, frame, directory: str, passes, codec: str,
                  location) -> tuple[int, list[str]]:
    """(Re)make our passes node for the extra pass kinds ``passes``; returns (nodes added, pass kinds the
    render engine does not write, e.g. the index passes under EEVEE)."""
    old = our_nodes(tree).get("passes")
    if old is not None:
        location = tuple(old.location)
        tree.nodes.remove(old)
    if not passes:
        return 0, []
    wanted = dict.fromkeys(layer for kind in PASS_KINDS if kind in passes for layer in PASS_LAYERS[kind])
    sources, lacking = {}, []
    for layer in wanted:
        socket_type, names = _PASS_SOCKETS[layer]
        output = next((o for o in layers.outputs if o.name in names and o.enabled), None)
        if output is not None:
            sources[layer] = (socket_type, output)
    for kind in passes:
        if not any(layer in sources for layer in PASS_LAYERS[kind]):
            lacking.append(kind)
    node = compat.new_multilayer_file_output(tree, directory, PASSES_STEM,
                                             [(layer, t) for layer, (t, _) in sources.items()], codec=codec)
    node[TAG], node.label, node.parent = "passes", "Depth Cloud passes", frame
    node[PASSES_PROPERTY] = [kind for kind in PASS_KINDS if kind in passes and kind not in lacking]
    node.location = location
    for i, (_, output) in enumerate(sources.values()):
        tree.links.new(output, node.inputs[i])
    return (1 if old is None else 0), lacking


#: Capture format -> (EXR codec, half-float colour). Depth and the passes stay float32 whatever the choice.
CAPTURE_FORMATS = {"ZIP": ("ZIP", False), "NONE": ("NONE", False), "NONE_HALF": ("NONE", True),
                   "ZIP_HALF": ("ZIP", True)}


def setup_outputs(scene, view_layer, directory: str, passes=(), capture_format: str = "ZIP") -> SetupResult:
    """Enable the Depth pass (and the ``passes`` asked for: :data:`..core.frames.passes.PASS_KINDS`) of
    ``view_layer`` and add (or refresh) our File Output nodes, writing :data:`CAPTURE_FORMATS` ``capture_format``."""
    codec, half_color = CAPTURE_FORMATS[capture_format]
    if not directory.endswith(("/", "\\")):
        directory += "/"
    view_layer.use_pass_z = True
    scene.render.use_compositing = True
    tree, created = compat.compositor_tree(scene, create=True, holds=_holds_ours)
    if created:
        tree[TAG + "_created"] = True
        for node in tree.nodes:
            node[TAG] = PASSTHROUGH
    ours = our_nodes(tree)
    added = 0
    x, y = _free_location(tree) if not ours else (0.0, 0.0)

    frame = ours.get("frame")
    if frame is None:
        frame = tree.nodes.new("NodeFrame")
        frame[TAG], frame.label, frame.name = "frame", FRAME_LABEL, FRAME_LABEL
        added += 1
    layers = ours.get("render_layers")
    if layers is None:
        layers = tree.nodes.new("CompositorNodeRLayers")
        layers[TAG], layers.label, layers.parent = "render_layers", "Depth Cloud render layers", frame
        layers.location = (x, y)
        added += 1
    layers.scene, layers.layer = scene, view_layer.name
    for role, stem, socket_type, output, offset in (("depth", DEPTH_STEM, "FLOAT", "Depth", 0.0),
                                                    ("color", COLOR_STEM, "RGBA", "Image", -180.0)):
        node = ours.get(role)
        if node is None:
            node, _ = compat.new_file_output(tree, directory, stem, socket_type)
            node[TAG], node.label, node.parent = role, f"Depth Cloud {role}", frame
            node.location = (x + 300.0, y + offset)
            added += 1
        compat.set_file_output_directory(node, directory)
        compat.set_exr_format(node.format, single_channel=role == "depth", codec=codec,
                              half=half_color and role == "color")
        if not node.inputs[0].is_linked:
            tree.links.new(layers.outputs[output], node.inputs[0])
    for kind in passes:
        for switch in PASS_SWITCHES[kind]:
            setattr(view_layer, switch, True)
    made, lacking = _setup_passes(scene, tree, layers, frame, directory, set(passes), codec,
                                  (layers.location.x + 300.0, layers.location.y - 360.0))
    sync_capture(scene)
    return SetupResult(added=added + made, directory=directory, created_tree=created, passes_lacking=tuple(lacking))


def remove_outputs(scene) -> int:
    """Remove our nodes, and undo the tree's creation if we made it and the user added nothing to it.

    Returns how many of our nodes were removed.
    """
    tree = capture_tree(scene)
    if tree is None:
        return 0
    ours = [node for node in tree.nodes if TAG in node and node[TAG] != PASSTHROUGH]
    for node in ours:
        tree.nodes.remove(node)
    if tree.get(TAG + "_created") and all(TAG in node for node in tree.nodes):
        compat.remove_compositor_tree(scene, tree)
    return len(ours)
