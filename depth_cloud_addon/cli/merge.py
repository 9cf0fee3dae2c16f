"""``depth-cloud merge``: partial voxel grids (``convert --fuse --voxel S --partial``) -> one fused cloud, the same
bytes as one ``convert --fuse --voxel S`` of all their frames (in ascending order), whatever the order of the
partials and however the frames were split (see :mod:`..core.frames.fusion`). Resumes like ``convert``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from ..core import DepthCloudError
from ..core.formats.outputs import output_format
from ..core.frames.export import COLOR_MODES, ExportOptions, check_output, export_points, job_id, output_complete
from ..core.frames.fusion import check_partials, merge_partials, read_partial
from ..core.frames.loop import warned_frames
from .frames import add_format
from .report import CliError, bad_input, complete_already, note, say


def run(args) -> int:
    try:
        fmt = output_format(args.output, args.format)
        export = ExportOptions(colors=args.colors, radius=args.radius, fmt=fmt.name)
        export.check(args.output, fmt, fused=True)
        fmt.require(args.output)
        check_output(args.output, args.partials)
        headers = [read_partial(path, grid=False) for path in args.partials]
        check_partials(headers, force=args.force)
        # The fused cloud's positions are relative to the grids' origin (convert --fuse --origin's), recorded.
        export = dataclasses.replace(export, origin=headers[0].origin)
    except DepthCloudError as exc:
        raise bad_input(exc) from None
    entries = sorted(((frame, fused, description, header.path) for header in headers
                      for frame, fused, description in zip(header.frames, header.fused, header.frame_jobs)),
                     key=lambda entry: entry[0])  # frame order (no frame is in two partials)
    builds: dict[str, str] = {}
    for _frame, _fused, description, path in entries:
        builds.setdefault(json.dumps(description.get("build"), sort_keys=True), path)
    if len(builds) > 1:
        first, other = list(builds.values())[:2]
        raise CliError(f"{first} and {other} were made with other options (--stride, --depth-kind, --layer, "
                       "--drop-edges, ...): the partials of one fusion share them")
    # The fused job of convert --fuse: each frame's job id (with this output's export options), in frame order.
    frame_ids = [job_id({**description, "export": dataclasses.asdict(export)}) for _, _, description, _ in entries]
    fused_job = job_id({"fused": frame_ids, "voxel": headers[0].voxel_size})
    n_fused = sum(fused for _, fused, _, _ in entries)
    if complete_already(args.output, args.overwrite, lambda: output_complete(args.output, fmt.name, fused_job),
                        "partial grids and options"):
        return 0
    if n_fused == 0:
        raise CliError("no frame was fused in these partial grids; nothing to merge")
    try:
        grid, _ = merge_partials(args.partials, force=args.force)
        if fmt.name == "las":  # world positions in float64
            points, colors, radii, _counts = grid.result(dtype=np.float64)
        else:
            points, colors, radii, _counts = grid.result(relative_to=export.origin)
        n = export_points(args.output, points, colors, radii, export, comments=[f"fused from {n_fused} frames"],
                          job=fused_job)
    except (DepthCloudError, OSError) as exc:
        raise bad_input(exc, args.output) from None
    failed = [frame for frame, fused, _, _ in entries if not fused]
    say("warning", warned_frames({"failed in their chunk, not in the cloud": failed} if failed else {}))
    note(f"merged {len(headers)} partial grid(s), {n_fused} frame(s), into {n:,} points -> {args.output}")
    return 0


def add_parser(sub) -> None:
    merge = sub.add_parser("merge", help="partial voxel grids (convert --fuse --voxel S --partial) -> one fused "
                                         "cloud, exactly as one machine fusing every frame")
    merge.add_argument("partials", nargs="+", metavar="PARTIAL", help="partial grid .npz files, in any order")
    merge.add_argument("--colors", choices=COLOR_MODES, default="srgb",
                       help="colors: sRGB-encoded uchar (default), linear float, or none")
    merge.add_argument("--radius", action="store_true", help="add radius: the voxel's mean (at least S / sqrt(2), "
                                                                 "which covers a voxel's face)")
    add_format(merge)
    merge.add_argument("--force", action="store_true",
                       help="merge partials whose frames were read from different inputs (partials of different "
                            "jobs are refused otherwise)")
    merge.add_argument("--overwrite", action="store_true",
                       help="rewrite an output that is complete and from the same partial grids and options")
    merge.add_argument("-o", "--output", required=True, help="the fused cloud (PLY, NPZ or LAS/LAZ)")
    merge.set_defaults(run=run)
