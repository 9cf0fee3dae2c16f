"""Survey formats (core/survey.py): E57 and LAS/LAZ written from back-projected frames, read back by real readers.

E57 is read by pye57 (libE57Format) and by the independent ``e57`` package (the Rust ``e57`` crate); LAS/LAZ
by laspy (LAZ decompressed by lazrs). Both E57 readers apply each scan's pose, so reading world positions
back proves the points are stored in the camera frame with the camera as the pose.
"""

import os
import signal
import subprocess
import sys
import textwrap

import e57
import laspy
import lazrs  # noqa: F401  (LAZ: the tests must fail, never skip, when a reader is missing)
import numpy as np
import pye57
import pytest

from depth_cloud_addon.core import CameraModel, backproject
from depth_cloud_addon.core.errors import DepthCloudError, NoValidDepthError
from depth_cloud_addon.core.formats import survey
from depth_cloud_addon.core.formats.ply import linear_to_srgb8

# The readers are installed by `make test` in the venv that runs tests/formats (requirements/blender-4.2.txt:
# e57 0.2.3 needs numpy 2); a missing one fails the run.

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rotation(axis, angle) -> np.ndarray:
    """Rodrigues: the 3x3 rotation by ``angle`` radians about ``axis``."""
    x, y, z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def pose(axis, angle, position) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation(axis, angle)
    m[:3, 3] = position
    return m


POSES = [
    pose((0, 0, 1), 0.0, (0.0, 0.0, 0.0)),
    pose((1, 0.3, -0.2), 1.1, (12.5, -3.25, 1.75)),
    pose((-0.4, 1, 0.7), 2.9, (-250.0, 480.0, 33.0)),  # near a half turn: the quaternion's w is small
]


def frames(poses=POSES, width=24, height=16):
    """One (points (N, 3) float32 world, colors (N, 4) float32 linear RGBA, camera) per pose; a few pixels
    are background (inf), so some rows are NaN."""
    rng = np.random.default_rng(7)
    out = []
    for k, cam2world in enumerate(poses):
        camera = CameraModel(width_px=width, height_px=height, lens_mm=30.0 + 5 * k, cam2world=cam2world)
        depth = rng.uniform(1.5, 40.0, camera.shape)
        depth[rng.random(camera.shape) < 0.15] = np.inf
        points = backproject(depth, camera).reshape(-1, 3).astype(np.float32)
        colors = rng.uniform(-0.1, 1.3, (points.shape[0], 4)).astype(np.float32)  # out of 0..1 too: clipped
        out.append((points, colors, camera))
    return out


def finite(points):
    return np.isfinite(points).all(axis=1)


def scan_xyz(data):
    return np.stack([data["cartesianX"], data["cartesianY"], data["cartesianZ"]], axis=1)


def write_frames(path, clouds):
    with survey.E57Writer(path, comments=["frames 1-3"]) as writer:
        for k, (points, colors, camera) in enumerate(clouds):
            assert writer.add(points, colors, camera.cam2world, name=f"frame {k + 1}") == finite(points).sum()
    return writer


# -- E57 ------------------------------------------------------------------------------------------


