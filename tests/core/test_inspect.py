"""``core.frames.inspect``: the report behind ``depth-cloud inspect``, on real files from the core and OpenEXR."""

from __future__ import annotations

import math

import numpy as np
import OpenEXR
import pytest

from depth_cloud_addon.core import CameraModel, read_exr, write_exr
from depth_cloud_addon.core.frames.files import CaptureInfo, write_camera_sidecar
from depth_cloud_addon.core.frames.inspect import describe_camera, inspect_file, inspect_files, lossy_compression
from depth_cloud_addon.core.geometry.camera import render_region_px

CAMERA = CameraModel(width_px=64, height_px=48, lens_mm=35.0, clip_start=0.1, clip_end=100.0, frame=1, name="Camera")
SHAPE = CAMERA.shape  # (48, 64)


def ramp() -> np.ndarray:
    """2.000, 2.001, ... 5.071 in row-major order: the minimum top left, the maximum bottom right."""
    return (2.0 + np.arange(SHAPE[0] * SHAPE[1]).reshape(SHAPE) / 1000.0).astype(np.float32)


def scene_depth() -> np.ndarray:
    """The ramp with 100 background pixels (1e10), 5 beyond clip_end (150) and 3 NaN, none at a corner."""
    depth = ramp()
    depth[10:20, 20:30] = 1e10
    depth[30, 30:35] = 150.0
    depth[40, 40:43] = np.nan
    return depth


def write_half(path, channels: dict[str, np.ndarray], compression=OpenEXR.ZIP_COMPRESSION) -> None:
    header = {"compression": compression, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {n: a.astype(np.float16) for n, a in channels.items()}).write(str(path))


def fact(inspection, start: str) -> str:
    """The one report line (stripped) that starts with ``start``."""
    found = [line.strip() for line in inspection.lines if line.strip().startswith(start)]
    assert len(found) == 1, (start, inspection.text)
    return found[0]


# -- EXRs ------------------------------------------------------------------------------------


