"""Operators: set up / remove the compositor outputs, build the point cloud of the current frame.

Thin glue: a frame's files and camera are found by ``frames``, the numbers come from
``core``/``pipeline``, the Blender objects from ``builder``, sequences from ``sequence``/``bake``. Expected problems (bad files, missing camera, ...) are reported with
``self.report({'ERROR'}, ...)`` and return ``{'CANCELLED'}``; nothing of the user's is changed then.
"""

from __future__ import annotations

import os
import time

import bpy

from . import bake, builder, compositor, frames, sequence
from .core import DepthCloudError
from .properties import DEPTH_FILE_ITEMS


def in_object_mode(cls, context, action: str) -> bool:
    """Poll check shared by the operators that create objects; explains itself when it fails."""
    if context.mode != "OBJECT":
        cls.poll_message_set(f"Switch to Object Mode to {action}")
        return False
    return True


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

    depth_files: bpy.props.EnumProperty(
        name="Depth Files", description="Which depth maps to write per rendered frame",
        items=DEPTH_FILE_ITEMS, default="PLANAR",
    )

    def invoke(self, context, event):
        self.directory = context.scene.depth_cloud.directory
        self.depth_files = context.scene.depth_cloud.depth_files
        return self.execute(context)

    def execute(self, context):
        scene = context.scene
        if not self.directory.strip():
            return _finish(self, context, "ERROR", "Depth Cloud: the output folder is empty")
        result = compositor.setup_outputs(scene, context.view_layer, self.directory)
        scene.depth_cloud.directory = result.directory
        scene.depth_cloud.depth_files = self.depth_files
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


class SourceMixin:
    """Where a frame's depth comes from, and what kind of depth it is."""

    filepath: bpy.props.StringProperty(
        name="Depth File",
        description="A depth EXR, a multilayer render EXR, or a pattern with # for the frame number; "
                    "empty: the files written by Set Up EXR Outputs",
        default="",
        subtype="FILE_PATH",
    )
    depth_kind: bpy.props.EnumProperty(
        name="Depth Kind", description="What the depth values measure", items=DEPTH_KIND_ITEMS, default="auto",
    )

    def frame_source(self, scene) -> tuple[str, bool]:
        return frame_source(scene, self.filepath)


def frame_source(scene, depth_file: str) -> tuple[str, bool]:
    """``(absolute folder or pattern, from_setup)`` of the frames: ``depth_file`` if given, else the set-up's."""
    if depth_file:
        return bpy.path.abspath(depth_file), False
    directory = compositor.output_directory(scene)
    if directory is None:
        raise DepthCloudError("no depth file given and no outputs set up: press Set Up EXR Outputs "
                              "and render, or choose a depth EXR")
    return bpy.path.abspath(directory), True


class BuildOptionsMixin(SourceMixin):
    """The options every cloud-making operator shares (Build, Bake)."""

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

    def build_options(self, space: str = "world") -> frames.BuildOptions:
        return frames.BuildOptions(stride=self.stride, depth_kind=self.depth_kind, space=space,
                                   depth_range=(self.depth_near, self.depth_far) if self.use_depth_range else None,
                                   with_points=getattr(self, "geometry", "POINTS") != "FACES")


GEOMETRY_ITEMS = (
    ("POINTS", "Points", "One point per pixel, its radius the pixel's footprint at its depth"),
    ("FACES", "Pixel Faces", "One camera-facing quad per pixel at the pixel's depth: seen from the render camera "
                             "the quads tile the image exactly"),
    ("SURFACE", "Surface", "One grid mesh through the pixel centres, torn at depth discontinuities, with UVs "
                           "that map to the source image"),
)
SHADING_ITEMS = (
    ("EMISSION", "Emission", "Shadeless: a render shows the captured colors unchanged"),
    ("SHADED", "Shaded", "The captured colors as base color, lit by the scene"),
)


class LookMixin:
    """How the cloud is drawn and rendered."""

    geometry: bpy.props.EnumProperty(name="Geometry", items=GEOMETRY_ITEMS, default="POINTS")
    shading: bpy.props.EnumProperty(name="Shading", items=SHADING_ITEMS, default="EMISSION")
    point_size: bpy.props.FloatProperty(
        name="Point Size", description="Point radius as a multiple of half the pixel's footprint at its depth",
        default=1.0, min=0.0, soft_max=10.0,
    )
    surface_step: bpy.props.FloatProperty(
        name="Tear Above", description="Surface: no face between neighbouring pixels whose depths differ by more "
                                       "than this fraction", default=0.05, min=0.0, soft_max=1.0, subtype="FACTOR",
    )

    def look(self) -> dict:
        return dict(geometry=self.geometry, shading=self.shading, point_size=self.point_size,
                    surface_step=self.surface_step)


