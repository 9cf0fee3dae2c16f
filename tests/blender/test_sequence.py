"""Image sequences with a moving camera: live per-frame cloud, sidecars, save/reload, bake and fusion.

Every test renders a short sequence (4 frames, 64x48, Cycles) through the set-up outputs: the camera
moves and turns, a cube moves. Ground truth per frame: ``scene.ray_cast`` through the pixel centres
of that frame's camera (``view_frame``), with the scene evaluated at that frame.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading

import bpy
import numpy as np
import pytest

import depth_cloud_addon
from depth_cloud_addon.blender import bake, builder, frames, sequence
from depth_cloud_addon.core import CameraModel, backproject, read_exr
from depth_cloud_addon.core.frames.cloud import BuildOptions, read_cloud
from tools import scenes

FRAMES = range(1, 5)


@pytest.fixture
def rendered(tmp_path):
    """An animated scene rendered to ``tmp_path`` (depth/color/camera per frame), add-on registered."""
    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0, shift_x=0.05)
    scenes.standard_objects(cam)
    scenes.add_plane("Floor", 60.0, (0.4, 0.4, 0.4), (0.0, 0.0, -1.0))
    for frame, x, turn in ((1, 0.3, 0.05), (4, 1.8, 0.3)):
        cam.location.x, cam.rotation_euler.z = x, turn
        cam.keyframe_insert("location", frame=frame)
        cam.keyframe_insert("rotation_euler", frame=frame)
    cube = bpy.data.objects["Cube"]
    for frame, z in ((1, 0.0), (4, 1.2)):
        cube.location.z = z
        cube.keyframe_insert("location", frame=frame)
    scene.frame_start, scene.frame_end = FRAMES.start, FRAMES.stop - 1
    bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path))
    scene.render.filepath = str(tmp_path / "render_")
    bpy.ops.render.render(animation=True)
    scene.frame_set(1)
    yield scene, cam, tmp_path
    depth_cloud_addon.unregister()


def ray_cast_truth(scene, cam) -> np.ndarray:
    hits, _ = scenes.ray_cast_grid(scene, *scenes.pixel_rays_from_view_frame(scene, cam))
    return hits[np.isfinite(hits[..., 0])]


def assert_cloud_is_frame(obj, scene, cam):
    truth = ray_cast_truth(scene, cam)
    positions = scenes.vertex_positions_world(obj)
    assert positions.shape == truth.shape
    assert np.abs(positions - truth).max() < 2e-5


def test_cloud_follows_the_timeline(rendered):
    scene, cam, folder = rendered
    assert {f"depth_{f:04d}.exr" for f in FRAMES} <= set(os.listdir(folder))
    assert bpy.ops.depth_cloud.build(sequence=True) == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj.depth_cloud_sequence.enabled and scene.render.use_lock_interface
    for frame in (1, 3, 2, 4, 1):  # scrubbing back and forth
        scene.frame_set(frame)
        assert_cloud_is_frame(obj, scene, cam)
        assert obj.depth_cloud_sequence.message == (f"frame {frame}: {len(obj.data.vertices):,} points, "
                                                    f"view layer '{scene.view_layers[0].name}'")
    assert len(sequence.CACHE) == len(FRAMES)  # each frame decoded once


def test_sidecars_keep_the_rendered_cameras_when_the_animation_changes(rendered):
    scene, cam, folder = rendered
    rendered_cameras = {}
    for frame in FRAMES:
        scene.frame_set(frame)
        rendered_cameras[frame] = CameraModel.from_blender(cam, scene)
    scene.frame_set(4)
    cam.location.x += 3.0  # the user edits the animation after rendering
    cam.keyframe_insert("location", frame=4)
    bpy.ops.depth_cloud.build(sequence=True)
    obj = bpy.context.active_object
    for frame in FRAMES:
        scene.frame_set(frame)
        depth = read_exr(folder / f"depth_{frame:04d}.exr").depth
        expected = backproject(depth, rendered_cameras[frame]).reshape(-1, 3)
        np.testing.assert_allclose(scenes.vertex_positions_world(obj), expected, atol=1e-5)


def test_scene_camera_fallback_is_said_once(rendered):
    scene, cam, folder = rendered
    for frame in FRAMES:
        os.remove(folder / f"camera_{frame:04d}.json")
    bpy.ops.depth_cloud.build(sequence=True)
    obj = bpy.context.active_object
    for frame in FRAMES:
        scene.frame_set(frame)
        assert_cloud_is_frame(obj, scene, cam)  # the animation is unchanged, so the scene camera is right
        assert obj.depth_cloud_sequence.message.endswith("(no sidecar: scene camera)")


def test_missing_frame_empties_the_cloud_with_one_message_and_never_raises(rendered, capsys):
    scene, cam, folder = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    obj = bpy.context.active_object
    os.remove(folder / "depth_0003.exr")
    (folder / "depth_0002.exr").write_bytes(b"\x76\x2f\x31\x01 truncated")
    capsys.readouterr()
    for frame in (3, 3, 2, 4):
        scene.frame_set(frame)  # a raise here would propagate: handlers' exceptions are not swallowed by bpy
        if frame == 3:
            assert len(obj.data.vertices) == 0
            assert obj.depth_cloud_sequence.message.startswith("frame 3: no depth file for frame 3")
        if frame == 2:
            assert len(obj.data.vertices) == 0 and "depth_0002.exr" in obj.depth_cloud_sequence.message
    assert_cloud_is_frame(obj, scene, cam)
    printed = capsys.readouterr().out
    assert printed.count("frame 3: no depth file") == 1 and "Traceback" not in printed


def test_survives_save_and_reopen(rendered, tmp_path):
    scene, _, _ = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    path = str(tmp_path / "sequence.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    scene = bpy.context.scene
    obj = builder.find_cloud(scene)
    assert obj.depth_cloud_sequence.enabled
    assert sequence.on_frame_change in bpy.app.handlers.frame_change_post
    scene.frame_set(3)
    assert_cloud_is_frame(obj, scene, scene.camera)


def test_a_sequence_of_a_blend_relative_folder_follows_the_file_when_moved(tmp_path):
    """Set up to //frames/ in a saved file: the cloud stores the folder relative to the .blend, as the
    capture nodes do, so the shot folder can be moved (or opened on another machine) and still plays."""
    import shutil

    scene = scenes.empty_scene()
    depth_cloud_addon.register()
    try:
        cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0)
        scenes.standard_objects(cam)
        cam.location.x = 0.3
        cam.keyframe_insert("location", frame=1)
        cam.location.x = 1.3
        cam.keyframe_insert("location", frame=2)
        scene.frame_start, scene.frame_end = 1, 2
        shot = tmp_path / "shot"
        shot.mkdir()
        bpy.ops.wm.save_as_mainfile(filepath=str(shot / "shot.blend"))
        bpy.ops.depth_cloud.setup_outputs(directory="//frames/")
        scene.render.filepath = "//renders/"
        bpy.ops.render.render(animation=True)
        scene.frame_set(1)
        bpy.ops.depth_cloud.build(sequence=True)
        assert builder.find_cloud(scene).depth_cloud_sequence.source == "//frames/"
        bpy.ops.wm.save_mainfile()
        moved = tmp_path / "moved"
        shutil.move(str(shot), str(moved))
        bpy.ops.wm.open_mainfile(filepath=str(moved / "shot.blend"))
        scene = bpy.context.scene
        obj = builder.find_cloud(scene)
        scene.frame_set(2)
        assert obj.depth_cloud_sequence.message.startswith("frame 2: "), obj.depth_cloud_sequence.message
        assert "no depth file" not in obj.depth_cloud_sequence.message
        assert_cloud_is_frame(obj, scene, scene.camera)
    finally:
        depth_cloud_addon.unregister()


def test_unregister_removes_the_handlers(rendered):
    depth_cloud_addon.unregister()
    try:
        assert sequence.on_frame_change not in bpy.app.handlers.frame_change_post
        assert sequence.on_load not in bpy.app.handlers.load_post
    finally:
        depth_cloud_addon.register()  # the fixture unregisters


def test_preload_fills_the_cache(rendered):
    scene, _, _ = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    sequence.CACHE.clear()
    assert bpy.ops.depth_cloud.preload_sequence() == {"FINISHED"}
    assert len(sequence.CACHE) == len(FRAMES) and scene.frame_current == 1
    assert "preloaded 4 of 4 frames" in scene.depth_cloud.last_message


def test_bake_one_object_per_frame_with_keyed_visibility(rendered):
    scene, cam, _ = rendered
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME") == {"FINISHED"}
    baked = sorted((o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"),
                   key=lambda o: o["depth_cloud_frame"])
    assert [o["depth_cloud_frame"] for o in baked] == list(FRAMES)
    assert all(o.users_collection[0].name == bake.COLLECTION_NAME for o in baked)
    for frame in FRAMES:
        scene.frame_set(frame)
        visible = [o for o in baked if not o.hide_viewport and not o.hide_render]
        assert visible == [baked[frame - 1]]
        assert_cloud_is_frame(visible[0], scene, cam)
    bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME")  # baking again replaces our objects only
    assert len([o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]) == len(FRAMES)


def test_bake_fused_with_and_without_voxels(rendered):
    scene, cam, folder = rendered
    per_frame = []
    for frame in FRAMES:
        camera = CameraModel.from_json((folder / f"camera_{frame:04d}.json").read_text())
        points = backproject(read_exr(folder / f"depth_{frame:04d}.exr").depth, camera).reshape(-1, 3)
        per_frame.append(points[np.isfinite(points[:, 0])])
    everything = np.concatenate(per_frame)
    bpy.ops.depth_cloud.bake_sequence(mode="FUSED")
    fused = builder.find_cloud(scene, "fused")
    assert len(fused.data.vertices) == len(everything)
    np.testing.assert_allclose(scenes.vertex_positions_world(fused), everything, atol=1e-5)
    voxel = 0.25
    bpy.ops.depth_cloud.bake_sequence(mode="FUSED", voxel_size=voxel)
    # The cloud holds float32 positions; voxel indices are floor(p / size) computed in float64.
    occupied = {tuple(v) for v in np.floor(everything.astype(np.float32).astype(np.float64) / voxel).astype(np.int64)}
    assert len(builder.find_cloud(scene, "fused").data.vertices) == len(occupied)
    assert len([o for o in scene.objects if o.get(builder.ROLE) == "fused"]) == 1


def test_bake_reports_gaps_resolution_and_camera_type_changes_and_can_stop(rendered):
    scene, cam, folder = rendered
    os.remove(folder / "depth_0002.exr")
    sidecar = json.loads((folder / "camera_0004.json").read_text())
    sidecar.update(projection="ORTHO", ortho_scale=8.0, width_px=32, height_px=24)
    (folder / "camera_0004.json").write_text(json.dumps(sidecar))
    scene.render.resolution_percentage = 50
    scene.frame_set(4)
    bpy.ops.render.render(write_still=False)  # frame 4 again, at half size
    (folder / "camera_0004.json").write_text(json.dumps(sidecar))  # the render handler rewrote it
    scene.render.resolution_percentage = 100
    bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME")
    message = scene.depth_cloud.last_message
    assert "baked 3 of 4 frames" in message and "skipped frame(s) 2: no depth file for frame 2" in message
    assert "resolution changes at frame 4 (64x48 -> 32x24)" in message
    assert "camera type changes at frame 4 (PERSP -> ORTHO)" in message
    # ESC in the modal operator ends the job early: a bake that did not finish never replaces a finished one.
    previous = sorted(o.name for o in scene.objects if o.get(builder.ROLE) == "baked_frame")
    assert len(previous) == 3
    scene.frame_set(3)
    job = bake.BakeJob(bpy.context, source=str(folder), from_setup=True, options=BuildOptions(),
                       frame_numbers=FRAMES, mode="PER_FRAME")
    job.step()
    summary = job.finish()
    assert summary.startswith("cancelled before frame 2: the previous bake is kept whole") and job.kept_previous
    assert sorted(o.name for o in scene.objects if o.get(builder.ROLE) == "baked_frame") == previous
    assert scene.frame_current == 3  # the timeline is back where it was
    # Without a previous bake, what was baked stays.
    for obj in [o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]:
        bpy.data.objects.remove(obj)
    job = bake.BakeJob(bpy.context, source=str(folder), from_setup=True, options=BuildOptions(),
                       frame_numbers=FRAMES, mode="PER_FRAME")
    job.step()
    summary = job.finish()
    assert summary.startswith("baked 1 of 4 frames") and "cancelled before frame 2" in summary
    assert len([o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]) == 1


def test_a_cancelled_fused_rebake_keeps_the_previous_fused_cloud(rendered):
    scene, cam, folder = rendered
    assert bpy.ops.depth_cloud.bake_sequence(mode="FUSED") == {"FINISHED"}
    before = len(builder.find_cloud(scene, "fused").data.vertices)
    job = bake.BakeJob(bpy.context, source=str(folder), from_setup=True, options=BuildOptions(stride=2),
                       frame_numbers=FRAMES, mode="FUSED")
    job.step()
    job.step()
    assert "the previous bake is kept whole" in job.finish()
    fused = [o for o in scene.objects if o.get(builder.ROLE) == "fused"]
    assert len(fused) == 1 and len(fused[0].data.vertices) == before


def _frame_key(scene, settings, frame):
    inputs = frames.frame_inputs(scene, sequence.source_path(settings), settings.from_setup, frame)
    return inputs, sequence.frame_key(inputs, sequence.build_options(settings))


def _assert_same_cloud(a, b):
    for name in ("points", "colors", "radii", "rows", "cols", "depths"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_frames_ahead_are_decoded_in_the_background(rendered):
    scene, cam, _ = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    obj = bpy.context.active_object
    settings = obj.depth_cloud_sequence
    sequence.wait_prefetch()
    sequence.CACHE.clear()
    sequence.forget_shown()
    scene.frame_set(1)
    sequence.wait_prefetch()
    assert scene.frame_current == 1
    for frame in (2, 3, 4):  # in the cache without a frame change, the same as a read of that frame
        inputs, key = _frame_key(scene, settings, frame)
        assert key in sequence.CACHE, frame
        _assert_same_cloud(sequence.CACHE.get(key), read_cloud(inputs, sequence.build_options(settings)))
    for frame in (2, 3, 4):  # shown from what was read ahead: each frame decoded once
        scene.frame_set(frame)
        assert_cloud_is_frame(obj, scene, cam)
    assert len(sequence.CACHE) == len(FRAMES)
    sequence.CACHE.clear()
    scene.frame_set(4)
    scene.frame_set(3)  # a step back: the frames before are read ahead
    sequence.wait_prefetch()
    assert all(_frame_key(scene, settings, f)[1] in sequence.CACHE for f in (1, 2))


def test_frame_change_waits_for_or_takes_back_a_frame_read_ahead(rendered, monkeypatch):
    scene, cam, _ = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    obj = bpy.context.active_object
    settings = obj.depth_cloud_sequence
    sequence.wait_prefetch()
    sequence.CACHE.clear()
    release = threading.Event()
    decode = sequence._decode

    def slow_decode(*args):
        release.wait(10)
        decode(*args)

    monkeypatch.setattr(sequence, "_decode", slow_decode)
    scene.frame_set(1)
    assert len(sequence._pending) == 3  # frames 2-4 queued or under way, none done
    threading.Timer(0.2, release.set).start()
    scene.frame_set(2)  # waits for frame 2 (or reads it itself if it was still queued): never a stale frame
    assert_cloud_is_frame(obj, scene, cam)
    sequence.wait_prefetch()
    _, key = _frame_key(scene, settings, 2)
    assert key in sequence.CACHE


def test_a_failed_read_ahead_is_read_again_on_the_spot(rendered, monkeypatch):
    scene, cam, _ = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    obj = bpy.context.active_object

    def broken(*_args):
        raise OSError("disk went away")

    sequence.wait_prefetch()
    sequence.CACHE.clear()
    monkeypatch.setattr(sequence, "_decode", broken)
    scene.frame_set(1)
    futures = list(sequence._pending.values())
    assert futures
    concurrent.futures.wait(futures)  # failed, and still pending: the frame change collects the failure
    scene.frame_set(2)
    assert_cloud_is_frame(obj, scene, cam)
    assert obj.depth_cloud_sequence.message.startswith("frame 2: ")


def test_points_of_the_same_count_are_written_in_place():
    mesh = bpy.data.meshes.new("InPlace")
    try:
        rng = np.random.default_rng(0)
        first = [rng.random((50, k), dtype=np.float32) for k in (3, 4)] + [rng.random(50, dtype=np.float32)]
        builder.write_mesh(mesh, *first)
        mesh.attributes.new("object_index", "INT", "POINT")
        second = [rng.random((50, k), dtype=np.float32) for k in (3, 4)] + [rng.random(50, dtype=np.float32)]
        builder.write_mesh(mesh, *second)  # in place: the other cloud attribute is left to write_point_attributes
        assert "object_index" in mesh.attributes
        for name, key, values in (("position", "vector", second[0]), (builder.COLOR_ATTRIBUTE, "color", second[1]),
                                  (builder.RADIUS_ATTRIBUTE, "value", second[2])):
            got = np.empty(values.size, np.float32)
            mesh.attributes[name].data.foreach_get(key, got)
            np.testing.assert_array_equal(got, values.ravel())
        assert mesh.color_attributes.active_color.name == builder.COLOR_ATTRIBUTE
        mesh.attributes.new("user_thing", "FLOAT", "POINT")  # not ours: rebuilt, as before
        builder.write_mesh(mesh, *[a[:40] for a in second])
        assert len(mesh.vertices) == 40 and "user_thing" not in mesh.attributes
        builder.write_mesh(mesh, *[a[:40] for a in first])
        assert len(mesh.vertices) == 40 and "user_thing" not in mesh.attributes
    finally:
        bpy.data.meshes.remove(mesh)


def test_while_playing_frames_show_thinned_and_in_full_when_playback_stops(rendered, monkeypatch):
    """Blender's playback handlers: with more pixels than "Points While Playing", a playing sequence shows
    the cloud a Build at twice the stride gives (thinned from a cached full frame without reading it
    again, or read thinned, also ahead); stopping shows the current frame in full again."""
    scene, cam, _ = rendered
    assert sequence.on_playback_start in bpy.app.handlers.animation_playback_pre
    assert sequence.on_playback_stop in bpy.app.handlers.animation_playback_post
    bpy.ops.depth_cloud.build(sequence=True)  # frame 1 shown and cached in full
    obj = bpy.context.active_object
    settings = obj.depth_cloud_sequence
    sequence.wait_prefetch()
    width, height = scenes.render_size(scene)
    monkeypatch.setattr(sequence, "PLAYBACK_POINTS", width * height // 4)  # exactly a stride of 2
    full = sequence.build_options(settings)
    thin = BuildOptions(**{**full.__dict__, "stride": 2})

    def shown_is(frame, options):
        inputs, _ = _frame_key(scene, settings, frame)
        expected = read_cloud(inputs, options)
        np.testing.assert_array_equal(scenes.vertex_positions_world(obj), expected.points)
        radii = np.empty(len(obj.data.vertices), np.float32)
        obj.data.attributes[builder.RADIUS_ATTRIBUTE].data.foreach_get("value", radii)
        np.testing.assert_allclose(radii, expected.radii, rtol=2e-7)
        return expected

    sequence.on_playback_start(scene)
    reads = []
    monkeypatch.setattr(sequence, "read_cloud", lambda *a: reads.append(a) or read_cloud(*a))
    scene.frame_set(1)  # the cached full frame: thinned, not read again; the frames ahead are read thinned
    sequence.wait_prefetch()
    assert sorted((a[0].frame, a[1].stride) for a in reads) == [(2, 2), (3, 2), (4, 2)]
    thinned = shown_is(1, thin)
    n_full = len(read_cloud(_frame_key(scene, settings, 1)[0], full).points)
    assert len(obj.data.vertices) == len(thinned.points) < n_full / 3
    assert obj.depth_cloud_sequence.message.startswith(f"frame 1: {len(thinned.points):,} points (1 pixel in 2x2 "
                                                       "while playing)")
    assert all(sequence.frame_key(_frame_key(scene, settings, f)[0], thin) in sequence.CACHE for f in (2, 3, 4))
    assert all(_frame_key(scene, settings, f)[1] not in sequence.CACHE for f in (2, 3, 4))
    sequence.CACHE.clear()
    reads.clear()
    scene.frame_set(2)  # not cached at all: read thinned on the spot (the frames ahead in the background)
    shown_is(2, thin)
    sequence.wait_prefetch()
    assert sorted((a[0].frame, a[1].stride) for a in reads) == [(2, 2), (3, 2), (4, 2)]
    scene.frame_set(3)
    shown_is(3, thin)
    sequence.on_playback_stop(scene)  # the current frame in full, exact again
    assert scene.frame_current == 3
    assert_cloud_is_frame(obj, scene, cam)
    assert "while playing" not in obj.depth_cloud_sequence.message
    scene.frame_set(2)  # stepping after playback: every point
    assert_cloud_is_frame(obj, scene, cam)

    monkeypatch.setattr(sequence, "PLAYBACK_POINTS", 0)  # 0: never thinned
    sequence.on_playback_start(scene)
    scene.frame_set(4)
    assert_cloud_is_frame(obj, scene, cam)
    sequence.on_playback_stop(scene)


def test_a_frame_with_motion_is_keyed_on_the_next_frames_files(rendered):
    """Motion reads frame N+1: a frame shown before N+1 was rendered (motion unknown) is read again once
    N+1's files appear or change; without motion attributes the next frame does not matter."""
    import shutil

    scene, _, folder = rendered
    bpy.ops.depth_cloud.build(sequence=True)
    settings = bpy.context.active_object.depth_cloud_sequence
    inputs = frames.frame_inputs(scene, sequence.source_path(settings), settings.from_setup, 4)
    plain = sequence.build_options(settings)
    motion = BuildOptions(**{**plain.__dict__, "attributes": ("motion",)})
    before = sequence.frame_key(inputs, motion)
    assert before[2] is None and sequence.frame_key(inputs, plain)[2] is None
    for kind in ("depth", "color"):
        shutil.copyfile(folder / f"{kind}_0004.exr", folder / f"{kind}_0005.exr")
    appeared = sequence.frame_key(inputs, motion)
    assert appeared != before and appeared[2][0] == str(folder / "depth_0005.exr")
    shutil.copyfile(folder / "camera_0004.json", folder / "camera_0005.json")
    assert sequence.frame_key(inputs, motion) not in (before, appeared)
    assert sequence.frame_key(inputs, plain) == (inputs.signature, plain, None)


