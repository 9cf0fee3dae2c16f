"""Render handler: record the camera of every rendered frame next to its EXRs (``camera_NNNN.json``).

The sidecar is what makes a cloud match the camera that rendered it even if the animation is edited
later. Only scenes whose compositor has our outputs are recorded. The handler reads data and writes
one small file; it never changes Blender data and never raises into Blender (a failure is printed).
"""

import os
import traceback

import bpy

from . import compositor, sources
from .core import CameraModel


def write_camera_sidecar(scene) -> str | None:
    """Write ``camera_NNNN.json`` for the scene's current frame into our output folder; return its path."""
    directory = compositor.output_directory(scene)
    if directory is None or scene.camera is None:
        return None
    folder = bpy.path.abspath(directory)
    os.makedirs(folder, exist_ok=True)
    path = sources.camera_sidecar_path(folder, scene.frame_current)
    camera = CameraModel.from_blender(scene.camera, scene)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(camera.to_json())
    os.replace(tmp, path)
    return path


@bpy.app.handlers.persistent
def record_camera_after_render(scene, *_args):
    try:
        write_camera_sidecar(scene)
    except Exception:  # never raise into Blender's render loop
        print("Depth Cloud: could not write the camera sidecar:")
        traceback.print_exc()


def register():
    if record_camera_after_render not in bpy.app.handlers.render_post:
        bpy.app.handlers.render_post.append(record_camera_after_render)


def unregister():
    while record_camera_after_render in bpy.app.handlers.render_post:
        bpy.app.handlers.render_post.remove(record_camera_after_render)
