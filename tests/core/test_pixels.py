"""A frame's valid pixels gathered the fast way (issue 26), and the colour file decoded in the background.

* ``PixelSet.take`` / ``compact`` / ``rows_cols`` against numpy's own ``image[mask]`` and ``np.nonzero`` on masks
  of every shape that matters (none, all, sparse, dense, whole blocks empty or full, a single column), on both
  cores; ``compact`` moves the pixels inside the image's own buffer and returns a view of it.
* ``Later``: a background value taken once, its error raised where it is taken; inline within ``one_thread``.
* ``read_cloud`` with the colour file decoded in the background: the same cloud as from the arrays, its colour
  file's errors (truncated, another size) still one line naming the file; ``with_pixels=False`` (a Build of
  points) leaves out the pixel indices and depths only; ``nbytes`` counts the compacted colour buffer whole.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from depth_cloud_addon.core import CameraModel, write_exr
from depth_cloud_addon.core._parallel import Later, one_thread
from depth_cloud_addon.core.errors import DepthCloudError, ResolutionMismatchError
from depth_cloud_addon.core.frames.cloud import BuildOptions, cloud_arrays, read_cloud
from depth_cloud_addon.core.frames.files import frame_files_of, frame_inputs, write_camera_sidecar
from depth_cloud_addon.core.geometry import projection
from depth_cloud_addon.core.geometry.projection import PixelSet


def _masks():
    rng = np.random.default_rng(3)
    shape = (300, 700)  # 210,000 px: two parts on two cores, several blocks each
    masks = {"none": np.zeros(shape, bool), "all": np.ones(shape, bool)}
    for p in (0.01, 0.5, 0.97):
        masks[f"random {p}"] = rng.random(shape) < p
    banded = np.ones(shape, bool)
    banded[40:160] = False  # whole blocks empty
    banded[200:202, ::3] = False
    masks["banded"] = banded
    sky = rng.random(shape) < 0.9
    sky[:120] = False  # the top of the frame is sky: the second core's pixels move a long way
    masks["sky"] = sky
    masks["one column"] = rng.random((500, 1)) < 0.5
    return masks


MASKS = _masks()


@pytest.mark.parametrize("name", sorted(MASKS))
def test_take_compact_and_rows_cols_are_numpys_own(name):
    mask = MASKS[name]
    rng = np.random.default_rng(len(name))
    image = rng.random((*mask.shape, 4), dtype=np.float32)
    pixels = PixelSet.of(mask)
    assert pixels.n == np.count_nonzero(mask)
    np.testing.assert_array_equal(pixels.take(image), image[mask])
    np.testing.assert_array_equal(pixels.take(image[..., 0]), image[..., 0][mask])  # (H, W) images too
    half = image.astype(np.float16)
    taken = pixels.take(half, np.float32)
    assert taken.dtype == np.float32
    np.testing.assert_array_equal(taken, half[mask].astype(np.float32))
    rows, cols = pixels.rows_cols()
    expected_rows, expected_cols = np.nonzero(mask)
    assert rows.dtype == cols.dtype == np.int32
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(cols, expected_cols)
    own = image.copy()
    compacted = pixels.compact(own)
    np.testing.assert_array_equal(compacted, image[mask])
    assert compacted.shape == (pixels.n, 4) and (pixels.n == 0 or np.shares_memory(compacted, own))


def test_compact_refuses_an_image_it_cannot_write_in_place():
    pixels = PixelSet.of(MASKS["random 0.5"])
    image = np.zeros((*pixels.mask.shape, 4), np.float32)
    with pytest.raises(ValueError, match="writable C-contiguous"):
        pixels.compact(image[:, ::-1])  # not contiguous
    image.flags.writeable = False
    with pytest.raises(ValueError, match="writable C-contiguous"):
        pixels.compact(image)
    with pytest.raises(ValueError, match="writable C-contiguous"):
        pixels.compact(np.zeros((10, 10, 4), np.float32))  # another size


def test_backproject_valid_is_the_same_with_or_without_pixel_indices():
    camera = CameraModel(width_px=640, height_px=360, lens_mm=30.0, cam2world=_pose())
    depth = _depth(camera)
    full = projection.backproject_valid(depth, camera, depth_kind="planar")
    bare = projection.backproject_valid(depth, camera, depth_kind="planar", with_pixels=False)
    np.testing.assert_array_equal(full.points, bare.points)
    np.testing.assert_array_equal(full.footprint, bare.footprint)
    assert bare.rows.size == bare.cols.size == 0 and full.rows.size == bare.pixels.n == len(bare.points)
    grid = projection.backproject(depth, camera, depth_kind="planar", dtype=np.float32, allow_empty=True)
    np.testing.assert_array_equal(full.points, grid[full.rows, full.cols])  # the full grid's numbers, row-major


def test_a_later_value_is_taken_once_and_raises_where_it_is_taken():
    seen = []
    later = Later(lambda: seen.append(threading.current_thread()) or 42)
    assert later.take() == 42 and seen[0] is not threading.current_thread()  # computed in the background
    with pytest.raises(RuntimeError, match="taken once"):
        later.take()
    failing = Later(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.take()
    with one_thread():  # a background job of its own: no further thread
        inline = Later(lambda: threading.current_thread())
    assert inline.take() is threading.current_thread()


def _pose() -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = (12.0, -40.0, 3.0)
    pose[:3, :3] = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    return pose


def _depth(camera: CameraModel) -> np.ndarray:
    rows, cols = np.mgrid[0:camera.height_px, 0:camera.width_px]
    depth = (4.0 + 0.002 * cols + 0.5 * np.sin(rows / 17.0)).astype(np.float32)
    depth[: camera.height_px // 4] = 1e10  # sky
    depth[200:210, 100:300] = np.inf
    return depth


@pytest.fixture
def frame(tmp_path):
    camera = CameraModel(width_px=640, height_px=360, lens_mm=30.0, cam2world=_pose(), frame=1)
    depth = _depth(camera)
    color = np.random.default_rng(5).random((360, 640, 4), dtype=np.float32)
    write_exr(tmp_path / "depth_0001.exr", {"V": depth})
    write_exr(tmp_path / "color_0001.exr", {c: color[..., i] for i, c in enumerate("RGBA")})
    write_camera_sidecar(tmp_path / "camera_0001.json", camera)
    return tmp_path, camera, depth, color


def test_read_cloud_decodes_the_colour_file_meanwhile_and_makes_the_same_cloud(frame):
    folder, camera, depth, color = frame
    inputs = frame_inputs(frame_files_of(folder / "depth_0001.exr"), 1)
    expected = cloud_arrays(depth, color, camera, depth_kind="planar")
    cloud = read_cloud(inputs)
    for name in ("points", "colors", "radii", "rows", "cols", "depths"):
        np.testing.assert_array_equal(getattr(cloud, name), getattr(expected, name), err_msg=name)
    # The colours were compacted inside the colour file's own image: nbytes counts that whole buffer.
    assert cloud.colors.base is not None and cloud.colors.base.nbytes == color.nbytes
    assert cloud.nbytes == expected.nbytes + color.nbytes - expected.colors.nbytes
    bare = read_cloud(inputs, BuildOptions(with_pixels=False))
    for name in ("points", "colors", "radii"):
        np.testing.assert_array_equal(getattr(bare, name), getattr(expected, name), err_msg=name)
    assert bare.rows.size == bare.cols.size == bare.depths.size == 0 and bare.count == expected.count > 150_000


def test_the_background_colour_files_errors_still_name_the_file(frame):
    folder, camera, _, color = frame
    inputs = frame_inputs(frame_files_of(folder / "depth_0001.exr"), 1)
    data = (folder / "color_0001.exr").read_bytes()
    (folder / "color_0001.exr").write_bytes(data[: len(data) // 2])  # a render killed while writing it
    with pytest.raises(DepthCloudError, match="color_0001.exr"):
        read_cloud(inputs)
    small = color[::2, ::2]
    write_exr(folder / "color_0001.exr", {c: np.ascontiguousarray(small[..., i]) for i, c in enumerate("RGBA")})
    with pytest.raises(ResolutionMismatchError, match="color is 320x180 px but depth is 640x360 px"):
        read_cloud(inputs)


@pytest.mark.parametrize("stride", [2, 3, 5])
@pytest.mark.parametrize("projection_type, kind", [("PERSP", "planar"), ("PERSP", "distance"), ("ORTHO", "planar"),
                                              ("PANO", "distance")])
def test_a_stride_looks_at_its_pixels_only_and_gives_what_a_strided_mask_gives(stride, kind, projection_type):
    camera = CameraModel(width_px=331, height_px=197, lens_mm=30.0, cam2world=_pose(), projection=projection_type)
    depth = _depth(camera)
    strided = np.zeros(depth.shape, bool)
    strided[::stride, ::stride] = True
    expected = projection.backproject_valid(depth, camera, depth_kind=kind, mask=strided)
    got = projection.backproject_valid(depth, camera, depth_kind=kind, stride=stride)
    for name in ("points", "rows", "cols", "footprint"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    image = np.random.default_rng(stride).random((*depth.shape, 3), dtype=np.float32)
    np.testing.assert_array_equal(got.pixels.take(image), image[expected.rows, expected.cols])
    assert got.pixels.mask.shape == depth[::stride, ::stride].shape  # the mask of the strided pixels alone


def test_float32_rounding_reads_the_largest_finite_coordinate_with_or_without_nan():
    from depth_cloud_addon.core.frames.export import FLOAT32_ROUNDING_FROM, float32_rounding

    far = np.array([[1.0, 2.0, 3.0], [-2.0 * FLOAT32_ROUNDING_FROM, 0.0, 1.0]], np.float32)
    assert "km from the origin" in float32_rounding(far)
    with_nan = np.vstack([far, [[np.nan, np.inf, -np.inf]]]).astype(np.float32)
    assert float32_rounding(with_nan) == float32_rounding(far)  # the same largest finite coordinate
    assert float32_rounding(far / np.float32(4.0 * FLOAT32_ROUNDING_FROM)) is None
    assert float32_rounding(np.full((3, 3), np.nan, np.float32)) is None
