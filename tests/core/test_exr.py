"""depth_cloud_addon.core.formats.exr on synthetic files in every layout Blender 4.2-5.0 writes (no bpy).

Images are 3 rows x 5 columns with distinct literal values, so a transposed or flipped read fails.
Layouts mirror what real Blender writes (shared/BLENDER_FACTS.md, "Writing EXRs"; tests/blender/test_exr_blender.py).
"""

import os
import subprocess
import sys

import numpy as np
import OpenEXR
import pytest

from depth_cloud_addon.core.errors import ExrReadError, MissingChannelError
from depth_cloud_addon.core.formats.exr import find_color_channels, find_depth_channel, read_exr, write_exr

H, W = 3, 5
DEPTH = np.array(
    [[1.5, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0], [11.0, 12.0, 13.0, 14.0, 1e10]],
    dtype=np.float32,
)
RED = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.6, 0.7, 0.8, 0.9, 1.0], [1.1, 1.2, 1.3, 1.4, 0.0]], np.float32)
GREEN = RED * 2
BLUE = RED * 3
ALPHA = np.array([[1, 1, 1, 1, 0.5], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], np.float32)
RGBA = np.stack([RED, GREEN, BLUE, ALPHA], axis=-1)


def rgba(prefix=""):
    return {f"{prefix}{c}": a for c, a in zip("RGBA", (RED, GREEN, BLUE, ALPHA))}


def write_parts(path, parts):
    """Multi-part file like Blender 5.0: parts = [(part name, {channel: array})]."""
    exr_parts = [
        OpenEXR.Part({"compression": OpenEXR.ZIP_COMPRESSION, "name": name}, chans) for name, chans in parts
    ]
    with OpenEXR.File(exr_parts) as f:
        f.write(str(path))


def write_single(path, chans, **header):
    """Single-part file of any dtype, with extra header attributes."""
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage, **header}, chans) as f:
        f.write(str(path))


# --- layouts -------------------------------------------------------------------------------------


def test_render_multilayer_single_part_4x(tmp_path):
    path = tmp_path / "r.exr"
    noisy = {f"ViewLayer.Noisy Image.{c}": np.full((H, W), 9, np.float32) for c in "RGBA"}
    write_exr(path, {**rgba("ViewLayer.Combined."), "ViewLayer.Depth.Z": DEPTH, **noisy})
    img = read_exr(path)
    assert img.shape == (3, 5)
    assert img.depth.dtype == np.float32 and img.depth.shape == (3, 5)
    assert img.depth[0, 4] == 5.0 and img.depth[2, 0] == 11.0 and img.depth[2, 4] == 1e10
    np.testing.assert_array_equal(img.depth, DEPTH)
    assert img.color.dtype == np.float32 and img.color.shape == (3, 5, 4)
    np.testing.assert_array_equal(img.color, RGBA)
    assert img.color[0, 4].tolist() == pytest.approx([0.5, 1.0, 1.5, 0.5])
    assert img.depth_channel == "ViewLayer.Depth.Z"
    assert img.color_channels == tuple(f"ViewLayer.Combined.{c}" for c in "RGBA")
    assert img.channels == (
        "ViewLayer.Combined.A", "ViewLayer.Combined.B", "ViewLayer.Combined.G", "ViewLayer.Combined.R",
        "ViewLayer.Depth.Z",
        "ViewLayer.Noisy Image.A", "ViewLayer.Noisy Image.B", "ViewLayer.Noisy Image.G", "ViewLayer.Noisy Image.R",
    )
    assert img.path == str(path)


def test_render_multilayer_multi_part_50_with_composite(tmp_path):
    path = tmp_path / "r50.exr"
    composite = {f"Composite.Combined.{c}": np.full((H, W), 7, np.float32) for c in "RGBA"}
    write_parts(path, [
        ("Composite.Combined", composite),
        ("ViewLayer.Combined", rgba("ViewLayer.Combined.")),
        ("ViewLayer.Depth", {"ViewLayer.Depth.Z": DEPTH}),
    ])
    img = read_exr(path)
    np.testing.assert_array_equal(img.depth, DEPTH)
    np.testing.assert_array_equal(img.color, RGBA)  # the view layer's Combined, not Composite
    assert img.channels[:4] == tuple(f"Composite.Combined.{c}" for c in "ABGR")
    assert img.channels[-1] == "ViewLayer.Depth.Z"
    comp = read_exr(path, color_layer="Composite.Combined")
    assert comp.color[1, 2].tolist() == [7.0, 7.0, 7.0, 7.0]


