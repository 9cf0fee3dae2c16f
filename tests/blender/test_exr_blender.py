"""read_exr on EXRs written by the running Blender (render output and compositor File Outputs).

Run by pytest from each bpy venv (4.2, 4.5, 5.0). The scene (see ``_exr_scenes``) has known depth:
10 m plane in columns 0..47, background (1e10) in columns 48..63, a 5 m quad in rows 0..18 of
columns 0..31 only (so a flipped read fails).
"""

import bpy
import numpy as np
import pytest

from depth_cloud_addon.core.formats.exr import read_exr
from tests.blender import _exr_scenes as sc

EXPECTED_DEPTH = np.full((sc.H, sc.W), 10.0, np.float32)
EXPECTED_DEPTH[:, 48:] = 1e10
EXPECTED_DEPTH[:19, :32] = 5.0


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    paths = sc.write_all_layouts(str(tmp_path_factory.mktemp("exr_layouts")))
    yield paths
    bpy.ops.wm.read_factory_settings(use_empty=True)


def check_depth(img):
    assert img.shape == (48, 64)
    assert img.depth.dtype == np.float32
    # planar depth of planes parallel to the image: exact, every pixel (row 0 = top)
    np.testing.assert_allclose(img.depth[:, :48], EXPECTED_DEPTH[:, :48], rtol=0, atol=1e-5)
    assert np.all(img.depth[:, 48:] == np.float32(1e10))
    assert img.depth[0, 0] == pytest.approx(5.0, abs=1e-5) and img.depth[47, 0] == pytest.approx(10.0, abs=1e-5)


def check_color(img):
    """Emission colors on the planes, alpha 1; transparent film (0, 0, 0, 0) on background.

    Pixels next to edges are skipped: the pixel filter blends color there (depth is not blended).
    """
    c = img.color
    assert c.shape == (48, 64, 4) and c.dtype == np.float32
    np.testing.assert_allclose(c[:17, :30], np.broadcast_to((*sc.NEAR_COLOR, 1.0), (17, 30, 4)), atol=1e-4)
    np.testing.assert_allclose(c[21:, :46], np.broadcast_to((*sc.FAR_COLOR, 1.0), (27, 46, 4)), atol=1e-4)
    np.testing.assert_allclose(c[:19, 34:46], np.broadcast_to((*sc.FAR_COLOR, 1.0), (19, 12, 4)), atol=1e-4)
    assert np.all(c[:, 50:] == 0.0)


def test_render_multilayer(layouts):
    img = read_exr(layouts["render_ml"])
    assert img.depth_channel == "ViewLayer.Depth.Z"
    assert img.color_channels == tuple(f"ViewLayer.Combined.{ch}" for ch in "RGBA")
    assert "Composite.Combined.R" in img.channels  # compositing was on: not picked
    check_depth(img)
    check_color(img)
    check_color(read_exr(layouts["render_ml"], color_layer="Composite.Combined"))


def test_render_multilayer_interleaved(layouts):
    if "render_ml_interleave" not in layouts:  # 4.x has no such setting: it always writes one part
        assert not hasattr(bpy.context.scene.render.image_settings, "use_exr_interleave")
        return
    img = read_exr(layouts["render_ml_interleave"])
    assert img.depth_channel == "ViewLayer.Depth.Z"
    assert not any(name.startswith("Composite.") for name in img.channels)
    check_depth(img)
    check_color(img)


def test_file_output_depth(layouts):
    img = read_exr(layouts["fo_depth"])
    # 4.2 writes one channel V; 4.5 / 5.0 write R = G = B = depth, A = 1
    assert img.depth_channel == ("R" if sc.V45 else "V")
    assert img.color is None
    check_depth(img)


def test_file_output_depth_bw(layouts):
    if "fo_depth_bw" not in layouts:  # 4.2: a File Output node's EXR format has no BW color mode
        node = next(n for n in bpy.context.scene.node_tree.nodes if n.bl_idname == "CompositorNodeOutputFile")
        with pytest.raises(TypeError, match="BW"):
            node.format.color_mode = "BW"
        return
    img = read_exr(layouts["fo_depth_bw"])
    assert img.channels == ("V",) and img.depth_channel == "V"
    check_depth(img)


def test_file_output_color(layouts):
    img = read_exr(layouts["fo_color"], require_depth=False)
    assert img.depth is None
    assert img.color_channels == ("R", "G", "B", "A")
    check_color(img)


def test_file_output_multilayer(layouts):
    img = read_exr(layouts["fo_ml"])
    assert img.depth_channel == "Depth.V"
    assert img.color_channels == ("Image.R", "Image.G", "Image.B", "Image.A")
    check_depth(img)
    check_color(img)


def test_render_and_file_output_agree(layouts):
    render = read_exr(layouts["render_ml"])
    for kind in ("fo_depth", "fo_ml"):
        np.testing.assert_array_equal(read_exr(layouts[kind]).depth, render.depth)
    np.testing.assert_array_equal(read_exr(layouts["fo_ml"]).color, render.color)
