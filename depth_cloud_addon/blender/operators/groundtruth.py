"""Ground-truth operators for computer vision: picked pixels -> 3D, depth-kind conversion, camera export.

The numbers come from the core (``unproject_pixels``, ``write_depth_kinds``, ``camera_export``); these
operators find the frame's files and camera (:mod:`..frames`), create the Empties and write the files.
What a depth file holds ("Auto") is the core's one rule (``core.frames.depth.resolve_file_depth_kind``).
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from ...core import DepthCloudError, unproject_pixels
from ...core.formats.annotations import parse_annotations, read_annotations, write_points_csv, write_points_json
from ...core.formats.camera_export import export_cameras, nerfstudio_transforms, write_json
from ...core.frames.cloud import frame_input_paths
from ...core.frames.depth import read_frame_depth, write_depth_kinds
from ...core.frames.export import check_output
from ...core.frames.files import camera_sidecar_path, converted_depth_path, frame_path, setup_file
from ...core.frames.loop import failure_message, walk_frames
from .. import compat, frames
from ..builder import ROLE
from ..probe import update_probe
from .base import DEPTH_KIND_ITEMS, FrameRangeMixin, core_value, finish, finish_range, restore_frame

PICKS_COLLECTION = "DepthCloud Picks"
CONVENTION_ITEMS = (
    ("CENTER", "Pixel Centres at +0.5", "Continuous coordinates as Depth Cloud uses them: pixel (col, row) "
                                        "covers [col, col+1) x [row, row+1)"),
    ("OPENCV", "OpenCV", "Pixel centres at integer coordinates (OpenCV, COLMAP)"),
    ("INDEX", "Pixel Indices", "Integer column/row indices of pixels"),
)


def _picks_collection(scene):
    collection = next((c for c in bpy.data.collections if c.get(ROLE) == "picks"), None)
    if collection is None:
        collection = bpy.data.collections.new(PICKS_COLLECTION)
        collection[ROLE] = "picks"
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


class DEPTH_CLOUD_OT_pick_points(bpy.types.Operator):
    """Put an Empty at the 3D position of each annotated pixel of the current frame (from a CSV/JSON file \
or typed coordinates), and optionally export the 3D coordinates (world and camera frames)"""

    bl_idname = "depth_cloud.pick_points"
    bl_label = "Pixels to 3D"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(
        name="Annotations", description="CSV or JSON file of pixel coordinates (x, y columns, optional label)",
        subtype="FILE_PATH", options=compat.path_options(), default="")
    pixels: bpy.props.StringProperty(
        name="Pixels", description="Coordinates typed as 'x, y; x, y; ...' (used when no file is given)", default="")
    depth_file: bpy.props.StringProperty(
        name="Depth File", description="A depth EXR or a # pattern; empty: the files written by Set Up EXR Outputs",
        subtype="FILE_PATH", options=compat.path_options(), default="")
    depth_kind: bpy.props.EnumProperty(name="Depth Kind", items=DEPTH_KIND_ITEMS, default="AUTO")
    convention: bpy.props.EnumProperty(name="Coordinates", items=CONVENTION_ITEMS, default="CENTER")
    export_path: bpy.props.StringProperty(
        name="Export", description="Write the 3D points to this .csv or .json file (empty: no export)",
        subtype="FILE_PATH", options=compat.path_options(), default="")
    empty_size: bpy.props.FloatProperty(name="Empty Size", default=0.1, min=0.0, subtype="DISTANCE",
                                        unit="LENGTH")

    def execute(self, context):
        scene = context.scene
        try:
            source, from_setup = frames.frame_source(scene, self.depth_file)
            inputs = frames.frame_inputs(scene, source, from_setup, scene.frame_current)
            image, kind = read_frame_depth(inputs, core_value(self.depth_kind))
            depth = image.depth
            size = {"width": inputs.camera.width_px, "height": inputs.camera.height_px}
            if self.filepath:
                picks = read_annotations(bpy.path.abspath(self.filepath), convention=core_value(self.convention),
                                         **size)
            elif self.pixels.strip():
                text = "\n".join(part.strip() for part in self.pixels.split(";"))
                picks = parse_annotations(text, fmt="csv", convention=core_value(self.convention),
                                          source="typed pixels", **size)
            else:
                raise DepthCloudError("no annotation file and no typed pixels")
            world = unproject_pixels(picks.pixels, depth, inputs.camera, depth_kind=kind.kind)
            camera = unproject_pixels(picks.pixels, depth, inputs.camera, depth_kind=kind.kind, space="camera")
            if self.export_path:
                path = bpy.path.abspath(self.export_path)
                writer = write_points_json if path.lower().endswith(".json") else write_points_csv
                writer(path, picks.labels, picks.pixels, world, camera)
        except DepthCloudError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        collection = _picks_collection(scene)
        for obj in [o for o in collection.objects if o.get(ROLE) == "pick"]:  # ours only: the user's stay
            bpy.data.objects.remove(obj)
        valid = np.isfinite(world).all(axis=1)
        for label, point, ok in zip(picks.labels, world, valid):
            if not ok:
                continue
            empty = bpy.data.objects.new(f"Pick {label}", None)
            empty[ROLE], empty["depth_cloud_label"] = "pick", label
            empty.empty_display_type, empty.empty_display_size = "SPHERE", self.empty_size
            empty.location = tuple(point)
            collection.objects.link(empty)
        invalid = [label for label, ok in zip(picks.labels, valid) if not ok]
        message = f"Depth Cloud: {int(valid.sum())} of {len(valid)} pixels have a 3D point ({inputs.camera_note})"
        if invalid:
            message += f"; no depth at {', '.join(invalid[:10])}{' ...' if len(invalid) > 10 else ''}"
        if self.export_path:
            message += f"; wrote {bpy.path.abspath(self.export_path)}"
        if kind.warning:
            message += f"; {kind.warning}"
        return finish(self, context, "WARNING" if invalid or kind.warning else "INFO", message)


class DEPTH_CLOUD_OT_probe_pixel(bpy.types.Operator):
    """Show the 3D point of the panel's pixel on the current frame (from the set-up's outputs)"""

    bl_idname = "depth_cloud.probe_pixel"
    bl_label = "Pixel to 3D"

    def execute(self, context):
        update_probe(context.scene)
        return {"FINISHED"}


class DEPTH_CLOUD_OT_convert_depth(FrameRangeMixin, bpy.types.Operator):
    """Convert depth EXRs between planar Z and ray distance, exactly at pixel centres, writing float32 \
