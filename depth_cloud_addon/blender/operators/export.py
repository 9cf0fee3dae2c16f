"""Export: point clouds of the current frame or a frame range, in any format of the core's table
(:mod:`...core.formats.outputs`: PLY, NPZ, LAS/LAZ a file per frame; USD, E57 one file of every frame), through
the core's one export and frame loop, the same as ``depth-cloud convert``. A format whose Python package Blender
lacks (USD's ``pxr``: Blender's own builds have it, the ``bpy`` wheels do not; pye57, laspy) is refused in one
line that says what to install, and an unknown extension with the list of known ones."""

from __future__ import annotations

import bpy

from ...core import DepthCloudError
from ...core.formats.outputs import output_format
from ...core.frames.dataset import export_dataset
from ...core.frames.export import ExportOptions, SequenceFile, export_cloud, read_cloud_for
from ...core.frames.files import frame_path
from ...core.frames.loop import failure_message, walk_frames
from .. import compat, frames
from ..options import build_options as options_of
from ..options import typed_float
from .base import AttributesMixin, FrameRangeMixin, SourceMixin, core_value, finish, finish_range, restore_frame


class DEPTH_CLOUD_OT_export_ply(AttributesMixin, SourceMixin, FrameRangeMixin, bpy.types.Operator):
    """Export point clouds of the current frame or a frame range as binary PLY (or .npz) files, computed from \
the rendered EXRs and each frame's camera, like the depth-cloud command line"""

    bl_idname = "depth_cloud.export_ply"
    bl_label = "Export PLY / NPZ / USD"

    output: bpy.props.StringProperty(
        name="Output", description="PLY/NPZ file, or a pattern with # for the frame number (with a frame range); "
                                    "or one .usd/.usda/.usdc point cache of every frame",
        subtype="FILE_PATH", options=compat.path_options(), default="//depth_cloud/cloud_####.ply")
    all_frames: bpy.props.BoolProperty(name="Frame Range", description="Export every frame of the range, "
                                       "not just the current one", default=False)
    stride: bpy.props.IntProperty(name="Stride", default=1, min=1, max=64)
    space: bpy.props.EnumProperty(name="Space", items=(("WORLD", "World", "World coordinates"),
                                                       ("CAMERA", "Camera", "Blender's camera frame (-Z forward)")),
                                  default="WORLD")
    colors: bpy.props.EnumProperty(name="Colors", items=(
        ("SRGB", "sRGB 8-bit", "uchar red green blue, sRGB-encoded from the linear EXR"),
        ("LINEAR", "Linear Float", "float red green blue, linear as in the EXR"),
        ("NONE", "None", "No colors")), default="SRGB")
    normals: bpy.props.BoolProperty(name="Normals", description="nx ny nz: the direction towards the camera (with "
                                                                "Discs: the surface's)", default=False)
    radius: bpy.props.BoolProperty(name="Radius", description="The radius of a round point that covers the pixel's "
                                                              "footprint (with Discs: the disc's, on the surface)",
                                   default=False)
    discs: bpy.props.BoolProperty(name="Discs", description="Surface discs (surfels): each point with the surface's "
                                                            "normal and the radius that covers its pixel on the "
                                                            "surface (nx ny nz and radius)", default=False)

    def execute(self, context):
        scene = context.scene
        pattern = bpy.path.abspath(self.output)
        numbers = list(self.frame_numbers(scene)) if self.all_frames else [scene.frame_current]
        build = options_of(self)
        try:  # the core's table decides the format and what it holds: the same answer as depth-cloud convert
            fmt = output_format(pattern)
            export = ExportOptions(colors=core_value(self.colors), normals=self.normals or self.discs,
                                   radius=self.radius or self.discs, fmt=fmt.name)  # discs: the surfel layout
            export.check(pattern, fmt, attributes=build.attributes)
            fmt.require(pattern)
        except DepthCloudError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        if len(numbers) > 1 and "#" not in pattern and not fmt.one_file:
            return finish(self, context, "ERROR", "Depth Cloud: a frame range needs # in the output name")
        original = scene.frame_current
        try:
            source, from_setup = self.frame_source(scene)
            output = (SequenceFile(pattern, fmt, export, fps=scene.render.fps / scene.render.fps_base)
                      if fmt.one_file else None)

            def target(frame: int) -> str:
                return pattern if output is not None else frame_path(pattern, frame)

            def export_frame(frame: int):
                if frame != scene.frame_current:
                    scene.frame_set(frame)  # the scene camera, for frames without a sidecar
                cloud = read_cloud_for(frames.frame_inputs(scene, source, from_setup, frame), target(frame), build)
                if output is not None:
                    output.add(cloud, frame)  # its fps is the scene's: no other warning than the cloud's
                else:
                    export_cloud(target(frame), cloud, export)
                return cloud  # its warnings go into the report; the cloud itself is not kept

            report = walk_frames(numbers, export_frame, output_of=target, keep_values=False)
            if output is not None and report.done:
                output.close()
        except (DepthCloudError, OSError) as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {failure_message(exc, pattern)}")
        finally:
            restore_frame(scene, original)
        written = len(report.done)
        if output is not None:
            summary = f"exported {written} frame(s) to the {fmt.label} file {pattern}" if written else None
        else:
            summary = (f"exported {written} {fmt.label} file(s) to {frame_path(pattern, numbers[0])}"
                       if written else None)
        return finish_range(self, context, summary, report, "exported")


