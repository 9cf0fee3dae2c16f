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

import os
import traceback

import bpy

from ..core import CameraModel
from ..core.cloud import write_depth_kinds
from ..core.frame_files import camera_sidecar_path, setup_file
from ..core.frame_files import write_camera_sidecar as write_sidecar_file
from . import compositor

_render_cameras: dict[str, tuple[int, CameraModel]] = {}  # scene name -> (frame, camera being rendered)


def write_camera_sidecar(scene, camera: CameraModel) -> str | None:
    """Write ``camera`` as ``camera_NNNN.json`` for the scene's current frame into our output folder.

    Nothing is written when the compositor does not run (no outputs, or Post Processing > Compositing
    off): then no EXR was written either, and a sidecar would describe a render that is not there.
    """
    directory = compositor.output_directory(scene)
    if directory is None or not scene.render.use_compositing:
        return None
    folder = bpy.path.abspath(directory)
    os.makedirs(folder, exist_ok=True)
    return write_sidecar_file(camera_sidecar_path(folder, scene.frame_current), camera)


def converted_kinds(setting: str, camera: CameraModel) -> list[str]:
    """Depth kinds to write beside ``depth_NNNN.exr`` for the scene's Depth Files setting."""
    wanted = {"PLANAR": ["planar"], "DISTANCE": ["distance"], "BOTH": ["planar", "distance"]}[setting]
    if setting == "BOTH":
        return wanted
    return [kind for kind in wanted if kind != camera.natural_depth_kind()]


def write_converted_depth(scene, camera: CameraModel) -> list[str]:
    """Write ``planar_NNNN.exr`` / ``distance_NNNN.exr`` converted from the frame's Depth pass, as set up."""
    kinds = converted_kinds(scene.depth_cloud.depth_files, camera)
    if not kinds:
        return []
    folder = bpy.path.abspath(compositor.output_directory(scene))
    frame = scene.frame_current
    return write_depth_kinds(setup_file(folder, "depth", frame), camera,
                             {kind: setup_file(folder, kind, frame) for kind in kinds})


@bpy.app.handlers.persistent
def capture_render_camera(scene, depsgraph=None):
    """Before each rendered frame: the camera as the render evaluates it (animation, constraints, markers)."""
    try:
        if depsgraph is None or depsgraph.mode != "RENDER" or compositor.outputs_node(scene) is None:
            return
        camera_object = depsgraph.scene_eval.camera
        if camera_object is not None:
            _render_cameras[scene.name] = (scene.frame_current, CameraModel.from_blender(camera_object, scene))
    except Exception:  # never raise into Blender's render loop
        print("Depth Cloud: could not read the render camera:")
        traceback.print_exc()


@bpy.app.handlers.persistent
def record_camera_after_render(scene, *_args):
    try:
        frame, camera = _render_cameras.pop(scene.name, (None, None))
        if frame != scene.frame_current:  # no render-time capture: the scene camera as it stands
            camera = CameraModel.from_blender(scene.camera, scene) if scene.camera is not None else None
        if camera is not None and write_camera_sidecar(scene, camera) is not None:
            write_converted_depth(scene, camera)
    except Exception:  # never raise into Blender's render loop
        print("Depth Cloud: could not write the camera sidecar:")
        traceback.print_exc()


HANDLERS = ((bpy.app.handlers.frame_change_post, capture_render_camera),
            (bpy.app.handlers.render_post, record_camera_after_render))


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
