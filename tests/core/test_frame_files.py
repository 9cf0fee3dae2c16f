"""Which files hold a frame: # patterns, the set-up's naming, sidecars. Plain Python, no Blender."""

import pytest

from depth_cloud_addon.core import DepthCloudError
from depth_cloud_addon.core.frame_files import camera_sidecar_path, find_frame_files, frame_path


@pytest.mark.parametrize("pattern, frame, expected", [
    ("/r/depth_####.exr", 7, "/r/depth_0007.exr"),
    ("/r/depth_#.exr", 12, "/r/depth_12.exr"),
    ("/r/shot##/d_######.exr", 3, "/r/shot##/d_000003.exr"),  # the last run is the frame
    ("/r/still.exr", 3, "/r/still.exr"),
    ("/r/depth_####.exr", -1, "/r/depth_-001.exr"),            # as Blender writes negative frames
])
def test_frame_path(pattern, frame, expected):
    assert frame_path(pattern, frame) == expected


def test_setup_naming_finds_color_and_camera(tmp_path):
    for name in ("depth_0003.exr", "color_0003.exr", "camera_0003.json"):
        (tmp_path / name).write_bytes(b"")
    found = find_frame_files(str(tmp_path), 3, from_setup=True)
    assert found.depth_path == str(tmp_path / "depth_0003.exr")
    assert found.color_path == str(tmp_path / "color_0003.exr")
    assert found.camera_path == camera_sidecar_path(str(tmp_path), 3) == str(tmp_path / "camera_0003.json")


def test_other_names_use_a_json_beside_the_file(tmp_path):
    (tmp_path / "shot_010.exr").write_bytes(b"")
    assert find_frame_files(str(tmp_path / "shot_###.exr"), 10, from_setup=False).camera_path is None
    (tmp_path / "shot_010.json").write_text("{}")
    found = find_frame_files(str(tmp_path / "shot_###.exr"), 10, from_setup=False)
    assert (found.color_path, found.camera_path) == (None, str(tmp_path / "shot_010.json"))


def test_missing_depth_file_names_the_frame_and_path(tmp_path):
    with pytest.raises(DepthCloudError, match=r"no depth file for frame 4: .*depth_0004.exr does not exist \(render"):
        find_frame_files(str(tmp_path), 4, from_setup=True)
