"""`make demo`: the whole workflow on a generated shot, as an artist would run it.

Runs Blender as a Python module (the venv's bpy) with the add-on enabled from this checkout, on the
scene of :mod:`tools.demo_scene` (textured, lit objects 3 to 50 m from a camera that dollies and pans):
Set Up EXR Outputs -> Cycles render of the sequence through the compositor outputs -> Build Point Cloud
(frame 1) -> Pixel Faces -> Build with Sequence -> Bake Sequence -> save the .blend -> ``depth-cloud
convert``. Writes into --out (git-ignored) the files listed in :data:`OUTPUTS` (the README's table).

The pictures of clouds are rendered with Cycles from a fixed "Side View" camera, as the add-on builds
them: frame 1 as Points (each a round point that covers its pixel as the shot's camera saw it) and as
Discs (each pixel a disc facing along the surface's normal, as large as the pixel's footprint on the
surface, so oblique surfaces such as the floor stay closed from the side); the sequence as Discs.

It ends with a one-line summary: the accuracy (median and max distance between the frame-1 cloud
and Blender's own ``scene.ray_cast`` through the pixel centres) and the PSNR of the Pixel Faces
rendered through the camera against the render. ``summary.json`` holds the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
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
from depth_cloud_addon.core.formats.ply import write_ply  # noqa: E402
from depth_cloud_addon.core.frames.cloud import read_cloud  # noqa: E402
from depth_cloud_addon.core.frames.files import find_frame_files, frame_inputs  # noqa: E402
from tools import demo_scene, gif, scenes  # noqa: E402

#: Every file the demo writes (relative to --out), with one line each: the README's table.
OUTPUTS = {
    "render.png": "frame 1 as rendered through the shot's camera (a copy of `frames/render_0001.png`)",
    "side.png": "the frame-1 cloud as Discs, rendered with Cycles from the fixed Side View camera",
    "points_side.png": "the frame-1 cloud as Points (the default Point Size) from the Side View camera",
    "preview.png": "`render.png` next to `side.png`",
    "discs_preview.png": "`points_side.png` next to `side.png`: Points and Discs from the side",
    "faces_camera.png": "the Pixel Faces of frame 1 rendered through the shot's camera: the image again",
    "faces_side.png": "the Pixel Faces from the Side View camera",
    "faces_preview.png": "`render.png`, `faces_camera.png` and `faces_side.png` side by side",
    "sequence.gif": "the sequence cloud (Discs) from the Side View camera as the timeline plays (each frame's "
                    "cloud where that frame's camera saw it), looping forwards and back",
    "cloud.ply": "the frame-1 cloud's world-space points with sRGB colours",
    "summary.json": "the figures of the summary line (accuracy, PSNR, counts, timings)",
    "demo.blend": "the scene: the sequence cloud (Discs) bound to the timeline (plays with the add-on enabled), the "
                  "same sequence baked to one object of discs per frame in the excluded collection \"DepthCloud "
                  "Bake\", "
                  "the set in the excluded collection \"Set\"",
    "frames/depth_NNNN.exr": "each frame's Depth pass as Set Up EXR Outputs captures it (float32, planar Z)",
    "frames/color_NNNN.exr": "each frame's linear RGBA image",
    "frames/camera_NNNN.json": "each frame's camera and capture facts (the sidecar)",
    "frames/render_NNNN.png": "each frame's render output (Blender's own, as the scene's output path says)",
    "ply/cloud_NNNN.ply": "every frame's cloud, written by `depth-cloud convert`",
}
BACKGROUND = np.array([0.06, 0.065, 0.075], np.float32)  # behind the cloud in the side views (sRGB)
SIDE_SAMPLES, GIF_SAMPLES = 8, 4  # per pixel, for the pictures of clouds (emission only: no noise but edges)
#: The pixel filter of the Pixel Faces render through the camera: each pixel sees its own quad's centre.
FACES_FILTER_PX = 0.01


def set_png_output(scene, mode: str = "RGBA") -> None:
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # 5.0: the media type comes before the format
        settings.media_type = "IMAGE"
    settings.file_format, settings.color_mode, settings.color_depth = "PNG", mode, "8"


def read_png(path: pathlib.Path) -> np.ndarray:
    """An 8-bit PNG's pixels as float (H, W, 4), top row first, values as stored (no colour conversion)."""
    image = bpy.data.images.load(str(path))
    try:
        pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
        image.pixels.foreach_get(pixels)
        return pixels.reshape(image.size[1], image.size[0], 4)[::-1].copy()
    finally:
        bpy.data.images.remove(image)


