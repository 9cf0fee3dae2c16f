"""Nothing of the user's is deleted, nothing stale is shown, messages say what happened."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings

import bpy
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import builder, compositor, sequence
from depth_cloud_addon.core import read_exr
from tools import scenes

FRAMES = range(1, 4)


@pytest.fixture
def rendered(tmp_path):
    """A moving camera rendered to ``tmp_path`` for frames 1-3, add-on registered."""
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
    scenes.standard_objects(cam)
    for frame, x in ((1, 0.3), (3, 1.5)):
        cam.location.x = x
        cam.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = FRAMES.start, FRAMES.stop - 1
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.render.filepath = str(tmp_path / "render_")
    bpy.ops.render.render(animation=True)
    scene.frame_set(1)
    yield scene, tmp_path
    depth_cloud_addon.unregister()


def user_cube(collection_name: str):
    cube = scenes.add_cube("Mine", 0.5, (1, 0, 0))
    collection = bpy.data.collections[collection_name]
    for other in list(cube.users_collection):
        other.objects.unlink(cube)
    collection.objects.link(cube)
    return cube


def test_rebake_replaces_only_the_baked_objects(rendered):
    scene, _ = rendered
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME") == {"FINISHED"}
    cube = user_cube("DepthCloud Bake")
    scene.frame_set(2)
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME") == {"FINISHED"}
    assert bpy.data.objects.get("Mine") is cube and cube.name in bpy.data.collections["DepthCloud Bake"].objects
    baked = [o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]
    assert sorted(o["depth_cloud_frame"] for o in baked) == [1, 2, 3]
    assert scene.frame_current == 2


def test_a_failed_rebake_keeps_the_previous_bake_and_the_frame(rendered):
    scene, folder = rendered
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME") == {"FINISHED"}
    before = sorted(o.name for o in scene.objects if o.get(builder.ROLE) == "baked_frame")
    for frame in FRAMES:
        (folder / f"depth_{frame:04d}.exr").unlink()
    scene.frame_set(2)
    with pytest.raises(RuntimeError, match="nothing baked"):
        bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME")
    assert sorted(o.name for o in scene.objects if o.get(builder.ROLE) == "baked_frame") == before
    assert scene.frame_current == 2


def test_repick_keeps_the_users_objects(rendered):
    scene, _ = rendered
    assert bpy.ops.depth_cloud.pick_points(pixels="10.5, 20.5") == {"FINISHED"}
    cube = user_cube("DepthCloud Picks")
    assert bpy.ops.depth_cloud.pick_points(pixels="30.5, 20.5; 40.5, 10.5") == {"FINISHED"}
    assert bpy.data.objects.get("Mine") is cube
    picks = [o for o in bpy.data.collections["DepthCloud Picks"].objects if o.get(builder.ROLE) == "pick"]
    assert len(picks) == 2


def test_an_unreadable_sidecar_empties_the_live_cloud_and_says_why(rendered):
    scene, folder = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    cloud = builder.find_cloud(scene)
    assert len(cloud.data.vertices) > 0
    (folder / "camera_0002.json").write_bytes(b'{"name": "caf\xe9"}')  # Latin-1, not UTF-8
    scene.frame_set(2)
    assert len(cloud.data.vertices) == 0
    message = cloud.depth_cloud_sequence.message
    assert message.startswith("frame 2: ") and "camera_0002.json: not a camera file (not UTF-8 text)" in message
    scene.frame_set(3)
    assert len(cloud.data.vertices) > 0 and cloud.depth_cloud_sequence.message.startswith("frame 3: ")


def test_preload_after_build_loads_every_frame(rendered):
    scene, _ = rendered
    scene.frame_set(2)
    bpy.ops.depth_cloud.build(sequence=True)  # frame 2 is in the cache already, in the middle of the range
    assert bpy.ops.depth_cloud.preload_sequence() == {"FINISHED"}
    message = scene.depth_cloud.last_message
    assert message.startswith("Depth Cloud: preloaded 3 of 3 frames") and "full" not in message
    assert len(sequence.CACHE) == 3


def test_preload_says_full_only_when_frames_no_longer_fit(rendered, monkeypatch):
    scene, _ = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    one_frame = sequence.CACHE.nbytes
    # The limit the add-on preferences would hold (registered from the checkout, the add-on has none).
    monkeypatch.setattr(sequence, "cache_limit_bytes", lambda: int(2.5 * one_frame))  # room for two frames
    bpy.ops.depth_cloud.preload_sequence()
    message = scene.depth_cloud.last_message
    assert "preloaded 2 of 3 frames" in message and "the frame cache is full" in message


def test_build_with_pixel_faces_counts_its_faces(rendered):
    scene, folder = rendered
    assert bpy.ops.depth_cloud.build(geometry="FACES") == {"FINISHED"}
    valid = int((read_exr(folder / "depth_0001.exr").depth < 1e9).sum())
    assert valid > 0 and f"Depth Cloud: {valid:,} pixel faces from frame 1" in scene.depth_cloud.last_message


def test_a_missing_depth_file_is_reported_as_missing(rendered, tmp_path):
    scene, _ = rendered
    bpy.data.objects.remove(scene.camera)  # no camera either: the missing file must still come first
    with pytest.raises(RuntimeError, match="nope_0001.exr does not exist|nope_0001.exr: no such file"):
        bpy.ops.depth_cloud.build(filepath=str(tmp_path / "nope_####.exr"))
    assert "camera" not in scene.depth_cloud.last_message


def test_blend_relative_paths_raise_no_warning(rendered):
    scene, _ = rendered
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scene.depth_cloud.directory = "//elsewhere/"
        with pytest.raises(RuntimeError):  # nothing there: the point is the path option, not the result
            bpy.ops.depth_cloud.build(filepath="//nothing_####.exr")
        with pytest.raises(RuntimeError):
            bpy.ops.depth_cloud.export_ply(output="//nothing/cloud_####.ply", filepath="//nothing_####.exr")
    relative = [str(w.message) for w in caught if "relative" in str(w.message)]
    assert relative == []


def share_compositor(scene, other) -> None:
    """``other`` runs ``scene``'s compositor node group (5.3: as an effect of its own stack)."""
    tree = compositor.capture_tree(scene)
    if hasattr(other, "compositor_effects"):
        other.compositor_effects.new("Shared").node_group = tree
    else:
        other.compositing_node_group = tree


