"""``depth-cloud``: the core without Blender, from the shell. One module per command (its parser beside it);
``report`` holds the messages and exit statuses every command shares, ``frames`` the frame arguments, ``workers``
the ``--jobs`` pool. The frames themselves are walked by the core's one frame loop (``core.frames.loop``).

    depth-cloud convert render.exr --camera camera.json -o cloud.ply
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 --jobs 2 -o 'out/cloud_####.ply'
    depth-cloud depth IN.exr --camera CAMERA.json --to distance -o OUT.exr
    depth-cloud depth 'frames/depth_####.exr' --camera 'frames/camera_####.json' --frames 1-240 \\
        --to distance -o 'out/distance_####.exr'
    depth-cloud cameras --camera 'frames/camera_####.json' --frames 1-240 -o out/
    depth-cloud inspect frames/depth_0001.exr frames/camera_0001.json
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 --attributes object_id,normal,motion -o shot.usdc
    depth-cloud convert 'frames/depth_####.exr' --frames 1-240 -o survey.e57   # or 'f_####.las', --fuse -o x.laz
    depth-cloud dataset 'frames/depth_####.exr' --frames 1-240 -o dataset/
    depth-cloud convert 'frames/depth_####.exr' --frames 1-120 --fuse --voxel 0.02 --partial -o parts/a.npz
    depth-cloud merge parts/*.npz -o fused.ply

CAMERA.json is the sidecar the Blender set-up writes per frame (``CameraModel.to_dict()``); by
default ``convert`` uses the sidecar next to each depth file (``camera_NNNN.json`` beside
``depth_NNNN.exr``, or ``NAME.json`` beside ``NAME.exr``), and the color of a multilayer EXR or of
the ``color_NNNN.exr`` beside it. A ``#`` run in a path stands for the frame number, zero-padded to
the run's length.

Exit status: 0 every frame written (or already complete: sequences resume, skipping outputs that
exist, are complete and record the same job -- the same inputs, unchanged, and the same options --
unless ``--overwrite``; a single file is always written); 1 some frames of a sequence failed (each
listed on stderr with its file and problem, the others written); 2 bad input or arguments, one line
``depth-cloud: error: ...`` and nothing written (``--debug`` shows a traceback); 128+N stopped by
signal N (SIGTERM, SIGINT, SIGHUP): outputs written so far are complete, nothing is half-written, and
worker processes stop with it (also when it is killed outright).
Warnings do not change it: one line each, ``depth-cloud: warning: ... (frames N, ...)`` (frames rendered
with depth of field or motion blur, as its sidecar records; a ``--depth-kind``/``--from`` that contradicts
what the file records). ``auto`` depth kind reads each file as what it records (its EXR header, else its
sidecar's ``capture.depth_files``), else as what Cycles writes for the camera.
Outputs are written under a temporary name and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import traceback

from .. import __version__
from ..core import DepthCloudError
from .report import EXIT_BAD_INPUT, STOP_SIGNALS, CliError, Stopped, raise_stopped, stopped_message


def commands() -> tuple:
    """The command modules, in the order ``--help`` lists them. Imported here, not with the package, so a ``--jobs``
    worker that imports ``cli.convert`` for its task loads that command alone."""
    from . import cameras, convert, dataset, depth, inspect, merge

    return (convert, depth, cameras, dataset, merge, inspect)


class Parser(argparse.ArgumentParser):
    """argparse with one line per error: ``depth-cloud: error: --stride: invalid int value: 'x'`` (exit status 2,
    like every bad input), not a usage block."""

    def error(self, message):
        message = message.removeprefix("argument ")
        print(f"depth-cloud: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="depth-cloud", description="Exact point clouds and ground truth from "
                                     "Blender depth EXRs, without Blender.")
    parser.add_argument("--version", action="version", version=f"depth-cloud {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show a Python traceback when something fails")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in commands():
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed as its own bytes
        encoding = (getattr(stream, "encoding", "") or "").lower().replace("-", "")
        if hasattr(stream, "reconfigure") and encoding == "utf8":
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = {}
    if threading.current_thread() is threading.main_thread():  # stop cleanly, however the run is stopped
        previous = {signum: signal.signal(signum, raise_stopped) for signum in STOP_SIGNALS}
    try:
        return args.run(args)
    except (CliError, DepthCloudError) as exc:  # bad input: one line (a core error a command did not word itself)
        if args.debug:
            traceback.print_exc()
        print(f"depth-cloud: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Stopped as exc:
        print("\n" + stopped_message(exc), file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # an unexpected failure: one line, the traceback only with --debug
        if args.debug:
            raise
        print(f"depth-cloud: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
