"""Operators: set up / remove the compositor outputs, build the point cloud of the current frame.

Thin glue: file lookup is in ``sources``, the numbers in ``core``/``pipeline``, the Blender objects
in ``builder``. Expected problems (bad files, missing camera, ...) are reported with
``self.report({'ERROR'}, ...)`` and return ``{'CANCELLED'}``; nothing of the user's is changed then.
"""

from __future__ import annotations

import os
import time

import bpy

from . import builder, compositor, sources
from .core import CameraModel, DepthCloudError, read_exr
from .pipeline import cloud_arrays


def _finish(self, context, level: str, message: str) -> set:
    self.report({level}, message)
    context.scene.depth_cloud.last_message = message
    return {"FINISHED"} if level != "ERROR" else {"CANCELLED"}


class DEPTH_CLOUD_OT_setup_outputs(bpy.types.Operator):
    """Enable the Depth pass and add compositor File Output nodes that write, for every rendered frame, a \
float32 depth EXR, a linear color EXR and the camera (JSON) into a folder"""

    bl_idname = "depth_cloud.setup_outputs"
    bl_label = "Set Up EXR Outputs"
    bl_options = {"REGISTER", "UNDO"}

    directory: bpy.props.StringProperty(
        name="Output Folder",
        description="Folder for depth_####.exr, color_####.exr and camera_####.json ('//' is the .blend's folder)",
        default="//depth_cloud/",
        subtype="DIR_PATH",
    )

    def invoke(self, context, event):
        self.directory = context.scene.depth_cloud.directory
        return self.execute(context)

    def execute(self, context):
        scene = context.scene
        if not self.directory.strip():
            return _finish(self, context, "ERROR", "Depth Cloud: the output folder is empty")
        result = compositor.setup_outputs(scene, context.view_layer, self.directory)
        scene.depth_cloud.directory = result.directory
        if result.added == 0:
            return _finish(self, context, "INFO",
                           f"Depth Cloud: outputs already set up, now writing to {result.directory}")
        return _finish(self, context, "INFO",
                       f"Depth Cloud: added {result.added} compositor nodes writing to {result.directory}")


class DEPTH_CLOUD_OT_remove_outputs(bpy.types.Operator):
    """Remove the compositor nodes that Set Up EXR Outputs added (and only those)"""

    bl_idname = "depth_cloud.remove_outputs"
    bl_label = "Remove EXR Outputs"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if compositor.outputs_node(context.scene) is None:
            cls.poll_message_set("This scene's compositor has no Depth Cloud outputs")
            return False
        return True

    def execute(self, context):
        removed = compositor.remove_outputs(context.scene)
        return _finish(self, context, "INFO", f"Depth Cloud: removed {removed} compositor nodes")


DEPTH_KIND_ITEMS = (
    ("auto", "Auto", "Planar Z for perspective and orthographic cameras, ray distance for panoramic ones "
                     "(what Cycles writes)"),
    ("planar", "Planar Z", "Distance along the camera's view axis"),
    ("distance", "Ray Distance", "Distance from the camera centre along the pixel's ray"),
)
SPACE_ITEMS = (
    ("WORLD", "World", "Vertices in world coordinates"),
    ("CAMERA", "Camera Empty", "Vertices in the camera's frame, parented to an empty placed like the camera"),
)