class DEPTH_CLOUD_OT_build(LookMixin, BuildOptionsMixin, bpy.types.Operator):
    """Build a colored point cloud (or pixel faces, or a surface) from the current frame's rendered depth and \
color EXRs, placed with the camera that rendered the frame; with Sequence, it follows the timeline"""

    bl_idname = "depth_cloud.build"
    bl_label = "Build Point Cloud"
    bl_options = {"REGISTER", "UNDO"}

    space: bpy.props.EnumProperty(name="Space", description="Where the cloud's vertices live",
                                  items=SPACE_ITEMS, default="WORLD")
    sequence: bpy.props.BoolProperty(
        name="Sequence", description="Bind the cloud to the sequence: on every frame change it shows that "
                                     "frame's cloud, placed with the camera that rendered it (world space)",
        default=False,
    )

    @classmethod
    def poll(cls, context):
        return in_object_mode(cls, context, "build a point cloud")

    def execute(self, context):
        scene = context.scene
        start = time.perf_counter()
        space = "world" if self.sequence or self.space == "WORLD" else "camera"
        try:
            source, from_setup = self.frame_source(scene)
            inputs = frames.frame_inputs(scene, source, from_setup, scene.frame_current)
            cloud = frames.load_cloud(inputs, self.build_options(space))
        except DepthCloudError as exc:
            if not self.sequence or "no depth file given" in str(exc):
                return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
            inputs = cloud = None  # a sequence may start on a frame that is not rendered yet
            missing = str(exc)
        if cloud is not None:
            obj = builder.build_cloud(context, cloud, source=inputs.files.depth_path, frame=scene.frame_current,
                                      **self.look())
        else:
            obj = builder.place_cloud(context, builder.clear_mesh, source=source, frame=scene.frame_current,
                                      geometry=self.geometry, shading=self.shading, point_size=self.point_size)
        obj.depth_cloud_sequence.enabled = False
        if self.sequence:
            return self._bind_sequence(context, obj, source, from_setup, cloud, None if cloud else missing)
        seconds = time.perf_counter() - start
        level = "WARNING" if inputs.uses_scene_camera else "INFO"
        what = {"POINTS": "points", "FACES": "pixel faces", "SURFACE": "surface vertices"}[self.geometry]
        return _finish(self, context, level,
                       f"Depth Cloud: {len(cloud.positions):,} {what} from frame {scene.frame_current} "
                       f"({os.path.basename(inputs.files.depth_path)}, {inputs.camera_note}) in {seconds:.2f} s")

    def _bind_sequence(self, context, obj, source, from_setup, cloud, missing):
        scene = context.scene
        sequence.bind(obj, source=source, from_setup=from_setup, options=self.build_options(),
                      geometry=self.geometry, surface_step=self.surface_step)
        lock = "" if scene.render.use_lock_interface else "; turned on Render > Lock Interface so renders show it"
        scene.render.use_lock_interface = True
        shown = sequence.show_frame(obj, scene, scene.frame_current)
        status = obj.depth_cloud_sequence.message
        return _finish(self, context, "INFO" if shown else "WARNING",
                       f"Depth Cloud: '{obj.name}' now follows the timeline ({status}){lock}")


class FrameRangeMixin:
    frame_start: bpy.props.IntProperty(name="Start", description="First frame (default: the scene's)", default=-1)
    frame_end: bpy.props.IntProperty(name="End", description="Last frame (default: the scene's)", default=-1)

    def frame_numbers(self, scene) -> range:
        start = scene.frame_start if self.frame_start < 0 else self.frame_start
        end = scene.frame_end if self.frame_end < 0 else self.frame_end
        return range(start, end + 1)


def _sequence_binding(context):
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and obj.depth_cloud_sequence.enabled:
        return obj
    return None


