"""EEVEE captures: Set Up, render and Build work; EEVEE's "no hit" (about clip_end, measured just below
and just above it) never becomes a wall of points; its sample jitter is measured and warned about.

EEVEE runs in a subprocess (without a usable OpenGL it aborts the process instead of raising).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "eevee_capture.py")
PASSES_SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "eevee_passes.py")


def capture(folder, clip_end: float, samples: int | None = None, script: str = SCRIPT) -> dict:
    args = [sys.executable, script, str(folder)] + ([str(clip_end)] if clip_end else []) \
        + ([str(samples)] if samples else [])
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("clip_end", [100.0, 250.0])
def test_an_eevee_capture_is_exact_at_one_sample_and_its_background_is_no_points(tmp_path, clip_end):
    result = capture(tmp_path, clip_end, samples=1)
    assert result["engine"].startswith("BLENDER_EEVEE") and result["sidecar_engine"] == result["engine"]
    assert result["background_pixels"] > 1000 and result["background_points"] == 0
    if result["blender"] < [5, 2]:  # EEVEE's "no hit": about clip_end in 4.2-5.0
        assert abs(result["background_raw_min"] - clip_end) < 1e-3 * clip_end
    else:  # 5.2 and 5.3 write Cycles' 1e10
        assert result["background_raw_min"] == 1e10
    assert result["hit_pixels"] > 300 and result["hit_without_point"] == 0
    assert result["built"] == result["points"]
    assert result["median_error"] <= 2e-5 and result["p95_error"] <= 1e-4, result
    assert "EEVEE rendered" not in result["message"]


def test_eevees_jittered_samples_are_measured_and_warned_about(tmp_path):
    result = capture(tmp_path, 250.0)  # EEVEE's default: many jittered samples per pixel
    assert result["background_points"] == 0 and result["hit_without_point"] == 0
    # The depth of one jittered sample: measured 1 mm median on 4.5/5.0, 13 mm on 4.2 (EEVEE Next's first release).
    assert 2e-4 < result["median_error"] < 5e-2, result
    assert "EEVEE rendered" in result["message"] and "jittered samples per pixel" in result["message"]


def test_eevee_passes_give_object_ids_normals_and_exact_rigid_motion(tmp_path):
    """EEVEE has Cryptomatte, Normal and Vector (not the index passes: Set Up says so)."""
    result = capture(tmp_path, 0, script=PASSES_SCRIPT)
    assert "does not render OBJECT_INDEX" in result["setup_message"]
    assert result["passes"] == ["NORMAL", "MOTION", "CRYPTOMATTE"]
    assert result["objects"] == result["legend"] == ["Floor", "Mover", "Still"]
    assert result["inner"] > 1000 and result["object_id_match"] >= 0.999, result
    assert result["normal_angle_median"] < 1e-3 and result["normal_angle_p99"] < 5e-3, result
    assert result["cube_points"] > 50 and result["cube_rigid"] == 1.0 and result["motion_error_max"] < 1e-5, result
