"""Export PLY: point clouds of the current frame or a frame range as files (PLY or NPZ), through the
core's one export (:func:`read_cloud_for` then :func:`export_cloud`), the same as ``depth-cloud convert``;
or one USD point cache of the range (``.usd``/``.usda``/``.usdc``, :class:`...core.formats.usd.UsdWriter`), which
needs USD's Python module ``pxr`` (Blender's own builds have it; the ``bpy`` wheels do not: then the
operator says so and ``depth-cloud convert -o cloud.usd`` does the same with ``usd-core``)."""

from __future__ import annotations

import bpy

from ...core import DepthCloudError
from ...core.formats.usd import UsdWriter, is_usd
from ...core.frames.cloud import BuildOptions
from ...core.frames.dataset import export_dataset
from ...core.frames.export import ExportOptions, check_output, export_cloud, format_of, read_cloud_for
from ...core.frames.files import frame_path
from .. import compat, frames
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
    normals: bpy.props.BoolProperty(name="Normals", description="nx ny nz: the direction towards the camera",
                                    default=False)
    radius: bpy.props.BoolProperty(name="Radius", description="Half the pixel's footprint at its depth",
                                   default=False)

    def execute(self, context):
        scene = context.scene
        pattern = bpy.path.abspath(self.output)
        numbers = list(self.frame_numbers(scene)) if self.all_frames else [scene.frame_current]
        usd = is_usd(pattern)
        if len(numbers) > 1 and "#" not in pattern and not usd:
            return finish(self, context, "ERROR", "Depth Cloud: a frame range needs # in the output name")
        build = BuildOptions(stride=self.stride, depth_kind=core_value(self.depth_kind), space=core_value(self.space),
                             **self.attribute_options())
        export = ExportOptions(colors=core_value(self.colors), normals=self.normals, radius=self.radius,
                               fmt=format_of(pattern))
        original, written, failed, warned = scene.frame_current, 0, [], {}
        writer = None
        try:
            source, from_setup = self.frame_source(scene)
            if usd:
                writer = UsdWriter(pattern, fps=scene.render.fps / scene.render.fps_base)
            for frame in numbers:
                try:
                    if frame != scene.frame_current:
                        scene.frame_set(frame)  # the scene camera, for frames without a sidecar
                    inputs = frames.frame_inputs(scene, source, from_setup, frame)
                    target = pattern if usd else frame_path(pattern, frame)
                    cloud = read_cloud_for(inputs, target, build)
                    if writer is not None:
                        writer.add(cloud, frame)
                    else:
                        export_cloud(target, cloud, export)
                    written += 1
                    for warning in cloud.warnings:
                        warned.setdefault(warning, []).append(frame)
                except DepthCloudError as exc:
                    failed.append(f"frame {frame}: {exc}")
                except OSError as exc:
                    failed.append(f"frame {frame}: {frame_path(pattern, frame)}: cannot write: {exc.strerror or exc}")
            if writer is not None and written:
                writer.close()
        except DepthCloudError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        except OSError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {pattern}: cannot write: {exc.strerror or exc}")
        finally:
            restore_frame(scene, original)
        if writer is not None:
            summary = (f"exported {written} frame(s) to the USD point cache {pattern}" if written else None)
        else:
            summary = (f"exported {written} {export.fmt.upper()} file(s) to {frame_path(pattern, numbers[0])}"
                       if written else None)
        return finish_range(self, context, summary, failed, "exported", warned)


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
        original, chosen, failed = scene.frame_current, [], []
        try:
            source, from_setup = self.frame_source(scene)
            for frame in self.frame_numbers(scene):
                try:
                    if frame != scene.frame_current:
                        scene.frame_set(frame)  # the scene camera, for frames without a sidecar
                    chosen.append(frames.frame_inputs(scene, source, from_setup, frame))
                except DepthCloudError as exc:
                    failed.append(f"frame {frame}: {exc}")
            if not chosen:
                return finish(self, context, "ERROR", "Depth Cloud: no frame to export"
                              + (f"; {failed[0]}" if failed else ""))
            for inputs in chosen:
                check_output(folder, (inputs.files.depth_path, inputs.files.color_path, inputs.files.camera_path))
            result = export_dataset(chosen, folder, voxel_size=self.voxel_size,
                                    colmap_format=core_value(self.colmap_format))
        except DepthCloudError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {exc}")
        except OSError as exc:
            return finish(self, context, "ERROR", f"Depth Cloud: {folder}: cannot write: {exc.strerror or exc}")
        finally:
            restore_frame(scene, original)
        summary = (f"dataset of {result.frames} frame(s) in {folder} ({result.points:,} points, "
                   f"voxel {result.voxel_size:g} m, {result.colmap_points:,} COLMAP points)")
        if result.warnings:  # e.g. depths beyond the 16-bit PNG's 65.535 m (the EXRs beside them are exact)
            return finish(self, context, "WARNING", f"Depth Cloud: {summary}"
                          + "".join(f"; {w}" for w in result.warnings)
                          + (f"; {len(failed)} failed: {failed[0]}" if failed else ""))
        return finish_range(self, context, summary, failed, "exported")


classes = (DEPTH_CLOUD_OT_export_ply, DEPTH_CLOUD_OT_export_dataset)