class DEPTH_CLOUD_OT_preload_sequence(FrameRangeMixin, bpy.types.Operator):
    """Decode every frame of the active sequence cloud into the frame cache, so playback re-reads nothing \
(stops when the cache limit in the add-on preferences is reached)"""

    bl_idname = "depth_cloud.preload_sequence"
    bl_label = "Preload Sequence"

    @classmethod
    def poll(cls, context):
        if _sequence_binding(context) is None:
            cls.poll_message_set("Select a cloud built with Sequence on")
            return False
        return True

    def execute(self, context):
        scene, obj = context.scene, _sequence_binding(context)
        numbers = self.frame_numbers(scene)
        original = scene.frame_current
        window_manager = context.window_manager
        window_manager.progress_begin(0, len(numbers))
        loaded, failed, full = 0, [], False
        try:
            for i, frame in enumerate(numbers):
                window_manager.progress_update(i)
                before = len(sequence.CACHE)
                scene.frame_set(frame)  # the handler loads the frame into the cache
                if not obj.data.vertices and "points" not in obj.depth_cloud_sequence.message:
                    failed.append(frame)
                elif len(sequence.CACHE) <= before and i > 0:
                    full = True
                    break
                else:
                    loaded += 1
        finally:
            window_manager.progress_end()
            scene.frame_set(original)
        message = f"Depth Cloud: preloaded {loaded} of {len(numbers)} frames ({sequence.CACHE.nbytes / 2**20:.0f} MB)"
        if failed:
            message += f"; frame(s) {', '.join(map(str, failed))} could not be loaded"
        if full:
            message += "; the frame cache is full: raise its limit in the add-on preferences"
        return _finish(self, context, "WARNING" if failed or full else "INFO", message)


class DEPTH_CLOUD_OT_bake_sequence(LookMixin, BuildOptionsMixin, FrameRangeMixin, bpy.types.Operator):
    """Bake a frame range of the sequence into objects that need no handler: one object per frame with \
keyed visibility, or one fused world-space cloud (optionally one point per voxel). ESC stops and keeps \
what was baked"""

    bl_idname = "depth_cloud.bake_sequence"
    bl_label = "Bake Sequence"
    bl_options = {"REGISTER", "UNDO"}

    mode: bpy.props.EnumProperty(name="Bake", items=(
        ("PER_FRAME", "Object per Frame", "One object per frame, visible only on its frame"),
        ("FUSED", "Fused Cloud", "All frames in one world-space cloud"),
    ), default="PER_FRAME")
    voxel_size: bpy.props.FloatProperty(
        name="Voxel Size", description="Fused cloud: keep one point per voxel of this size, averaging positions "
                                       "and colors (0: keep every point)",
        default=0.0, min=0.0, subtype="DISTANCE", unit="LENGTH",
    )

    @classmethod
    def poll(cls, context):
        return in_object_mode(cls, context, "bake")

    def _job(self, context) -> bake.BakeJob:
        obj = _sequence_binding(context)
        if obj is not None and not self.filepath:
            settings = obj.depth_cloud_sequence
            source, from_setup = sequence.source_path(settings), settings.from_setup
            options = sequence.build_options(settings)
        else:
            (source, from_setup), options = self.frame_source(context.scene), self.build_options()
        if self.mode == "FUSED" and self.geometry != "POINTS":
            raise DepthCloudError("a fused cloud is made of points: choose Geometry = Points, or bake one "
                                  "object per frame")
        return bake.BakeJob(context, source=source, from_setup=from_setup, options=options,
                            frame_numbers=self.frame_numbers(context.scene), mode=self.mode,
                            voxel_size=self.voxel_size if self.mode == "FUSED" else 0.0, **self.look())

    def execute(self, context):
        try:
            job = self._job(context)
        except DepthCloudError as exc:
            return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        while job.step():
            pass
        return self._done(context, job)

    def invoke(self, context, event):
        try:
            self._running = self._job(context)
        except DepthCloudError as exc:
            return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        window_manager = context.window_manager
        window_manager.progress_begin(0, self._running.total)
        self._timer = window_manager.event_timer_add(0.001, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._running
        if event.type == "ESC":
            return self._done(context, job)
        if event.type == "TIMER":
            more = job.step()
            context.window_manager.progress_update(job.next_index)
            context.workspace.status_text_set(f"Depth Cloud: baking frame {job.next_index} of {job.total} (ESC stops)")
            if not more:
                return self._done(context, job)
        return {"RUNNING_MODAL"}

    def _done(self, context, job):
        if getattr(self, "_timer", None) is not None:
            context.window_manager.event_timer_remove(self._timer)
            context.window_manager.progress_end()
            context.workspace.status_text_set(None)
        summary = job.finish()
        level = "ERROR" if not job.done else ("WARNING" if job.skipped or job.next_index < job.total else "INFO")
        return _finish(self, context, level, f"Depth Cloud: {summary}") if level != "ERROR" else \
            _finish(self, context, "ERROR", f"Depth Cloud: nothing baked; {summary}")


classes = (DEPTH_CLOUD_OT_setup_outputs, DEPTH_CLOUD_OT_remove_outputs, DEPTH_CLOUD_OT_build,
           DEPTH_CLOUD_OT_preload_sequence, DEPTH_CLOUD_OT_bake_sequence)
register, unregister = bpy.utils.register_classes_factory(classes)
