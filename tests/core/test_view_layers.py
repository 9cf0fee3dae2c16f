"""Multilayer render EXRs with several view layers: the layer to read is chosen, and named."""

from __future__ import annotations

import numpy as np
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.core import CameraModel, MissingChannelError, read_exr, write_exr
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from depth_cloud_addon.core.frames.files import frame_files_of, frame_inputs

CAMERA = CameraModel(width_px=8, height_px=6, lens_mm=20.0, frame=1)
DEPTHS = {"ViewLayer": 4.0, "Wide": 7.0}


@pytest.fixture
def two_layers(tmp_path):
    """render.exr holding two view layers as Blender writes them (<layer>.Depth.Z, <layer>.Combined.RGBA)."""
    channels = {}
    for i, (layer, depth) in enumerate(DEPTHS.items()):
        channels[f"{layer}.Depth.Z"] = np.full(CAMERA.shape, depth, np.float32)
        for c, value in zip("RGBA", (0.1 * (i + 1), 0.2, 0.3, 1.0)):
            channels[f"{layer}.Combined.{c}"] = np.full(CAMERA.shape, value, np.float32)
    write_exr(tmp_path / "render.exr", channels)
    (tmp_path / "render.json").write_text(CAMERA.to_json())
    return tmp_path / "render.exr"


def test_the_first_layer_by_default_or_the_one_asked_for(two_layers):
    image = read_exr(two_layers)
    assert image.view_layer == "ViewLayer" and float(image.depth[0, 0]) == 4.0
    image = read_exr(two_layers, view_layer="Wide")
    assert image.view_layer == "Wide" and float(image.depth[0, 0]) == 7.0
    assert image.color[0, 0, 0] == pytest.approx(0.2)  # the color of the same layer


def test_a_layer_the_file_lacks(two_layers):
    with pytest.raises(MissingChannelError, match="render.exr: no view layer 'Nope'; view layers in the file: "
                                                  "'ViewLayer', 'Wide'"):
        read_exr(two_layers, view_layer="Nope")
    assert read_exr(two_layers, view_layer="Nope", view_layer_required=False).view_layer == "ViewLayer"


def test_files_of_one_layer_ignore_it(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": np.full(CAMERA.shape, 3.0, np.float32)})
    image = read_exr(tmp_path / "depth_0001.exr", view_layer="Wide")
    assert image.view_layer is None and float(image.depth[0, 0]) == 3.0


def test_the_cloud_comes_from_the_chosen_layer_and_says_which(two_layers):
    inputs = frame_inputs(frame_files_of(two_layers), 1)
    for layer, depth in DEPTHS.items():
        cloud = read_cloud(inputs, BuildOptions(view_layer=layer, space="camera"))
        assert cloud.view_layer == layer
        np.testing.assert_allclose(-cloud.points[:, 2], depth, rtol=1e-6)


def test_cli_layer_option(two_layers, capsys):
    out = two_layers.parent / "other.ply"
    assert cli.main(["convert", str(two_layers), "--layer", "Wide", "--space", "camera", "-o", str(out)]) == 0
    assert "view layer 'Wide'" in capsys.readouterr().err
    from plyfile import PlyData

    np.testing.assert_allclose(-PlyData.read(str(out))["vertex"]["z"], 7.0, rtol=1e-6)
    assert cli.main(["convert", str(two_layers), "--layer", "Nope", "-o", str(out.with_name("nope.ply"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no view layer 'Nope'; view layers in the file: 'ViewLayer', 'Wide'" in err[0]
    assert cli.main(["depth", str(two_layers), "--camera", str(two_layers.with_suffix(".json")), "--layer", "Wide",
                     "--to", "distance", "-o", str(two_layers.parent / "d.exr")]) == 0
    assert float(np.nanmin(read_exr(two_layers.parent / "d.exr").depth)) >= 7.0
