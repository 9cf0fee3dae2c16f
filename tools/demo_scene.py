"""The scene `make demo` renders: a small lit set with procedural materials and a moving camera.

Suzanne on a plinth 5-6 m from the camera, spheres and crates behind her, two rows of pillars and a
brick wall receding to about 50 m, on a 100 m tiled floor (its far edge about 70 m away) under a
gradient sky with a sun and an area light. Every material is a Principled BSDF driven by procedural
textures (checker, noise, wave, voronoi, brick), so the render has shading, shadows and texture
detail. The camera dollies to the right and pans over the sequence. Works with Blender 4.2, 4.5 and 5.0.
"""

from __future__ import annotations

import math

import bpy
from mathutils import Matrix, Vector

from tools import scenes

#: The render camera on the first and the last frame: (location, point it looks at).
CAMERA_PATH = (((-2.3, -5.6, 1.7), (0.1, 0.0, 1.0)), ((2.1, -5.0, 2.1), (-0.4, 3.0, 1.2)))
#: Where the demo's "Side View" camera stands and what it looks at (the cloud seen from another viewpoint).
SIDE_VIEW = ((2.8, -6.4, 2.8), (-0.2, 4.0, 0.8))


def look_at(obj, target) -> None:
    """Turn ``obj`` (a camera or light: it looks down its local -Z, +Y up) towards ``target``."""
    direction = Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


# --- materials -------------------------------------------------------------------------------------------

class _Material:
    """A Principled BSDF material under construction: ``node(kind, **inputs)`` and ``link``."""

    def __init__(self, name: str, *, roughness: float = 0.5, metallic: float = 0.0):
        self.mat = bpy.data.materials.new(name)
        if self.mat.node_tree is None:  # 4.x; 5.0 materials always have nodes
            self.mat.use_nodes = True
        self.nodes, self.links = self.mat.node_tree.nodes, self.mat.node_tree.links
        self.nodes.clear()
        self.bsdf = self.node("ShaderNodeBsdfPrincipled", Roughness=roughness, Metallic=metallic)
        out = self.nodes.new("ShaderNodeOutputMaterial")
        self.links.new(self.bsdf.outputs["BSDF"], out.inputs["Surface"])
        self.coords = self.nodes.new("ShaderNodeTexCoord").outputs["Object"]  # metres, object space

    def node(self, kind: str, **inputs):
        node = self.nodes.new(kind)
        for key, value in inputs.items():
            node.inputs[key].default_value = value
        return node

    def ramp(self, fac, stops):
        """A Color Ramp fed by ``fac`` with ``stops`` [(position, rgb), ...]; returns its Color output."""
        ramp = self.nodes.new("ShaderNodeValToRGB")
        elements = ramp.color_ramp.elements
        while len(elements) < len(stops):
            elements.new(0.5)
        for element, (position, rgb) in zip(elements, stops):
            element.position, element.color = position, (*rgb, 1.0)
        self.links.new(fac, ramp.inputs["Fac"])
        return ramp.outputs["Color"]

    def texture(self, kind: str, **inputs):
        node = self.node(kind, **inputs)
        self.links.new(self.coords, node.inputs["Vector"])
        return node

    def base_color(self, color) -> bpy.types.Material:
        self.links.new(color, self.bsdf.inputs["Base Color"])
        return self.mat

    def roughness_from(self, fac, low: float, high: float) -> None:
        """Roughness from ``fac`` (0..1) mapped to ``low..high``."""
        node = self.node("ShaderNodeMapRange", **{"To Min": low, "To Max": high})
        self.links.new(fac, node.inputs["Value"])
        self.links.new(node.outputs["Result"], self.bsdf.inputs["Roughness"])

    def multiply(self, a, b, factor: float):
        """Colour ``a`` multiplied by colour ``b`` with ``factor``; returns the colour output."""
        mix = self.node("ShaderNodeMix")
        mix.data_type, mix.blend_type = "RGBA", "MULTIPLY"
        mix.inputs["Factor"].default_value = factor
        colour_in = [s for s in mix.inputs if s.type == "RGBA"]
        self.links.new(a, colour_in[0])
        self.links.new(b, colour_in[1])
        return next(s for s in mix.outputs if s.type == "RGBA")