def test_two_view_layers_first_depth_and_matching_combined(tmp_path):
    path = tmp_path / "two.exr"
    write_exr(path, {
        **rgba("A Layer.Combined."), "A Layer.Depth.Z": DEPTH,
        **{f"B Layer.Combined.{c}": np.zeros((H, W)) for c in "RGBA"}, "B Layer.Depth.Z": DEPTH * 2,
    })
    img = read_exr(path)
    assert img.depth_channel == "A Layer.Depth.Z"
    assert img.color_channels[0] == "A Layer.Combined.R"
    b = read_exr(path, depth_channel="B Layer.Depth.Z")
    assert b.depth[0, 0] == 3.0
    assert b.color_channels[0] == "B Layer.Combined.R"  # Combined of the depth's view layer
    assert read_exr(path, color_layer="B Layer").color_channels[0] == "B Layer.Combined.R"


def test_file_output_single_layer_v(tmp_path):
    path = tmp_path / "depth_0001.exr"
    write_exr(path, {"V": DEPTH})
    img = read_exr(path)
    assert img.depth_channel == "V" and img.color is None and img.color_channels is None
    np.testing.assert_array_equal(img.depth, DEPTH)


def test_file_output_multilayer(tmp_path):
    path = tmp_path / "ml.exr"
    write_parts(path, [("Image", rgba("Image.")), ("Depth", {"Depth.V": DEPTH})])
    img = read_exr(path)
    assert img.depth_channel == "Depth.V"
    assert img.color_channels == ("Image.R", "Image.G", "Image.B", "Image.A")
    np.testing.assert_array_equal(img.depth, DEPTH)
    np.testing.assert_array_equal(img.color, RGBA)


def test_file_output_rgb_depth_45(tmp_path):
    """4.5 File Output depth: R=G=B=depth, A=1, no color-space tag: taken as depth, no color."""
    path = tmp_path / "depth_0001.exr"
    write_exr(path, {"R": DEPTH, "G": DEPTH, "B": DEPTH, "A": np.ones((H, W))})
    img = read_exr(path)
    assert img.depth_channel == "R"
    assert img.color is None and img.color_channels is None
    np.testing.assert_array_equal(img.depth, DEPTH)
    # asking for the channels as color explicitly still works
    assert read_exr(path, color_layer="").color[2, 4].tolist() == [1e10, 1e10, 1e10, 1.0]


def test_file_output_rgb_depth_50_tagged_data(tmp_path):
    """5.0 tags non-color data: accepted even with every value below 1."""
    path = tmp_path / "depth_Depth.exr"
    near = DEPTH / 1e11
    write_single(path, {c: near for c in "RGB"} | {"A": np.ones((H, W), np.float32)}, colorInteropID="data")
    img = read_exr(path)
    assert img.depth_channel == "R"
    np.testing.assert_array_equal(img.depth, near)


def test_prefixed_rgb_depth(tmp_path):
    path = tmp_path / "p.exr"
    write_exr(path, {"Depth.R": DEPTH, "Depth.G": DEPTH, "Depth.B": DEPTH})
    assert read_exr(path).depth_channel == "Depth.R"


def test_half_float_color_and_rgb_without_alpha(tmp_path):
    path = tmp_path / "half.exr"
    r = np.array([[0.5, 0.25, 1, 2, 4], [0, 0.125, 8, 16, 0.75], [3, 5, 6, 7, 9]], np.float16)
    write_single(path, {"R": r, "G": r * 2, "B": r * 4})
    img = read_exr(path, require_depth=False)
    assert img.depth is None and img.depth_channel is None
    assert img.color.dtype == np.float32 and img.color.shape == (3, 5, 4)
    assert img.color[0, 1].tolist() == [0.25, 0.5, 1.0, 1.0]
    assert img.color[2, 4].tolist() == [9.0, 18.0, 36.0, 1.0]
    assert img.color_channels == ("R", "G", "B")


def test_half_float_depth_is_float32(tmp_path):
    path = tmp_path / "hz.exr"
    write_single(path, {"Z": DEPTH[:, :4].astype(np.float16)})  # 3 x 4, 1e10 dropped (not in half range)
    img = read_exr(path)
    assert img.depth.dtype == np.float32 and img.depth[1, 3] == 9.0 and img.shape == (3, 4)


