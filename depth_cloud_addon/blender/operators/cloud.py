"""Clouds in the scene: Build (a frame, or a sequence that follows the timeline), Preload and Bake.

Thin glue: a frame's files and camera come from :mod:`..frames`, the arrays from the core
(:func:`read_cloud`), the objects from :mod:`..builder`, sequences from :mod:`..sequence` / :mod:`..bake`.
"""

from __future__ import annotations

import dataclasses
import os
import time

import bpy

from ...core import DepthCloudError, NoSourceError
from ...core.frames.cloud import read_cloud
from ...core.frames.loop import walk_frames
from .. import bake, builder, compositor, frames, sequence
from ..options import build_options as options_of
from ..options import geometry_fields, typed_float
from .base import (
    SPACE_ITEMS,
    BuildOptionsMixin,
    FrameRangeMixin,
    LookMixin,
    finish,
    in_object_mode,
    restore_frame,
    sequence_binding,
)


def capture_note(scene) -> str:
    """After making a cloud: pause the capture while it renders, and say so (empty when nothing changed)."""
    if compositor.output_directory(scene) is None or not compositor.sync_capture(scene):
        return ""
    return "; capture paused while the cloud renders (renders show it and write no capture files; see the panel)"


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
        previous = builder.find_cloud(scene)
        was_bound = previous is not None and previous.depth_cloud_sequence.enabled
        try:
            source, from_setup = self.frame_source(scene)
            inputs = frames.frame_inputs(scene, source, from_setup, scene.frame_current)
            options = self.build_options(scene, space)
            if self.geometry == "POINTS" and not self.sequence:  # the mesh holds no pixel indices or depths
                options = dataclasses.replace(options, with_pixels=False)
            cloud = read_cloud(inputs, options)
        except DepthCloudError as exc:
            if not self.sequence or isinstance(exc, NoSourceError):
                return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
            inputs = cloud = None  # a sequence may start on a frame that is not rendered yet
            missing = str(exc)
        if cloud is not None:
            count = cloud.count
            obj = builder.build_cloud(context, cloud, source=inputs.files.depth_path, frame=scene.frame_current,
                                      release=True, **self.look())  # each array is freed once in the mesh
        else:
            obj = builder.place_cloud(context, builder.clear_mesh, source=source, frame=scene.frame_current,
                                      geometry=self.geometry, shading=self.shading, point_size=self.point_size)
        paused = capture_note(scene)
        if self.sequence:
            return self._bind_sequence(context, obj, source, from_setup, cloud, None if cloud else missing, paused)
        paused += self._keep_binding(scene, obj) if was_bound else ""
        seconds = time.perf_counter() - start
        level = "WARNING" if inputs.uses_fallback_camera or cloud.warnings else "INFO"
        what = {"POINTS": "points", "FACES": "pixel faces", "SURFACE": "surface vertices",
                "DISCS": "discs"}[self.geometry]
        warnings = "".join(f"; {w}" for w in cloud.warnings)
        layer = f", view layer '{cloud.view_layer}'" if cloud.view_layer else ""
        return finish(self, context, level,
                      f"Depth Cloud: {count:,} {what} from frame {scene.frame_current} "
                      f"({os.path.basename(inputs.files.depth_path)}{layer}, {inputs.camera_note}) in {seconds:.2f} s"
                      f"{warnings}{paused}")

    def _keep_binding(self, scene, obj) -> str:
        """Build on a cloud that follows the timeline (e.g. Pixel Faces): it keeps following it, with this Build's
        geometry and options (a camera-space cloud cannot: then the binding is dropped, and the report says so)."""
        settings = obj.depth_cloud_sequence
        if self.space != "WORLD":
            settings.enabled = False
            return "; it no longer follows the timeline (a sequence is in world space)"
        sequence.bind(obj, source=settings.source, from_setup=settings.from_setup, build=self.build_options(scene),
                      geometry=self.geometry, surface_step=self.surface_step)
        return f"; it still follows the timeline, now as {self.geometry.lower().replace('faces', 'pixel faces')}"

    def _bind_sequence(self, context, obj, source, from_setup, cloud, missing, paused):
        scene = context.scene
        sequence.bind(obj, source=source, from_setup=from_setup, build=self.build_options(scene),
                      geometry=self.geometry, surface_step=self.surface_step)
        lock = "" if scene.render.use_lock_interface else "; turned on Render > Lock Interface so renders show it"
        scene.render.use_lock_interface = True
        shown = sequence.show_frame(obj, scene, scene.frame_current)
        status = obj.depth_cloud_sequence.message
        return finish(self, context, "INFO" if shown else "WARNING",
                      f"Depth Cloud: '{obj.name}' now follows the timeline ({status}){lock}{paused}")