def test_e57_one_scan_per_frame_read_by_pye57(tmp_path):
    clouds = frames()
    path = tmp_path / "cloud.e57"
    writer = write_frames(path, clouds)
    assert writer.scans == 3 and writer.points == sum(finite(p).sum() for p, _, _ in clouds)
    assert os.listdir(tmp_path) == ["cloud.e57"]  # the temporary file is gone
    f = pye57.E57(str(path))
    try:
        assert f.scan_count == len(clouds)
        for k, (points, colors, camera) in enumerate(clouds):
            keep = finite(points)
            header = f.get_header(k)
            assert header["name"].value() == f"frame {k + 1}"
            assert "frames 1-3" in header["description"].value()
            assert header.point_count == keep.sum()
            # The scan pose is the camera: rotation and translation.
            np.testing.assert_allclose(header.rotation_matrix, camera.cam2world[:3, :3], rtol=0, atol=1e-9)
            np.testing.assert_allclose(header.translation, camera.cam2world[:3, 3], rtol=0, atol=1e-9)
            assert header.rotation[0] >= 0
            # Colour limits 0..255, in the scan's header and the prototype.
            limits = header["colorLimits"]
            for channel in ("Red", "Green", "Blue"):
                assert limits[f"color{channel}Minimum"].value() == 0
                assert limits[f"color{channel}Maximum"].value() == 255
            # World positions (pye57 applies the pose) and exact 8-bit sRGB colours.
            data = f.read_scan(k, colors=True)
            np.testing.assert_allclose(scan_xyz(data), points[keep], rtol=0, atol=1e-6)
            rgb = np.stack([data["colorRed"], data["colorGreen"], data["colorBlue"]], axis=1)
            np.testing.assert_array_equal(rgb, linear_to_srgb8(colors[keep, :3]))
            # The stored coordinates are in the camera frame (Blender axes: the camera looks down -Z).
            raw = f.read_scan(k, transform=False)
            local = scan_xyz(raw)
            np.testing.assert_allclose(local, (points[keep] - camera.cam2world[:3, 3]) @ camera.cam2world[:3, :3],
                                       rtol=0, atol=1e-5)
            assert (local[:, 2] < 0).all()
            bounds = header["cartesianBounds"]
            assert bounds["zMaximum"].value() == local[:, 2].max() and bounds["xMinimum"].value() == local[:, 0].min()
    finally:
        f.close()


def test_e57_positions_exact_to_float64(tmp_path):
    """The world positions come back to float64 rounding (the file stores doubles), not just to 1e-6."""
    clouds = frames()
    path = tmp_path / "cloud.e57"
    write_frames(path, clouds)
    f = pye57.E57(str(path))
    try:
        for k, (points, _, _) in enumerate(clouds):
            error = np.abs(scan_xyz(f.read_scan(k)) - points[finite(points)]).max()
            assert error < 1e-10
    finally:
        f.close()


def test_e57_read_by_the_e57_package(tmp_path):
    """A second, independent reader (Rust ``e57`` crate): the same points (all scans, in order) and colours."""
    clouds = frames()
    path = tmp_path / "cloud.e57"
    write_frames(path, clouds)
    result = e57.read_points(str(path))
    expected = np.concatenate([points[finite(points)] for points, _, _ in clouds])
    expected_rgb = np.concatenate([linear_to_srgb8(colors[finite(points), :3]) for points, colors, _ in clouds])
    assert result.points.shape == expected.shape
    np.testing.assert_allclose(result.points, expected, rtol=0, atol=1e-6)
    # The crate normalises colours by the colour limits to 0..1 floats: 0..255 limits give value / 255.
    assert result.color.shape == expected_rgb.shape
    np.testing.assert_array_equal(np.rint(result.color * 255.0).astype(np.uint8), expected_rgb)
    np.testing.assert_allclose(result.color, expected_rgb / np.float32(255.0), rtol=0, atol=1e-7)
    xml = e57.raw_xml(str(path))
    assert xml.count("<colorRedMaximum type=\"Integer\">255</colorRedMaximum>") == len(clouds)
    assert xml.count("<pose type=\"Structure\">") == len(clouds)


def test_e57_chunked_scans(tmp_path, monkeypatch):
    """Scans larger than the writer's chunk are written in several pieces, NaN rows anywhere."""
    monkeypatch.setattr(survey, "CHUNK_ROWS", 37)
    clouds = frames(POSES[1:])
    path = tmp_path / "chunked.e57"
    write_frames(path, clouds)
    f = pye57.E57(str(path))
    try:
        for k, (points, colors, _) in enumerate(clouds):
            keep = finite(points)
            data = f.read_scan(k, colors=True)
            np.testing.assert_allclose(scan_xyz(data), points[keep], rtol=0, atol=1e-10)
            np.testing.assert_array_equal(data["colorGreen"], linear_to_srgb8(colors[keep, 1]))
    finally:
        f.close()


