"""Bad input met in real Blender use: a clear exception type and message, never a wrong cloud."""

import bpy
import numpy as np
import pytest

from depth_cloud_addon.core import (
    CameraError,
    CameraModel,
    NoValidDepthError,
    ResolutionMismatchError,
    backproject,
    read_exr,
)
from tools import scenes


def test_resolution_percentage_changed_after_rendering(tmp_path):
    scene = scenes.empty_scene(128, 96)
    scene.render.resolution_percentage = 50
    cam = scenes.add_camera(location=(0, -8, 1), rotation=(1.5, 0, 0))
    scenes.standard_objects(cam)
    image = read_exr(scenes.render_multilayer(scene, str(tmp_path / "half.exr")))
    assert image.depth.shape == (48, 64)
    assert np.isfinite(backproject(image.depth, CameraModel.from_blender(cam, scene))).any()
    scene.render.resolution_percentage = 100  # the user changed it after rendering
    with pytest.raises(ResolutionMismatchError, match=r"64x48 px but the camera renders 128x96 px.*percentage"):
        backproject(image.depth, CameraModel.from_blender(cam, scene))


def test_all_background_frame(tmp_path):
    scene = scenes.empty_scene()
    cam = scenes.add_camera()
    image = read_exr(scenes.render_multilayer(scene, str(tmp_path / "empty.exr")))
    assert np.all(image.depth == np.float32(1e10))
    with pytest.raises(NoValidDepthError, match="no valid depth in the 64x48 map"):
        backproject(image.depth, CameraModel.from_blender(cam, scene))
    assert np.isnan(backproject(image.depth, CameraModel.from_blender(cam, scene), allow_empty=True)).all()


def test_camera_from_blender_rejects_a_non_camera_object():
    scenes.empty_scene()
    obj = scenes.add_plane("NotACamera", 1.0, (1, 1, 1))
    with pytest.raises(CameraError, match="'NotACamera' is not a camera"):
        CameraModel.from_blender(obj, bpy.context.scene)
