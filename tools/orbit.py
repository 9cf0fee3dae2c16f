"""A cloud seen from other viewpoints: a textured set captured by one camera, its cloud rendered from cameras
orbited about the set, against renders of the real set from there.

Runs under real Blender (bpy). The set (:func:`build_set`): a floor, a box, a sphere and a pillar with
view-independent emission textures (procedural, in object coordinates, so a surface point has one colour from
every side), each object with its own pass index. The capture camera looks down at the set from 8.5 m; the
orbit cameras are it turned about the set's vertical axis by 10 and 25 degrees, looking at the same point.

Measured (:func:`measure`) over the orbit view's *measured pixels*: pixels that see the set (Cycles' ``Pos`` AOV
gives each one's world point) at a point the capture camera saw -- it projects into a capture pixel of the same
object whose depth agrees (not occluded, not the sphere's far side) -- and that are not within 1 px of a
silhouette in either view (a 3x3 neighbourhood of one object index). There:

* **holes**: the fraction of measured pixels where the cloud's render is mostly background (alpha < 0.5);
* **PSNR** of the cloud's render (over black) against the real set's, in dB, on sRGB-encoded values in 0..1;
* **the ideal**: the captured image warped with exact geometry: each measured pixel takes the capture's colour at
  the continuous position its world point projects to (bilinear between the capture's pixel centres).

``.venv/bin/python tools/orbit.py`` prints the table for every geometry (Points, Pixel Faces, Surface, Discs)
and the ideal; ``tests/blender/test_discs.py`` asserts the Discs' figures and the Points' coverage.
"""

from __future__ import annotations

import math
import os
import pathlib
import sys
import tempfile
from dataclasses import dataclass

if __name__ == "__main__":
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-orbit-"))
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Vector  # noqa: E402

from depth_cloud_addon.core import CameraModel, project, read_exr  # noqa: E402
from depth_cloud_addon.core.formats.exr import read_channels  # noqa: E402
from tools import scenes  # noqa: E402

W, H = 320, 240
SAMPLES = 16  # per pixel, every render: emission only, so the noise is the pixel filter's jitter alone
CENTRE = Vector((0.0, 0.5, 0.7))  # what every camera looks at, and the orbit's axis (vertical through it)
CAPTURE_FROM = Vector((0.0, -7.0, 1.2))
ANGLES = (10.0, 25.0)  # degrees of orbit
GEOMETRIES = ("POINTS", "FACES", "SURFACE", "DISCS")
LABELS = {"POINTS": "Points", "FACES": "Pixel Faces", "SURFACE": "Surface", "DISCS": "Discs"}
#: How far (in the capture's planar depth) a world point may lie from the captured depth at its pixel and still
#: count as seen: this fraction of its depth, plus the local depth range of the pixel's 3x3 neighbourhood.
SEEN_TOLERANCE = 0.01


