"""Render handlers: record the camera of every rendered frame next to its EXRs (``camera_NNNN.json``),
and write the depth kinds asked for in Set Up EXR Outputs (``planar_``/``distance_NNNN.exr``).

The sidecar is what makes a cloud match the camera that rendered it even if the animation is edited
later. During a render the *original* camera object is not re-evaluated per frame (its
``matrix_world`` stays where the timeline was), so the camera is read from the render's own
depsgraph, which Blender passes to ``frame_change_post`` right before it renders each frame; the
sidecar is written in ``render_post``, once the frame is rendered. Only scenes whose compositor has
our outputs are recorded. The handlers read data and write one small file; they never change
Blender data and never raise into Blender (a failure is printed).
"""

import dataclasses
import hashlib
import os
import traceback

import bpy
import numpy as np

from ..core import CameraModel, DepthCloudError
from ..core.frames.depth import write_depth_kinds
from ..core.frames.files import CaptureInfo, camera_sidecar_path, setup_file, write_camera_sidecar
from ..core.frames.loop import failure_message
from . import compositor
from .builder import ROLE

_render_cameras: dict[str, tuple] = {}  # scene name -> (frame, camera, capture) of the frame being rendered
_render_objects: dict[str, dict] = {}   # scene name -> frame -> object states, seen during the render (MOTION)
#: Object types that render surfaces (and so can be under a pixel).
GEOMETRY_TYPES = frozenset({"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME"})


def object_states(depsgraph) -> list[dict]:
    """Every rendered object's state in ``depsgraph``'s frame, for exact rigid motion (see
    ``core.frames.files.CaptureInfo.objects``): name, pass index, ``matrix_world`` and a fingerprint of its
    evaluated mesh's vertices in object space (None for other types)."""
    states = []
    for obj in depsgraph.objects:
        if obj.type not in GEOMETRY_TYPES or obj.original.get(ROLE) is not None:
            continue
        geometry = None
        if obj.type == "MESH":
            mesh = obj.data
            co = np.empty(len(mesh.vertices) * 3, np.float32)
            mesh.vertices.foreach_get("co", co)
            geometry = hashlib.sha1(co.tobytes() + len(mesh.polygons).to_bytes(8, "little")).hexdigest()[:16]
        states.append({"name": obj.name, "pass_index": int(obj.pass_index),
                       "matrix_world": [list(map(float, row)) for row in obj.matrix_world], "geometry": geometry})
    return states


def motion_objects(scene, frame: int) -> tuple:
    """The states seen at ``frame``, each with the state seen at ``frame + 1`` (Blender evaluates the next
    frame during the render of a Vector pass) as ``next``; empty when the frame was not seen."""
    seen = _render_objects.pop(scene.name, {})
    following = {o["name"]: o for o in seen.get(frame + 1, ())}
    out = []
    for state in seen.get(frame, ()):
        nxt = following.get(state["name"])
        out.append({**state, "next": None if nxt is None else {"frame": frame + 1, "matrix_world": nxt["matrix_world"],
                                                               "geometry": nxt["geometry"]}})
    return tuple(out)


def captures_this_scene(scene) -> bool:
    """True when the compositor's capture outputs wrote ``scene``'s render: they exist, compositing runs, they are
    not muted, and nothing blocks the capture (:func:`compositor.capture_blockers`: 5.0+ can share one compositor
    node group between scenes, and rendering scene B must write neither depth nor sidecar for scene A)."""
    if compositor.output_directory(scene) is None or not scene.render.use_compositing:
        return False
    if not compositor.capture_runs(scene):  # 5.3: the effect holding our nodes is off for renders
        return False
    if compositor.capture_paused(scene):  # a cloud in the render, or a blocker: no EXR was written
        return False
    return not compositor.capture_blockers(scene)  # e.g. another scene's outputs, or an Empty as the camera


def converted_kinds(setting: str, camera: CameraModel) -> list[str]:
    """Depth kinds to write beside ``depth_NNNN.exr`` for the scene's Depth Files setting."""
    wanted = {"PLANAR": ["planar"], "DISTANCE": ["distance"], "BOTH": ["planar", "distance"]}[setting]
    if setting == "BOTH":
        return wanted
    return [kind for kind in wanted if kind != camera.natural_depth_kind()]


