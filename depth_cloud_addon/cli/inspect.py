"""``depth-cloud inspect``: what EXRs and camera sidecars hold, and whether each can be used as it is."""

from __future__ import annotations


def run(args) -> int:
    """Exit 1 when one of the files cannot be used as it is."""
    from ..core.frames.inspect import inspect_files  # only this command reads files this way

    text, status = inspect_files(args.files)
    print(text)
    return status


def add_parser(sub) -> None:
    inspect = sub.add_parser("inspect", help="what EXRs and camera sidecars hold, and whether they can be used as "
                                             "they are (lossy or half-float depth, depth kind, valid pixels, ...)")
    inspect.add_argument("files", nargs="+", metavar="FILE", help="depth/color EXRs and camera sidecar JSONs")
    inspect.set_defaults(run=run)