def floor_material():
    m = _Material("Floor tiles")
    checker = m.texture("ShaderNodeTexChecker", Scale=0.5, Color1=(0.55, 0.5, 0.42, 1), Color2=(0.2, 0.19, 0.17, 1))
    dirt = m.texture("ShaderNodeTexNoise", Scale=0.6, Detail=4.0)
    stains = m.ramp(dirt.outputs["Fac"], [(0.35, (0.55, 0.5, 0.45)), (0.65, (1.0, 1.0, 1.0))])
    m.roughness_from(dirt.outputs["Fac"], 0.25, 0.8)
    return m.base_color(m.multiply(checker.outputs["Color"], stains, 0.6))


def suzanne_material():
    m = _Material("Suzanne bands", roughness=0.3, metallic=0.6)
    wave = m.texture("ShaderNodeTexWave", Scale=2.2, Distortion=6.0, Detail=3.0)
    return m.base_color(m.ramp(wave.outputs["Fac"], [(0.1, (0.85, 0.35, 0.05)), (0.5, (0.95, 0.75, 0.25)),
                                                     (0.9, (0.45, 0.12, 0.03))]))


def marble_material():
    m = _Material("Plinth marble", roughness=0.25)
    cells = m.texture("ShaderNodeTexVoronoi", Scale=3.0)
    return m.base_color(m.ramp(cells.outputs["Distance"], [(0.0, (0.2, 0.21, 0.24)), (0.35, (0.55, 0.55, 0.52))]))


def cells_material(name, dark, light, scale=4.0, roughness=0.2):
    m = _Material(name, roughness=roughness)
    cells = m.texture("ShaderNodeTexVoronoi", Scale=scale)
    return m.base_color(m.ramp(cells.outputs["Distance"], [(0.05, dark), (0.6, light)]))


def noise_material(name, dark, light, scale=3.0, roughness=0.6):
    m = _Material(name, roughness=roughness)
    noise = m.texture("ShaderNodeTexNoise", Scale=scale, Detail=4.0)
    m.roughness_from(noise.outputs["Fac"], roughness - 0.2, roughness + 0.2)
    return m.base_color(m.ramp(noise.outputs["Fac"], [(0.35, dark), (0.65, light)]))


def brick_material(name, brick1, brick2, mortar, scale=1.0):
    m = _Material(name, roughness=0.7)
    brick = m.texture("ShaderNodeTexBrick", Scale=scale, Color1=(*brick1, 1), Color2=(*brick2, 1),
                      Mortar=(*mortar, 1))
    return m.base_color(brick.outputs["Color"])


def sky_world(scene) -> None:
    """A world that is a vertical gradient: pale at the horizon, deep blue overhead, darker below."""
    world = bpy.data.worlds.new("Sky")
    scene.world = world
    if world.node_tree is None:
        world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    nodes.clear()
    coords = nodes.new("ShaderNodeTexCoord")
    split = nodes.new("ShaderNodeSeparateXYZ")
    links.new(coords.outputs["Generated"], split.inputs[0])  # in a world: the view direction
    ramp = nodes.new("ShaderNodeValToRGB")
    elements = ramp.color_ramp.elements
    elements.new(0.5)
    for element, (position, rgb) in zip(elements, ((0.45, (0.25, 0.24, 0.22)), (0.5, (0.75, 0.82, 0.95)),
                                                   (0.62, (0.12, 0.28, 0.7)))):
        element.position, element.color = position, (*rgb, 1.0)
    to_unit = nodes.new("ShaderNodeMapRange")  # z in -1..1 -> 0..1
    to_unit.inputs["From Min"].default_value = -1.0
    links.new(split.outputs["Z"], to_unit.inputs["Value"])
    links.new(to_unit.outputs["Result"], ramp.inputs["Fac"])
    background = nodes.new("ShaderNodeBackground")
    background.inputs["Strength"].default_value = 0.6
    links.new(ramp.outputs["Color"], background.inputs["Color"])
    output = nodes.new("ShaderNodeOutputWorld")
    links.new(background.outputs["Background"], output.inputs["Surface"])