def test_e57_pose_drops_the_scale(tmp_path):
    """A scaled cam2world (an object's matrix_world) is posed by its rotation; the points stay where they are."""
    points, colors, camera = frames(POSES[1:2])[0]
    scaled = camera.cam2world.copy()
    scaled[:3, :3] = scaled[:3, :3] @ np.diag([2.0, 0.5, 3.0])
    path = tmp_path / "scaled.e57"
    with survey.E57Writer(path) as writer:
        writer.add(points, colors, scaled, name="scaled")
    f = pye57.E57(str(path))
    try:
        header = f.get_header(0)
        np.testing.assert_allclose(header.rotation_matrix, camera.cam2world[:3, :3], rtol=0, atol=1e-9)
        np.testing.assert_allclose(scan_xyz(f.read_scan(0)), points[finite(points)], rtol=0, atol=1e-10)
    finally:
        f.close()


def test_e57_mirrored_camera_keeps_world_positions(tmp_path):
    """A mirrored camera cannot be a rotation: the pose is the nearest one, the points still land in place."""
    points, colors, camera = frames(POSES[1:2])[0]
    mirrored = camera.cam2world @ np.diag([-1.0, 1.0, 1.0, 1.0])
    path = tmp_path / "mirrored.e57"
    with survey.E57Writer(path) as writer:
        writer.add(points, colors, mirrored, name="mirrored")
    rotation_q, _ = survey.pose_quaternion(mirrored)
    r = survey.quaternion_matrix(rotation_q)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    f = pye57.E57(str(path))
    try:
        np.testing.assert_allclose(scan_xyz(f.read_scan(0)), points[finite(points)], rtol=0, atol=1e-10)
    finally:
        f.close()


def test_e57_without_colors(tmp_path):
    points, _, camera = frames(POSES[:1])[0]
    path = tmp_path / "plain.e57"
    with survey.E57Writer(path) as writer:
        writer.add(points, None, camera.cam2world, name="plain")
    f = pye57.E57(str(path))
    try:
        header = f.get_header(0)
        assert "colorRed" not in header.point_fields and "colorLimits" not in header.scan_fields
        np.testing.assert_allclose(scan_xyz(f.read_scan(0)), points[finite(points)], rtol=0, atol=1e-10)
    finally:
        f.close()
    assert e57.read_points(str(path)).color.shape == (0, 3)


