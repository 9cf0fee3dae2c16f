"""Ground-truth operators for computer vision: picked pixels -> 3D, depth-kind conversion, camera export.

The numbers come from ``core`` (``unproject_pixels``, ``convert_depth``, ``camera_export``); these
operators find the frame's files and camera (``frames``), create the Empties and write the files.
"""

from __future__ import annotations

import os

import bpy
import numpy as np

from . import frames
from .sources import frame_path
from .core import CameraModel, DepthCloudError, read_exr, unproject_pixels
from .core.annotations import parse_annotations, read_annotations, write_points_csv, write_points_json
from .core.camera_export import export_cameras, nerfstudio_transforms, write_json
from .operators import DEPTH_KIND_ITEMS, FrameRangeMixin, SourceMixin, _finish, frame_source

PICKS_COLLECTION = "DepthCloud Picks"
ROLE = "depth_cloud_role"
CONVENTION_ITEMS = (
    ("center", "Pixel Centres at +0.5", "Continuous coordinates as Depth Cloud uses them: pixel (col, row) "
                                        "covers [col, col+1) x [row, row+1)"),
    ("opencv", "OpenCV", "Pixel centres at integer coordinates (OpenCV, COLMAP)"),
    ("index", "Pixel Indices", "Integer column/row indices of pixels"),
)


def _finish_range(self, context, summary: str | None, failed: list[str], verb: str) -> set:
    """Report a frame-range operation: what was done (None: nothing) and the frames that failed."""
    if summary is None:
        return _finish(self, context, "ERROR", f"Depth Cloud: nothing {verb}; {failed[0] if failed else ''}")
    message = f"Depth Cloud: {summary}" + (f"; {len(failed)} failed: {failed[0]}" if failed else "")
    return _finish(self, context, "WARNING" if failed else "INFO", message)


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
        subtype="FILE_PATH", default="")
    pixels: bpy.props.StringProperty(
        name="Pixels", description="Coordinates typed as 'x, y; x, y; ...' (used when no file is given)", default="")
    depth_file: bpy.props.StringProperty(
        name="Depth File", description="A depth EXR or a # pattern; empty: the files written by Set Up EXR Outputs",
        subtype="FILE_PATH", default="")
    depth_kind: bpy.props.EnumProperty(name="Depth Kind", items=DEPTH_KIND_ITEMS, default="auto")
    convention: bpy.props.EnumProperty(name="Coordinates", items=CONVENTION_ITEMS, default="center")
    export_path: bpy.props.StringProperty(
        name="Export", description="Write the 3D points to this .csv or .json file (empty: no export)",
        subtype="FILE_PATH", default="")
    empty_size: bpy.props.FloatProperty(name="Empty Size", default=0.1, min=0.0, subtype="DISTANCE",
                                        unit="LENGTH")

    def execute(self, context):
        scene = context.scene
        try:
            source, from_setup = frame_source(scene, self.depth_file)
            inputs = frames.frame_inputs(scene, source, from_setup, scene.frame_current)
            depth = read_exr(inputs.files.depth_path).depth
            size = {"width": inputs.camera.width_px, "height": inputs.camera.height_px}
            if self.filepath:
                picks = read_annotations(bpy.path.abspath(self.filepath), convention=self.convention, **size)
            elif self.pixels.strip():
                text = "\n".join(part.strip() for part in self.pixels.split(";"))
                picks = parse_annotations(text, fmt="csv", convention=self.convention, source="typed pixels", **size)
            else:
                raise DepthCloudError("no annotation file and no typed pixels")
            kind = self.depth_kind
            world = unproject_pixels(picks.pixels, depth, inputs.camera, depth_kind=kind)
            camera = unproject_pixels(picks.pixels, depth, inputs.camera, depth_kind=kind, space="camera")
            if self.export_path:
                path = bpy.path.abspath(self.export_path)
                writer = write_points_json if path.lower().endswith(".json") else write_points_csv
                writer(path, picks.labels, picks.pixels, world, camera)
        except DepthCloudError as exc:
            return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        collection = _picks_collection(scene)
        for obj in list(collection.objects):
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
        return _finish(self, context, "WARNING" if invalid else "INFO", message)