# --- the grey-image rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grey, alpha, why",
    [
        (RED / 1.4, None, "values are not all > 0"),  # display-referred grey in [0, 1], has a 0
        (RED + 0.5, ALPHA, "A is not 1"),  # looks like depth but alpha varies: an image
        (RED / 2 + 0.1, np.ones((H, W), np.float32), "values are not all > 0 with some > 1"),
    ],
)
def test_grey_image_is_not_depth(tmp_path, grey, alpha, why):
    path = tmp_path / "grey.exr"
    chans = {"R": grey, "G": grey, "B": grey} | ({} if alpha is None else {"A": alpha})
    write_exr(path, chans)
    with pytest.raises(MissingChannelError) as info:
        read_exr(path)
    msg = str(info.value)
    assert str(path) in msg and why in msg and "depth_channel='R'" in msg
    img = read_exr(path, require_depth=False)
    assert img.depth is None and img.color_channels[:3] == ("R", "G", "B")
    np.testing.assert_array_equal(img.color[..., 0], grey)
    assert read_exr(path, depth_channel="R").depth_channel == "R"


def test_grey_image_tagged_as_color_is_not_depth(tmp_path):
    path = tmp_path / "grey50.exr"
    write_single(path, {c: DEPTH for c in "RGB"}, colorInteropID="lin_rec709_scene")
    with pytest.raises(MissingChannelError, match="tagged as color"):
        read_exr(path)


def test_grey_rgb_with_depth_like_values_is_depth(tmp_path):
    """Pinned limit of the rule: an untagged R=G=B file, all > 0, some > 1, A absent or 1 is depth."""
    path = tmp_path / "g.exr"
    write_exr(path, {"R": DEPTH, "G": DEPTH, "B": DEPTH})
    assert read_exr(path).depth_channel == "R"


def test_rgb_not_grey_is_never_depth(tmp_path):
    path = tmp_path / "c.exr"
    write_exr(path, {"R": DEPTH, "G": DEPTH, "B": DEPTH + 1})
    with pytest.raises(MissingChannelError):
        read_exr(path)


def test_grey_fallback_needs_nothing_else_in_file(tmp_path):
    path = tmp_path / "x.exr"
    write_exr(path, {"R": DEPTH, "G": DEPTH, "B": DEPTH, "Other.X": DEPTH})
    with pytest.raises(MissingChannelError):
        read_exr(path)


# --- channel choice by name ----------------------------------------------------------------------


def test_find_depth_channel_rules():
    names = ["Composite.Combined.R", "View.Layer.Depth.Z", "ViewLayer.Depth.Z"]
    assert find_depth_channel(names) == "View.Layer.Depth.Z"
    assert find_depth_channel(["Z", "R", "G", "B"]) == "Z"
    assert find_depth_channel(["L.Normal.X", "L.Normal.Y", "L.Normal.Z", "L.Foo.Z"]) == "L.Foo.Z"
    assert find_depth_channel(["L.Normal.X", "L.Normal.Y", "L.Normal.Z"]) is None
    assert find_depth_channel(["L.Position.X", "L.Position.Y", "L.Position.Z", "L.Vector.W",
                               "L.Vector.X", "L.Vector.Y", "L.Vector.Z"]) is None
    assert find_depth_channel(["L.Mist.Z", "L.Denoising Depth.Z", "L.UV.A", "L.UV.U", "L.UV.V"]) is None
    assert find_depth_channel(["Mist.V", "Other.V", "Depth.V"]) == "Depth.V"
    assert find_depth_channel(["Other.V", "V"]) == "V"
    assert find_depth_channel(["Other.V"]) == "Other.V"
    assert find_depth_channel(["L.Depth.Z", "Z"]) == "L.Depth.Z"
    assert find_depth_channel(["Z", "V"]) == "Z"
    assert find_depth_channel(["R", "G", "B", "A"]) is None
    assert find_depth_channel([]) is None


