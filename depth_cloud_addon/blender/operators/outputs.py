"""Set Up / Remove EXR Outputs: the compositor nodes that write each rendered frame's depth and color."""

from __future__ import annotations

import bpy

from .. import compat, compositor
from ..properties import CAPTURE_FORMAT_ITEMS, DEPTH_FILE_ITEMS, EXTRA_PASS_ITEMS
from .base import finish


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
        subtype="DIR_PATH", options=compat.path_options(),
    )

    depth_files: bpy.props.EnumProperty(
        name="Depth Files", description="Which depth maps to write per rendered frame",
        items=DEPTH_FILE_ITEMS, default="PLANAR",
    )

    view_layer: bpy.props.StringProperty(
        name="View Layer", description="The view layer whose Depth and Image are captured (empty: the active one)",
        default="",
    )

    extra_passes: bpy.props.EnumProperty(
        name="Extra Passes", description="Passes to capture per frame in passes_NNNN.exr, read as point attributes",
        items=EXTRA_PASS_ITEMS, options={"ENUM_FLAG"}, default=set(),
    )
    capture_format: bpy.props.EnumProperty(
        name="Capture Format", description="How the EXRs are stored: smaller, or faster to read (depth is always "
                                           "float32)", items=CAPTURE_FORMAT_ITEMS, default="ZIP",
    )

    def invoke(self, context, event):
        settings = context.scene.depth_cloud
        self.directory, self.depth_files = settings.directory, settings.depth_files
        self.view_layer, self.extra_passes = settings.view_layer, settings.extra_passes
        self.capture_format = settings.capture_format
        return self.execute(context)

    def execute(self, context):
        scene = context.scene
        if not self.directory.strip():
            return finish(self, context, "ERROR", "Depth Cloud: the output folder is empty")
        layer = scene.view_layers.get(self.view_layer) if self.view_layer else context.view_layer
        if layer is None:
            names = ", ".join(f"'{v.name}'" for v in scene.view_layers)
            return finish(self, context, "ERROR",
                          f"Depth Cloud: scene '{scene.name}' has no view layer '{self.view_layer}' (it has {names})")
        problem = compositor.unwritable_folder(self.directory)
        if problem is not None:
            return finish(self, context, "ERROR", f"Depth Cloud: the output folder cannot be written: {problem}")
        result = compositor.setup_outputs(scene, layer, self.directory, self.extra_passes, self.capture_format)
        settings = scene.depth_cloud
        settings.directory, settings.depth_files, settings.view_layer = result.directory, self.depth_files, layer.name
        settings.extra_passes, settings.capture_format = self.extra_passes, self.capture_format
        what = f"view layer '{layer.name}' to {result.directory}"
        if self.extra_passes:
            written = [kind for kind in compositor.PASS_KINDS if kind in self.extra_passes
                       and kind not in result.passes_lacking]
            what += f" with the {', '.join(written) or 'no'} pass(es)"
        if result.passes_lacking:
            return finish(self, context, "WARNING",
                          f"Depth Cloud: writing {what}; the {scene.render.engine} engine does not render "
                          f"{', '.join(result.passes_lacking)}: those attributes are not captured")
        if result.added == 0:
            return finish(self, context, "INFO", f"Depth Cloud: outputs already set up, now writing {what}")
        return finish(self, context, "INFO", f"Depth Cloud: added {result.added} compositor nodes writing {what}")


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
        return finish(self, context, "INFO", f"Depth Cloud: removed {removed} compositor nodes")


class DEPTH_CLOUD_OT_hide_clouds_from_renders(bpy.types.Operator):
    """Hide the add-on's clouds from renders (Object > Visibility > Renders), so renders capture the scene \
again; the clouds stay in the viewport"""

    bl_idname = "depth_cloud.hide_clouds_from_renders"
    bl_label = "Hide Clouds from Renders"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not compositor.clouds_in_render(context.scene):
            cls.poll_message_set("No Depth Cloud object is in the render")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        clouds = compositor.clouds_in_render(scene)
        for obj in clouds:
            if obj.animation_data is not None and obj.animation_data.action is not None:
                for curve in [c for c in compat.action_fcurves(obj.animation_data.action)
                              if c.data_path == "hide_render"]:
                    curve.mute = True  # baked frames: their keyed render visibility stays, muted
            obj.hide_render = True
        compositor.sync_capture(scene)
        return finish(self, context, "INFO", f"Depth Cloud: hid {len(clouds)} cloud(s) from renders; "
                                              "renders capture depth, color and camera files again")


class DEPTH_CLOUD_OT_exact_capture_settings(bpy.types.Operator):
    """Turn off what makes the Depth pass disagree with the pixels: the scene camera's depth of field, the \
render's motion blur, and EEVEE's jittered samples (1 render sample)"""

    bl_idname = "depth_cloud.exact_capture_settings"
    bl_label = "Off for Capture"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not compositor.doubtful_settings(context.scene):
            cls.poll_message_set("Depth of field, motion blur and EEVEE's sample jitter are off already")
            return False
        return True

    def execute(self, context):
        scene, changed = context.scene, []
        camera = scene.camera.data if scene.camera is not None else None
        if camera is not None and getattr(camera, "dof", None) is not None and camera.dof.use_dof:
            camera.dof.use_dof = False
            changed.append(f"depth of field of '{scene.camera.name}'")
        if scene.render.use_motion_blur:
            scene.render.use_motion_blur = False
            changed.append("motion blur")
        if (compositor.eevee_samples(scene) or 0) > 1:
            scene.eevee.taa_render_samples = 1
            changed.append("EEVEE's sample jitter (1 render sample)")
        return finish(self, context, "INFO", f"Depth Cloud: turned off {' and '.join(changed)} for capture")


classes = (DEPTH_CLOUD_OT_setup_outputs, DEPTH_CLOUD_OT_remove_outputs, DEPTH_CLOUD_OT_hide_clouds_from_renders,
           DEPTH_CLOUD_OT_exact_capture_settings)