def test_pixel_faces_on_a_sequence_cloud_keep_it_following_the_timeline(rendered):
    """The recipe: Build with Sequence, then Pixel Faces, then Bake with the sequence cloud selected."""
    scene, cam, _ = rendered
    assert bpy.ops.depth_cloud.build(sequence=True) == {"FINISHED"}
    obj = bpy.context.active_object
    assert bpy.ops.depth_cloud.build(geometry="FACES") == {"FINISHED"}
    assert "it still follows the timeline, now as pixel faces" in scene.depth_cloud.last_message
    assert bpy.context.active_object == obj and obj.depth_cloud_sequence.enabled
    assert obj.depth_cloud_sequence.geometry == "FACES"
    scene.frame_set(3)
    assert len(obj.data.polygons) > 0 and obj.depth_cloud_sequence.message.startswith("frame 3:")
    assert bpy.ops.depth_cloud.bake_sequence(mode="PER_FRAME") == {"FINISHED"}  # bakes the bound sequence
    baked = [o for o in scene.objects if o.get(builder.ROLE) == "baked_frame"]
    assert len(baked) == len(FRAMES) and all(len(o.data.polygons) > 0 for o in baked)
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.depth_cloud.build(space="CAMERA") == {"FINISHED"}
    assert "no longer follows the timeline" in scene.depth_cloud.last_message
    assert not builder.find_cloud(scene).depth_cloud_sequence.enabled