def test_a_clean_depth_file_with_its_sidecar(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": scene_depth()})
    write_camera_sidecar(tmp_path / "camera_0001.json", CAMERA,
                         CaptureInfo(scene="Scene", depth_files={"depth_0001.exr": "planar"}, engine="CYCLES"))
    ins = inspect_file(tmp_path / "depth_0001.exr")
    assert (ins.kind, ins.problems, ins.warnings, ins.usable) == ("exr", [], [], True)
    assert ins.lines[0] == f"{tmp_path / 'depth_0001.exr'}: OpenEXR, 1 part, 1 channel"
    assert fact(ins, "part 0:") == "part 0: 64x48 px, ZIP compression (lossless)"
    assert fact(ins, "channels:") == "channels: V (float)"
    assert fact(ins, "camera:") == "camera: camera_0001.json: PERSP 35 mm, 64x48 px, frame 1, 'Camera'"
    assert fact(ins, "depth channel:") == "depth channel: V (float)"
    assert fact(ins, "color:") == "color: none (points are white)"
    assert fact(ins, "depth kind:") == "depth kind: planar (sidecar camera_0001.json)"
    valid = 64 * 48 - 100 - 5 - 3
    assert valid == 2964
    assert fact(ins, "valid pixels:") == f"valid pixels: 2,964 of 3,072 ({100 * valid / 3072:.1f} %)" \
        == "valid pixels: 2,964 of 3,072 (96.5 %)"
    assert fact(ins, "invalid:") == ("invalid: 100 background (1e10 or more), 3 NaN or infinite, "
                                     "5 outside the clip range 0.1 .. 100")
    assert fact(ins, "depth range:") == "depth range: 2 .. 5.071 m (planar)"  # 150 is beyond clip_end
    assert ins.lines[-1] == "  result: usable"
    assert all(line.startswith("  ") for line in ins.lines[1:])
    assert inspect_files([tmp_path / "depth_0001.exr"]) == (ins.text, 0)


def test_the_depth_kind_says_where_it_comes_from(tmp_path):
    depth = ramp()
    write_exr(tmp_path / "labelled.exr", {"V": depth}, depth_kind="distance")
    ins = inspect_file(tmp_path / "labelled.exr")  # no sidecar: the header alone
    assert fact(ins, "depth kind:") == "depth kind: distance (header depthCloud.depthKind)"
    assert fact(ins, "depth range:") == "depth range: 2 .. 5.071 m (distance)"
    assert fact(ins, "valid pixels:") == ("valid pixels: 3,072 of 3,072 (100.0 %) (finite, > 0, below 1e10; "
                                          "no camera: clip range not applied)")
    assert ins.warnings == ["no camera sidecar beside it: give the camera (convert --camera or --blend)"]
    assert ins.usable

    # a sidecar recording the other kind: the header wins, and the contradiction is a warning
    write_camera_sidecar(tmp_path / "labelled.json", CAMERA, CaptureInfo(depth_files={"labelled.exr": "planar"}))
    ins = inspect_file(tmp_path / "labelled.exr")
    assert fact(ins, "depth kind:") == "depth kind: distance (header depthCloud.depthKind)"
    assert ins.warnings == ["the header says distance depth but labelled.json records planar: the header wins"]

    # no header, a sidecar without a record: what Cycles writes for the camera (a panorama: distance)
    write_exr(tmp_path / "plain.exr", {"V": depth})
    pano = CAMERA.replace(projection="PANO", panorama_type="EQUIRECTANGULAR")
    write_camera_sidecar(tmp_path / "plain.json", pano)
    ins = inspect_file(tmp_path / "plain.exr")
    assert fact(ins, "depth kind:") == ("depth kind: distance (auto: what Cycles writes for the PANO camera "
                                        "in plain.json)")
    assert fact(ins, "camera:") == "camera: plain.json: PANO EQUIRECTANGULAR, 64x48 px, frame 1, 'Camera'"
    assert (ins.problems, ins.warnings) == ([], [])

    # nothing says it: unknown, a warning only
    write_exr(tmp_path / "bare.exr", {"V": depth})
    ins = inspect_file(tmp_path / "bare.exr")
    assert fact(ins, "depth kind:") == "depth kind: unknown (no header, no sidecar, no camera)"
    assert any(w.startswith("the depth kind is unknown") for w in ins.warnings)
    assert ins.usable and inspect_files([tmp_path / "bare.exr"])[1] == 0


@pytest.mark.parametrize("compression, line", [
    ("pxr24", "PXR24 compression (lossy for float channels)"),
    ("b44", None),  # float32 under B44 is stored as it is
    ("dwaa", None),  # a channel named V is not one DWA quantises
    ("dwab", None),
    ("piz", None),
])
def test_compression_of_a_float_v_channel(tmp_path, compression, line):
    depth = ramp()
    write_exr(tmp_path / "d.exr", {"V": depth}, compression=compression, depth_kind="planar")
    ins = inspect_file(tmp_path / "d.exr")
    assert fact(ins, "part 0:").startswith(f"part 0: 64x48 px, {compression.upper()} compression")
    if line is None:
        assert ins.problems == [] and ins.usable
        assert fact(ins, "depth range:") == "depth range: 2 .. 5.071 m (planar)"  # exactly what was written
    else:
        assert fact(ins, "part 0:") == f"part 0: 64x48 px, {line}"
        assert ins.problems == ["depth channel V is stored lossily: PXR24 rounds 32-bit floats to 24 bits (up to "
                                "1.5e-5 relative: 1.5 mm at 100 m); write it with a lossless compression (ZIP, PIZ, "
                                "ZIPS, RLE or none)"]
        assert inspect_files([tmp_path / "d.exr"])[1] == 1


def test_blenders_grey_depth_under_dwaa_is_lossy(tmp_path):
    """Blender 4.5/5.0's RGB File Output depth (R = G = B) is what DWA quantises."""
    depth = ramp()
    write_exr(tmp_path / "grey.exr", {c: depth for c in "RGB"}, compression="dwaa")
    ins = inspect_file(tmp_path / "grey.exr")
    assert fact(ins, "depth channel:") == "depth channel: R (float) -- R = G = B: Blender's RGB File Output depth"
    assert ins.problems == ["depth channel R is stored lossily: DWAA quantises channels named R, G, B, Y, BY or RY "
                            "with a DCT, like JPEG; write it with a lossless compression (ZIP, PIZ, ZIPS, RLE or none)"]
    # and it did alter the depth: the range read back is not the one written
    back = read_exr(tmp_path / "grey.exr").depth
    assert not np.array_equal(back, depth)
    assert fact(ins, "depth range:") == f"depth range: {back.min():.6g} .. {back.max():.6g} m"
    assert fact(ins, "depth range:") != "depth range: 2 .. 5.071 m"


def test_half_float_depth_is_a_warning(tmp_path):
    depth = ramp()
    write_half(tmp_path / "half.exr", {"V": depth})
    write_camera_sidecar(tmp_path / "half.json", CAMERA)
    ins = inspect_file(tmp_path / "half.exr")
    assert fact(ins, "channels:") == "channels: V (half)"
    assert fact(ins, "depth channel:") == "depth channel: V (half)"
    assert ins.problems == []
    assert ins.warnings == ["depth channel V is half float: values are rounded to 11 significant bits (up to 0.05 %: "
                            "5 cm at 100 m) and above 65504 read as infinity; store depth as float"]
    top = float(np.float16(depth.max()))
    assert top != float(depth.max())  # half did round it
    assert fact(ins, "depth range:") == f"depth range: 2 .. {top:.6g} m (planar)"
    assert fact(ins, "depth range:") == "depth range: 2 .. 5.07031 m (planar)"
    assert inspect_files([tmp_path / "half.exr"])[1] == 0


def test_half_float_under_b44_is_lossy_under_pxr24_not(tmp_path):
    depth = ramp()
    write_half(tmp_path / "b44.exr", {"V": depth}, OpenEXR.B44_COMPRESSION)
    write_half(tmp_path / "pxr24.exr", {"V": depth}, OpenEXR.PXR24_COMPRESSION)
    b44, pxr24 = inspect_file(tmp_path / "b44.exr"), inspect_file(tmp_path / "pxr24.exr")
    assert len(b44.problems) == 1 and b44.problems[0].startswith("depth channel V is stored lossily: B44 packs")
    assert pxr24.problems == [] and any(w.startswith("depth channel V is half float") for w in pxr24.warnings)


@pytest.mark.parametrize("compression", ["NO", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "B44A", "DWAA", "DWAB",
                                         "HTJ2K256", "HTJ2K32", "LJ2K", "ZSTD"])
@pytest.mark.parametrize("dtype, pixel_type", [(np.float32, "float"), (np.float16, "half")])
def test_lossy_compression_matches_what_openexr_does(tmp_path, compression, dtype, pixel_type):
    """The table agrees with a write and read-back through OpenEXR, channel by channel."""
    values = (np.random.default_rng(1).random((48, 64)) * 10 + 1).astype(dtype)
    names = ["V", "Z", "ViewLayer.Depth.Z", "Image.R", "Image.G", "Image.B", "A"]
    header = {"compression": getattr(OpenEXR, f"{compression}_COMPRESSION"), "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {n: values for n in names}).write(str(tmp_path / "t.exr"))
    with OpenEXR.File(str(tmp_path / "t.exr"), separate_channels=True) as f:
        exact = {n: np.array_equal(f.parts[0].channels[n].pixels, values) for n in names}
    assert {n: lossy_compression(compression, pixel_type, n) is None for n in names} == exact


def test_lossy_compression_unknown_cases():
    assert lossy_compression("PXR24", None, "V") is not None  # pixel type unknown: assume the worst
    assert lossy_compression("FUTURE", "float", "V") == ("FUTURE is a compression this inspection does not know: it "
                                                         "may alter the values")
    assert lossy_compression("DWAA", "float", "Depth.red") is not None  # the legacy rules (older files)


def test_a_multilayer_render_with_two_view_layers(tmp_path):
    channels = {}
    for layer, depth in (("ViewLayer", 4.0), ("Wide", 7.0)):
        channels[f"{layer}.Depth.Z"] = np.full(SHAPE, depth, np.float32)
        for c in "RGBA":
            channels[f"{layer}.Combined.{c}"] = np.full(SHAPE, 0.5, np.float32)
    write_exr(tmp_path / "render.exr", channels)
    write_camera_sidecar(tmp_path / "render.json", CAMERA)
    ins = inspect_file(tmp_path / "render.exr")
    assert ins.lines[0].endswith("render.exr: OpenEXR, 1 part, 10 channels")
    assert [line.strip() for line in ins.lines[2:6]] == [  # OpenEXR stores channels sorted by name
        "ViewLayer.Combined: A, B, G, R (float)", "ViewLayer.Depth: Z (float)",
        "Wide.Combined: A, B, G, R (float)", "Wide.Depth: Z (float)"]
    assert fact(ins, "view layers:") == "view layers: 'ViewLayer', 'Wide'"
    assert fact(ins, "depth channel:") == "depth channel: ViewLayer.Depth.Z (float, view layer 'ViewLayer')"
    assert fact(ins, "color:") == "color: ViewLayer.Combined (R, G, B, A)"
    assert fact(ins, "valid pixels:") == "valid pixels: 3,072 of 3,072 (100.0 %)"
    assert fact(ins, "depth range:") == "depth range: 4 .. 4 m (planar)"
    assert (ins.problems, ins.warnings) == ([], [])


def test_a_multipart_render_reports_each_part(tmp_path):
    """Blender 5.0 writes one part per pass: each part has its own compression."""
    depth = ramp()
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    color = OpenEXR.Part(dict(header), {f"ViewLayer.Combined.{c}": depth for c in "RGB"}, name="ViewLayer.Combined")
    z = OpenEXR.Part(dict(header, compression=OpenEXR.PXR24_COMPRESSION), {"ViewLayer.Depth.Z": depth},
                     name="ViewLayer.Depth")
    OpenEXR.File([color, z]).write(str(tmp_path / "render.exr"))
    ins = inspect_file(tmp_path / "render.exr")
    assert fact(ins, "part 0") == "part 0 'ViewLayer.Combined': 64x48 px, ZIP compression (lossless)"
    assert fact(ins, "part 1") == "part 1 'ViewLayer.Depth': 64x48 px, PXR24 compression (lossy for float channels)"
    assert [p.split(":")[0] for p in ins.problems] == ["depth channel ViewLayer.Depth.Z is stored lossily"]


def test_a_file_without_depth(tmp_path):
    rgba = {c: np.full(SHAPE, v, np.float32) for c, v in zip("RGBA", (0.2, 0.4, 0.6, 1.0))}
    write_exr(tmp_path / "image.exr", rgba)
    ins = inspect_file(tmp_path / "image.exr")
    assert ins.kind == "exr" and not ins.usable
    assert ins.problems == ["no depth channel; channels present: A, B, G, R"]
    assert ins.warnings == []  # (no word of the missing camera: there is nothing to see with one)
    assert ins.lines == [f"{tmp_path / 'image.exr'}: OpenEXR, 1 part, 4 channels",
                         "  part 0: 64x48 px, ZIP compression (lossless)",
                         "    channels: A, B, G, R (float)",
                         "  problem: no depth channel; channels present: A, B, G, R",
                         "  result: cannot be used as it is (1 problem)"]
    assert inspect_files([tmp_path / "image.exr"])[1] == 1


def test_a_frames_color_file_is_used_as_it_is(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": ramp()})
    write_exr(tmp_path / "color_0001.exr", {c: np.full(SHAPE, 0.5, np.float32) for c in "RGBA"})
    write_camera_sidecar(tmp_path / "camera_0001.json", CAMERA)
    ins = inspect_file(tmp_path / "color_0001.exr")
    assert fact(ins, "color file of") == "color file of depth_0001.exr: R, G, B, A"
    assert (ins.problems, ins.warnings) == ([], [])
    assert fact(inspect_file(tmp_path / "depth_0001.exr"), "color:") == "color: color_0001.exr beside it"


def test_a_grey_color_file_that_reads_as_depth(tmp_path):
    """read_exr takes R = G = B, A = 1 with values above 1 as depth: the frame would get no color."""
    grey = np.full(SHAPE, 2.0, np.float32)
    write_exr(tmp_path / "depth_0001.exr", {"V": ramp()})
    write_exr(tmp_path / "color_0001.exr", {"R": grey, "G": grey, "B": grey, "A": np.ones(SHAPE, np.float32)})
    assert read_exr(tmp_path / "color_0001.exr", require_depth=False).color is None
    ins = inspect_file(tmp_path / "color_0001.exr")
    assert fact(ins, "color file of") == "color file of depth_0001.exr"
    assert ins.usable and ins.warnings == ["R = G = B with A = 1 and values like depth: it is read as depth, not color "
                                           "(the frame's points come out white)"]


@pytest.mark.parametrize("content", [b"\x76\x2f\x31\x01garbage", b"\x76\x2f\x31\x01", b"", b"\x00" * 100])
def test_unreadable_exrs_are_problems_not_exceptions(tmp_path, content):
    (tmp_path / "broken.exr").write_bytes(content)
    ins = inspect_file(tmp_path / "broken.exr")
    assert ins.kind == "exr" and len(ins.problems) == 1 and not ins.usable
    assert ins.lines[0].startswith(str(tmp_path / "broken.exr"))


def test_a_truncated_exr(tmp_path, capsys):
    write_exr(tmp_path / "whole.exr", {"V": np.random.default_rng(2).random((480, 640)).astype(np.float32)})
    data = (tmp_path / "whole.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[:len(data) // 2])
    ins = inspect_file(tmp_path / "cut.exr")
    assert fact(ins, "channels:") == "channels: V (?)"  # the header is there, the pixels are not
    assert ins.problems == ["truncated or corrupt EXR: no pixel data for channel(s) V"]
    assert capsys.readouterr().out == ""  # OpenEXR's own complaint does not mix into the report


def test_missing_files_and_folders(tmp_path):
    assert inspect_file(tmp_path / "nope.exr").problems == ["no such file"]
    assert inspect_file(tmp_path / "nope.exr").kind == "exr"
    assert inspect_file(tmp_path).problems == ["a folder, not a file"]
    text, status = inspect_files([tmp_path / "nope.exr", tmp_path / "nope.json"])
    assert status == 1
    assert text.splitlines()[-1] == "2 files: 0 usable, 0 usable with warnings, 2 cannot be used as they are"


def test_a_random_text_file(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    ins = inspect_file(tmp_path / "notes.txt")
    why = ("not a file depth-cloud reads or writes (EXR, camera sidecar, PLY, NPZ, USD, E57, LAS/LAZ, PNG, JSON, CSV "
           "or a COLMAP model)")
    assert (ins.kind, ins.problems) == ("unknown", [why])
    assert ins.lines == [str(tmp_path / "notes.txt"), f"  problem: {why}",
                         "  result: cannot be used as it is (1 problem)"]


def test_a_broken_sidecar_beside_a_depth_file(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": ramp()})
    (tmp_path / "camera_0001.json").write_text("{not json")
    ins = inspect_file(tmp_path / "depth_0001.exr")
    assert len(ins.problems) == 1
    assert ins.problems[0].startswith("its camera sidecar camera_0001.json cannot be read: camera JSON is not valid")
    assert fact(ins, "valid pixels:").endswith("no camera: clip range not applied)")  # still inspected


def test_a_camera_of_another_size(tmp_path):
    write_exr(tmp_path / "depth_0001.exr", {"V": ramp()})
    write_camera_sidecar(tmp_path / "camera_0001.json", CAMERA.replace(width_px=32))
    ins = inspect_file(tmp_path / "depth_0001.exr")
    assert len(ins.problems) == 1
    assert ins.problems[0].startswith("depth map is 64x48 px but the camera renders 32x48 px")


def test_eevee_no_hit_counts_as_background(tmp_path):
    depth = ramp()
    depth[0, 10:14] = 99.95  # EEVEE's "no hit": about clip_end
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    write_camera_sidecar(tmp_path / "camera_0001.json", CAMERA, CaptureInfo(engine="BLENDER_EEVEE_NEXT"))
    ins = inspect_file(tmp_path / "depth_0001.exr")
    assert fact(ins, "valid pixels:") == "valid pixels: 3,068 of 3,072 (99.9 %)"
    assert fact(ins, "invalid:") == "invalid: 4 background (1e10 or more)"
    assert fact(ins, "engine") == "engine BLENDER_EEVEE_NEXT: 'no hit' reads about clip_end, taken as background"


def test_no_valid_pixel_is_a_problem(tmp_path):
    write_exr(tmp_path / "sky.exr", {"V": np.full(SHAPE, 1e10, np.float32)})
    write_camera_sidecar(tmp_path / "sky.json", CAMERA)
    ins = inspect_file(tmp_path / "sky.exr")
    assert fact(ins, "valid pixels:") == "valid pixels: 0 of 3,072 (0.0 %)"
    assert ins.problems == ["no valid depth pixel: every pixel is background, NaN, <= 0 or outside the clip range"]


# -- sidecars ----------------------------------------------------------------------------------


def test_a_sidecar_with_depth_of_field(tmp_path):
    camera = CAMERA.replace(frame=12)
    capture = CaptureInfo(scene="Shot", view_layer="ViewLayer", fps=24.0, engine="CYCLES",
                          depth_files={"depth_0012.exr": "planar", "distance_0012.exr": "distance"},
                          depth_of_field={"fstop": 2.8, "focus_distance": 3.5})
    write_camera_sidecar(tmp_path / "camera_0012.json", camera, capture)
    (tmp_path / "depth_0012.exr").write_bytes(b"")
    ins = inspect_file(tmp_path / "camera_0012.json")
    assert ins.kind == "sidecar" and ins.usable
    assert ins.lines[0] == f"{tmp_path / 'camera_0012.json'}: camera sidecar"
    assert fact(ins, "camera:") == "camera: PERSP 35 mm, 64x48 px, frame 12, 'Camera'"
    assert fact(ins, "clip:") == "clip: 0.1 .. 100 m; depth Cycles writes: planar"
    assert fact(ins, "scene:") == "scene: 'Shot'"
    assert fact(ins, "view layer:") == "view layer: 'ViewLayer'"
    assert fact(ins, "depth files:") == "depth files: depth_0012.exr planar, distance_0012.exr distance (not here)"
    assert fact(ins, "fps:") == "fps: 24"
    assert fact(ins, "engine:") == "engine: CYCLES"
    assert fact(ins, "depth of field:") == "depth of field: fstop 2.8, focus_distance 3.5"
    assert ins.warnings == capture.warnings() and ins.warnings[0].startswith("depth of field was on (f/2.8)")
    assert inspect_files([tmp_path / "camera_0012.json"])[1] == 0


def test_a_cropped_camera_is_a_fact(tmp_path):
    x0, y0, w, h = render_region_px(64, 48, 0.13, 0.71, 0.21, 0.93)
    assert (x0, y0, w, h) == (8, 4, 37, 34)
    write_camera_sidecar(tmp_path / "crop.json", CAMERA.crop(x0, y0, w, h))
    ins = inspect_file(tmp_path / "crop.json")
    assert fact(ins, "camera:") == "camera: PERSP 35 mm, 37x34 px, frame 1, 'Camera'"
    assert fact(ins, "render region:") == "render region: 8,4 37x34 of 64x48 px (Crop to Border)"
    assert fact(ins, "capture:").startswith("capture: not recorded")
    assert (ins.problems, ins.warnings) == ([], [])


def test_json_that_is_not_a_sidecar(tmp_path):
    (tmp_path / "cameras.json").write_text('{"cameras": []}')
    ins = inspect_file(tmp_path / "cameras.json")
    assert ins.kind == "sidecar"
    assert ins.problems == ["not a usable camera sidecar: unknown camera field(s): cameras"]
    (tmp_path / "broken.json").write_text("[1, 2")
    assert inspect_file(tmp_path / "broken.json").problems[0].startswith(
        "not a usable camera sidecar: camera JSON is not valid JSON")


def test_a_sidecar_under_another_name_is_recognised(tmp_path):
    (tmp_path / "cam.txt").write_text(CAMERA.to_json())
    assert inspect_file(tmp_path / "cam.txt").kind == "sidecar"


@pytest.mark.parametrize("camera, line", [
    (CAMERA.replace(projection="ORTHO", ortho_scale=4.5, frame=None, name=None), "ORTHO scale 4.5, 64x48 px"),
    (CAMERA.replace(projection="PANO", panorama_type="FISHEYE_EQUIDISTANT", fisheye_fov=math.pi, name=None),
     "PANO FISHEYE_EQUIDISTANT 180 deg, 64x48 px, frame 1"),
    (CAMERA.replace(projection="PANO", panorama_type="FISHEYE_EQUISOLID", fisheye_lens_mm=10.5),
     "PANO FISHEYE_EQUISOLID 10.5 mm, 64x48 px, frame 1, 'Camera'"),
])
def test_describe_camera(camera, line):
    assert describe_camera(camera) == line