def test_find_color_channels_rules():
    assert find_color_channels(["Composite.Combined.R", "Composite.Combined.G", "Composite.Combined.B",
                                "L.Combined.A", "L.Combined.B", "L.Combined.G", "L.Combined.R"]) == (
        "L.Combined.R", "L.Combined.G", "L.Combined.B", "L.Combined.A")
    assert find_color_channels(["Composite.Combined.R", "Composite.Combined.G", "Composite.Combined.B",
                                "R", "G", "B"]) == ("Composite.Combined.R", "Composite.Combined.G",
                                                     "Composite.Combined.B")
    assert find_color_channels(["A", "B", "G", "R", "Image.R", "Image.G", "Image.B"]) == (
        "Image.R", "Image.G", "Image.B")
    assert find_color_channels(["B", "G", "R"]) == ("R", "G", "B")
    assert find_color_channels(["Color.B", "Color.G", "Color.R", "Depth.V"]) == ("Color.R", "Color.G", "Color.B")
    assert find_color_channels(["L.Noisy Image.R", "L.Noisy Image.G", "L.Noisy Image.B",
                                "L.AO.R", "L.AO.G", "L.AO.B"]) is None
    assert find_color_channels(["R", "G"]) is None
    assert find_color_channels(["L1.Combined.R", "L1.Combined.G", "L1.Combined.B",
                                "L2.Combined.R", "L2.Combined.G", "L2.Combined.B"],
                               view_layer="L2")[0] == "L2.Combined.R"


def test_other_passes_are_not_depth(tmp_path):
    path = tmp_path / "passes.exr"
    z = np.full((H, W), 3, np.float32)
    write_exr(path, {**rgba("L.Combined."), "L.Mist.Z": z, "L.Normal.X": z, "L.Normal.Y": z, "L.Normal.Z": z,
                     "L.UV.U": z, "L.UV.V": z, "L.UV.A": z})
    with pytest.raises(MissingChannelError):
        read_exr(path)
    img = read_exr(path, require_depth=False)
    assert img.depth is None
    np.testing.assert_array_equal(img.color, RGBA)


# --- errors --------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.exr"
    with pytest.raises(ExrReadError, match="no such file") as info:
        read_exr(path)
    assert str(path) in str(info.value)


def test_directory(tmp_path):
    with pytest.raises(ExrReadError, match=str(tmp_path)):
        read_exr(tmp_path)


def test_text_file_named_exr(tmp_path):
    path = tmp_path / "text.exr"
    path.write_text("hello, I am not an image\n")
    with pytest.raises(ExrReadError, match="not an OpenEXR file") as info:
        read_exr(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("keep", [0.2, 0.9, 0.999])
def test_truncated_file(tmp_path, keep):
    """OpenEXR silently drops unreadable parts; the reader must notice."""
    path = tmp_path / "cut.exr"
    big = np.arange(64 * 48, dtype=np.float32).reshape(48, 64)
    write_parts(path, [("ViewLayer.Combined", {f"ViewLayer.Combined.{c}": big for c in "RGBA"}),
                       ("ViewLayer.Depth", {"ViewLayer.Depth.Z": big + 1})])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ExrReadError) as info:
        read_exr(path)
    assert str(path) in str(info.value)
    assert "truncated" in str(info.value) or "cannot read" in str(info.value)


def test_header_only_fragment(tmp_path):
    path = tmp_path / "frag.exr"
    write_exr(path, {"V": DEPTH})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ExrReadError, match="cannot read EXR"):
        read_exr(path)


def test_missing_depth_lists_channels(tmp_path):
    path = tmp_path / "color_only.exr"
    write_exr(path, rgba("Image."))
    with pytest.raises(MissingChannelError) as info:
        read_exr(path)
    msg = str(info.value)
    assert str(path) in msg and "no depth channel" in msg
    assert "Image.A, Image.B, Image.G, Image.R" in msg
    assert isinstance(info.value, ExrReadError)
    img = read_exr(path, require_depth=False)
    assert img.depth is None and img.shape == (3, 5)


def test_explicit_depth_channel_absent(tmp_path):
    path = tmp_path / "d.exr"
    write_exr(path, {"ViewLayer.Depth.Z": DEPTH})
    with pytest.raises(MissingChannelError) as info:
        read_exr(path, depth_channel="ViewLayer.Depth.V")
    assert "'ViewLayer.Depth.V'" in str(info.value) and "ViewLayer.Depth.Z" in str(info.value)
    with pytest.raises(MissingChannelError):
        read_exr(path, depth_channel="ViewLayer.Depth.V", require_depth=False)


def test_explicit_color_layer_absent(tmp_path):
    path = tmp_path / "d.exr"
    write_exr(path, {"ViewLayer.Depth.Z": DEPTH})
    with pytest.raises(MissingChannelError, match="layer 'ViewLayer'"):
        read_exr(path, color_layer="ViewLayer")


