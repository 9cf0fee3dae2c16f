"""``depth-cloud cameras``: cameras.json (K in OpenCV's convention, extrinsics in OpenCV and Blender axes) and
nerfstudio's transforms.json, from the frames' sidecars."""

from __future__ import annotations

import os
import sys

from ..core import DepthCloudError
from ..core.frames.export import InputSet, check_output
from ..core.frames.files import read_camera_sidecar
from .frames import add_frames, at, frame_numbers, present_frames, read_frames, sequence_end
from .report import CliError, bad_input, say


def run(args) -> int:
    """A sequence goes on past frames whose camera cannot be read and lists them."""
    from ..core.formats.camera_export import export_cameras, nerfstudio_transforms, write_json  # this command's

    numbers = frame_numbers(args.frames, {"camera": args.camera})
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CliError(f"{args.output}: is a file, not a folder: -o names the folder for cameras.json")
    total = len(numbers)
    numbers, missing = present_frames(numbers, args.camera, "camera")
    outputs = [os.path.join(args.output, name) for name in ("cameras.json", "transforms.json")]
    sidecars = InputSet(at(args.camera, frame) for frame in numbers)
    try:
        for output in outputs:
            check_output(output, sidecars)
    except DepthCloudError as exc:
        raise bad_input(exc) from None
    report = read_frames(numbers, lambda frame: read_camera_sidecar(at(args.camera, frame)), "camera", missing)
    kept = [o.frame for o in report.done]
    cameras = report.values

    def beside_output(pattern):  # as recorded: relative to the output folder, so the files resolve from there
        return [os.path.relpath(os.path.abspath(at(pattern, frame)), os.path.abspath(args.output)).replace(os.sep, "/")
                for frame in kept]

    images = beside_output(args.images) if args.images else None
    depths = beside_output(args.depths) if args.depths else None
    for option, pattern in (("--images", args.images), ("--depths", args.depths)):
        absent = [at(pattern, frame) for frame in kept if not os.path.isfile(at(pattern, frame))] if pattern else []
        if absent:  # a pattern relative to the wrong folder (it is read from the working folder, as any path)
            say("warning", [f"{option}: {len(absent)} of {len(kept)} file(s) do not exist (e.g. {absent[0]}): "
                            f"the paths recorded relative to {args.output} lead nowhere"])
    written = ["cameras.json"]
    try:
        os.makedirs(args.output, exist_ok=True)
        write_json(os.path.join(args.output, "cameras.json"),
                   export_cameras(cameras, image_paths=images, depth_paths=depths))
        if images:
            try:
                write_json(os.path.join(args.output, "transforms.json"),
                           nerfstudio_transforms(cameras, images, depth_paths=depths))
                written.append("transforms.json")
            except DepthCloudError as exc:
                print(f"depth-cloud: note: no transforms.json: {exc}", file=sys.stderr)
    except OSError as exc:
        raise bad_input(exc) from None
    print(f"{len(cameras)} camera(s) -> {', '.join(os.path.join(args.output, w) for w in written)}", file=sys.stderr)
    return sequence_end(report, total, "camera") if report.failed else 0


def add_parser(sub) -> None:
    cameras = sub.add_parser("cameras", help="export intrinsics/extrinsics (cameras.json, transforms.json)")
    cameras.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    add_frames(cameras)
    cameras.add_argument("--images", help="image path (pattern) to record per frame, e.g. 'color_####.exr' (recorded "
                                          "relative to the output folder)")
    cameras.add_argument("--depths", help="depth path (pattern) to record per frame (recorded relative to the output "
                                          "folder)")
    cameras.add_argument("-o", "--output", required=True, help="output folder")
    cameras.set_defaults(run=run)