class DEPTH_CLOUD_OT_preload_sequence(FrameRangeMixin, bpy.types.Operator):
    """Decode every frame of the active sequence cloud into the frame cache, so playback re-reads nothing \
(stops when the cache limit in the add-on preferences is reached)"""

    bl_idname = "depth_cloud.preload_sequence"
    bl_label = "Preload Sequence"

    @classmethod
    def poll(cls, context):
        if sequence_binding(context) is None:
            cls.poll_message_set("Select a cloud built with Sequence on")
            return False
        return True

    def execute(self, context):
        scene, obj = context.scene, sequence_binding(context)
        settings = obj.depth_cloud_sequence
        numbers = self.frame_numbers(scene)
        original = scene.frame_current
        window_manager = context.window_manager
        window_manager.progress_begin(0, len(numbers))
        keys: list = []  # the frames this preload holds, in order: all of them must still be cached at the end
        full = False

        def load(frame: int):
            scene.frame_set(frame)  # the scene camera of frames without a sidecar; the handler caches it
            return sequence.frame_cloud(scene, settings, frame)[2]  # decoded now if not cached

        def held(outcome) -> None:
            nonlocal full
            window_manager.progress_update(len(keys) + 1)
            if outcome.ok:
                if outcome.value not in sequence.CACHE or any(k not in sequence.CACHE for k in keys):
                    full = True  # this frame, or one preloaded before it, no longer fits
                else:
                    keys.append(outcome.value)

        try:
            report = walk_frames(numbers, load, on_outcome=held, stop=lambda: full)
        finally:
            window_manager.progress_end()
            restore_frame(scene, original)
        failed = [o.frame for o in report.failed]
        message = (f"Depth Cloud: preloaded {len(keys)} of {len(numbers)} frames "
                   f"({sequence.CACHE.nbytes / 2**20:.0f} MB)")
        if failed:
            message += f"; frame(s) {', '.join(map(str, failed))} could not be loaded"
        if full:
            message += "; the frame cache is full: raise its limit in the add-on preferences"
        return finish(self, context, "WARNING" if failed or full else "INFO", message)


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
        obj = sequence_binding(context)
        if obj is not None and not self.filepath:
            settings = obj.depth_cloud_sequence
            source, from_setup = sequence.source_path(settings), settings.from_setup
            if self.mode == "PER_FRAME" and not self.properties.is_property_set("geometry"):  # as it shows (Faces)
                self.geometry, self.surface_step = settings.geometry, settings.surface_step
            # The binding's frames in this bake's geometry (what each frame's cloud must hold: points, discs).
            options = options_of(settings, **geometry_fields(self.geometry))
        else:
            (source, from_setup), options = self.frame_source(context.scene), self.build_options(context.scene)
        if self.mode == "FUSED" and self.geometry != "POINTS":
            raise DepthCloudError("a fused cloud is made of points: choose Geometry = Points, or bake one "
                                  "object per frame (discs too)")
        if self.mode == "FUSED" and options.attributes:
            raise DepthCloudError("point attributes are per frame: bake one object per frame to keep them (a fused "
                                  "cloud has positions and colors only)")
        return bake.BakeJob(context, source=source, from_setup=from_setup, options=options,
                            frame_numbers=self.frame_numbers(context.scene), mode=self.mode,
                            voxel_size=typed_float(self.voxel_size) if self.mode == "FUSED" else 0.0, **self.look())

    def execute(self, context):
        self._failure = None
        try:
            job = self._job(context)
        except DepthCloudError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        while self._step(context, job):
            pass
        return self._done(context, job)

    def _step(self, context, job) -> bool:
        """One frame; an unexpected error undoes the bake (the previous one stays) and ends it."""
        try:
            return job.step()
        except Exception as exc:  # never a half-made bake, never a traceback for the user
            job.abort()
            self._failure = f"{type(exc).__name__}: {exc}"
            return False

    def invoke(self, context, event):
        self._failure = None
        try:
            self._running = self._job(context)
        except DepthCloudError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
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
            more = self._step(context, job)
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
        failure = getattr(self, "_failure", None)
        if failure is not None:
            frame = job.frames[job.next_index - 1]
            return finish(self, context, "ERROR", f"Depth Cloud: bake stopped at frame {frame} and was undone "
                                                  f"(the previous bake is kept): {failure}")
        summary = job.finish() + capture_note(context.scene)
        doubtful = job.report.failed or job.report.warned or job.next_index < job.total
        level = "WARNING" if job.kept_previous else "ERROR" if not job.done else ("WARNING" if doubtful else "INFO")
        return finish(self, context, level, f"Depth Cloud: {summary}") if level != "ERROR" else \
            finish(self, context, "ERROR", f"Depth Cloud: nothing baked; {summary}")