def render_png(scene, camera, path: pathlib.Path, *, samples: int, filter_px: float = 1.5,
               transparent: bool = False) -> np.ndarray:
    """Render ``camera``'s view of the current frame to a PNG with ``samples`` per pixel, not denoised (over
    :data:`BACKGROUND` when ``transparent``: the world is not seen); return its RGB pixels (H, W, 3) in
    0..1, top row first. The scene's render settings are restored."""
    cycles, render = scene.cycles, scene.render
    kept = (cycles.samples, cycles.filter_width, cycles.use_denoising, render.film_transparent, scene.camera)
    cycles.samples, cycles.filter_width, cycles.use_denoising = samples, filter_px, False
    render.film_transparent, scene.camera = transparent, camera
    set_png_output(scene)
    render.filepath = str(path)
    try:
        bpy.ops.render.render(write_still=True)
    finally:
        cycles.samples, cycles.filter_width, cycles.use_denoising, render.film_transparent, scene.camera = kept
    pixels = read_png(path)
    if transparent:  # PNG stores straight alpha
        pixels[..., :3] = pixels[..., :3] * pixels[..., 3:] + BACKGROUND * (1.0 - pixels[..., 3:])
        save_png(pixels[..., :3], path)
    return pixels[..., :3]


def save_png(rgb: np.ndarray, path: pathlib.Path) -> None:
    """Write (H, W, 3) RGB in 0..1, top row first, as an 8-bit PNG."""
    h, w = rgb.shape[:2]
    rgba = np.concatenate([rgb, np.ones((h, w, 1), rgb.dtype)], axis=-1)
    image = bpy.data.images.new("depth-cloud-demo", w, h, alpha=True)
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1], np.float32).ravel())
    image.filepath_raw, image.file_format = str(path), "PNG"
    image.save()
    bpy.data.images.remove(image)