# --- objects ---------------------------------------------------------------------------------------------

def _finish(name: str, material, smooth: bool = False, size=None):
    """Name the object just added, give it ``material``; ``size``: scale its mesh (not the object, so the
    textures' object coordinates stay in metres)."""
    obj = bpy.context.active_object
    obj.name = obj.data.name = name
    if size is not None:
        obj.data.transform(Matrix.Diagonal((*size, 1.0)))
    obj.data.materials.append(material)
    if smooth:
        for polygon in obj.data.polygons:
            polygon.use_smooth = True
    return obj


def add_set() -> list:
    """The objects of the set (returned): floor, Suzanne and her plinth, spheres, crates, pillars, wall."""
    ops = bpy.ops.mesh
    made = []
    ops.primitive_plane_add(size=100.0, location=(0, 10, 0))
    made.append(_finish("Floor", floor_material()))
    ops.primitive_cube_add(size=1.0, location=(0, 0, 0.35))
    made.append(_finish("Plinth", marble_material(), size=(1.3, 1.3, 0.7)))
    ops.primitive_monkey_add(size=1.5, location=(0, 0, 1.35), rotation=(-0.35, 0, 0.25))
    suzanne = _finish("Suzanne", suzanne_material(), smooth=True)
    subsurf = suzanne.modifiers.new("Subdivision", "SUBSURF")
    subsurf.levels = subsurf.render_levels = 2  # the same geometry for renders and for scene.ray_cast
    made.append(suzanne)
    spheres = (("Glass ball", (2.4, 2.8, 0.9), 0.9, cells_material("Blue cells", (0.02, 0.08, 0.3), (0.3, 0.6, 0.95))),
               ("Moss ball", (-3.2, 6.5, 1.3), 1.3, noise_material("Moss", (0.08, 0.2, 0.03), (0.45, 0.6, 0.15), 4.0)),
               ("Red ball", (5.5, 16.0, 1.6), 1.6, cells_material("Red cells", (0.35, 0.02, 0.02), (0.95, 0.4, 0.2),
                                                                   scale=2.0)))
    for name, location, radius, material in spheres:
        ops.primitive_uv_sphere_add(segments=48, ring_count=24, radius=radius, location=location)
        made.append(_finish(name, material, smooth=True))
    crate = brick_material("Crate planks", (0.55, 0.35, 0.18), (0.4, 0.24, 0.1), (0.15, 0.1, 0.06), scale=2.0)
    for i, (location, size, turn) in enumerate((((-1.6, 3.2, 0.5), 1.0, 0.4), ((-2.3, 3.6, 1.4), 0.8, 0.9),
                                                ((3.8, 9.0, 1.0), 2.0, -0.3), ((-6.5, 20.0, 1.5), 3.0, 0.6))):
        ops.primitive_cube_add(size=size, location=location, rotation=(0, 0, turn))
        made.append(_finish(f"Crate {i + 1}", crate))
    stone = noise_material("Stone", (0.35, 0.33, 0.3), (0.75, 0.72, 0.66), scale=1.5)
    for i, y in enumerate(range(8, 44, 7)):
        for side in (-1, 1):
            ops.primitive_cylinder_add(vertices=32, radius=0.55, depth=7.0, location=(7.5 * side, y, 3.5))
            made.append(_finish(f"Pillar {'LR'[side > 0]}{i + 1}", stone, smooth=True))
    ops.primitive_plane_add(size=1.0, location=(0, 46.0, 5.0), rotation=(math.pi / 2, 0, 0))
    made.append(_finish("Back wall", brick_material("Wall bricks", (0.5, 0.17, 0.08), (0.36, 0.12, 0.06),
                                                    (0.6, 0.58, 0.55), scale=1.0), size=(60.0, 10.0, 1.0)))
    return made


