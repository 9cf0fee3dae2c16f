"""``depth-cloud depth``: depth EXRs between planar Z and ray distance (float32, one channel V, NaN where no hit,
the kind recorded in the header). The input's kind: ``--from``, else what the file records (its header, else the
sidecar's ``capture.depth_files``), else what Cycles writes for the camera."""

from __future__ import annotations

import sys

from ..core.frames.cloud import frame_input_paths
from ..core.frames.depth import write_depth_kinds
from ..core.frames.export import check_output
from ..core.frames.files import frame_files_of, read_sidecar
from ..core.frames.loop import walk_frames
from ..core.geometry.projection import DEPTH_KINDS
from .frames import add_depth_kind, add_frames, add_layer, at, frame_numbers, present_frames, sequence_end
from .report import CliError, say


def run(args) -> int:
    """A sequence goes on past frames that fail and lists them; a single file's problem is bad input (exit 2)."""
    numbers = frame_numbers(args.frames, {"input": args.input, "camera": args.camera, "output": args.output},
                            output=args.output)

    def convert(frame):
        source, camera_path, out = at(args.input, frame), at(args.camera, frame), at(args.output, frame)
        camera, capture = read_sidecar(camera_path)
        # the frame's files beside the depth file (colour, passes) are never written over either
        check_output(out, (*frame_input_paths(frame_files_of(source, camera_path=camera_path), frame), camera_path))
        return write_depth_kinds(source, camera, {args.to_kind: out}, from_kind=args.from_kind, capture=capture,
                                 view_layer=args.layer)

    def show(outcome) -> None:
        if outcome.ok:
            say("note", outcome.value.notes)
            print(f"{outcome.value.depth_path} -> {outcome.value.paths[0]} ({args.to_kind})", file=sys.stderr)

    total = len(numbers)
    numbers, report = present_frames(numbers, args.input, "depth")
    walk_frames(numbers, convert, output_of=lambda frame: at(args.output, frame), on_outcome=show, report=report)
    if numbers == [None] and report.failed:
        raise CliError(report.failed[0].error)
    return sequence_end(report, total, "depth map")


def add_parser(sub) -> None:
    depth = sub.add_parser("depth", help="convert depth maps between planar Z and ray distance")
    depth.add_argument("input", help="depth EXR (or a # pattern with --frames)")
    depth.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    add_layer(depth)
    add_depth_kind(depth, "--from", dest="from_kind")
    depth.add_argument("--to", dest="to_kind", choices=DEPTH_KINDS, required=True,
                       help="kind to write: planar Z (along the view axis) or ray distance (from the camera centre)")
    add_frames(depth)
    depth.add_argument("-o", "--output", required=True, help="output EXR (or a # pattern)")
    depth.set_defaults(run=run)
