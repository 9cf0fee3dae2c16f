"""Real-Blender test set-up: bpy is imported for real (a missing bpy fails the run, it never skips)."""

import os
import tempfile

# Keep Blender's user config out of the user's home; must happen before the first `import bpy`.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="depth-cloud-blender-user-"))

import bpy  # noqa: E402
import pytest  # noqa: E402

ACCURACY_ROWS: list[tuple] = []


@pytest.fixture
def addon():
    """An empty factory scene with the add-on registered (from this checkout); yields the scene."""
    import depth_cloud_addon
    from tools import scenes

    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    yield scene
    depth_cloud_addon.unregister()


def render_two_frame_sequence(folder):
    """The standard objects seen by a camera that moves 1 m between frames 1 and 2, captured into ``folder`` by Set
    Up EXR Outputs and Render Animation (the add-on registered); returns the scene."""
    from tools import scenes

    scene = bpy.context.scene
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    cam.keyframe_insert("location", frame=1)
    cam.location.x += 1.0
    cam.keyframe_insert("location", frame=2)
    scene.frame_start, scene.frame_end = 1, 2
    bpy.ops.depth_cloud.setup_outputs(directory=str(folder))
    scene.render.filepath = str(folder / "render_")
    bpy.ops.render.render(animation=True)
    return scene


def _handler_lists():
    return {name: getattr(bpy.app.handlers, name) for name in dir(bpy.app.handlers)
            if isinstance(getattr(bpy.app.handlers, name), list)}


@pytest.fixture(autouse=True, scope="session")
def _no_python_handlers_at_exit():
    """Python handlers left registered at exit crash bpy 4.2 and hang 4.5: remove those the tests added."""
    before = {name: list(handlers) for name, handlers in _handler_lists().items()}
    yield
    for name, handlers in _handler_lists().items():
        for handler in list(handlers):
            if handler not in before.get(name, ()):
                handlers.remove(handler)


def pytest_terminal_summary(terminalreporter):
    from tests.blender.test_discs import ORBIT_TABLE
    from tests.blender.test_faces import PSNR_RESULTS

    if ORBIT_TABLE:
        terminalreporter.section(f"clouds from cameras orbited about the set (tools/orbit.py), Blender "
                                 f"{bpy.app.version_string}")
        for line in ORBIT_TABLE:
            terminalreporter.write_line(line)

    if PSNR_RESULTS:
        terminalreporter.section(f"FACES rendered through the frame's camera vs its color pass, Blender "
                                 f"{bpy.app.version_string}")
        for name, value, pixels in PSNR_RESULTS:
            terminalreporter.write_line(f"{name:40} PSNR {value:7.1f} dB over {pixels} valid pixels (none excluded)")
    if ACCURACY_ROWS:
        terminalreporter.section(f"back-projection error vs Blender ray_cast, Blender {bpy.app.version_string}")
        terminalreporter.write_line(f"{'configuration':34} {'pixels':>6} {'median m':>10} {'p95 m':>10} "
                                    f"{'median rel':>10}")
        for name, n, med, p95, rel in ACCURACY_ROWS:
            terminalreporter.write_line(f"{name:34} {n:6d} {med:10.2e} {p95:10.2e} {rel:10.2e}")