class DEPTH_CLOUD_OT_build(bpy.types.Operator):
    """Build a colored point cloud from the current frame's rendered depth and color EXRs, placed with the \
camera that rendered the frame"""

    bl_idname = "depth_cloud.build"
    bl_label = "Build Point Cloud"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(
        name="Depth File",
        description="A depth EXR, a multilayer render EXR, or a pattern with # for the frame number; "
                    "empty: the files written by Set Up EXR Outputs",
        default="",
        subtype="FILE_PATH",
    )
    stride: bpy.props.IntProperty(
        name="Stride", description="Use every k-th pixel in each direction", default=1, min=1, max=64,
    )
    use_depth_range: bpy.props.BoolProperty(
        name="Limit Depth", description="Keep only pixels whose depth lies between Near and Far", default=False,
    )
    depth_near: bpy.props.FloatProperty(
        name="Near", description="Smallest depth kept", default=0.0, min=0.0, subtype="DISTANCE", unit="LENGTH",
    )
    depth_far: bpy.props.FloatProperty(
        name="Far", description="Largest depth kept", default=100.0, min=0.0, subtype="DISTANCE", unit="LENGTH",
    )
    depth_kind: bpy.props.EnumProperty(
        name="Depth Kind", description="What the depth values measure", items=DEPTH_KIND_ITEMS, default="auto",
    )
    point_size: bpy.props.FloatProperty(
        name="Point Size", description="Point radius as a multiple of half the pixel's footprint at its depth",
        default=1.0, min=0.0, soft_max=10.0,
    )
    space: bpy.props.EnumProperty(name="Space", description="Where the cloud's vertices live",
                                  items=SPACE_ITEMS, default="WORLD")

    @classmethod
    def poll(cls, context):
        if context.mode != "OBJECT":
            cls.poll_message_set("Switch to Object Mode to build a point cloud")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        start = time.perf_counter()
        try:
            frame_sources, cloud, camera_note = self._load(scene)
        except DepthCloudError as exc:
            return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        builder.build_cloud_object(
            context, cloud.positions, cloud.colors, cloud.radii,
            cam2world=cloud.camera.cam2world if self.space == "CAMERA" else None,
            point_size=self.point_size, source=frame_sources.depth_path, frame=scene.frame_current,
        )
        seconds = time.perf_counter() - start
        level = "WARNING" if camera_note.startswith("no camera sidecar") else "INFO"
        return _finish(self, context, level,
                       f"Depth Cloud: {len(cloud.positions):,} points from frame {scene.frame_current} "
                       f"({os.path.basename(frame_sources.depth_path)}, {camera_note}) in {seconds:.2f} s")

    def _load(self, scene):
        """Read the frame and back-project it; the EXR arrays are freed on return (before the mesh exists)."""
        frame_sources = self._sources(scene)
        image = read_exr(frame_sources.depth_path)
        color = image.color
        if frame_sources.color_path is not None:
            color = read_exr(frame_sources.color_path, require_depth=False).color
        camera, camera_note = self._camera(scene, frame_sources)
        cloud = cloud_arrays(
            image.depth, color, camera, stride=self.stride, depth_kind=self.depth_kind,
            depth_range=(self.depth_near, self.depth_far) if self.use_depth_range else None,
            space="camera" if self.space == "CAMERA" else "world",
        )
        return frame_sources, cloud, camera_note

    def _sources(self, scene) -> sources.FrameSources:
        if self.filepath:
            return sources.resolve(bpy.path.abspath(self.filepath), scene.frame_current, from_setup=False)
        directory = compositor.output_directory(scene)
        if directory is None:
            raise DepthCloudError("no depth file given and no outputs set up: press Set Up EXR Outputs "
                                  "and render, or choose a depth EXR")
        return sources.resolve(bpy.path.abspath(directory), scene.frame_current, from_setup=True)

    @staticmethod
    def _camera(scene, frame_sources) -> tuple[CameraModel, str]:
        if frame_sources.camera_path is not None:
            with open(frame_sources.camera_path, encoding="utf-8") as f:
                return CameraModel.from_json(f.read()), f"camera from {os.path.basename(frame_sources.camera_path)}"
        if scene.camera is None:
            raise DepthCloudError("no camera sidecar next to the depth file and the scene has no camera")
        return (CameraModel.from_blender(scene.camera, scene),
                f"no camera sidecar: used the scene camera '{scene.camera.name}' at frame {scene.frame_current}")


classes = (DEPTH_CLOUD_OT_setup_outputs, DEPTH_CLOUD_OT_remove_outputs, DEPTH_CLOUD_OT_build)
register, unregister = bpy.utils.register_classes_factory(classes)
