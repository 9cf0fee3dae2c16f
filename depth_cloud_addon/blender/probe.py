"""The panel's "pixel x, y -> 3D" readout for the current frame (runs when the user presses the arrow
button, Pixel to 3D: an update callback on the pixel property crashes bpy 4.2 at exit)."""

from __future__ import annotations

import bpy
import numpy as np

from ..core import DepthCloudError, unproject_pixels
from ..core.frames.depth import read_frame_depth
from . import compositor, frames

_depth_cache: dict[tuple, tuple[np.ndarray, str]] = {}  # frame signature -> (depth map, its kind) (one entry)


def probe(scene, pixel) -> tuple[np.ndarray, np.ndarray, frames.FrameInputs]:
    """World and camera-frame points of ``pixel`` on the scene's current frame (set-up outputs); the depth
    file's kind is the core's rule for "auto" (``core.frames.depth.resolve_file_depth_kind``)."""
    directory = compositor.output_directory(scene)
    if directory is None:
        raise DepthCloudError("no outputs set up")
    inputs = frames.frame_inputs(scene, bpy.path.abspath(directory), True, scene.frame_current)
    cached = _depth_cache.get(inputs.signature)
    if cached is None:
        image, kind = read_frame_depth(inputs)
        cached = (image.depth, kind.kind)
        _depth_cache.clear()
        _depth_cache[inputs.signature] = cached
    depth, kind = cached
    pixel = np.asarray(pixel, dtype=np.float64)
    return (unproject_pixels(pixel, depth, inputs.camera, depth_kind=kind),
            unproject_pixels(pixel, depth, inputs.camera, depth_kind=kind, space="camera"), inputs)


def update_probe(scene) -> None:
    settings = scene.depth_cloud
    try:
        world, camera, _ = probe(scene, tuple(settings.probe_pixel))
    except DepthCloudError as exc:
        settings.probe_result = str(exc)
        return
    if np.isnan(world).any():
        settings.probe_result = "no depth at this pixel (background, outside the image or clip range)"
    else:
        settings.probe_result = (f"world ({world[0]:.4f}, {world[1]:.4f}, {world[2]:.4f}) m, "
                                 f"camera depth {-camera[2]:.4f} m")
