"""Every depth file says what it holds: the EXR header attribute ``depthCloud.depthKind``, the sidecar's
``capture.depth_files``, and the one rule for what ``auto`` means for a file (header, then sidecar, then
the camera). Checked with the real OpenEXR module and through the ``depth-cloud`` CLI (no bpy)."""

import numpy as np
import OpenEXR
import pytest

from depth_cloud_addon import cli
from depth_cloud_addon.cli import convert
from depth_cloud_addon.core import CameraModel, convert_depth, read_exr, write_exr
from depth_cloud_addon.core.errors import ExrReadError
from depth_cloud_addon.core.formats.exr import DEPTH_KIND_ATTRIBUTE
from depth_cloud_addon.core.frames.cloud import BuildOptions
from depth_cloud_addon.core.frames.depth import resolve_file_depth_kind, write_depth_kinds
from depth_cloud_addon.core.frames.export import ExportOptions
from depth_cloud_addon.core.frames.files import CaptureInfo, write_camera_sidecar
from depth_cloud_addon.core.frames.loop import run_frame

CAMERA = CameraModel(width_px=8, height_px=6, lens_mm=20.0, shift_x=0.1, pixel_aspect_y=1.3)
PANO = CameraModel(width_px=8, height_px=6, projection="PANO", panorama_type="EQUIRECTANGULAR")
ATTRIBUTE = "depthCloud.depthKind"


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def planar_map(frame: int = 1) -> np.ndarray:
    depth = np.full(CAMERA.shape, 5.0 + frame, np.float32)
    depth[2:4, 3:6] = 3.0 + frame  # a box in front of the wall
    depth[0, 0] = 1e10             # background
    return depth


@pytest.fixture
def frames(tmp_path):
    """depth_0001..0003.exr (planar, as Blender's File Output node writes it: no kind in the header) with
    camera_0001..0003.json (no capture block)."""
    for frame in (1, 2, 3):
        write_exr(tmp_path / f"depth_{frame:04d}.exr", {"V": planar_map(frame)})
        write_camera_sidecar(tmp_path / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame))
    return tmp_path


def header(path) -> dict:
    with OpenEXR.File(str(path), header_only=True) as f:
        return dict(f.header())


# -- the header attribute: written, read back, checked ----------------------------------------------------


def test_the_attribute_name_is_the_documented_one():
    assert DEPTH_KIND_ATTRIBUTE == ATTRIBUTE


@pytest.mark.parametrize("kind", ["planar", "distance"])
def test_write_exr_records_the_kind_as_a_string_attribute(tmp_path, kind):
    path = tmp_path / "d.exr"
    write_exr(path, {"V": planar_map()}, depth_kind=kind)
    value = header(path)[ATTRIBUTE]  # the real OpenEXR module reads it back as a string attribute
    assert isinstance(value, str) and value == kind
    image = read_exr(path)
    assert image.depth_kind == kind
    np.testing.assert_array_equal(image.depth, planar_map())


def test_a_file_without_the_attribute_has_no_kind(tmp_path):
    path = tmp_path / "d.exr"
    write_exr(path, {"V": planar_map()})
    assert ATTRIBUTE not in header(path)
    assert read_exr(path).depth_kind is None


@pytest.mark.parametrize("value", ["sideways", "Planar", "", 3])
def test_a_bad_recorded_kind_is_a_read_error_naming_file_and_value(tmp_path, value):
    path = tmp_path / "bad.exr"
    head = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, ATTRIBUTE: value}
    with OpenEXR.File(head, {"V": planar_map()}) as f:
        f.write(str(path))
    with pytest.raises(ExrReadError) as info:
        read_exr(path)
    message = str(info.value)
    assert str(path) in message and repr(value) in message and "\n" not in message


def test_write_exr_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="depth_kind"):
        write_exr(tmp_path / "d.exr", {"V": planar_map()}, depth_kind="auto")
    assert not list(tmp_path.iterdir())


def test_the_kind_comes_from_the_part_holding_the_depth_channel(tmp_path):
    """Blender 5.0 multilayer files have one part per pass: only the depth part's header counts."""
    def write(path, color_kind, depth_kind):
        parts = []
        for name, chans, kind in (("ViewLayer.Combined", {f"ViewLayer.Combined.{c}": planar_map() for c in "RGBA"},
                                   color_kind),
                                  ("ViewLayer.Depth", {"ViewLayer.Depth.Z": planar_map()}, depth_kind)):
            head = {"compression": OpenEXR.ZIP_COMPRESSION, "name": name}
            if kind is not None:
                head[ATTRIBUTE] = kind
            parts.append(OpenEXR.Part(head, chans))
        with OpenEXR.File(parts) as f:
            f.write(str(path))

    write(tmp_path / "a.exr", None, "distance")
    assert read_exr(tmp_path / "a.exr").depth_kind == "distance"
    write(tmp_path / "b.exr", "distance", None)
    assert read_exr(tmp_path / "b.exr").depth_kind is None
    write(tmp_path / "c.exr", "nonsense", "planar")  # a part we do not read as depth is not checked
    assert read_exr(tmp_path / "c.exr").depth_kind == "planar"