def _capture_files(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".exr", ".json")}


@pytest.mark.skipif("compositing_node_group" not in bpy.types.Scene.bl_rna.properties,
                    reason="only Blender 5.0 and later share one compositor node group between scenes")
def test_a_scene_sharing_the_compositor_rewrites_neither_depth_nor_sidecar(rendered, capfd):
    scene, folder = rendered
    before = _capture_files(folder)
    other = bpy.data.scenes.new("Other")
    scenes.configure_scene(other)
    share_compositor(scene, other)  # shared: its File Outputs would write A's files
    cam_data = bpy.data.cameras.new("Other Camera")
    cam = bpy.data.objects.new("Other Camera", cam_data)
    other.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (5.0, -5.0, 2.0), (1.3, 0.0, 0.8)
    other.camera = cam
    other.frame_set(1)
    capfd.readouterr()
    bpy.ops.render.render(write_still=False, scene=other.name)
    out = capfd.readouterr().out
    assert _capture_files(folder) == before  # depth_0001.exr too: the pair still matches
    assert "Traceback" not in out and "capture off for this render of 'Other'" in out
    assert "capture scene 'Scene', not 'Other'" in compositor.capture_status(other)
    bpy.ops.render.render(write_still=False, scene=scene.name)  # scene A captures again
    assert compositor.capture_status(scene) is None and not compositor.capture_paused(scene)


_CYCLES_FROM_AN_EMPTY = """
import bpy
scene = bpy.context.scene
scene.render.engine = 'CYCLES'
scene.cycles.samples = 1
scene.render.resolution_x, scene.render.resolution_y = 32, 24
empty = bpy.data.objects.new('Empty', None)
scene.collection.objects.link(empty)
scene.camera = empty
bpy.ops.render.render(write_still=False)
"""


@functools.lru_cache(maxsize=1)
def cycles_renders_from_an_empty() -> bool:
    """Whether this Blender's Cycles survives a render whose scene camera is an Empty (no add-on loaded).

    5.2.4's Cycles segfaults there (docs/blender_versions.md); 4.2, 4.5, 5.0 and 5.3 render from the Empty.
    """
    done = subprocess.run([sys.executable, "-c", _CYCLES_FROM_AN_EMPTY], capture_output=True, timeout=300)
    return done.returncode == 0


def test_an_empty_as_the_scene_camera_captures_nothing_and_says_why(rendered, capfd):
    scene, folder = rendered
    before = _capture_files(folder)
    if not cycles_renders_from_an_empty():
        # Blender itself would crash in Cycles (with or without the add-on): the capture's refusal is the
        # same whichever engine renders, so it is checked on Workbench here.
        scene.render.engine = "BLENDER_WORKBENCH"
    empty = bpy.data.objects.new("Not A Camera", None)
    scene.collection.objects.link(empty)
    empty.location = (0.3, -7.0, 1.5)
    scene.camera = empty
    for frame in (2, 4):  # a frame captured before, and a new one
        scene.frame_set(frame)
        capfd.readouterr()
        bpy.ops.render.render(write_still=False)
        out = capfd.readouterr().out
        assert "Traceback" not in out and "the scene camera is 'Not A Camera', a empty, not a camera" in out
    assert _capture_files(folder) == before
    assert "not a camera" in compositor.capture_status(scene)


def test_an_unwritable_folder_is_one_line_and_no_traceback(rendered, tmp_path_factory, capfd):
    scene, folder = rendered
    blocker = tmp_path_factory.mktemp("blocked") / "a_file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(RuntimeError, match="the output folder cannot be written: .*a_file is not a folder"):
        bpy.ops.depth_cloud.setup_outputs(directory=str(blocker / "frames"))
    assert compositor.output_directory(scene) == str(folder) + "/"  # nothing changed
    # A folder that becomes unwritable after Set Up (here: replaced by a file; as another user, read-only).
    moved = folder.parent / (folder.name + "_moved")
    folder.rename(moved)
    folder.write_text("not a folder any more")
    try:
        capfd.readouterr()
        scene.frame_set(2)
        bpy.ops.render.render(write_still=False)
        out = capfd.readouterr().out
        assert "Traceback" not in out and "the capture folder cannot be written" in out
        assert "cannot be written" in compositor.capture_status(scene)
    finally:
        folder.unlink()
        moved.rename(folder)
    assert compositor.capture_status(scene) is None
