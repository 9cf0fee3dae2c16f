"""The dataset's COLMAP model, accepted by COLMAP itself (Debian's ``colmap``, run headless): ``model_analyzer``
reads it, ``bundle_adjuster`` (intrinsics fixed) runs to the end and moves no camera and no point by more than
0.1 mm (the model is already at its optimum: every 2D point is its 3D point's projection). The models are read back
with pycolmap. points3D holds only points with a track of two images or more (every image in which the point is
visible), and each stores its computed reprojection error.

``colmap`` is a system package: ``make test`` installs it (``apt-get install colmap`` as root on Debian). A missing
``colmap`` fails this test, it never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pycolmap
import pytest
from plyfile import PlyData

from depth_cloud_addon.core import read_exr
from depth_cloud_addon.core.frames.dataset import MIN_TRACK_LENGTH, export_dataset
from tests.formats.test_dataset import write_frames

MOVED_AT_MOST_M = 1e-4


def colmap(*argv) -> subprocess.CompletedProcess:
    binary = shutil.which("colmap")
    assert binary, ("COLMAP is missing: install Debian's colmap (apt-get install colmap; `make test` does it as "
                    "root) to run this test")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([binary, *map(str, argv)], capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colmap")
    frames = write_frames(str(folder / "shot"))
    return frames, {fmt: export_dataset(frames, folder / f"dataset_{fmt}", colmap_format=fmt)
                    for fmt in ("binary", "text")}


def centres(reconstruction) -> dict[int, np.ndarray]:
    return {i: image.projection_center() for i, image in reconstruction.images.items()}


@pytest.mark.parametrize("fmt", ["binary", "text"])
def test_model_analyzer_reads_the_model(datasets, fmt):
    _, results = datasets
    result = results[fmt]
    run = colmap("model_analyzer", "--path", result.colmap_dir)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    text = run.stdout + run.stderr
    figures = {key: float(re.search(rf"{key}: ([0-9.]+)", text).group(1))
               for key in ("Images", "Registered images", "Points", "Observations", "Mean track length",
                           "Mean reprojection error")}
    assert figures["Images"] == figures["Registered images"] == 3
    assert figures["Points"] == result.colmap_points > 0
    assert figures["Observations"] == result.observations
    assert figures["Mean track length"] >= MIN_TRACK_LENGTH
    assert figures["Mean reprojection error"] < 1e-6


@pytest.mark.parametrize("fmt", ["binary", "text"])
def test_bundle_adjuster_runs_to_the_end_and_moves_nothing(datasets, tmp_path, fmt):
    _, results = datasets
    result = results[fmt]
    out = tmp_path / "adjusted"
    out.mkdir()
    run = colmap("bundle_adjuster", "--input_path", result.colmap_dir, "--output_path", out,
                 "--BundleAdjustment.refine_focal_length", 0, "--BundleAdjustment.refine_principal_point", 0,
                 "--BundleAdjustment.refine_extra_params", 0)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Termination : Convergence" in run.stdout + run.stderr
    before, after = pycolmap.Reconstruction(result.colmap_dir), pycolmap.Reconstruction(str(out))
    assert sorted(after.point3D_ids()) == sorted(before.point3D_ids())
    moved_cameras = max(np.linalg.norm(centres(after)[i] - c) for i, c in centres(before).items())
    moved_points = max(np.linalg.norm(after.points3D[i].xyz - p.xyz) for i, p in before.points3D.items())
    assert moved_cameras <= MOVED_AT_MOST_M and moved_points <= MOVED_AT_MOST_M, (moved_cameras, moved_points)
    for image_id, image in before.images.items():  # and no rotation either
        np.testing.assert_allclose(after.images[image_id].cam_from_world().rotation.matrix(),
                                   image.cam_from_world().rotation.matrix(), atol=1e-6)


def test_points3d_are_the_points_seen_twice_or_more_with_their_computed_error(datasets):
    frames, results = datasets
    result = results["binary"]
    rec = pycolmap.Reconstruction(result.colmap_dir)
    ply = PlyData.read(result.sparse_pc_path)["vertex"]
    assert ply.count == result.points > rec.num_points3D()  # single-view points: in the PLYs only
    depths = {i + 1: read_exr(os.path.join(result.out_dir, "depth", f"frame_{f.frame:04d}.exr")).depth
              for i, f in enumerate(frames)}
    missing_views = 0
    for point_id, point in rec.points3D.items():
        row = point_id - 1
        np.testing.assert_array_equal(point.xyz, [float(ply[a][row]) for a in "xyz"])
        track = {e.image_id for e in point.track.elements}
        assert len(track) == len(point.track.elements) >= MIN_TRACK_LENGTH
        errors = []
        for element in point.track.elements:
            image = rec.images[element.image_id]
            errors.append(np.linalg.norm(image.project_point(point.xyz) - image.points2D[element.point2D_idx].xy))
        assert point.error == pytest.approx(np.mean(errors), abs=1e-9)
        for image_id, image in rec.images.items():  # the track is every image in which the point is visible
            xy = image.project_point(point.xyz)
            cam = image.cam_from_world() * point.xyz
            if xy is None or not (0 <= xy[0] < 64 and 0 <= xy[1] < 48) or cam[2] <= 0:
                assert image_id not in track
                continue
            depth = depths[image_id][int(xy[1]), int(xy[0])]
            if np.isfinite(depth) and abs(cam[2] - depth) < 0.2 * result.voxel_size:
                missing_views += image_id not in track  # plainly on the surface there
            if image_id in track:
                assert np.isfinite(depth) and abs(cam[2] - depth) < 4 * result.voxel_size + 0.1
    assert missing_views == 0