# -- the one rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("requested, header_kind, capture_kind, camera, kind, source", [
    ("auto", "distance", "planar", CAMERA, "distance", "header"),    # the header first
    ("auto", None, "distance", CAMERA, "distance", "sidecar"),       # then the sidecar's record
    ("auto", None, None, CAMERA, "planar", "camera"),                # then what Cycles writes
    ("auto", None, None, PANO, "distance", "camera"),
    ("auto", "planar", None, PANO, "planar", "header"),
    ("planar", "distance", None, CAMERA, "planar", "given"),         # a given kind wins
    ("distance", None, None, CAMERA, "distance", "given"),
])
def test_auto_means_header_then_sidecar_then_camera(requested, header_kind, capture_kind, camera, kind, source):
    resolved = resolve_file_depth_kind(requested, header_kind, capture_kind, camera)
    assert (resolved.kind, resolved.source) == (kind, source)
    assert resolved.warning is None if source != "given" or header_kind in (None, requested) else True


def test_a_given_kind_that_contradicts_the_file_is_used_with_a_warning():
    resolved = resolve_file_depth_kind("planar", "distance", None, CAMERA, path="/x/distance_0001.exr")
    assert resolved.kind == "planar"
    assert "/x/distance_0001.exr" in resolved.warning and "distance" in resolved.warning
    assert resolve_file_depth_kind("planar", "planar", None, CAMERA).warning is None
    sidecar = resolve_file_depth_kind("planar", None, "distance", CAMERA, path="d.exr")
    assert sidecar.kind == "planar" and "sidecar" in sidecar.warning
    with pytest.raises(ValueError):
        resolve_file_depth_kind("sideways", None, None, CAMERA)


# -- every depth file we write records its kind ---------------------------------------------------------


def test_write_depth_kinds_labels_its_outputs_and_keeps_the_handlers_call(frames):
    """The render handler calls ``write_depth_kinds(depth_path, camera, outputs, from_kind=natural)``."""
    outputs = {"planar": str(frames / "planar_0001.exr"), "distance": str(frames / "distance_0001.exr")}
    result = write_depth_kinds(str(frames / "depth_0001.exr"), CAMERA.replace(frame=1), outputs,
                               from_kind="planar")
    assert list(result.paths) == list(outputs.values()) and result.source.source == "given"
    for kind, path in outputs.items():
        assert header(path)[ATTRIBUTE] == kind and read_exr(path).depth_kind == kind


def test_cli_depth_outputs_record_their_kind(frames):
    out = frames / "distance_0001.exr"
    assert run("depth", frames / "depth_0001.exr", "--camera", frames / "camera_0001.json", "--to", "distance",
               "-o", out) == 0
    assert header(out)[ATTRIBUTE] == "distance"


# -- auto reads our own files right ---------------------------------------------------------------------


def test_cli_depth_converts_a_distance_file_back_to_planar_not_a_copy(frames):
    distance = frames / "distance_0001.exr"
    assert run("depth", frames / "depth_0001.exr", "--camera", frames / "camera_0001.json", "--to", "distance",
               "-o", distance) == 0
    planar = frames / "planar_0001.exr"
    assert run("depth", distance, "--camera", frames / "camera_0001.json", "--to", "planar", "-o", planar) == 0
    got = read_exr(planar)
    assert got.depth_kind == "planar"
    expected = planar_map()
    valid = expected < 1e9
    np.testing.assert_allclose(got.depth[valid], expected[valid], rtol=1e-6)
    assert np.isnan(got.depth[0, 0])
    assert not np.allclose(read_exr(distance).depth[valid], expected[valid], rtol=1e-3)  # it was converted


def npz_points(path) -> np.ndarray:
    with np.load(path) as data:
        return data["points"]


