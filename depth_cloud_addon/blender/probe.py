"""The panel's "pixel x, y -> 3D" readout for the current frame (runs when the user presses the arrow
button, Pixel to 3D: an update callback on the pixel property crashes bpy 4.2 at exit)."""

from __future__ import annotations

import bpy
import numpy as np

from ..core import DepthCloudError, read_exr, unproject_pixels
from . import compositor, frames

_depth_cache: dict[tuple, np.ndarray] = {}  # frame signature -> depth map (one entry)


def probe(scene, pixel) -> tuple[np.ndarray, np.ndarray, frames.FrameInputs]:
    """World and camera-frame points of ``pixel`` on the scene's current frame (set-up outputs)."""
    directory = compositor.output_directory(scene)
    if directory is None:
        raise DepthCloudError("no outputs set up")
    inputs = frames.frame_inputs(scene, bpy.path.abspath(directory), True, scene.frame_current)
    depth = _depth_cache.get(inputs.signature)
    if depth is None:
        depth = read_exr(inputs.files.depth_path).depth
        _depth_cache.clear()
        _depth_cache[inputs.signature] = depth
    pixel = np.asarray(pixel, dtype=np.float64)
    return (unproject_pixels(pixel, depth, inputs.camera),
            unproject_pixels(pixel, depth, inputs.camera, space="camera"), inputs)


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
