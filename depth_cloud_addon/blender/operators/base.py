"""What every Depth Cloud operator shares: reporting, poll checks with messages, the option mixins and
their enum items.

Enum identifiers are UPPER_CASE, as in Blender itself; the core and the CLI take lower-case strings
("planar", "world", "srgb"), converted by :func:`core_value` in one place. Expected problems
(:class:`DepthCloudError`) are reported with ``report({'ERROR'}, ...)`` and the operator returns
``{'CANCELLED'}``; nothing of the user's is changed then.
"""

from __future__ import annotations

import bpy

from ...core.frames.cloud import BuildOptions
from ...core.frames.loop import FrameReport
from ...core.frames.passes import ATTRIBUTES, EDGE_THRESHOLD
from .. import compat, compositor, frames
from ..options import build_options as options_of
from ..properties import ATTRIBUTE_ITEMS


def core_value(identifier: str) -> str:
    """An operator enum identifier ("PLANAR") as the core's value ("planar")."""
    return identifier.lower()


def finish(self, context, level: str, message: str) -> set:
    """Report ``message`` at ``level`` and show it in the panel; ERROR cancels."""
    self.report({level}, message)
    context.scene.depth_cloud.last_message = message
    return {"FINISHED"} if level != "ERROR" else {"CANCELLED"}


def finish_range(self, context, summary: str | None, report: FrameReport, verb: str, notes=()) -> set:
    """Report a walk over frames (the core's frame loop): what was done (None: nothing), the frames that failed,
    each warning once with its frames, and ``notes``."""
    failures = report.failures
    if summary is None:
        return finish(self, context, "ERROR", f"Depth Cloud: nothing {verb}; {failures[0] if failures else ''}")
    lines = report.warning_lines() + list(notes)
    message = (f"Depth Cloud: {summary}" + (f"; {len(failures)} failed: {failures[0]}" if failures else "")
               + "".join(f"; {line}" for line in lines))
    return finish(self, context, "WARNING" if failures or lines else "INFO", message)


def in_object_mode(cls, context, action: str) -> bool:
    """Poll check shared by the operators that create objects; explains itself when it fails."""
    if context.mode != "OBJECT":
        cls.poll_message_set(f"Switch to Object Mode to {action}")
        return False
    return True


def sequence_binding(context):
    """The active object if it is a cloud bound to a sequence, else None."""
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and obj.depth_cloud_sequence.enabled:
        return obj
    return None


def restore_frame(scene, frame: int) -> None:
    """Go back to ``frame`` after stepping through a range (only if it changed)."""
    if scene.frame_current != frame:
        scene.frame_set(frame)


DEPTH_KIND_ITEMS = (
    ("AUTO", "Auto", "Planar Z for perspective and orthographic cameras, ray distance for panoramic ones "
                     "(what Cycles writes)"),
    ("PLANAR", "Planar Z", "Distance along the camera's view axis"),
    ("DISTANCE", "Ray Distance", "Distance from the camera centre along the pixel's ray"),
)
SPACE_ITEMS = (
    ("WORLD", "World", "Vertices in world coordinates"),
    ("CAMERA", "Camera Empty", "Vertices in the camera's frame, parented to an empty placed like the camera"),
)
GEOMETRY_ITEMS = (
    ("POINTS", "Points", "One round point per pixel, as large as it takes to cover the pixel seen from the camera"),
    ("FACES", "Pixel Faces", "One camera-facing quad per pixel at the pixel's depth: seen from the render camera "
                             "the quads tile the image exactly"),
    ("SURFACE", "Surface", "One grid mesh through the pixel centres, torn at depth discontinuities, with UVs "
                           "that map to the source image"),
    ("DISCS", "Discs", "One disc per pixel at its point, facing along the surface's normal and as large as the "
                       "pixel's footprint on the surface: the cloud stays closed from other viewpoints"),
)
SHADING_ITEMS = (
    ("EMISSION", "Emission", "Shadeless: a render shows the captured colors unchanged"),
    ("SHADED", "Shaded", "The captured colors as base color, lit by the scene"),
)