def test_nothing_usable(tmp_path):
    path = tmp_path / "n.exr"
    write_exr(path, {"L.Normal.X": DEPTH, "L.Normal.Y": DEPTH, "L.Normal.Z": DEPTH})
    with pytest.raises(MissingChannelError, match="no depth or color"):
        read_exr(path, require_depth=False)


def test_depth_and_color_shape_mismatch(tmp_path):
    path = tmp_path / "mix.exr"
    display = (np.array([0, 0], np.int32), np.array([W - 1, H], np.int32))  # 5 x 4
    parts = [
        OpenEXR.Part({"name": "L.Combined", "displayWindow": display}, rgba("L.Combined.")),
        OpenEXR.Part({"name": "L.Depth", "displayWindow": display},
                     {"L.Depth.Z": np.ones((H + 1, W), np.float32)}),
    ]
    with OpenEXR.File(parts) as f:
        f.write(str(path))
    with pytest.raises(ExrReadError, match="depth 'L.Depth.Z' is 5x4 but color 'L.Combined.R' is 5x3"):
        read_exr(path)


# --- writer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["zip", "none", "piz"])
def test_write_roundtrip_no_temp_left(tmp_path, compression):
    path = tmp_path / "w.exr"
    path.write_bytes(b"old")
    write_exr(path, {"V": DEPTH.astype(np.float64)}, compression=compression)
    assert os.listdir(tmp_path) == ["w.exr"]
    with OpenEXR.File(str(path), separate_channels=True) as f:
        v = f.parts[0].channels["V"].pixels
    assert v.dtype == np.float32
    np.testing.assert_array_equal(v, DEPTH)
    assert os.stat(path).st_mode & 0o044  # regular permissions, not a private temp file's 0600


def test_write_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="compression"):
        write_exr(tmp_path / "a.exr", {"V": DEPTH}, compression="lzma")
    with pytest.raises(ValueError):
        write_exr(tmp_path / "a.exr", {})
    with pytest.raises(ValueError, match="one shape"):
        write_exr(tmp_path / "a.exr", {"R": DEPTH, "G": DEPTH[:2]})
    with pytest.raises(ValueError, match="2-D"):
        write_exr(tmp_path / "a.exr", {"R": RGBA})
    assert os.listdir(tmp_path) == []


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(OSError):
        write_exr(tmp_path / "no" / "a.exr", {"V": DEPTH})


def test_module_does_not_import_bpy():
    code = "import sys, depth_cloud_addon.core.formats.exr; assert not {'bpy', 'mathutils'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


@pytest.mark.parametrize("types", [dict.fromkeys("RGBA", np.float32), dict.fromkeys("RGBA", np.float16),
                                   {**dict.fromkeys("RGB", np.float32), "A": np.float16}],
                         ids=["float", "half", "float-with-half-alpha"])
def test_a_plain_rgba_file_reads_interleaved_whatever_its_channel_types(tmp_path, types):
    """A color file of R, G, B, A reads as one (H, W, 4) array without assembling it (float32 files);
    channels of different types cannot be read interleaved and are read one by one: same values."""
    from depth_cloud_addon.core.formats.exr import _load

    rng = np.random.default_rng(3)
    values = {c: rng.random((5, 7), dtype=np.float32).astype(types[c]) for c in "RGBA"}
    path = str(tmp_path / "rgba.exr")
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {c: OpenEXR.Channel(v) for c, v in values.items()}).write(path)
    image = read_exr(path, require_depth=False)
    expected = np.stack([values[c].astype(np.float32) for c in "RGBA"], axis=-1)
    np.testing.assert_array_equal(image.color, expected)
    pixels = _load(path)[0]
    one_array = pixels["R"].base is not None and pixels["R"].base is pixels["A"].base
    assert one_array == (len(set(types.values())) == 1)
    if set(types.values()) == {np.float32}:  # the file's own (H, W, 4) array: no second copy to assemble it
        import tracemalloc

        big = str(tmp_path / "big.exr")
        OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                     {c: OpenEXR.Channel(np.full((256, 256), i / 4, np.float32)) for i, c in enumerate("RGBA")}
                     ).write(big)
        tracemalloc.start()
        color = read_exr(big, require_depth=False).color
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert color.nbytes == 256 * 256 * 16 and peak < 1.5 * color.nbytes
