"""Which files hold a frame's depth, color and camera. Plain Python (no bpy), tested on its own.

Naming written by the compositor set-up: ``depth_NNNN.exr``, ``color_NNNN.exr``,
``camera_NNNN.json`` in one folder, ``NNNN`` the frame number as Blender fills a ``####`` run
(zero-padded to 4 digits, ``-001`` for frame -1).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .core import DepthCloudError

_HASH_RUN = re.compile(r"#+")


@dataclass(frozen=True)
class FrameSources:
    depth_path: str
    color_path: str | None   # None: color comes from the depth file (multilayer) or is absent
    camera_path: str | None  # None: no sidecar; use the scene camera


def frame_path(pattern: str, frame: int) -> str:
    """Replace the last run of ``#`` in ``pattern`` by ``frame`` zero-padded to the run's length."""
    runs = list(_HASH_RUN.finditer(pattern))
    if not runs:
        return pattern
    run = runs[-1]
    return f"{pattern[:run.start()]}{frame:0{len(run.group())}d}{pattern[run.end():]}"


def camera_sidecar_path(folder: str, frame: int) -> str:
    return os.path.join(folder, f"camera_{frame:04d}.json")


def resolve(folder_or_pattern: str, frame: int, *, from_setup: bool) -> FrameSources:
    """The files for ``frame``.

    ``from_setup``: ``folder_or_pattern`` is the set-up's output folder (the standard names apply).
    Otherwise it is a depth EXR, a multilayer render EXR, or a pattern with ``#`` for the frame
    number; a sibling ``color_``/``camera_`` file is used when the depth file follows our naming,
    and ``<name>.json`` next to the file counts as its camera sidecar.
    Raises :class:`DepthCloudError` when the depth file does not exist.
    """
    if from_setup:
        depth_path = os.path.join(folder_or_pattern, f"depth_{frame:04d}.exr")
    else:
        depth_path = frame_path(folder_or_pattern, frame)
    if not os.path.isfile(depth_path):
        hint = " (render the frame first, F12 or Render Animation)" if from_setup else ""
        raise DepthCloudError(f"no depth file for frame {frame}: {depth_path} does not exist{hint}")
    folder, name = os.path.split(depth_path)
    stem = os.path.splitext(name)[0]
    color_path = camera_path = None
    if stem.startswith("depth_"):
        suffix = stem[len("depth_"):]
        candidate = os.path.join(folder, f"color_{suffix}.exr")
        color_path = candidate if os.path.isfile(candidate) else None
        candidate = os.path.join(folder, f"camera_{suffix}.json")
        camera_path = candidate if os.path.isfile(candidate) else None
    if camera_path is None and os.path.isfile(os.path.join(folder, f"{stem}.json")):
        camera_path = os.path.join(folder, f"{stem}.json")
    return FrameSources(depth_path, color_path, camera_path)