def to_8bit(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two 8-bit RGB images (dB; inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def frame_cloud(folder: pathlib.Path, frame: int):
    """A frame's cloud as the core reads it from the set-up's files (points, colours, pixels, radii)."""
    return read_cloud(frame_inputs(find_frame_files(str(folder), frame, from_setup=True), frame))


def silhouette_pixels(ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose ray_cast object (``ids``, -1: none) differs from a 4-neighbour's."""
    padded = np.pad(ids, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    return ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
            | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))


def accuracy(scene, cam, cloud_obj, cloud) -> dict:
    """Distances between the cloud's points and ``scene.ray_cast`` through the same pixels' centres.

    Cycles takes the Depth pass from the pixel's first sample, about (+0.0005, -0.0005) px off the centre
    with the default 1.5 px pixel filter (docs/conventions.md): on a silhouette pixel that sample can hit the
    object beside the one the centre ray hits, so the largest distance is also given for the other pixels.
    """
    truth, ids = scenes.ray_cast_grid(scene, *scenes.pixel_rays_from_view_frame(scene, cam))
    points = scenes.vertex_positions_world(cloud_obj)
    expected = truth[cloud.rows, cloud.cols]
    hit = np.isfinite(expected[:, 0])
    distance = np.linalg.norm(points[hit] - expected[hit], axis=-1)
    edge = silhouette_pixels(ids)[cloud.rows, cloud.cols][hit]
    in_pixels = distance / (2.0 * cloud.radii[hit])  # in units of the pixel's footprint at its depth
    return {"points": int(len(points)), "compared": int(hit.sum()), "ray_cast_missed": int((~hit).sum()),
            "median_m": float(np.median(distance)), "p99_m": float(np.percentile(distance, 99)),
            "max_m": float(distance.max()), "median_px": float(np.median(in_pixels)),
            "silhouette_points": int(edge.sum()), "max_off_silhouettes_m": float(distance[~edge].max()),
            "max_on_silhouettes_m": float(distance[edge].max()) if edge.any() else 0.0,
            "silhouette_points_over_1cm": int((distance[edge] > 0.01).sum())}


def set_visibility(objects, render: bool) -> None:
    for obj in objects:
        obj.hide_render = not render


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--width", type=int, default=640, help="render width in pixels (default 640: the README's "
                                                                "pictures are two renders side by side)")
    parser.add_argument("--height", type=int, default=360, help="render height in pixels (default 360)")
    parser.add_argument("--frames", type=int, default=16, help="length of the moving-camera sequence (default 16)")
    parser.add_argument("--samples", type=int, default=4,
                        help="Cycles samples per pixel of the shot, denoised with OIDN when available (default 4)")
    parser.add_argument("--gif-width", type=int, default=320, help="width of sequence.gif (at most --width)")
    parser.add_argument("--extra-passes", default="", metavar="KINDS",
                        help="also capture these Extra Passes, comma-separated (OBJECT_INDEX, MATERIAL_INDEX, NORMAL, "
                             "MOTION, CRYPTOMATTE) into frames/passes_NNNN.exr")
    parser.add_argument("--frames-only", action="store_true",
                        help="stop once the shot's frames are rendered into frames/ (for the README's recipes)")
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error("--frames must be at least 2 (the camera moves)")
    out = pathlib.Path(args.out).resolve()
    frames_dir = out / "frames"
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timings = {}

    scene, cam, set_objects = demo_scene.build(args.width, args.height, args.frames, args.samples)
    scene.render.dither_intensity = 0.0  # 8-bit PNGs without dither noise: render and faces compare exactly
    side = demo_scene.add_side_camera(scene)
    depth_cloud_addon.register()
    try:
        # 1. Save the file first, as an artist would, so the set-up's output folder is relative to it (//frames/);
        # Set Up EXR Outputs; Render Animation: per frame a depth, a color and a camera file.
        bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 when it is saved again
        bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"), check_existing=False)
        extra = {kind.strip().upper() for kind in args.extra_passes.split(",") if kind.strip()}
        bpy.ops.depth_cloud.setup_outputs(directory="//frames/", **({"extra_passes": extra} if extra else {}))
        set_png_output(scene, "RGB")
        scene.render.filepath = "//frames/render_"
        start = time.perf_counter()
        bpy.ops.render.render(animation=True)
        timings["render_s"] = time.perf_counter() - start
        if args.frames_only:
            print(f"depth-cloud demo: {args.frames} frames rendered into {frames_dir}/")
            return 0
        scene.frame_set(1)
        shutil.copyfile(frames_dir / "render_0001.png", out / "render.png")
        original = read_png(out / "render.png")[..., :3]
        scene.render.use_compositing = False  # the pictures below are not frames of the shot

        # 2. Build Point Cloud of frame 1; its accuracy against Blender's ray_cast through pixel centres.
        start = time.perf_counter()
        bpy.ops.depth_cloud.build()
        timings["build_s"] = time.perf_counter() - start
        cloud_obj = builder.find_cloud(scene)
        cloud = frame_cloud(frames_dir, 1)
        start = time.perf_counter()
        figures = {"accuracy": accuracy(scene, cam, cloud_obj, cloud)}
        timings["ray_cast_s"] = time.perf_counter() - start
        n = len(cloud_obj.data.vertices)
        colors = np.empty(n * 4, np.float32)
        cloud_obj.data.color_attributes[builder.COLOR_ATTRIBUTE].data.foreach_get("color", colors)
        write_ply(out / "cloud.ply", scenes.vertex_positions_world(cloud_obj), colors.reshape(-1, 4))

        # The cloud alone from the side: as Points (each covers its pixel as the shot's camera saw it), then as
        # Discs (each covers its pixel's footprint on the surface).
        set_visibility(set_objects, False)
        points_view = render_png(scene, side, out / "points_side.png", samples=SIDE_SAMPLES, transparent=True)
        start = time.perf_counter()
        bpy.ops.depth_cloud.build(geometry="DISCS")
        timings["build_discs_s"] = time.perf_counter() - start
        start = time.perf_counter()
        side_view = render_png(scene, side, out / "side.png", samples=SIDE_SAMPLES, transparent=True)
        timings["side_render_s"] = time.perf_counter() - start
        save_png(np.concatenate([original, side_view], axis=1), out / "preview.png")
        save_png(np.concatenate([points_view, side_view], axis=1), out / "discs_preview.png")

        # 3. Pixel Faces of frame 1: through the render camera they give the image back; from the side, 3D.
        bpy.ops.depth_cloud.build(geometry="FACES")
        faces_camera = render_png(scene, cam, out / "faces_camera.png", samples=1, filter_px=FACES_FILTER_PX)
        faces_side = render_png(scene, side, out / "faces_side.png", samples=SIDE_SAMPLES, transparent=True)
        psnr = psnr_db(to_8bit(original), to_8bit(faces_camera))
        figures["faces_psnr_db"] = psnr if np.isfinite(psnr) else None  # None: identical images
        same = np.all(to_8bit(original) == to_8bit(faces_camera), axis=-1)
        figures["faces_identical_pixels_with_points"] = int(same[cloud.rows, cloud.cols].sum())
        figures["faces_identical_pixels"] = int(same.sum())
        save_png(np.concatenate([original, faces_camera, faces_side], axis=1), out / "faces_preview.png")

        # 4. Build with Sequence (Discs): the cloud follows the timeline; seen from the fixed side camera.
        bpy.ops.depth_cloud.build(sequence=True, geometry="DISCS")
        seq_obj = builder.find_cloud(scene)
        gif_frames = render_sequence_gif(scene, seq_obj, side, args, out / "sequence.gif")
        scene.render.resolution_x, scene.render.resolution_y = args.width, args.height
        timings["gif_s"] = gif_frames.pop("seconds")
        figures["gif"] = gif_frames

        # 5. Bake Sequence (one object per frame, plays without the add-on), then save the file.
        scene.frame_set(1)
        bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME", geometry="DISCS")
        baked = scene.depth_cloud.last_message.removeprefix("Depth Cloud: ").split(";")[0]
        save_blend(scene, cam, set_objects, out)
    finally:
        depth_cloud_addon.unregister()

    # 6. The same sequence through the command line (no Blender needed): one PLY per frame.
    status = cli.main(["convert", str(frames_dir / "depth_####.exr"), "--frames", f"1-{args.frames}",
                       "--overwrite", "-o", str(out / "ply" / "cloud_####.ply")])
    if status != 0:
        raise SystemExit(f"depth-cloud convert failed with status {status}")
    timings["total_s"] = time.perf_counter() - started
    summary = {"blender": bpy.app.version_string, "width": args.width, "height": args.height,
               "frames": args.frames, "samples": args.samples, "points_frame_1": n, "bake": baked,
               **figures, "timings": {k: round(v, 2) for k, v in timings.items()},
               "outputs": sorted(OUTPUTS)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    width = max(len(name) for name in OUTPUTS)
    print(f"\ndemo outputs in {out}/:")
    for name, what in OUTPUTS.items():
        print(f"  {name:{width}}  {what}")
    print("\n" + summary_line(summary, out))
    return 0


def summary_line(summary: dict, out: pathlib.Path) -> str:
    acc, psnr = summary["accuracy"], summary["faces_psnr_db"]
    return (f"depth-cloud demo: Blender {summary['blender']}, {summary['frames']} frames of {summary['width']}x"
            f"{summary['height']} px rendered in {summary['timings']['render_s']:.0f} s; frame 1: "
            f"{summary['points_frame_1']:,} points, distance to Blender's ray_cast through the pixel centres median "
            f"{acc['median_m']:.1e} m, max {acc['max_off_silhouettes_m']:.1e} m off silhouettes (on them "
            f"{acc['silhouette_points_over_1cm']} of {acc['silhouette_points']:,} pixels are more than 1 cm off, up "
            f"to {acc['max_on_silhouettes_m']:.1e} m: Cycles' depth sample hit the object beside); Pixel Faces "
            f"through the camera vs the render: PSNR {'inf (identical)' if psnr is None else f'{psnr:.1f}'} dB, "
            f"{summary['faces_identical_pixels_with_points']:,} of the {summary['points_frame_1']:,} pixels with a "
            f"point identical; sequence {summary['bake']}; "
            f"total {summary['timings']['total_s']:.0f} s -> {out}/")


def render_sequence_gif(scene, seq_obj, side, args, path: pathlib.Path) -> dict:
    """Render the sequence cloud from ``side`` at every frame (the timeline drives it) into an animated GIF
    that plays forwards then back. Returns the GIF's facts."""
    start = time.perf_counter()
    gif_w = min(args.gif_width, args.width)
    scene.render.resolution_x, scene.render.resolution_y = gif_w, max(2, round(args.height * gif_w / args.width))
    rendered = []
    with tempfile.TemporaryDirectory(prefix="depth-cloud-gif-") as tmp:
        for frame in range(1, args.frames + 1):
            scene.frame_set(frame)  # the add-on's handler swaps in this frame's cloud
            rendered.append(to_8bit(render_png(scene, side, pathlib.Path(tmp) / f"{frame}.png", samples=GIF_SAMPLES,
                                               transparent=True)))
    frames = np.stack(rendered + rendered[-2:0:-1])  # forwards, then back: a seamless loop
    gif.write_gif(path, frames, delay_ms=max(40, 1200 // args.frames))
    return {"frames": int(len(frames)), "width": int(frames.shape[2]), "height": int(frames.shape[1]),
            "bytes": path.stat().st_size, "seconds": time.perf_counter() - start}


def save_blend(scene, cam, set_objects, out: pathlib.Path) -> None:
    """Save ``demo.blend``: the set (and its lights) in the excluded collection "Set", the sequence cloud
    bound to the timeline, compositing back on (the capture stays paused while a cloud is in the render,
    so rendering the file writes no depth, color or camera file), and the render output moved out of
    frames/ so Render Animation cannot overwrite the captured ``render_NNNN.png``."""
    collection = bpy.data.collections.new("Set")
    scene.collection.children.link(collection)
    for obj in [*set_objects, *(o for o in scene.objects if o.type == "LIGHT")]:
        obj.hide_render = False
        for users in list(obj.users_collection):
            users.objects.unlink(obj)
        collection.objects.link(obj)
    layers = bpy.context.view_layer.layer_collection.children
    layers["Set"].exclude = True
    layers["DepthCloud Bake"].exclude = True
    scene.camera = cam
    scene.render.use_compositing = True
    scene.render.filepath = "//renders/render_"
    scene.frame_set(1)
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"), check_existing=False)


if __name__ == "__main__":
    sys.exit(main())
