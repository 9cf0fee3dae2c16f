"""Capture with EEVEE through the add-on (Set Up -> render -> Build) and measure the cloud against
``scene.ray_cast``; print the figures as JSON. Run in its own process (EEVEE aborts the whole process when
no OpenGL/EGL is usable): see test_eevee.py. Usage: python eevee_capture.py FOLDER CLIP_END [SAMPLES]
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-eevee-"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402

import depth_cloud_addon  # noqa: E402
from depth_cloud_addon.blender import builder  # noqa: E402
from depth_cloud_addon.core import read_exr  # noqa: E402
from depth_cloud_addon.core.frames.cloud import read_cloud  # noqa: E402
from depth_cloud_addon.core.frames.files import find_frame_files, frame_inputs  # noqa: E402
from tools import scenes  # noqa: E402

folder, clip_end = sys.argv[1], float(sys.argv[2])
scene = scenes.empty_scene()
depth_cloud_addon.register()
cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0, clip_end=clip_end)


def forward(d, x=0.0, y=0.0):
    return tuple(cam.matrix_world.normalized() @ Vector((x, y, -d)))


# No wall: most pixels see nothing, which EEVEE writes as about clip_end (not Cycles' 1e10).
scenes.add_cube("Cube", 1.2, (0.1, 0.8, 0.2), forward(4.0, 1.0, -0.4), (0.3, 0.5, 0.2))
scenes.add_uv_sphere("Sphere", 0.8, (0.8, 0.8, 0.1), forward(8.0, -0.5, 0.3))
engines = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
scene.render.engine = "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"
if len(sys.argv) > 3:
    scene.eevee.taa_render_samples = int(sys.argv[3])
bpy.ops.depth_cloud.setup_outputs(directory=folder)
scene.frame_set(1)
bpy.ops.render.render(write_still=False)
bpy.ops.depth_cloud.build()
built = len(builder.find_cloud(scene).data.vertices)

cloud = read_cloud(frame_inputs(find_frame_files(folder, 1, from_setup=True), 1))  # what Build read
grid = np.full((*cloud.camera.shape, 3), np.nan)
grid[cloud.rows, cloud.cols] = cloud.points
origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
hits, ids = scenes.ray_cast_grid(scene, origins, directions)
padded = np.pad(ids, 1, mode="edge")
interior = np.ones(ids.shape, bool)
for dy in (-1, 0, 1):
    for dx in (-1, 0, 1):
        interior &= padded[1 + dy:1 + dy + ids.shape[0], 1 + dx:1 + dx + ids.shape[1]] == ids
hit, point = np.isfinite(hits[..., 0]), np.isfinite(grid[..., 0])
both = interior & hit & point
error = np.linalg.norm(grid - hits, axis=-1)[both]
raw = read_exr(os.path.join(folder, "depth_0001.exr")).depth
background = interior & ~hit
print("RESULT " + json.dumps({
    "engine": scene.render.engine, "blender": list(bpy.app.version),
    "sidecar_engine": json.load(open(os.path.join(folder, "camera_0001.json")))["capture"].get("engine"),
    "built": built, "points": int(point.sum()),
    "background_pixels": int(background.sum()), "background_points": int((background & point).sum()),
    "background_raw_min": float(raw[background].min()), "background_raw_max": float(raw[background].max()),
    "hit_pixels": int((interior & hit).sum()), "hit_without_point": int((interior & hit & ~point).sum()),
    "median_error": float(np.median(error)), "p95_error": float(np.percentile(error, 95)),
    "message": scene.depth_cloud.last_message,
}))
depth_cloud_addon.unregister()  # handlers left registered at exit crash bpy 4.2 and hang 4.5