def add_lights() -> list:
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy, sun.data.angle, sun.data.color = 5.0, math.radians(3.0), (1.0, 0.93, 0.82)
    sun.rotation_euler = (math.radians(50), 0.0, math.radians(-35))
    area = bpy.data.objects.new("Key light", bpy.data.lights.new("Key light", "AREA"))
    area.data.energy, area.data.size, area.data.color = 600.0, 2.5, (0.85, 0.9, 1.0)
    area.location = (-4.0, -3.5, 4.0)
    area.visible_camera = False  # lights the set; not seen as a bright square
    look_at(area, (0.0, 0.0, 1.2))
    for light in (sun, area):
        bpy.context.scene.collection.objects.link(light)
    return [sun, area]


def add_moving_camera(scene, frames: int):
    """The render camera (28 mm), keyed to dolly right and pan along :data:`CAMERA_PATH` over ``frames``."""
    cam = scenes.add_camera("Camera", lens=28.0, clip_start=0.1, clip_end=200.0)
    for frame, (location, target) in zip((1, frames), CAMERA_PATH):
        cam.location = location
        look_at(cam, target)
        cam.keyframe_insert("location", frame=frame)
        cam.keyframe_insert("rotation_euler", frame=frame)
    scene.frame_start, scene.frame_end = 1, frames
    return cam


def configure_render(scene, samples: int) -> None:
    """Cycles on the CPU, ``samples`` per pixel with few bounces; denoised when this build has OIDN."""
    scene.render.film_transparent = False
    scene.cycles.samples = samples
    scene.cycles.filter_width = 1.5  # Blender's default: anti-aliased (scenes.empty_scene sets 0.01)
    for name, value in (("max_bounces", 4), ("diffuse_bounces", 2), ("glossy_bounces", 2),
                        ("transmission_bounces", 2), ("transparent_max_bounces", 4)):
        setattr(scene.cycles, name, value)
    scene.cycles.caustics_reflective = scene.cycles.caustics_refractive = False
    scene.cycles.use_denoising = oidn_available() and samples > 1
    if scene.cycles.use_denoising:
        scene.cycles.denoiser = "OPENIMAGEDENOISE"
        scene.cycles.denoising_prefilter = "FAST"
        if hasattr(scene.cycles, "denoising_quality"):  # 4.1+
            scene.cycles.denoising_quality = "FAST"
    view_layer = scene.view_layers[0]
    if scenes.POS_AOV in view_layer.aovs:  # the tests' world-position AOV: not needed here
        view_layer.aovs.remove(view_layer.aovs[scenes.POS_AOV])


def oidn_available() -> bool:
    try:
        import _cycles  # Blender's own module, importable once bpy is
    except ImportError:
        return False
    return bool(getattr(_cycles, "with_openimagedenoise", False))


def build(width: int, height: int, frames: int, samples: int):
    """A new file holding the demo's set, lights and moving camera. Returns ``(scene, camera, set objects)``."""
    scene = scenes.empty_scene(width, height)
    configure_render(scene, samples)
    sky_world(scene)
    objects = add_set()
    add_lights()
    cam = add_moving_camera(scene, frames)
    scene.frame_set(1)
    return scene, cam, objects


def add_side_camera(scene, name: str = "Side View"):
    """A fixed camera that sees the cloud from another viewpoint (not made the scene camera)."""
    current = scene.camera
    cam = scenes.add_camera(name, location=SIDE_VIEW[0], lens=24.0, clip_start=0.1, clip_end=300.0)
    look_at(cam, SIDE_VIEW[1])
    scene.camera = current
    return cam