def test_cli_convert_of_a_distance_file_matches_the_depth_file(frames):
    distance = frames / "distance_0001.exr"
    assert run("depth", frames / "depth_0001.exr", "--camera", frames / "camera_0001.json", "--to", "distance",
               "-o", distance) == 0
    assert run("convert", frames / "depth_0001.exr", "--format", "npz", "-o", frames / "a.npz") == 0
    assert run("convert", distance, "--camera", frames / "camera_0001.json", "--format", "npz",
               "-o", frames / "b.npz") == 0
    a, b = npz_points(frames / "a.npz"), npz_points(frames / "b.npz")
    assert a.shape == b.shape == (CAMERA.width_px * CAMERA.height_px - 1, 3)
    np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)


def test_the_sidecar_record_is_used_when_the_header_has_none(frames, capsys):
    camera = CAMERA.replace(frame=1)
    distance = convert_depth(planar_map(), camera, from_kind="planar", to_kind="distance")
    write_exr(frames / "distance_0001.exr", {"V": distance})  # no kind in the header
    assert read_exr(frames / "distance_0001.exr").depth_kind is None
    sidecar = frames / "side.json"
    write_camera_sidecar(sidecar, camera, CaptureInfo(depth_files={"depth_0001.exr": "planar",
                                                                   "distance_0001.exr": "distance"}))
    assert run("convert", frames / "depth_0001.exr", "--format", "npz", "-o", frames / "a.npz") == 0
    assert run("convert", frames / "distance_0001.exr", "--camera", sidecar, "--format", "npz",
               "-o", frames / "b.npz") == 0
    np.testing.assert_allclose(npz_points(frames / "b.npz"), npz_points(frames / "a.npz"), atol=1e-5, rtol=0)
    assert run("depth", frames / "distance_0001.exr", "--camera", sidecar, "--to", "planar",
               "-o", frames / "p.exr") == 0
    valid = planar_map() < 1e9
    np.testing.assert_allclose(read_exr(frames / "p.exr").depth[valid], planar_map()[valid], rtol=1e-6)
    assert "warning" not in capsys.readouterr().err


def test_converting_to_the_kind_a_file_has_writes_a_labelled_copy_and_says_so(frames, capsys):
    distance = frames / "distance_0001.exr"
    assert run("depth", frames / "depth_0001.exr", "--camera", frames / "camera_0001.json", "--to", "distance",
               "-o", distance) == 0
    capsys.readouterr()
    copy = frames / "copy.exr"
    assert run("depth", distance, "--camera", frames / "camera_0001.json", "--to", "distance", "-o", copy) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"depth-cloud: note: {distance} is already distance depth: written unchanged" in err
    assert sum(line.startswith("depth-cloud: note:") for line in err) == 1
    np.testing.assert_array_equal(read_exr(copy).depth, read_exr(distance).depth)
    assert header(copy)[ATTRIBUTE] == "distance"


def test_a_given_kind_that_contradicts_the_header_warns_on_stderr(frames, capsys):
    distance = frames / "distance_0001.exr"
    assert run("depth", frames / "depth_0001.exr", "--camera", frames / "camera_0001.json", "--to", "distance",
               "-o", distance) == 0
    capsys.readouterr()
    assert run("depth", distance, "--camera", frames / "camera_0001.json", "--from", "planar", "--to", "distance",
               "-o", frames / "twice.exr") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("depth-cloud: warning: ")]
    assert len(warnings) == 1 and str(distance) in warnings[0]
    assert run("convert", distance, "--camera", frames / "camera_0001.json", "--depth-kind", "planar",
               "-o", frames / "c.ply") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("depth-cloud: warning: ")]
    assert len(warnings) == 1 and str(distance) in warnings[0]


# -- convert reports what the sidecar says may be off -----------------------------------------------------


DOF = CaptureInfo(depth_of_field={"fstop": 1.0, "focus_distance": 5.0})


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_convert_warns_once_per_frame_about_depth_of_field_and_goes_on(frames, capsys, jobs):
    write_camera_sidecar(frames / "camera_0003.json", CAMERA.replace(frame=3), DOF)
    assert run("convert", frames / "depth_####.exr", "--frames", "1-3", "--jobs", jobs,
               "-o", frames / "out" / "c_####.ply") == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("depth-cloud: warning: ")]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("depth-cloud: warning: depth of field was on (f/1): ")
    assert warnings[0].endswith(" (frame 3)")
    assert sorted(p.name for p in (frames / "out").iterdir()) == ["c_0001.ply", "c_0002.ply", "c_0003.ply"]


