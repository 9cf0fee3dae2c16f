"""``depth-cloud``: the core without Blender, from the shell.

    depth-cloud depth IN.exr --camera CAMERA.json --to distance -o OUT.exr
    depth-cloud depth 'frames/depth_####.exr' --camera 'frames/camera_####.json' --frames 1-240 \\
        --to distance -o 'out/distance_####.exr'
    depth-cloud cameras --camera 'frames/camera_####.json' --frames 1-240 -o out/

CAMERA.json is the sidecar the Blender set-up writes per frame (``CameraModel.to_dict()``). A ``#``
run in a path stands for the frame number, zero-padded to the run's length. Bad input prints one
line ``depth-cloud: error: ...`` naming the file and the problem, and exits with status 2; an output
file is written under a temporary name and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import sys

from .core import CameraModel, DepthCloudError, convert_depth, read_exr, write_exr
from .sources import frame_path

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A problem with the command line or its inputs: one line for the user, exit status 2."""


def parse_frames(text: str | None) -> list[int] | None:
    """``"1-240"``, ``"7"`` or ``"1-9,20-22"`` -> frame numbers; None -> None (a single file)."""
    if text is None:
        return None
    numbers: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            start, end = int(first), int(last) if last else int(first)
            if end < start:
                raise ValueError
            numbers.extend(range(start, end + 1))
    except ValueError:
        raise CliError(f"--frames {text!r}: expected ranges like 1-240 or 1-9,20-22") from None
    return numbers


def load_camera(path: str) -> CameraModel:
    try:
        with open(path, encoding="utf-8") as f:
            return CameraModel.from_json(f.read())
    except FileNotFoundError:
        raise CliError(f"{path}: no such camera file") from None
    except DepthCloudError as exc:
        raise CliError(f"{path}: {exc}") from None


def _frames_or_single(args) -> list[int | None]:
    numbers = parse_frames(args.frames)
    if numbers is None:
        for name in ("input", "camera", "output"):
            if "#" in (getattr(args, name, None) or ""):
                raise CliError(f"{name} {getattr(args, name)!r} has a # frame pattern: give --frames")
        return [None]
    return numbers


def _at(pattern: str, frame: int | None) -> str:
    return pattern if frame is None else frame_path(pattern, frame)


def cmd_depth(args) -> int:
    """Convert depth EXRs between planar Z and ray distance (float32, one channel V, NaN where no hit)."""
    for frame in _frames_or_single(args):
        source, camera_path, out = _at(args.input, frame), _at(args.camera, frame), _at(args.output, frame)
        camera = load_camera(camera_path)
        try:
            depth = read_exr(source).depth
            from_kind = camera.natural_depth_kind() if args.from_kind == "auto" else args.from_kind
            converted = convert_depth(depth, camera, from_kind=from_kind, to_kind=args.to_kind)
        except DepthCloudError as exc:
            raise CliError(str(exc)) from None
        try:
            write_exr(out, {"V": converted})
        except OSError as exc:
            raise CliError(f"{out}: cannot write: {exc}") from None
        print(f"{source} -> {out} ({args.to_kind})", file=sys.stderr)
    return 0


def cmd_cameras(args) -> int:
    """Write cameras.json (K in OpenCV's convention, extrinsics in OpenCV and Blender axes) and transforms.json."""
    from .core.camera_export import export_cameras, nerfstudio_transforms, write_json

    numbers = _frames_or_single(args)
    cameras = [load_camera(_at(args.camera, frame)) for frame in numbers]
    images = [_at(args.images, frame) for frame in numbers] if args.images else None
    depths = [_at(args.depths, frame) for frame in numbers] if args.depths else None
    os.makedirs(args.output, exist_ok=True)
    try:
        write_json(os.path.join(args.output, "cameras.json"),
                   export_cameras(cameras, image_paths=images, depth_paths=depths))
    except OSError as exc:
        raise CliError(f"{args.output}: cannot write: {exc}") from None
    written = ["cameras.json"]
    if images:
        try:
            write_json(os.path.join(args.output, "transforms.json"),
                       nerfstudio_transforms(cameras, images, depth_paths=depths))
            written.append("transforms.json")
        except DepthCloudError as exc:
            print(f"depth-cloud: note: no transforms.json: {exc}", file=sys.stderr)
    print(f"{len(cameras)} camera(s) -> {', '.join(os.path.join(args.output, w) for w in written)}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depth-cloud", description="Exact point clouds and ground truth from "
                                     "Blender depth EXRs, without Blender.")
    sub = parser.add_subparsers(dest="command", required=True)

    depth = sub.add_parser("depth", help="convert depth maps between planar Z and ray distance")
    depth.add_argument("input", help="depth EXR (or a # pattern with --frames)")
    depth.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    depth.add_argument("--from", dest="from_kind", choices=("auto", "planar", "distance"), default="auto",
                       help="kind of the input (auto: what Cycles writes for the camera)")
    depth.add_argument("--to", dest="to_kind", choices=("planar", "distance"), required=True)
    depth.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    depth.add_argument("-o", "--output", required=True, help="output EXR (or a # pattern)")
    depth.set_defaults(run=cmd_depth)

    cameras = sub.add_parser("cameras", help="export intrinsics/extrinsics (cameras.json, transforms.json)")
    cameras.add_argument("--camera", required=True, help="camera sidecar JSON (or a # pattern)")
    cameras.add_argument("--frames", help="frame numbers for # patterns, e.g. 1-240")
    cameras.add_argument("--images", help="image path (pattern) to record per frame, e.g. 'color_####.exr'")
    cameras.add_argument("--depths", help="depth path (pattern) to record per frame")
    cameras.add_argument("-o", "--output", required=True, help="output folder")
    cameras.set_defaults(run=cmd_cameras)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CliError as exc:
        print(f"depth-cloud: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
