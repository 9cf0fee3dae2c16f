"""The 3D View sidebar panel "Depth → Point Cloud"."""

import textwrap

import bpy

from . import compositor

TITLE = "Depth → Point Cloud"


def _wrap(text: str, width: int = 48) -> list[str]:
    """A long message as panel lines (labels do not wrap)."""
    return textwrap.wrap(text, width) or [""]


def _build_button(row, settings, **kwargs):
    """A Build button that reads the attributes and edge setting shown in the panel."""
    op = row.operator("depth_cloud.build", **kwargs)
    op.attributes, op.drop_edges = settings.attributes, settings.drop_edges
    return op


class VIEW3D_PT_depth_cloud(bpy.types.Panel):
    bl_label = TITLE
    bl_category = TITLE
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.depth_cloud
        directory = compositor.output_directory(context.scene)

        box = layout.box()
        box.label(text="1. Outputs", icon="NODE_COMPOSITING")
        box.prop(settings, "directory", text="")
        box.prop(settings, "depth_files")
        box.prop_search(settings, "view_layer", context.scene, "view_layers")
        box.label(text="Extra Passes (point attributes):")
        box.prop(settings, "extra_passes")
        box.prop(settings, "capture_format")
        row = box.row(align=True)
        setup = row.operator("depth_cloud.setup_outputs", icon="ADD")
        setup.directory, setup.extra_passes = settings.directory, settings.extra_passes
        setup.capture_format = settings.capture_format
        row.operator("depth_cloud.remove_outputs", text="", icon="X")
        box.label(text=f"Writing to {directory}" if directory else "Not set up", icon="INFO")
        doubtful = compositor.doubtful_settings(context.scene)
        if doubtful:
            col = box.column(align=True)
            col.alert = True
            for warning in doubtful:
                for line in _wrap(warning):
                    col.label(text=line)
            box.operator("depth_cloud.exact_capture_settings", icon="CHECKMARK")
        paused = compositor.capture_status(context.scene) if directory else None
        if paused:
            col = box.column(align=True)
            col.alert = True
            for line in _wrap(paused):
                col.label(text=line)
            if compositor.clouds_in_render(context.scene):
                box.operator("depth_cloud.hide_clouds_from_renders", icon="RESTRICT_RENDER_ON")

        box = layout.box()
        box.label(text="2. Render (F12 or Render Animation)", icon="RENDER_STILL")

        box = layout.box()
        box.label(text="3. Cloud", icon="OUTLINER_OB_POINTCLOUD")
        box.label(text="Attributes:")
        box.prop(settings, "attributes")
        box.prop(settings, "drop_edges")
        row = box.row(align=True)
        _build_button(row, settings, icon="PLAY")
        _build_button(row, settings, text="Sequence", icon="SEQUENCE").sequence = True
        row = box.row(align=True)
        _build_button(row, settings, text="Pixel Faces", icon="MESH_PLANE").geometry = "FACES"
        _build_button(row, settings, text="Surface", icon="MESH_GRID").geometry = "SURFACE"
        _build_button(row, settings, text="Discs", icon="MESH_CIRCLE").geometry = "DISCS"
        row = box.row(align=True)
        row.label(text="Color by:")
        for mode, label in (("IMAGE", "Image"), ("OBJECT", "Object"), ("NORMAL", "Normal"), ("MOTION", "Motion")):
            row.operator("depth_cloud.color_by", text=label).mode = mode
        if settings.last_message:
            box.label(text=settings.last_message.removeprefix("Depth Cloud: "))

        box = layout.box()
        box.label(text="Ground Truth", icon="TRACKER")
        row = box.row(align=True)
        row.prop(settings, "probe_pixel", text="Pixel x, y")
        row.operator("depth_cloud.probe_pixel", text="", icon="FORWARD")
        if settings.probe_result:
            box.label(text=f"→ {settings.probe_result}")
        box.operator("depth_cloud.pick_points", icon="EMPTY_AXIS")
        row = box.row(align=True)
        row.operator("depth_cloud.convert_depth", icon="MOD_DATA_TRANSFER")
        row.operator("depth_cloud.export_cameras", icon="CAMERA_DATA").directory = settings.directory
        row = box.row(align=True)
        row.operator("depth_cloud.export_ply", icon="EXPORT")
        row.operator("depth_cloud.export_dataset", icon="FILE_FOLDER")

        obj = context.active_object
        if obj is not None and obj.type == "MESH" and obj.depth_cloud_sequence.enabled:
            box = layout.box()
            box.label(text=f"Sequence: {obj.name}", icon="SEQUENCE")
            box.label(text=obj.depth_cloud_sequence.message or "waiting for a frame change")
            row = box.row(align=True)
            row.operator("depth_cloud.preload_sequence", icon="IMPORT")
            row.operator("depth_cloud.bake_sequence", icon="RENDER_ANIMATION")


classes = (VIEW3D_PT_depth_cloud,)
register, unregister = bpy.utils.register_classes_factory(classes)