class DEPTH_CLOUD_OT_probe_pixel(bpy.types.Operator):
    """Show the 3D point of the panel's pixel on the current frame (from the set-up's outputs)"""

    bl_idname = "depth_cloud.probe_pixel"
    bl_label = "Pixel to 3D"

    def execute(self, context):
        from .probe import update_probe

        update_probe(context.scene)
        return {"FINISHED"}


class DEPTH_CLOUD_OT_convert_depth(FrameRangeMixin, bpy.types.Operator):
    """Convert depth EXRs between planar Z and ray distance, exactly at pixel centres, writing float32 \
single-channel EXRs (NaN where nothing was hit)"""

    bl_idname = "depth_cloud.convert_depth"
    bl_label = "Convert Depth"

    filepath: bpy.props.StringProperty(
        name="Depth File", description="A depth EXR, or a pattern with # for the frame number (a sequence)",
        subtype="FILE_PATH", default="")
    from_kind: bpy.props.EnumProperty(name="From", items=DEPTH_KIND_ITEMS, default="auto")
    to_kind: bpy.props.EnumProperty(name="To", items=DEPTH_KIND_ITEMS[1:], default="distance")
    output: bpy.props.StringProperty(
        name="Output", description="Output file or # pattern (empty: '<to kind>_' + the input's name, beside it)",
        subtype="FILE_PATH", default="")

    def execute(self, context):
        scene = context.scene
        if not self.filepath:
            return _finish(self, context, "ERROR", "Depth Cloud: choose a depth EXR or a # pattern")
        pattern = bpy.path.abspath(self.filepath)
        numbers = self.frame_numbers(scene) if "#" in pattern else [scene.frame_current]
        written, failed = [], []
        original = scene.frame_current
        for frame in numbers:
            try:
                if frame != scene.frame_current:
                    scene.frame_set(frame)  # the scene camera, for frames without a sidecar
                inputs = frames.frame_inputs(scene, pattern, False, frame)
                out = self._output_path(inputs.files.depth_path, frame)
                frames.convert_depth_file(inputs.files.depth_path, inputs.camera, out, from_kind=self.from_kind,
                                          to_kind=self.to_kind)
                written.append(out)
            except (DepthCloudError, OSError) as exc:
                failed.append(f"frame {frame}: {exc}")
        if scene.frame_current != original:
            scene.frame_set(original)
        summary = f"wrote {len(written)} {self.to_kind} map(s), e.g. {written[0]}" if written else None
        return _finish_range(self, context, summary, failed, "converted")

    def _output_path(self, depth_path: str, frame: int) -> str:
        if self.output:
            return frame_path(bpy.path.abspath(self.output), frame)
        folder, name = os.path.split(depth_path)
        return os.path.join(folder, f"{self.to_kind}_{name.removeprefix('depth_')}")


class DEPTH_CLOUD_OT_export_cameras(FrameRangeMixin, bpy.types.Operator):
    """Export the camera of every frame in a range: intrinsics K (OpenCV), extrinsics (OpenCV and Blender \
axes) as cameras.json, plus a nerfstudio transforms.json"""

    bl_idname = "depth_cloud.export_cameras"
    bl_label = "Export Cameras"

    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH", default="//depth_cloud/")
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
                sidecar = os.path.join(folder, f"camera_{frame:04d}.json")
                if self.use_sidecars and os.path.isfile(sidecar):
                    with open(sidecar, encoding="utf-8") as f:
                        cameras.append(CameraModel.from_json(f.read()))
                else:
                    scene.frame_set(frame)
                    cameras.append(CameraModel.from_blender(scene.camera, scene))
                images.append(f"color_{frame:04d}.exr")
                depths.append(f"depth_{frame:04d}.exr")
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
            return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        finally:
            if scene.frame_current != original:
                scene.frame_set(original)
        return _finish(self, context, "WARNING" if note else "INFO",
                       f"Depth Cloud: exported {len(cameras)} cameras to {folder}cameras.json{note}")