def _clouds_to_color(context) -> list:
    """The add-on's clouds among the selected objects (and the active one)."""
    chosen = list(context.selected_objects)
    if context.active_object is not None and context.active_object not in chosen:
        chosen.append(context.active_object)
    return [obj for obj in chosen if obj.get(builder.ROLE) in builder.CLOUD_ROLES]


class DEPTH_CLOUD_OT_color_by(bpy.types.Operator):
    """Show the selected clouds by their captured color, or by object (a color per object ID), normal or \
motion (the point attributes read at Build)"""

    bl_idname = "depth_cloud.color_by"
    bl_label = "Color By"
    bl_options = {"REGISTER", "UNDO"}

    mode: bpy.props.EnumProperty(name="Color By", items=(
        ("IMAGE", "Image", "The captured color"),
        ("OBJECT", "Object", "A color per object (the object_id or object_index attribute)"),
        ("NORMAL", "Normal", "The normal attribute as a color (x, y, z -> r, g, b)"),
        ("MOTION", "Motion", "The motion attribute as a color (grey: still)")), default="IMAGE")

    @classmethod
    def poll(cls, context):
        if not _clouds_to_color(context):
            cls.poll_message_set("Select a Depth Cloud cloud")
            return False
        return True

    def execute(self, context):
        clouds = _clouds_to_color(context)
        lacking = []
        for obj in clouds:
            obj[builder.COLOR_BY] = builder.COLOR_BY_MODES.index(self.mode)
            obj.data.update()
            needs = builder.COLOR_BY_NEEDS.get(self.mode, ())
            if needs and not any(name in obj.data.attributes for name in needs):
                lacking.append(obj.name)
        for material in {slot.material for obj in clouds for slot in obj.material_slots if slot.material}:
            if material.get(builder.ROLE) in ("points", "shaded"):
                builder.cloud_material("EMISSION" if material[builder.ROLE] == "points" else "SHADED")
        if lacking:
            needs = " or ".join(builder.COLOR_BY_NEEDS[self.mode])
            return finish(self, context, "WARNING", f"Depth Cloud: {', '.join(lacking)} has no {needs} attribute: "
                                                    f"build it with that attribute to color by {self.mode.lower()}")
        return finish(self, context, "INFO", f"Depth Cloud: {len(clouds)} cloud(s) colored by {self.mode.lower()}")


classes = (DEPTH_CLOUD_OT_build, DEPTH_CLOUD_OT_preload_sequence, DEPTH_CLOUD_OT_bake_sequence,
           DEPTH_CLOUD_OT_color_by)