def test_a_sequence_rendered_with_depth_of_field_warns_in_one_line(frames, capsys):
    for frame in (1, 2, 3):
        write_camera_sidecar(frames / f"camera_{frame:04d}.json", CAMERA.replace(frame=frame), DOF)
    assert run("convert", frames / "depth_####.exr", "--frames", "1-3", "-o", frames / "out" / "c_####.ply") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("depth-cloud: warning: ")]
    assert len(warnings) == 1 and warnings[0].endswith(" (frames 1, 2, 3)"), warnings


def test_convert_of_one_file_and_fuse_warn_about_depth_of_field(frames, capsys):
    write_camera_sidecar(frames / "camera_0002.json", CAMERA.replace(frame=2), DOF)
    assert run("convert", frames / "depth_0002.exr", "-o", frames / "one.ply") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("depth-cloud: warning: ")]
    assert len(warnings) == 1 and "depth of field was on (f/1)" in warnings[0], warnings
    assert run("convert", frames / "depth_####.exr", "--frames", "1-3", "--fuse", "-o", frames / "f.ply") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("depth-cloud: warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("depth-cloud: warning: depth of field")
    assert warnings[0].endswith(" (frame 2)")


def test_a_convert_frame_in_the_frame_loop_returns_the_warnings_and_never_raises(frames):
    write_camera_sidecar(frames / "camera_0001.json", CAMERA.replace(frame=1), DOF)
    job = convert.ConvertJob(1, str(frames / "depth_0001.exr"), None, None, None, str(frames / "o.ply"),
                             BuildOptions(), ExportOptions())
    outcome = run_frame(convert.convert_frame, job, job.frame, job.output)
    assert (outcome.frame, outcome.error) == (1, None)
    assert outcome.value.points == CAMERA.width_px * CAMERA.height_px - 1
    assert len(outcome.warnings) == 1 and outcome.warnings[0].startswith("depth of field was on (f/1)")
    bad = convert.ConvertJob(1, str(frames / "nope.exr"), None, None, None, str(frames / "o.ply"),
                             BuildOptions(), ExportOptions())
    outcome = run_frame(convert.convert_frame, bad, bad.frame, bad.output)
    assert outcome.value is None and "nope.exr: no such file" in outcome.error and outcome.warnings == ()


# -- EEVEE: "no hit" is about clip_end, not 1e10 ------------------------------------------------------


@pytest.mark.parametrize("engine, expected", [("CYCLES", 12 - 3), ("BLENDER_EEVEE_NEXT", 12 - 4),
                                              ("BLENDER_EEVEE", 12 - 4), (None, 12 - 3)])
def test_a_rasterisers_far_plane_is_background(tmp_path, engine, expected):
    """EEVEE's "no hit" measured at 100.0025 (clip_end 100) and 249.9585 (clip_end 250): background."""
    from depth_cloud_addon.core.frames.cloud import read_cloud
    from depth_cloud_addon.core.frames.files import CaptureInfo, frame_files_of, frame_inputs, write_camera_sidecar

    camera = CameraModel(width_px=4, height_px=3, lens_mm=30.0, clip_end=250.0, frame=1)
    depth = np.full((3, 4), 5.0, np.float32)
    depth[0, 0], depth[0, 1] = 249.9585, 250.0025  # EEVEE's background, both sides of clip_end
    depth[1, 1], depth[1, 2] = 1e10, np.inf        # Cycles' background, and non-finite
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    write_camera_sidecar(tmp_path / "camera_0001.json", camera, CaptureInfo(engine=engine) if engine else None)
    cloud = read_cloud(frame_inputs(frame_files_of(tmp_path / "depth_0001.exr"), 1))
    assert len(cloud.points) == expected


def test_converting_an_eevee_depth_file_keeps_its_far_plane_background(tmp_path):
    """The converter reads depth files like every other reader: EEVEE's "no hit" at about clip_end is
    background (NaN in the converted file), not a far-plane surface."""
    from depth_cloud_addon.core.frames.depth import write_depth_kinds
    from depth_cloud_addon.core.frames.files import CaptureInfo

    camera = CameraModel(width_px=4, height_px=3, lens_mm=30.0, clip_end=250.0)
    depth = np.full((3, 4), 5.0, np.float32)
    depth[0, 0] = 249.9585  # EEVEE's background, measured at clip_end 250
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    for engine, background_is_nan in (("BLENDER_EEVEE_NEXT", True), ("CYCLES", False)):
        out = tmp_path / f"distance_{engine}.exr"
        write_depth_kinds(tmp_path / "depth_0001.exr", camera, {"distance": out}, capture=CaptureInfo(engine=engine))
        converted = read_exr(out).depth
        assert bool(np.isnan(converted[0, 0])) is background_is_nan
        assert np.isfinite(converted[1:, 1:]).all()