def test_bake_fused_and_convert_fuse_agree_for_the_same_voxel_size(tmp_path):
    """The panel's Voxel Size is a float32 (0.05 reads 0.05000000074505806); the fusion gets 0.05, as the CLI does
    from the same text. Here points lie on voxel borders (z = -1.00 at 0.05 m voxels), where the two sizes put them in
    different voxels (the CLI's file and the float32 size differed by a voxel's worth of points)."""
    from plyfile import PlyData

    from depth_cloud_addon import cli
    from depth_cloud_addon.core import write_exr
    from depth_cloud_addon.core.frames.files import write_camera_sidecar

    above = np.eye(4)
    above[2, 3] = 2.0  # looking down from z = 2: depth 1.00 is z = 1.00, 20 voxels of 0.05 m (19.9999997 of 0.0500..07)
    camera = CameraModel(width_px=8, height_px=6, projection="ORTHO", ortho_scale=0.08, frame=1, cam2world=above)
    depth = np.where(np.arange(8)[None, :] % 2 == 0, 1.0, 1.01).astype(np.float32).repeat(6, axis=0)
    for frame in (1, 2):
        write_exr(tmp_path / f"depth_{frame:04d}.exr", {"V": depth + 0.02 * (frame - 1)})
        write_exr(tmp_path / f"color_{frame:04d}.exr", {c: np.full(depth.shape, 0.5, np.float32) for c in "RGBA"})
        write_camera_sidecar(tmp_path / f"camera_{frame:04d}.json", camera.replace(frame=frame))
    assert cli.main(["convert", str(tmp_path / "depth_####.exr"), "--frames", "1-2", "--fuse", "--voxel", "0.05",
                     "-o", str(tmp_path / "cli.ply")]) == 0
    vertex = PlyData.read(str(tmp_path / "cli.ply"))["vertex"]
    from_cli = np.stack([vertex["x"], vertex["y"], vertex["z"]], -1)
    scene = scenes.empty_scene(8, 6)
    depth_cloud_addon.register()
    try:
        scene.frame_start, scene.frame_end = 1, 2
        assert bpy.ops.depth_cloud.bake_sequence(filepath=str(tmp_path / "depth_####.exr"), mode="FUSED",
                                                 voxel_size=0.05) == {"FINISHED"}
        from_panel = scenes.vertex_positions_world(builder.find_cloud(scene, "fused"))
    finally:
        depth_cloud_addon.unregister()
    order = np.lexsort(from_cli.T)
    assert len(from_panel) == len(from_cli) and len(from_cli) < 2 * 48  # fused
    np.testing.assert_array_equal(from_panel[np.lexsort(from_panel.T)], from_cli[order].astype(np.float64))


def test_a_frame_replaced_with_the_same_modification_time_is_shown_anew(rendered):
    """The live cache keys frames on each file's size, time and inode, not the time alone (a copy that keeps the
    time, a sync tool)."""
    scene, cam, folder = rendered
    assert bpy.ops.depth_cloud.build(sequence=True) == {"FINISHED"}
    obj = bpy.context.active_object
    scene.frame_set(2)
    before = scenes.vertex_positions_world(obj)
    depth = folder / "depth_0002.exr"
    stat = os.stat(depth)
    image = read_exr(depth)
    half = np.where(np.arange(image.depth.shape[1])[None, :] < image.depth.shape[1] // 2, image.depth, 1e10)
    from depth_cloud_addon.core import write_exr

    write_exr(folder / "replacement.exr", {"V": half.astype(np.float32)})
    os.replace(folder / "replacement.exr", depth)
    os.utime(depth, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    scene.frame_set(1)
    scene.frame_set(2)
    after = scenes.vertex_positions_world(obj)
    assert 0 < len(after) < len(before)  # the new file's frame, not the cached one
