"""`make demo`: the whole workflow on a generated sample scene, as an artist would run it.

Runs Blender as a Python module (the venv's bpy) with the add-on enabled from this checkout:
Set Up EXR Outputs -> Cycles render of a short moving-camera sequence through the compositor outputs
-> Build Point Cloud (frame 1) -> Build with Sequence -> Bake Sequence. Writes into --out (git-ignored):

* ``frames/depth_NNNN.exr``, ``frames/color_NNNN.exr``, ``frames/camera_NNNN.json``: what the set-up writes;
* ``demo.blend``: the scene with the cloud bound to the timeline (with the add-on installed, scrubbing
  shows each frame's cloud where that frame's camera saw it) and, in the excluded collection
  "DepthCloud Bake", the same sequence baked to one object per frame (plays without the add-on);
* ``cloud.ply``: the cloud's world-space points with sRGB colors;
* ``preview.png``: the render (left) next to the cloud rendered with Cycles from another viewpoint (right);
* ``faces_preview.png``: the render, the pixel-faces cloud of that frame rendered through the same
  camera (the same image again), and the faces from the side viewpoint;
* ``ply/cloud_NNNN.ply``: every frame's cloud, written by the ``depth-cloud convert`` command line.

It ends with a one-line summary, including the median distance between the cloud's points and
Blender's own ``scene.ray_cast`` through the pixel centres.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-demo-"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

import depth_cloud_addon  # noqa: E402
from depth_cloud_addon import cli  # noqa: E402
from depth_cloud_addon.blender import builder  # noqa: E402
from depth_cloud_addon.core.ply import write_ply  # noqa: E402
from tools import scenes  # noqa: E402  (the sample scenes the tests render)


def render_png(scene, camera, path: pathlib.Path) -> np.ndarray:
    """Render ``camera``'s view to a PNG; return its pixels (H, W, 4) top row first."""
    scene.camera = camera
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "IMAGE"
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", "RGBA", "8"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path))
    pixels = np.array(image.pixels[:], dtype=np.float32).reshape(image.size[1], image.size[0], 4)[::-1]
    bpy.data.images.remove(image)
    return pixels


def save_side_by_side(left: np.ndarray, right: np.ndarray, path: pathlib.Path) -> None:
    both = np.concatenate([left, right], axis=1)
    image = bpy.data.images.new("depth-cloud-preview", both.shape[1], both.shape[0], alpha=True)
    image.pixels.foreach_set(both[::-1].ravel())
    image.filepath_raw, image.file_format = str(path), "PNG"
    image.save()
    bpy.data.images.remove(image)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--frames", type=int, default=8, help="length of the moving-camera sequence")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    scene = scenes.empty_scene(args.width, args.height)
    scene.cycles.samples = 16
    scene.render.film_transparent = False
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=30.0, shift_x=0.05)
    scenes.standard_objects(cam)
    for frame, x, turn in ((1, 0.3, 0.05), (args.frames, 2.3, 0.35)):  # the camera dollies and pans
        cam.location.x, cam.rotation_euler.z = x, turn
        cam.keyframe_insert("location", frame=frame)
        cam.keyframe_insert("rotation_euler", frame=frame)
    cube = scene.objects["Cube"]
    for frame, z in ((1, -0.4), (args.frames, 0.8)):  # and the cube rises
        cube.location.z = z
        cube.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = 1, args.frames
    depth_cloud_addon.register()
    try:
        bpy.ops.depth_cloud.setup_outputs(directory=str(out / "frames"))
        scene.render.filepath = str(out / "frames" / "render_")
        start = time.perf_counter()
        bpy.ops.render.render(animation=True)
        render_s = time.perf_counter() - start
        scene.frame_set(1)
        original = render_png(scene, cam, out / "render.png")

        start = time.perf_counter()
        bpy.ops.depth_cloud.build()
        build_s = time.perf_counter() - start
        cloud = builder.find_cloud(scene)
        n = len(cloud.data.vertices)
        positions, colors = np.empty(n * 3, np.float32), np.empty(n * 4, np.float32)
        cloud.data.attributes["position"].data.foreach_get("vector", positions)
        cloud.data.color_attributes[builder.COLOR_ATTRIBUTE].data.foreach_get("color", colors)
        write_ply(out / "cloud.ply", positions.reshape(-1, 3), colors.reshape(-1, 4))

        origins, directions = scenes.pixel_rays_from_view_frame(scene, cam)
        truth, _ = scenes.ray_cast_grid(scene, origins, directions)
        hit = np.isfinite(truth[..., 0])
        median_error = float(np.median(np.linalg.norm(positions.reshape(-1, 3) - truth[hit], axis=-1)))

        # The cloud alone, from a viewpoint 40 degrees to the side of the render camera.
        for obj in scene.objects:
            obj.hide_render = obj.type == "MESH" and obj != cloud
        side = scenes.add_camera("Side View", location=(6.5, -4.5, 3.0), rotation=(1.33, 0.0, 0.85), lens=24.0)
        scene.render.use_compositing = False  # previews, not frames of the sequence: keep frames/ as rendered
        preview = render_png(scene, side, out / "side.png")
        save_side_by_side(original, preview, out / "preview.png")

        # Pixel faces of frame 1: through the render camera they give the frame back; from the side, 3D.
        bpy.ops.depth_cloud.build(geometry="FACES")
        for obj in scene.objects:
            obj.hide_render = obj.type == "MESH" and obj != cloud
        faces_camera = render_png(scene, cam, out / "faces_camera.png")
        faces_side = render_png(scene, side, out / "faces_side.png")
        scene.render.use_compositing = True
        save_side_by_side(np.concatenate([original, faces_camera], axis=1), faces_side, out / "faces_preview.png")
        for obj in scene.objects:
            obj.hide_render = False
        scene.camera = cam

        bpy.ops.depth_cloud.build(sequence=True)  # the cloud now follows the timeline
        bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME")
        baked = scene.depth_cloud.last_message
        bpy.context.view_layer.layer_collection.children["DepthCloud Bake"].exclude = True
        scene.frame_set(1)
        bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"), check_existing=False)
    finally:
        depth_cloud_addon.unregister()
    # The same sequence through the command line (no Blender needed): one PLY per frame.
    status = cli.main(["convert", str(out / "frames" / "depth_####.exr"), "--frames", f"1-{args.frames}",
                       "--overwrite", "-o", str(out / "ply" / "cloud_####.ply")])
    if status != 0:
        raise SystemExit(f"depth-cloud convert failed with status {status}")
    print(f"""
demo outputs in {out}/:
  frames/depth_NNNN.exr, color_NNNN.exr, camera_NNNN.json   what Set Up EXR Outputs writes per rendered frame
  demo.blend        the scene, the cloud following the timeline, and the per-frame bake (Blender 5.0+)
  cloud.ply         frame 1's cloud (world space, sRGB colors)
  ply/cloud_NNNN.ply  every frame, written by `depth-cloud convert`
  preview.png       the render and its cloud from the side; faces_preview.png: the pixel faces
""")
    print(f"depth-cloud demo: Blender {bpy.app.version_string}, {args.frames} frames of {args.width}x{args.height} px "
          f"rendered in {render_s:.1f} s; frame 1: {n} points built in {build_s * 1000:.0f} ms, median distance to "
          f"Blender's ray_cast {median_error:.1e} m; sequence {baked.removeprefix('Depth Cloud: ')} -> {out}/ "
          f"(demo.blend, cloud.ply, preview.png, frames/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