def textured_material(name: str, colours, scale: float, index: int):
    """An emission material (strength 1) of a checker of ``colours`` (two RGB) at ``scale`` (squares per metre,
    object coordinates) modulated by smooth noise, that also writes the world position into the ``Pos`` AOV."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # 4.x; in 5.0 materials always have nodes
        mat.use_nodes = True
    mat.pass_index = index
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    coords = nodes.new("ShaderNodeTexCoord")
    checker = nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = scale
    checker.inputs["Color1"].default_value = (*colours[0], 1.0)
    checker.inputs["Color2"].default_value = (*colours[1], 1.0)
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 0.8 * scale
    shade = nodes.new("ShaderNodeMath")
    shade.operation, shade.inputs[1].default_value = "MULTIPLY_ADD", 0.8
    shade.inputs[2].default_value = 0.6
    links.new(noise.outputs["Fac"], shade.inputs[0])
    multiply = nodes.new("ShaderNodeVectorMath")
    multiply.operation = "SCALE"
    links.new(coords.outputs["Object"], checker.inputs["Vector"])
    links.new(coords.outputs["Object"], noise.inputs["Vector"])
    links.new(checker.outputs["Color"], multiply.inputs[0])
    links.new(shade.outputs["Value"], multiply.inputs["Scale"])
    emission = nodes.new("ShaderNodeEmission")
    links.new(multiply.outputs["Vector"], emission.inputs["Color"])
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(emission.outputs["Emission"], out.inputs["Surface"])
    geometry = nodes.new("ShaderNodeNewGeometry")
    aov = nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = scenes.POS_AOV
    links.new(geometry.outputs["Position"], aov.inputs["Color"])
    return mat


def build_set() -> list:
    """The set's objects (see the module docstring), each with its material and pass index 1, 2, ..."""
    made = []

    def dress(obj, colours, scale):
        obj.data.materials.clear()
        obj.data.materials.append(textured_material(obj.name, colours, scale, len(made) + 1))
        obj.pass_index = len(made) + 1
        made.append(obj)

    dress(scenes.add_plane("Floor", 24.0, (0.5, 0.5, 0.5), (0.0, 8.0, 0.0)),
          ((0.75, 0.62, 0.40), (0.25, 0.32, 0.45)), 1.2)
    dress(scenes.add_cube("Box", 1.3, (0.5, 0.5, 0.5), (-1.4, 0.5, 0.65), (0.0, 0.0, math.radians(-8.0))),
          ((0.80, 0.20, 0.15), (0.95, 0.85, 0.55)), 3.0)
    sphere = scenes.add_uv_sphere("Sphere", 0.85, (0.5, 0.5, 0.5), (1.25, 0.2, 0.85), segments=48, rings=24)
    dress(sphere, ((0.15, 0.55, 0.25), (0.85, 0.90, 0.80)), 3.5)
    pillar = scenes.add_cube("Pillar", 1.0, (0.5, 0.5, 0.5), (0.1, 2.2, 1.25))
    pillar.scale = (0.5, 0.5, 2.5)
    dress(pillar, ((0.30, 0.35, 0.85), (0.90, 0.60, 0.75)), 2.5)
    bpy.context.view_layer.update()
    return made


def orbit_location(angle_deg: float) -> Vector:
    """The capture camera's location turned by ``angle_deg`` about the vertical axis through :data:`CENTRE`."""
    a = math.radians(angle_deg)
    offset = CAPTURE_FROM - CENTRE
    return CENTRE + Vector((offset.x * math.cos(a) - offset.y * math.sin(a),
                            offset.x * math.sin(a) + offset.y * math.cos(a), offset.z))


def add_camera(name: str, angle_deg: float = 0.0):
    """A 35 mm camera at :func:`orbit_location` looking at :data:`CENTRE` (made the scene camera)."""
    location = orbit_location(angle_deg)
    rotation = (CENTRE - location).to_track_quat("-Z", "Y").to_euler()
    return scenes.add_camera(name, location=tuple(location), rotation=tuple(rotation), lens=35.0)


def set_up_scene(width: int = W, height: int = H):
    """An empty factory scene rendered as users do (Cycles' default 1.5 px pixel filter), with the object index
    pass, the set and the capture camera. Returns ``(scene, set objects, capture camera)``."""
    scene = scenes.empty_scene(width, height)
    scene.cycles.filter_width = 1.5
    scene.cycles.pixel_filter_type = "BLACKMAN_HARRIS"
    scene.cycles.samples = SAMPLES
    scene.view_settings.view_transform = "Standard"
    scene.view_layers[0].use_pass_object_index = True
    objects = build_set()
    return scene, objects, add_camera("Capture")


@dataclass
class Render:
    """A render of the set (or of a cloud): (H, W, 4) linear RGBA and, when the set was in it, its passes."""

    rgba: np.ndarray
    depth: np.ndarray | None = None     # planar, 1e10 where no hit
    index: np.ndarray | None = None     # object pass index, 0 where no hit
    position: np.ndarray | None = None  # world position (the Pos AOV), (H, W, 3)


def render(scene, camera, path: str) -> Render:
    """Render ``camera``'s view into the multilayer EXR ``path`` (no compositing: captures stay untouched)."""
    scene.camera = camera
    compositing = scene.render.use_compositing
    scene.render.use_compositing = False
    try:
        scenes.render_multilayer(scene, path)
    finally:
        scene.render.use_compositing = compositing
    image = read_exr(path, require_depth=False)
    channels = read_channels(path)

    def channel(suffix: str):
        name = next((n for n in channels.names if n.endswith(suffix)), None)
        return None if name is None else channels.pixels[name]

    index = channel(".IndexOB.X")
    if index is None:  # 5.x names the pass
        index = channel(".Object Index.X")
    position = [channel(f"{scenes.POS_AOV}.{c}") for c in "RGB"]
    return Render(image.color, image.depth, None if index is None else np.rint(index).astype(np.int32),
                  None if position[0] is None else np.stack(position, axis=-1))


