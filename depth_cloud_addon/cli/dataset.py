"""``depth-cloud dataset``: frames -> a dataset that trains as it is (images and depth PNGs, nerfstudio's
transforms.json, a COLMAP model, 3D Gaussian Splatting's splats.ply; :mod:`..core.frames.dataset`)."""

from __future__ import annotations

import os

from ..core import DepthCloudError
from ..core.frames.cloud import BuildOptions
from ..core.frames.export import ExportOptions
from .convert import ConvertJob, job_inputs
from .engine import Engine, add_engine
from .frames import (
    add_depth_kind,
    add_frames,
    at,
    check_stride,
    frame_numbers,
    present_frames,
    read_frames,
    sequence_end,
)
from .report import bad_input, note, say


def run(args) -> int:
    """Frames whose files or camera cannot be found are listed and left out; a frame that is found but bad stops
    the export before anything is written."""
    from ..core.frames.dataset import export_dataset  # only this command needs the dataset writers

    check_stride(args.stride)
    engine = Engine.from_args(args)
    args = engine.resolve(args, ("input", "color", "camera", "output"))
    numbers = frame_numbers(args.frames, {"input": args.input, "camera": args.camera, "color": args.color})
    build = BuildOptions(stride=args.stride, depth_kind=args.depth_kind, view_layer=args.layer,
                         drop_edges=args.drop_edges)

    def inputs_of(frame):
        return job_inputs(ConvertJob(frame, at(args.input, frame), at(args.color, frame), at(args.camera, frame),
                                     None, args.output, build, ExportOptions()))

    total = len(numbers)
    numbers, report = present_frames(numbers, args.input, "depth")
    report = read_frames(numbers, inputs_of, "frame", report)
    frames = report.values
    try:
        read = [path for f in frames for path in (f.files.depth_path, f.files.color_path, f.files.camera_path)]
        written = [os.path.join(args.output, folder, "frame") for folder in ("images", "depth", "masks")]
        with engine.start(inputs=read, outputs=written) as workers:  # each frame's files: a task
            result = export_dataset(frames, args.output, voxel_size=args.voxel, colmap_format=args.colmap,
                                    build=build, executor=workers.executor)
    except (DepthCloudError, OSError) as exc:
        raise bad_input(exc) from None
    say("warning", list(result.warnings))
    note(f"dataset of {result.frames} frame(s) -> {args.output}: images/, depth/"
         + (", masks/" if result.has_alpha else "") + f", transforms.json, colmap/sparse/0 ({result.cameras} "
         f"camera(s), {result.colmap_points:,} points, mean track {result.mean_track_length:.2f}), sparse_pc.ply "
         f"and splats.ply ({result.points:,} points, voxel {result.voxel_size:g} m"
         + (" chosen automatically)" if result.voxel_size_auto else ")"))
    return sequence_end(report, total, "frame") if report.failed else 0


def add_parser(sub) -> None:
    dataset = sub.add_parser("dataset", help="frames -> a dataset that trains as it is (nerfstudio transforms.json, "
                                             "COLMAP model, 3DGS splats.ply)")
    dataset.add_argument("input", help="depth EXR pattern with # (with --frames), or one depth EXR")
    add_frames(dataset)
    dataset.add_argument("--color", help="color EXR (or # pattern); default: the file beside the depth file")
    dataset.add_argument("--camera", help="camera sidecar JSON (or # pattern); default: the sidecar beside the "
                                          "depth file")
    dataset.add_argument("--layer", metavar="NAME", help="multilayer render EXRs: the view layer to read")
    add_depth_kind(dataset)
    dataset.add_argument("--stride", type=int, default=1, help="every k-th pixel in each direction (the cloud only)")
    dataset.add_argument("--drop-edges", action="store_true",
                         help="leave pixels that straddle a silhouette out of the initial cloud")
    dataset.add_argument("--voxel", type=float, default=0.0,
                         help="voxel size of the fused initial cloud in metres (default 0: chosen so that it has at "
                              "most 1M points)")
    dataset.add_argument("--colmap", choices=("binary", "text"), default="binary",
                         help="COLMAP model files: .bin (default) or .txt")
    add_engine(dataset, "frames' images and depth maps")
    dataset.add_argument("-o", "--output", required=True, help="output folder")
    dataset.set_defaults(run=run)