@pytest.mark.parametrize("quarter", range(8))
def test_pose_quaternion_round_trips(quarter):
    """Every branch of the matrix -> quaternion conversion (half turns about each axis included)."""
    axes = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (1, -2, 0.5), (0, 1, 0), (1, 0, 0), (0, 0, 1)]
    angles = [np.pi, np.pi, np.pi, 2.0, 3.1, 0.2, -1.0, 2.5]
    m = pose(axes[quarter], angles[quarter], (1.0, 2.0, 3.0))
    q, t = survey.pose_quaternion(m)
    assert np.linalg.norm(q) == pytest.approx(1.0) and q[0] >= 0
    np.testing.assert_allclose(survey.quaternion_matrix(q), m[:3, :3], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(t, [1.0, 2.0, 3.0])


def test_e57_skips_empty_frames_and_refuses_an_empty_file(tmp_path):
    points, colors, camera = frames(POSES[:1])[0]
    path = tmp_path / "cloud.e57"
    nan = np.full((10, 3), np.nan, dtype=np.float32)
    with survey.E57Writer(path) as writer:
        with pytest.raises(NoValidDepthError):
            writer.add(nan, None, camera.cam2world, name="empty")
        writer.add(points, colors, camera.cam2world, name="full")  # the writer goes on after an empty frame
    f = pye57.E57(str(path))
    try:
        assert f.scan_count == 1 and f.get_header(0)["name"].value() == "full"
    finally:
        f.close()
    empty = tmp_path / "empty.e57"
    with pytest.raises(NoValidDepthError):
        with survey.E57Writer(empty) as writer:
            with pytest.raises(NoValidDepthError):
                writer.add(nan, np.ones((10, 4), np.float32), camera.cam2world, name="nan")
    assert not empty.exists()
    with pytest.raises(NoValidDepthError):
        survey.write_e57(empty, [(nan, None, camera.cam2world, "a"), (nan[:3], None, camera.cam2world, "b")])
    assert not empty.exists()
    assert sorted(os.listdir(tmp_path)) == ["cloud.e57"]


def test_e57_write_e57_helper(tmp_path):
    clouds = frames()
    path = tmp_path / "helper.e57"
    count = survey.write_e57(path, [(p, c, cam.cam2world, f"f{k}") for k, (p, c, cam) in enumerate(clouds)])
    assert count == sum(finite(p).sum() for p, _, _ in clouds)
    assert e57.read_points(str(path)).points.shape == (count, 3)


def test_e57_failure_mid_write_leaves_nothing(tmp_path):
    """An invalid array on the second add aborts the file: nothing at the target, an old file untouched."""
    clouds = frames()
    path = tmp_path / "cloud.e57"
    with pytest.raises(DepthCloudError, match="points must be"):
        with survey.E57Writer(path) as writer:
            writer.add(*clouds[0][:2], clouds[0][2].cam2world, name="good")
            assert not path.exists()  # written incrementally under a temporary name
            assert len(os.listdir(tmp_path)) == 1
            writer.add(np.zeros((5, 2), np.float32), None, clouds[1][2].cam2world, name="bad")
    assert os.listdir(tmp_path) == []
    path.write_bytes(b"old")
    with pytest.raises(DepthCloudError, match="colors must be"):
        with survey.E57Writer(path) as writer:
            writer.add(*clouds[0][:2], clouds[0][2].cam2world, name="good")
            writer.add(clouds[1][0], clouds[1][1][:-1], clouds[1][2].cam2world, name="bad")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["cloud.e57"]
    # A writer dropped without close() leaves nothing either.
    other = tmp_path / "dropped.e57"
    writer = survey.E57Writer(other)
    writer.add(*clouds[0][:2], clouds[0][2].cam2world, name="good")
    del writer
    assert os.listdir(tmp_path) == ["cloud.e57"]


def test_e57_killed_writer_leaves_no_target(tmp_path):
    """A process killed outright mid-file leaves at most its temporary file, never a file at the target."""
    path = tmp_path / "killed.e57"
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from depth_cloud_addon.core.formats.survey import E57Writer
        w = E57Writer({str(path)!r})
        w.add(np.random.default_rng(0).random((1000, 3), dtype=np.float32), None, np.eye(4), name="a")
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert not path.exists()
    assert all(name.startswith(".killed.e57.") and name.endswith(".tmp") for name in os.listdir(tmp_path))


# -- LAS / LAZ ------------------------------------------------------------------------------------


def fused(clouds):
    points = np.concatenate([p for p, _, _ in clouds])
    colors = np.concatenate([c for _, c, _ in clouds])
    return points, colors


@pytest.mark.parametrize("name", ["cloud.las", "cloud.laz",
                                  "CLOUD.LAZ"])
def test_las_round_trip(tmp_path, name):
    points, colors = fused(frames())
    keep = finite(points)
    path = tmp_path / name
    count = survey.write_las(path, points, colors, comments=["fused from 3 frames"])
    assert count == keep.sum()
    assert os.listdir(tmp_path) == [name]
    las = laspy.read(path)
    header = las.header
    assert header.point_count == count and len(las.points) == count
    assert (header.version.major, header.version.minor) == (1, 2) and header.point_format.id == 2
    assert header.are_points_compressed == name.lower().endswith(".laz")
    scale = header.scales
    np.testing.assert_array_equal(scale, [survey.LAS_SCALE] * 3)
    np.testing.assert_array_equal(header.offsets, np.floor(points[keep].min(axis=0).astype(np.float64)))
    error = np.abs(las.xyz - points[keep].astype(np.float64))
    assert (error <= 0.5 * scale + 1e-9).all()
    rgb16 = np.stack([las.red, las.green, las.blue], axis=1)
    np.testing.assert_array_equal(rgb16, linear_to_srgb8(colors[keep, :3]).astype(np.uint16) * 257)
    assert rgb16.max() == 65535  # 255 -> 65535
    assert (np.asarray(las.return_number) == 1).all() and (np.asarray(las.number_of_returns) == 1).all()
    np.testing.assert_allclose(header.mins, las.xyz.min(axis=0), rtol=0, atol=0)
    np.testing.assert_allclose(header.maxs, las.xyz.max(axis=0), rtol=0, atol=0)
    text = header.vlrs[0]
    assert (text.user_id, text.record_id) == ("LASF_Spec", 3)
    assert b"fused from 3 frames" in text.record_data
    assert header.generating_software.startswith("depth-cloud")


def test_las_chunked(tmp_path, monkeypatch):
    monkeypatch.setattr(survey, "CHUNK_ROWS", 50)
    points, colors = fused(frames())
    keep = finite(points)
    for name in ("chunked.las", "chunked.laz"):
        path = tmp_path / name
        assert survey.write_las(path, points, colors) == keep.sum()
        las = laspy.read(path)
        assert (np.abs(las.xyz - points[keep]) <= 0.5 * survey.LAS_SCALE + 1e-9).all()
        np.testing.assert_array_equal(las.blue, linear_to_srgb8(colors[keep, 2]).astype(np.uint16) * 257)


def test_las_without_colors_is_format_0(tmp_path):
    points, _ = fused(frames(POSES[:1]))
    path = tmp_path / "plain.laz"
    survey.write_las(path, points, None)
    las = laspy.read(path)
    assert las.header.point_format.id == 0 and "red" not in las.point_format.dimension_names
    assert (np.abs(las.xyz - points[finite(points)]) <= 0.5 * survey.LAS_SCALE + 1e-9).all()


def test_las_wide_extent_coarsens_the_scale(tmp_path):
    """A cloud wider than 0.1 mm integers reach (214 km) gets the finest power-of-ten scale that fits."""
    points = np.array([[0.0, 0.0, 0.0], [300_000.0, 12.5, -3.0], [150_000.25, 1.0, 2.0]])
    path = tmp_path / "wide.las"
    survey.write_las(path, points, None)
    las = laspy.read(path)
    np.testing.assert_allclose(las.header.scales, [1e-3] * 3)
    assert (np.abs(las.xyz - points) <= 0.5e-3 + 1e-9).all()


def test_las_skips_non_finite_and_refuses_empty(tmp_path):
    points = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 0.0], [0.0, np.inf, 0.0], [4.0, 5.0, 6.0]], np.float32)
    colors = np.array([[1.0, 0.5, 0.0, 1.0]] * 4, np.float32)
    path = tmp_path / "c.las"
    assert survey.write_las(path, points, colors) == 2
    las = laspy.read(path)
    np.testing.assert_allclose(las.xyz, points[[0, 3]], rtol=0, atol=0.5e-4 + 1e-9)
    assert las.red.tolist() == [65535, 65535] and las.green.tolist() == [188 * 257] * 2
    empty = tmp_path / "empty.laz"
    with pytest.raises(NoValidDepthError):
        survey.write_las(empty, np.full((4, 3), np.nan, np.float32), colors)
    with pytest.raises(NoValidDepthError):
        survey.write_las(empty, np.zeros((0, 3), np.float32), None)
    assert sorted(os.listdir(tmp_path)) == ["c.las"]