def record_frame(scene, camera: CameraModel, capture: CaptureInfo) -> str | None:
    """After a frame is rendered: write the depth kinds asked for (``planar_``/``distance_NNNN.exr``,
    converted from the Depth pass), then the sidecar ``camera_NNNN.json`` with the camera and the capture
    facts, the kind of every depth file written included. Returns the sidecar's path, or None when this
    render wrote no capture files (see :func:`captures_this_scene`)."""
    if not captures_this_scene(scene):
        return None
    folder = bpy.path.abspath(compositor.output_directory(scene))
    os.makedirs(folder, exist_ok=True)
    frame = scene.frame_current
    depth_path = setup_file(folder, "depth", frame)
    natural = camera.natural_depth_kind()
    kinds = {os.path.basename(depth_path): natural}
    wanted = converted_kinds(scene.depth_cloud.depth_files, camera)
    converted = {kind: setup_file(folder, kind, frame) for kind in wanted}
    if converted:
        write_depth_kinds(depth_path, camera, converted, from_kind=natural, capture=capture)
        kinds.update({os.path.basename(path): kind for kind, path in converted.items()})
    capture = dataclasses.replace(capture, depth_files=kinds)
    return write_camera_sidecar(camera_sidecar_path(folder, frame), camera, capture)


@bpy.app.handlers.persistent
def capture_render_camera(scene, depsgraph=None):
    """Before each rendered frame: the camera as the render evaluates it (animation, constraints, markers)."""
    try:
        if depsgraph is None or depsgraph.mode != "RENDER" or compositor.outputs_node(scene) is None:
            return
        camera_object = depsgraph.scene_eval.camera
        if camera_object is not None and camera_object.type == "CAMERA":  # an Empty: capture is off (blockers)
            capture = compositor.capture_info(scene, camera_object)
            _render_cameras[scene.name] = (scene.frame_current, CameraModel.from_blender(camera_object, scene), capture)
            # This frame, and the next one's step; of the captured view layer only (each rendered layer evaluates its
            # own depsgraph, and another layer's objects are not the ones in the captured pixels).
            if ("MOTION" in capture.passes and scene.frame_subframe == 0
                    and depsgraph.view_layer.name == capture.view_layer):
                _render_objects.setdefault(scene.name, {})[scene.frame_current] = object_states(depsgraph)
    except Exception:  # never raise into Blender's render loop
        print("Depth Cloud: could not read the render camera:")
        traceback.print_exc()


@bpy.app.handlers.persistent
def record_camera_after_render(scene, *_args):
    try:
        frame, camera, capture = _render_cameras.pop(scene.name, (None, None, None))
        if frame != scene.frame_current:  # no render-time capture: the scene camera as it stands
            camera = capture = None
            if scene.camera is not None and scene.camera.type == "CAMERA":
                camera = CameraModel.from_blender(scene.camera, scene)
                capture = compositor.capture_info(scene, scene.camera)
        if camera is not None:
            if "MOTION" in capture.passes:
                capture = dataclasses.replace(capture, objects=motion_objects(scene, scene.frame_current))
            record_frame(scene, camera, capture)
    except (OSError, DepthCloudError) as exc:  # e.g. the folder became read-only: one line, no traceback
        print(f"Depth Cloud: no camera sidecar for frame {scene.frame_current}: {failure_message(exc)}")
    except Exception:  # never raise into Blender's render loop
        print("Depth Cloud: could not write the camera sidecar:")
        traceback.print_exc()


@bpy.app.handlers.persistent
def pause_capture_for_clouds(scene, *_args):
    """Before a render job: mute the capture while one of our clouds would be in the render (the operators
    do this when they make a cloud; this catches visibility changed by hand since)."""
    try:
        clouds = compositor.sync_capture(scene)
        if clouds:
            print(f"Depth Cloud: capture paused for this render: {', '.join(o.name for o in clouds[:3])} "
                  "would be in it (hide the clouds from renders to capture)")
        blockers = compositor.capture_blockers(scene) if compositor.outputs_node(scene) is not None else []
        if blockers:
            print(f"Depth Cloud: capture off for this render of '{scene.name}': {'; '.join(blockers)}")
    except Exception:  # never raise into Blender's render loop
        print("Depth Cloud: could not check the capture outputs:")
        traceback.print_exc()


@bpy.app.handlers.persistent
def sync_capture_on_load(*_args):
    """A file was opened: its capture outputs pause or resume as its clouds say."""
    try:
        for scene in bpy.data.scenes:
            compositor.sync_capture(scene)
    except Exception:
        print("Depth Cloud: could not check the capture outputs:")
        traceback.print_exc()


HANDLERS = ((bpy.app.handlers.frame_change_post, capture_render_camera),
            (bpy.app.handlers.render_post, record_camera_after_render),
            (bpy.app.handlers.render_init, pause_capture_for_clouds),
            (bpy.app.handlers.load_post, sync_capture_on_load))


def add_handlers(pairs) -> None:
    """Append each ``(bpy.app.handlers list, function)`` unless it is there already."""
    for handlers, function in pairs:
        if function not in handlers:
            handlers.append(function)


def remove_handlers(pairs) -> None:
    """Remove every registration of each ``(list, function)``: none may outlive the add-on."""
    for handlers, function in pairs:
        while function in handlers:
            handlers.remove(function)


def register():
    add_handlers(HANDLERS)


def unregister():
    remove_handlers(HANDLERS)
    _render_cameras.clear()
    _render_objects.clear()
