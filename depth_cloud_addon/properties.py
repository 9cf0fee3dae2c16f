"""Settings stored in the .blend: the scene's output folder and the last build's summary."""

import bpy


class DepthCloudSceneSettings(bpy.types.PropertyGroup):
    directory: bpy.props.StringProperty(
        name="Output Folder",
        description="Folder the compositor writes depth_####.exr, color_####.exr and camera_####.json "
                    "into for every rendered frame ('//' is the .blend's folder)",
        default="//depth_cloud/",
        subtype="DIR_PATH",
    )
    last_message: bpy.props.StringProperty(
        name="Last Result",
        description="What the last Depth Cloud operation did",
        default="",
    )


classes = (DepthCloudSceneSettings,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.depth_cloud = bpy.props.PointerProperty(type=DepthCloudSceneSettings)


def unregister():
    del bpy.types.Scene.depth_cloud
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
