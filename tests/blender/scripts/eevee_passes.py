"""Capture Cryptomatte, Normal, Vector (MOTION) and the index passes with EEVEE through the add-on, render
frames 1-2 of a moving cube at 1 sample, and measure the attributes against ``scene.ray_cast`` and the cube's
matrices; print the figures as JSON. Run in its own process (see test_eevee.py). Usage: eevee_passes.py FOLDER
"""

import json
import math
import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-eevee-"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

import depth_cloud_addon  # noqa: E402
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud  # noqa: E402
from depth_cloud_addon.core.frames.files import find_frame_files, frame_inputs  # noqa: E402
from tools import scenes  # noqa: E402

folder = sys.argv[1]
scene = scenes.empty_scene()
depth_cloud_addon.register()
cam = scenes.add_camera(location=(0.0, -8.0, 1.2), rotation=(math.radians(83), 0.0, 0.0))
scenes.add_plane("Floor", 30.0, (0.5, 0.5, 0.5), location=(0.0, 0.0, -1.0))
scenes.add_uv_sphere("Still", 0.7, (0.1, 0.8, 0.1), location=(1.4, 0.5, -0.2))
mover = scenes.add_cube("Mover", 1.2, (0.9, 0.1, 0.1), location=(-1.3, 0.0, 0.0))
mover.keyframe_insert("location", frame=1)
mover.location = (-1.0, 0.2, 0.15)
mover.keyframe_insert("location", frame=2)
scene.frame_start, scene.frame_end = 1, 2
engines = {e.identifier for e in bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items}
scene.render.engine = "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"
scene.eevee.taa_render_samples = 1
bpy.ops.depth_cloud.setup_outputs(directory=folder, extra_passes={"OBJECT_INDEX", "NORMAL", "MOTION", "CRYPTOMATTE"})
setup_message = scene.depth_cloud.last_message
bpy.ops.render.render(animation=True)

inputs = frame_inputs(find_frame_files(folder, 1, from_setup=True), 1)
cloud = read_cloud(inputs, BuildOptions(attributes=("object_id", "normal", "motion", "motion_source")))
scene.frame_set(1)
origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
depsgraph = bpy.context.evaluated_depsgraph_get()
names = np.full(cam.data and origins.shape[:2], "", dtype=object)
normals = np.full(origins.shape, np.nan)
hits = np.full(origins.shape, np.nan)
for idx in np.ndindex(origins.shape[:2]):
    hit, location, normal, _, obj, _ = scene.ray_cast(depsgraph, origins[idx].tolist(), directions[idx].tolist())
    if hit:
        side = -1.0 if np.dot(tuple(normal), directions[idx]) > 0 else 1.0
        names[idx], normals[idx], hits[idx] = obj.name, side * np.array(normal), tuple(location)
padded = np.pad(names, 1, mode="edge")
same = names != ""
for dy in range(3):
    for dx in range(3):
        same &= padded[dy:dy + names.shape[0], dx:dx + names.shape[1]] == names
inner = same[cloud.rows, cloud.cols]
at = names[cloud.rows, cloud.cols].astype(str)
named = np.array([cloud.legend.get(f"{i & 0xFFFFFFFF:08x}", "?") for i in cloud.attributes["object_id"].tolist()])
normal = cloud.attributes["normal"].astype(np.float64)
angle = np.arccos(np.clip(np.sum(normal * normals[cloud.rows, cloud.cols], axis=1), -1, 1))[inner]
matrices = {}
for frame in (1, 2):
    scene.frame_set(frame)
    matrices[frame] = np.array(mover.matrix_world, np.float64)
transform = matrices[2] @ np.linalg.inv(matrices[1])
cube = inner & (at == "Mover")
truth = hits[cloud.rows, cloud.cols][cube]
truth = truth @ transform[:3, :3].T + transform[:3, 3] - truth
motion_error = np.linalg.norm(cloud.attributes["motion"][cube] - truth, axis=1)
print("RESULT " + json.dumps({
    "engine": scene.render.engine, "setup_message": setup_message, "passes": list(inputs.capture.passes),
    "objects": sorted(o["name"] for o in inputs.capture.objects), "inner": int(inner.sum()),
    "object_id_match": float((named[inner] == at[inner]).mean()),
    "legend": sorted(cloud.legend.values()),
    "normal_angle_median": float(np.median(angle)), "normal_angle_p99": float(np.percentile(angle, 99)),
    "cube_points": int(cube.sum()), "cube_rigid": float((cloud.attributes["motion_source"][cube] == 1).mean()),
    "motion_error_max": float(motion_error.max()) if cube.any() else None,
}))
depth_cloud_addon.unregister()
