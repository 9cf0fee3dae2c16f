"""Render a cloud built by the add-on with EEVEE; print the colors at two pixels as JSON.

Run in its own process (EEVEE aborts the whole process when no OpenGL/EGL is usable): see
test_addon.test_cloud_renders_as_colored_points_in_eevee. Usage: python eevee_cloud.py OUT.exr. Renders the points,
then the core's discs of the same plane at 5 m (instances that carry the colours: read on the instancer).
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-eevee-"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from depth_cloud_addon.blender import builder  # noqa: E402
from depth_cloud_addon.core import CameraModel, backproject, pixel_footprint, read_exr  # noqa: E402
from depth_cloud_addon.core.frames.cloud import cloud_arrays  # noqa: E402
from tools import scenes  # noqa: E402

scene = scenes.empty_scene()
cam = scenes.add_camera()
camera = CameraModel.from_blender(cam, scene)
depth = np.full(camera.shape, 5.0)
left = (np.arange(camera.width_px) < camera.width_px // 2)[None, :, None]
colors = np.where(left, [1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]) * np.ones((*camera.shape, 1))
engines = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
scene.render.engine = "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"
# Discs first: EEVEE renders the same object turned from points into discs ten times slower (measured on 5.3).
builder.build_cloud(bpy.context, cloud_arrays(depth, colors.astype(np.float32), camera, discs=True), geometry="DISCS")
discs = read_exr(scenes.render_multilayer(scene, sys.argv[1]), require_depth=False).color
radii = 0.5 * pixel_footprint(depth, camera) * 1.5  # overlapping discs: every pixel covered
builder.build_cloud_object(bpy.context, backproject(depth, camera).reshape(-1, 3), colors.reshape(-1, 4),
                           radii.ravel())
color = read_exr(scenes.render_multilayer(scene, sys.argv[1]), require_depth=False).color
print("RESULT " + json.dumps({"engine": scene.render.engine, "left": color[24, 10].tolist(),
                              "right": color[24, 50].tolist(), "discs_left": discs[24, 10].tolist(),
                              "discs_right": discs[24, 50].tolist(), "discs_covered": float(discs[..., 3].mean())}))