single-channel EXRs (NaN where nothing was hit)"""

    bl_idname = "depth_cloud.convert_depth"
    bl_label = "Convert Depth"

    filepath: bpy.props.StringProperty(
        name="Depth File", description="A depth EXR, or a pattern with # for the frame number (a sequence)",
        subtype="FILE_PATH", options=compat.path_options(), default="")
    from_kind: bpy.props.EnumProperty(name="From", items=DEPTH_KIND_ITEMS, default="AUTO")
    to_kind: bpy.props.EnumProperty(name="To", items=DEPTH_KIND_ITEMS[1:], default="DISTANCE")
    output: bpy.props.StringProperty(
        name="Output", description="Output file or # pattern (empty: '<to kind>_' + the input's name, beside it)",
        subtype="FILE_PATH", options=compat.path_options(), default="")

    def execute(self, context):
        scene = context.scene
        if not self.filepath:
            return finish(self, context, "ERROR", "Depth Cloud: choose a depth EXR or a # pattern")
        pattern = bpy.path.abspath(self.filepath)
        numbers = self.frame_numbers(scene) if "#" in pattern else [scene.frame_current]
        original, to_kind = scene.frame_current, core_value(self.to_kind)

        def convert(frame: int):
            if frame != scene.frame_current:
                scene.frame_set(frame)  # the scene camera, for frames without a sidecar
            inputs = frames.frame_inputs(scene, pattern, False, frame)
            files = inputs.files
            out = self._output_path(files.depth_path, frame)
            check_output(out, frame_input_paths(files, frame))  # the frame's passes too, as the CLI's `depth`
            return write_depth_kinds(files.depth_path, inputs.camera, {to_kind: out},
                                     from_kind=core_value(self.from_kind), capture=inputs.capture)

        try:
            report = walk_frames(numbers, convert)
        finally:
            restore_frame(scene, original)
        written = [path for result in report.values for path in result.paths]
        notes = [note for result in report.values for note in result.notes]  # "X is already distance depth: ..."
        summary = f"wrote {len(written)} {to_kind} map(s), e.g. {written[0]}" if written else None
        shown = [notes[0] + (f" (and {len(notes) - 1} more)" if len(notes) > 1 else "")] if notes else []
        return finish_range(self, context, summary, report, "converted", notes=shown)

    def _output_path(self, depth_path: str, frame: int) -> str:
        if self.output:
            return frame_path(bpy.path.abspath(self.output), frame)
        return converted_depth_path(depth_path, core_value(self.to_kind))


class DEPTH_CLOUD_OT_export_cameras(FrameRangeMixin, bpy.types.Operator):
    """Export the camera of every frame in a range: intrinsics K (OpenCV), extrinsics (OpenCV and Blender \
axes) as cameras.json, plus a nerfstudio transforms.json"""

    bl_idname = "depth_cloud.export_cameras"
    bl_label = "Export Cameras"

    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH", options=compat.path_options(),
                                        default="//depth_cloud/")
    use_sidecars: bpy.props.BoolProperty(
        name="Use Sidecars", description="Take each frame's camera from camera_NNNN.json in the folder when it "
                                         "exists (the camera as rendered), else the scene camera at that frame",
        default=True)

    @classmethod
    def poll(cls, context):
        if context.scene.camera is None:
            cls.poll_message_set("The scene has no camera")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        folder = bpy.path.abspath(self.directory)
        original = scene.frame_current
        cameras, images, depths = [], [], []
        try:
            for frame in self.frame_numbers(scene):
                sidecar = camera_sidecar_path(folder, frame)
                if not (self.use_sidecars and os.path.isfile(sidecar)):
                    sidecar = None
                    scene.frame_set(frame)  # the scene camera as the frame evaluates it
                cameras.append(frames.frame_camera(scene, sidecar, frame).camera)
                images.append(os.path.basename(setup_file(folder, "color", frame)))
                depths.append(os.path.basename(setup_file(folder, "depth", frame)))
            os.makedirs(folder, exist_ok=True)
            write_json(os.path.join(folder, "cameras.json"),
                       export_cameras(cameras, image_paths=images, depth_paths=depths))
            note = ""
            try:
                write_json(os.path.join(folder, "transforms.json"),
                           nerfstudio_transforms(cameras, images, depth_paths=depths))
            except DepthCloudError as exc:  # e.g. orthographic: no nerfstudio model
                note = f"; no transforms.json: {exc}"
        except (DepthCloudError, OSError) as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {failure_message(exc, folder)}")
        finally:
            restore_frame(scene, original)
        return finish(self, context, "WARNING" if note else "INFO",
                      f"Depth Cloud: exported {len(cameras)} cameras to {folder}cameras.json{note}")


classes = (DEPTH_CLOUD_OT_pick_points, DEPTH_CLOUD_OT_probe_pixel, DEPTH_CLOUD_OT_convert_depth,
           DEPTH_CLOUD_OT_export_cameras)