class SourceMixin:
    """Where a frame's depth comes from, and what kind of depth it is."""

    filepath: bpy.props.StringProperty(
        name="Depth File",
        description="A depth EXR, a multilayer render EXR, or a pattern with # for the frame number; "
                    "empty: the files written by Set Up EXR Outputs",
        default="",
        subtype="FILE_PATH", options=compat.path_options(),
    )
    depth_kind: bpy.props.EnumProperty(
        name="Depth Kind", description="What the depth values measure", items=DEPTH_KIND_ITEMS, default="AUTO",
    )

    def frame_source(self, scene) -> tuple[str, bool]:
        return frames.frame_source(scene, self.filepath)


assert [i[0].lower() for i in ATTRIBUTE_ITEMS] == list(ATTRIBUTES)


class AttributesMixin:
    """Point attributes read from the captured passes, and silhouette edges."""

    attributes: bpy.props.EnumProperty(
        name="Attributes", description="Point attributes to read from the captured passes (Set Up EXR Outputs > "
                                       "Extra Passes)", items=ATTRIBUTE_ITEMS, options={"ENUM_FLAG"}, default=set(),
    )
    drop_edges: bpy.props.BoolProperty(
        name="Drop Edge Pixels", description="Leave out pixels that straddle a silhouette: their color is a blend "
                                             "and their depth may belong to the other side (flying points)",
        default=False,
    )
    edge_threshold: bpy.props.FloatProperty(
        name="Edge Above", description="A neighbour whose depth differs by more than this fraction of the pixel's "
                                       "own makes the pixel an edge", default=EDGE_THRESHOLD, min=1e-4, soft_max=1.0,
        subtype="FACTOR",
    )


class BuildOptionsMixin(AttributesMixin, SourceMixin):
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

    view_layer: bpy.props.StringProperty(
        name="View Layer", description="Multilayer render EXRs: the view layer to read (empty: the one Set Up "
                                       "captures if the file has it, else the first in the file)", default="",
    )

    def build_options(self, scene, space: str = "world") -> BuildOptions:
        if self.view_layer:  # asked for by name: the file must have it
            layer, required = self.view_layer, True
        else:  # the layer Set Up captures, when the file has it
            _, captured = compositor.capture_layer(scene)
            layer, required = (captured.name if captured is not None else None), False
        return options_of(self, space=space, view_layer=layer, view_layer_required=required)


class LookMixin:
    """How the cloud is drawn and rendered."""

    geometry: bpy.props.EnumProperty(name="Geometry", items=GEOMETRY_ITEMS, default="POINTS")
    shading: bpy.props.EnumProperty(name="Shading", items=SHADING_ITEMS, default="EMISSION")
    point_size: bpy.props.FloatProperty(
        name="Point Size", description="Point (or disc) radius as a multiple of the one that covers the pixel's "
                                       "footprint (1: no gaps)",
        default=1.0, min=0.0, soft_max=10.0,
    )
    surface_step: bpy.props.FloatProperty(
        name="Tear Above", description="Surface: no face between neighbouring pixels whose depths differ by more "
                                       "than this fraction", default=0.05, min=0.0, soft_max=1.0, subtype="FACTOR",
    )

    def look(self) -> dict:
        return dict(geometry=self.geometry, shading=self.shading, point_size=self.point_size,
                    surface_step=self.surface_step)


class FrameRangeMixin:
    frame_start: bpy.props.IntProperty(name="Start", description="First frame (default: the scene's)", default=-1)
    frame_end: bpy.props.IntProperty(name="End", description="Last frame (default: the scene's)", default=-1)

    def frame_numbers(self, scene) -> range:
        start = scene.frame_start if self.frame_start < 0 else self.frame_start
        end = scene.frame_end if self.frame_end < 0 else self.frame_end
        return range(start, end + 1)