def show_only(objects, shown) -> None:
    for obj in objects:
        obj.hide_render = obj not in shown


def srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((srgb(a) - srgb(b)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def interior(index: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose 3x3 neighbourhood holds one object index (not 0: background)."""
    padded = np.pad(index, 1, mode="constant", constant_values=-1)
    same = index > 0
    h, w = index.shape
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            same &= padded[dr:dr + h, dc:dc + w] == index
    return same


@dataclass
class Measured:
    """The orbit view's measured pixels and what the capture saw there."""

    pixels: np.ndarray      # (H, W) bool
    ideal: np.ndarray       # (N, 3) linear RGB: the capture warped with exact geometry
    reference: np.ndarray   # (N, 3) linear RGB: the real set from the orbit camera


def measured_pixels(capture: Render, capture_camera: CameraModel, orbit: Render) -> Measured:
    """See the module docstring."""
    h, w = orbit.index.shape
    candidates = interior(orbit.index)
    world = orbit.position[candidates].astype(np.float64)
    xy = project(world, capture_camera)
    cam = world @ capture_camera.world2cam[:3, :3].T + capture_camera.world2cam[:3, 3]
    depth_there = -cam[:, 2]
    ch, cw = capture.depth.shape
    col, row = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    inside = (col >= 1) & (col < cw - 1) & (row >= 1) & (row < ch - 1) & np.isfinite(xy).all(axis=1)
    col, row = np.where(inside, col, 1), np.where(inside, row, 1)
    captured_interior = interior(capture.index)
    seen = inside & captured_interior[row, col] & (capture.index[row, col] == orbit.index[candidates])
    depth = np.where(capture.depth < 1e9, capture.depth, np.nan)
    block = np.stack([depth[row + dr, col + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=-1)
    spread = np.fmax.reduce(block, axis=-1) - np.fmin.reduce(block, axis=-1)  # NaN where all are NaN
    seen &= np.abs(depth_there - depth[row, col]) <= spread + SEEN_TOLERANCE * depth_there
    pixels = np.zeros((h, w), bool)
    pixels[candidates] = seen
    # The ideal: bilinear between the capture's pixel centres around the projected point.
    x, y = xy[seen, 0] - 0.5, xy[seen, 1] - 0.5
    x0, y0 = np.clip(np.floor(x).astype(np.int64), 0, cw - 2), np.clip(np.floor(y).astype(np.int64), 0, ch - 2)
    fx, fy = np.clip(x - x0, 0, 1)[:, None], np.clip(y - y0, 0, 1)[:, None]
    rgb = capture.rgba[..., :3]
    ideal = ((1 - fy) * ((1 - fx) * rgb[y0, x0] + fx * rgb[y0, x0 + 1])
             + fy * ((1 - fx) * rgb[y0 + 1, x0] + fx * rgb[y0 + 1, x0 + 1]))
    return Measured(pixels, ideal, orbit.rgba[..., :3][pixels])


def measure(measured: Measured, cloud: Render) -> tuple[float, float]:
    """``(holes %, PSNR dB)`` of a cloud's render over the measured pixels."""
    rgba = cloud.rgba[measured.pixels]
    holes = 100.0 * float(np.mean(rgba[:, 3] < 0.5))
    return holes, psnr_db(measured.reference, rgba[:, :3])


def coverage(cloud: Render, capture: Render) -> float:
    """Percent of the capture's valid pixels (those with a point) that a cloud rendered through the capture camera
    covers: its mean alpha there (a box filter makes alpha the covered fraction of each pixel)."""
    return 100.0 * float(np.mean(cloud.rgba[..., 3][capture.depth < 1e9]))


@dataclass
class Figures:
    """What :func:`run` measured: per geometry label ``(holes %, PSNR dB)`` at each angle of :data:`ANGLES`, the
    ideal's PSNR at each angle, each geometry's coverage (%) through the capture camera, and the measured pixels."""

    rows: dict
    ideal: list
    coverage: dict
    measured: list


def run(folder: pathlib.Path, geometries=GEOMETRIES, extra_points=()) -> Figures:
    """Render the set from the capture camera and the orbit cameras, build each of ``geometries`` from the capture
    with the add-on (registered here) and measure it from every orbit camera and through the capture camera.
    ``extra_points``: Point Sizes of further Points clouds (e.g. 0.7071: the radius of half the footprint that
    Points had before they covered their pixel)."""
    import depth_cloud_addon

    scene, objects, capture_cam = set_up_scene()
    capture = render(scene, capture_cam, str(folder / "capture.exr"))
    camera = CameraModel.from_blender(capture_cam, scene)
    orbit_cams = [add_camera(f"Orbit {angle:g}", angle) for angle in ANGLES]
    references = [render(scene, cam, str(folder / f"set_{angle:g}.exr")) for cam, angle in zip(orbit_cams, ANGLES)]
    measured = [measured_pixels(capture, camera, reference) for reference in references]
    cameras = {capture_cam, *orbit_cams}
    looks = [(LABELS[g], g, 1.0) for g in geometries]
    looks += [(f"Points at Point Size {size:g}", "POINTS", size) for size in extra_points]
    rows, covered = {}, {}
    depth_cloud_addon.register()
    try:
        for label, geometry, size in looks:
            scene.camera = capture_cam
            result = bpy.ops.depth_cloud.build(filepath=str(folder / "capture.exr"), geometry=geometry,
                                               point_size=size)
            if result != {"FINISHED"}:
                raise RuntimeError(f"Build {geometry} failed: {scene.depth_cloud.last_message}")
            cloud = bpy.context.active_object
            show_only(scene.objects, {cloud, *cameras})
            figures = []
            for cam, angle, m in zip(orbit_cams, ANGLES, measured):
                figures += measure(m, render(scene, cam, str(folder / f"{geometry}_{size:g}_{angle:g}.exr")))
            rows[label] = figures
            covered[label] = coverage(through_capture(scene, capture_cam, folder / f"{geometry}_{size:g}.exr"),
                                      capture)
            show_only(scene.objects, set(objects) | cameras)
    finally:
        depth_cloud_addon.unregister()
    ideal = [psnr_db(m.reference, m.ideal) for m in measured]
    return Figures(rows, ideal, covered, measured)


def through_capture(scene, capture_cam, path: pathlib.Path) -> Render:
    """A render through the capture camera with a 1 px box filter: each pixel's alpha is the fraction of it that
    the cloud covers (16 samples: to about 1/16)."""
    cycles = scene.cycles
    kept = cycles.pixel_filter_type, cycles.filter_width
    cycles.pixel_filter_type, cycles.filter_width = "BOX", 1.0
    try:
        return render(scene, capture_cam, str(path))
    finally:
        cycles.pixel_filter_type, cycles.filter_width = kept


def table(figures: Figures) -> list[str]:
    """The issue's table: holes and PSNR at each angle, per geometry and for the ideal; and the coverage."""
    head = " | ".join(f"holes {a:g} deg | PSNR {a:g} deg" for a in ANGLES)
    lines = [f"| geometry | {head} | covered through the capture camera |",
             "| --- | " + " | ".join("---" for _ in range(2 * len(ANGLES) + 1)) + " |"]
    for label, values in figures.rows.items():
        cells = [f"{v:.2f} %" if k % 2 == 0 else f"{v:.1f} dB" for k, v in enumerate(values)]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {figures.coverage[label]:.2f} % |")
    lines.append("| the captured image warped with exact geometry (the ideal) | "
                 + " | ".join(f" | {v:.1f} dB" for v in figures.ideal) + " | |")
    return lines


def main() -> int:
    folder = pathlib.Path(tempfile.mkdtemp(prefix="depth-cloud-orbit-"))
    figures = run(folder, extra_points=(math.sqrt(0.5),))
    print(f"\nBlender {bpy.app.version_string}, {W}x{H}, {SAMPLES} samples, measured pixels: "
          + ", ".join(f"{int(m.pixels.sum()):,} at {a:g} deg" for m, a in zip(figures.measured, ANGLES))
          + f" (renders in {folder})")
    print("\n".join(table(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