class DEPTH_CLOUD_OT_export_ply(SourceMixin, FrameRangeMixin, bpy.types.Operator):
    """Export point clouds of the current frame or a frame range as binary PLY (or .npz) files, computed from \
the rendered EXRs and each frame's camera, like the depth-cloud command line"""

    bl_idname = "depth_cloud.export_ply"
    bl_label = "Export PLY"

    output: bpy.props.StringProperty(
        name="Output", description="PLY/NPZ file, or a pattern with # for the frame number (with a frame range)",
        subtype="FILE_PATH", default="//depth_cloud/cloud_####.ply")
    all_frames: bpy.props.BoolProperty(name="Frame Range", description="Export every frame of the range, "
                                       "not just the current one", default=False)
    stride: bpy.props.IntProperty(name="Stride", default=1, min=1, max=64)
    space: bpy.props.EnumProperty(name="Space", items=(("world", "World", ""), ("camera", "Camera", "")),
                                  default="world")
    colors: bpy.props.EnumProperty(name="Colors", items=(
        ("srgb", "sRGB 8-bit", "uchar red green blue, sRGB-encoded from the linear EXR"),
        ("linear", "Linear Float", "float red green blue, linear as in the EXR"),
        ("none", "None", "No colors")), default="srgb")
    normals: bpy.props.BoolProperty(name="Normals", description="nx ny nz: the direction towards the camera",
                                    default=False)
    radius: bpy.props.BoolProperty(name="Radius", description="Half the pixel's footprint at its depth",
                                   default=False)

    def execute(self, context):
        from .cli import ConvertJob, run_convert_job

        scene = context.scene
        pattern = bpy.path.abspath(self.output)
        numbers = list(self.frame_numbers(scene)) if self.all_frames else [scene.frame_current]
        if len(numbers) > 1 and "#" not in pattern:
            return _finish(self, context, "ERROR", "Depth Cloud: a frame range needs # in the output name")
        original, written, failed = scene.frame_current, 0, []
        fmt = "npz" if pattern.lower().endswith(".npz") else "ply"
        try:
            source, from_setup = self.frame_source(scene)
            for frame in numbers:
                try:
                    if frame != scene.frame_current:
                        scene.frame_set(frame)  # the scene camera, for frames without a sidecar
                    inputs = frames.frame_inputs(scene, source, from_setup, frame)
                except DepthCloudError as exc:
                    failed.append(f"frame {frame}: {exc}")
                    continue
                job = ConvertJob(frame, inputs.files.depth_path, inputs.files.color_path, inputs.camera.to_json(),
                                 None, frame_path(pattern, frame), self.depth_kind, self.stride, self.space,
                                 self.colors, self.normals, self.radius, fmt)
                _, n, error = run_convert_job(job)
                if error:
                    failed.append(f"frame {frame}: {error}")
                else:
                    written += 1
        except DepthCloudError as exc:
            return _finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        finally:
            if scene.frame_current != original:
                scene.frame_set(original)
        summary = f"exported {written} {fmt.upper()} file(s) to {frame_path(pattern, numbers[0])}" if written else None
        return _finish_range(self, context, summary, failed, "exported")


classes = (DEPTH_CLOUD_OT_pick_points, DEPTH_CLOUD_OT_probe_pixel, DEPTH_CLOUD_OT_convert_depth,
           DEPTH_CLOUD_OT_export_cameras, DEPTH_CLOUD_OT_export_ply)
register, unregister = bpy.utils.register_classes_factory(classes)