def test_las_refuses_bad_input(tmp_path):
    with pytest.raises(DepthCloudError, match=r"\.las or \.laz"):
        survey.write_las(tmp_path / "c.xyz", np.zeros((2, 3)), None)
    with pytest.raises(DepthCloudError, match="colors must be"):
        survey.write_las(tmp_path / "c.las", np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(DepthCloudError, match="points must be"):
        survey.write_las(tmp_path / "c.las", np.zeros((2, 4)), None)
    assert os.listdir(tmp_path) == []


def test_missing_packages_are_reported(tmp_path, monkeypatch):
    """Without the optional readers the writers say what to install (and write nothing)."""
    monkeypatch.setitem(sys.modules, "pye57", None)
    monkeypatch.setitem(sys.modules, "laspy", None)
    with pytest.raises(DepthCloudError, match=r"needs pye57: pip install 'depth-cloud\[survey\]'"):
        survey.E57Writer(tmp_path / "c.e57")
    with pytest.raises(DepthCloudError, match=r"needs laspy: pip install 'depth-cloud\[survey\]'"):
        survey.write_las(tmp_path / "c.las", np.zeros((2, 3)), None)
    assert os.listdir(tmp_path) == []


def test_core_import_needs_no_optional_package():
    """Importing the module must not import the optional readers (nor bpy)."""
    code = ("import sys; import depth_cloud_addon.core.formats.survey; "
            "print(sorted(m for m in ('pye57', 'laspy', 'lazrs', 'e57', 'bpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
