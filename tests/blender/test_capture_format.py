"""Set Up EXR Outputs' Capture Format: ZIP (default), uncompressed, and half-float colour; depth always float32,
so the points never move; half colour changes 8-bit sRGB values by at most one level."""

from __future__ import annotations

import bpy
import numpy as np
import OpenEXR
import pytest

import depth_cloud_addon
from depth_cloud_addon.core import read_exr
from depth_cloud_addon.core.formats.ply import linear_to_srgb8
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from depth_cloud_addon.core.frames.files import find_frame_files, frame_inputs
from tools import scenes

FORMATS = {"ZIP": ("ZIP_COMPRESSION", "FLOAT"), "NONE": ("NO_COMPRESSION", "FLOAT"),
           "NONE_HALF": ("NO_COMPRESSION", "HALF"), "ZIP_HALF": ("ZIP_COMPRESSION", "HALF")}


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """One still captured in every format, the same scene (emission colours, several samples)."""
    scene = scenes.empty_scene(64, 48)
    scene.cycles.samples = 4
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    depth_cloud_addon.register()
    folders = {}
    try:
        for name in FORMATS:
            folder = tmp_path_factory.mktemp(name.lower())
            assert bpy.ops.depth_cloud.setup_outputs(directory=str(folder), capture_format=name,
                                                     extra_passes={"NORMAL"}) == {"FINISHED"}
            assert scene.depth_cloud.capture_format == name
            scene.frame_set(1)
            bpy.ops.render.render(write_still=False)
            folders[name] = folder
    finally:
        depth_cloud_addon.unregister()
    return folders


def _header(path):
    with OpenEXR.File(str(path), separate_channels=True) as exr:
        part = exr.parts[0]
        return str(part.compression()), {name: channel.pixels.dtype for name, channel in part.channels.items()}


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_capture_format_writes_what_it_says_and_keeps_depth_float32(captures, name):
    compression, color_type = FORMATS[name]
    depth_compression, depth_types = _header(captures[name] / "depth_0001.exr")
    color_compression, color_types = _header(captures[name] / "color_0001.exr")
    assert str(depth_compression).endswith(compression) and str(color_compression).endswith(compression)
    assert set(depth_types.values()) == {np.dtype(np.float32)}
    assert set(color_types.values()) == {np.dtype(np.float16 if color_type == "HALF" else np.float32)}
    passes_compression, passes_types = _header(captures[name] / "passes_0001.exr")
    assert str(passes_compression).endswith(compression) and set(passes_types.values()) == {np.dtype(np.float32)}


@pytest.mark.parametrize("name", ["NONE", "NONE_HALF", "ZIP_HALF"])
def test_points_are_the_same_and_half_colour_moves_8_bit_srgb_by_one_level_at_most(captures, name):
    def cloud(folder):
        return read_cloud(frame_inputs(find_frame_files(folder, 1, from_setup=True), 1), BuildOptions())

    exact, other = cloud(captures["ZIP"]), cloud(captures[name])
    np.testing.assert_array_equal(other.points, exact.points)  # depth is float32 in every format
    a, b = linear_to_srgb8(exact.colors[:, :3]), linear_to_srgb8(other.colors[:, :3])
    difference = np.abs(a.astype(int) - b.astype(int))
    if name == "NONE":
        assert difference.max() == 0
    else:
        assert difference.max() <= 1 and read_exr(captures[name] / "color_0001.exr", require_depth=False).color.size
        print(f"{name}: {np.count_nonzero(difference) / difference.size:.2%} of 8-bit sRGB values differ by one level")
