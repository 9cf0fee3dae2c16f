"""Settings stored in the .blend: the scene's output folder, which depth files to write, the probe."""

import bpy

from . import compat

DEPTH_FILE_ITEMS = (
    ("PLANAR", "Planar Z", "depth_NNNN.exr only: Blender's Depth pass, planar Z for perspective and "
                           "orthographic cameras (panoramic cameras also get planar_NNNN.exr)"),
    ("DISTANCE", "Ray Distance", "Also distance_NNNN.exr: the distance from the camera centre along each "
                                 "pixel-centre ray, converted exactly from the Depth pass"),
    ("BOTH", "Both", "Also planar_NNNN.exr and distance_NNNN.exr, whatever the camera type"),
)


#: How the captured EXRs are stored (depth is always float32: points never move). docs/benchmarks.md has the size
#: of a frame and its decode time for each.
CAPTURE_FORMAT_ITEMS = (
    ("ZIP", "ZIP", "Lossless ZIP, float32 colour: exact, the smallest exact files (default)"),
    ("NONE", "Uncompressed", "No compression, float32 colour: exact; about 1.6x the size of ZIP, and read no faster "
                             "than ZIP on 2 cores (docs/benchmarks.md)"),
    ("NONE_HALF", "Uncompressed, Half Colour", "No compression, half-float colour (depth stays float32, so points do "
                  "not move): about the size of ZIP; colour to 11 bits, 8-bit sRGB values off by at most 1"),
    ("ZIP_HALF", "ZIP, Half Colour", "Lossless ZIP of half-float colour (depth stays float32, so points do not move): "
                 "about a third of ZIP's size and read in about half its time; colour to 11 bits, 8-bit sRGB values "
                 "off by at most 1"),
)


EXTRA_PASS_ITEMS = (
    ("OBJECT_INDEX", "Object Index", "The objects' Pass Index per pixel (Cycles): the object_index attribute"),
    ("MATERIAL_INDEX", "Material Index", "The materials' Pass Index per pixel (Cycles): the material_pass_index "
                                         "attribute"),
    ("NORMAL", "Normal", "The world-space surface normal per pixel: the normal attribute"),
    ("MOTION", "Motion", "The Vector and Cryptomatte passes, and every object's placement in this frame and the next "
                         "(in the sidecar): the exact 3D motion attribute"),
    ("CRYPTOMATTE", "Cryptomatte", "Object names per pixel (Cryptomatte): the object_id attribute and its legend"),
)


ATTRIBUTE_ITEMS = (
    ("OBJECT_INDEX", "Object Index", "object_index (INT): the object's Pass Index (Cycles' Object Index pass)"),
    ("MATERIAL_PASS_INDEX", "Material Pass Index", "material_pass_index (INT): the material's Pass Index"),
    ("OBJECT_ID", "Object ID", "object_id (INT): the object's Cryptomatte hash; the legend names the objects"),
    ("NORMAL", "Normal", "normal (FLOAT_VECTOR): the unit surface normal from the Normal pass"),
    ("MOTION", "Motion", "motion (FLOAT_VECTOR, metres): where the surface point moves by the next frame"),
    ("MOTION_SOURCE", "Motion Source", "motion_source (INT): 0 unknown, 1 rigid (exact), 2 Vector pass"),
    ("EDGE", "Edge", "edge (BOOLEAN): the pixel straddles a silhouette"),
    ("CREASE", "Crease", "crease (BOOLEAN): the pixel is on a crease (needs the Normal pass): its normal and motion "
                         "mix both sides' samples"),
)


class DepthCloudSceneSettings(bpy.types.PropertyGroup):
    directory: bpy.props.StringProperty(
        name="Output Folder",
        description="Folder the compositor writes depth_####.exr, color_####.exr and camera_####.json "
                    "into for every rendered frame ('//' is the .blend's folder)",
        default="//depth_cloud/",
        subtype="DIR_PATH", options=compat.path_options("ANIMATABLE"),
    )
    depth_files: bpy.props.EnumProperty(
        name="Depth Files",
        description="Which depth maps to write per rendered frame (float32, one channel, NaN where nothing "
                    "was hit in the converted files)",
        items=DEPTH_FILE_ITEMS, default="PLANAR",
    )
    view_layer: bpy.props.StringProperty(
        name="View Layer", description="The view layer whose passes Set Up EXR Outputs captures (empty: the active "
                                       "one)", default="",
    )
    capture_format: bpy.props.EnumProperty(
        name="Capture Format", description="How the captured EXRs are stored: smaller, or faster to read (depth is "
                                           "always float32)", items=CAPTURE_FORMAT_ITEMS, default="ZIP",
    )
    attributes: bpy.props.EnumProperty(
        name="Attributes", description="Point attributes Build reads from the captured passes",
        items=ATTRIBUTE_ITEMS, options={"ENUM_FLAG"}, default=set(),
    )
    drop_edges: bpy.props.BoolProperty(
        name="Drop Edge Pixels", description="Build leaves out pixels that straddle a silhouette (flying points)",
        default=False,
    )
    extra_passes: bpy.props.EnumProperty(
        name="Extra Passes", description="Passes to capture per frame in passes_NNNN.exr, read as point attributes",
        items=EXTRA_PASS_ITEMS, options={"ENUM_FLAG"}, default=set(),
    )
    probe_pixel: bpy.props.FloatVectorProperty(
        name="Pixel", description="Continuous pixel coordinates (x right, y down, pixel centres at +0.5) "
                                  "of the current frame; press the arrow to see their 3D point",
        # No update callback: with one, bpy 4.2 crashes when Python exits after the add-on was registered.
        size=2, default=(0.5, 0.5), precision=2,
    )
    probe_result: bpy.props.StringProperty(name="3D Point", default="")
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