class DEPTH_CLOUD_OT_export_dataset(SourceMixin, FrameRangeMixin, bpy.types.Operator):
    """Export the frame range as a dataset that trains as it is: sRGB PNG images, 16-bit depth PNGs (mm) \
and float32 depth EXRs, nerfstudio's transforms.json, a COLMAP model with tracks and 3D Gaussian \
Splatting's splats.ply, like depth-cloud dataset"""

    bl_idname = "depth_cloud.export_dataset"
    bl_label = "Export Dataset"

    directory: bpy.props.StringProperty(
        name="Folder", description="The dataset's folder (images/, depth/, transforms.json, colmap/, splats.ply)",
        subtype="DIR_PATH", options=compat.path_options(), default="//depth_cloud/dataset/")
    voxel_size: bpy.props.FloatProperty(
        name="Voxel", description="Voxel size of the fused initial cloud (0: chosen so that it has at most 1M "
                                  "points)", default=0.0, min=0.0, subtype="DISTANCE", unit="LENGTH")
    colmap_format: bpy.props.EnumProperty(name="COLMAP Files", items=(
        ("BINARY", "Binary", "cameras.bin, images.bin, points3D.bin"),
        ("TEXT", "Text", "cameras.txt, images.txt, points3D.txt")), default="BINARY")

    def execute(self, context):
        scene = context.scene
        folder = bpy.path.abspath(self.directory)
        original = scene.frame_current
        try:
            source, from_setup = self.frame_source(scene)

            def inputs_of(frame: int):
                if frame != scene.frame_current:
                    scene.frame_set(frame)  # the scene camera, for frames without a sidecar
                return frames.frame_inputs(scene, source, from_setup, frame)

            report = walk_frames(self.frame_numbers(scene), inputs_of)
            chosen = report.values
            if not chosen:
                return finish(self, context, "ERROR", "Depth Cloud: no frame to export"
                              + (f"; {report.failures[0]}" if report.failed else ""))
            result = export_dataset(chosen, folder, voxel_size=typed_float(self.voxel_size),
                                    colmap_format=core_value(self.colmap_format))
        except (DepthCloudError, OSError) as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {failure_message(exc, folder)}")
        finally:
            restore_frame(scene, original)
        summary = (f"dataset of {result.frames} frame(s) in {folder} ({result.points:,} points, "
                   f"voxel {result.voxel_size:g} m, {result.colmap_points:,} COLMAP points)")
        # e.g. depths beyond the 16-bit PNG's 65.535 m (the EXRs beside them are exact)
        return finish_range(self, context, summary, report, "exported", notes=result.warnings)


classes = (DEPTH_CLOUD_OT_export_ply, DEPTH_CLOUD_OT_export_dataset)
