"""Every command of the README's recipes, run as written on the demo's frames.

``tools/demo.py`` renders the demo shot at a small size with the Extra Passes the computer-vision recipe ticks
(``--frames-only``: the frames, nothing else), as ``make demo`` does with Blender (here the 4.2 venv's, which has
usd-core for the VFX recipe's USD). Each recipe section's ``depth-cloud ...`` commands are taken from README.md (so
a recipe that stops working, or changes, is caught) and run in a folder where ``depth_cloud/`` holds the frames,
as a user who followed the recipe has them. The recipes ask for ``--frames 1-240``: the frames the demo did not
render are one failure line (exit status 1), the others are written, and every output is read back.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pycolmap
import pytest
from pxr import Usd, UsdGeom

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAMES = 3
RECIPES = ("### Recipe for a VFX artist", "### Recipe for a computer-vision engineer")


def recipe_commands() -> list[str]:
    """The ``depth-cloud`` commands of the README's recipe sections, in order, whitespace as one space."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for title in RECIPES:
        section = readme.split(title, 1)[1].split("\n#", 1)[0]
        spans = re.findall(r"`(depth-cloud [^`]+)`", section)
        blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
        commands += [" ".join(span.split()) for span in spans]
        commands += [line.strip() for block in blocks for line in block.splitlines()
                     if line.strip().startswith("depth-cloud ")]
    return commands


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--out", str(out), "--width", "96",
                           "--height", "54", "--frames", str(FRAMES), "--samples", "1", "--extra-passes",
                           "OBJECT_INDEX,NORMAL,MOTION,CRYPTOMATTE", "--frames-only"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    work = tmp_path_factory.mktemp("user")
    (work / "depth_cloud").symlink_to(out / "frames", target_is_directory=True)
    return work


def test_the_readme_has_the_recipes_commands():
    commands = recipe_commands()
    assert [c.split()[1] for c in commands] == ["convert", "convert", "cameras", "dataset"], commands


def test_every_recipe_command_works_as_written(workdir):
    for command in recipe_commands():
        argv = shlex.split(command, comments=True)
        assert argv[0] == "depth-cloud"
        done = subprocess.run([sys.executable, "-m", "depth_cloud_addon.cli", *argv[1:]], cwd=workdir,
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        failures = [line for line in done.stderr.splitlines() if line.startswith("depth-cloud: failed:")]
        errors = [line for line in done.stderr.splitlines() if "error" in line.lower() and "warning" not in line]
        assert done.returncode in (0, 1) and not errors, (command, done.stderr[-3000:])
        # only the frames the demo did not render (4-240) fail, in one line
        missing = rf"depth-cloud: failed: frames {FRAMES + 1}-240 \({240 - FRAMES} frames\): no (depth|camera) file " \
            r"\(depth_cloud/(depth|camera)_####\.(exr|json)\)"
        assert (len(failures) == 1 and re.fullmatch(missing, failures[0])) or (done.returncode == 0 and not failures), \
            (command, done.stderr[-3000:])

    # VFX: one USD point cache of every frame, with the animated camera
    stage = Usd.Stage.Open(str(workdir / "shot.usdc"))
    points = UsdGeom.Points(stage.GetPrimAtPath("/DepthCloud/Points")).GetPointsAttr()
    assert points.GetNumTimeSamples() == FRAMES and len(points.Get(1)) > 96 * 54 // 2
    assert stage.GetPrimAtPath("/DepthCloud/Camera")
    # Computer vision: per-pixel points with labels, normals, motion and edges; their legend beside each file
    for frame in range(1, FRAMES + 1):
        with np.load(workdir / "gt" / f"cloud_{frame:04d}.npz") as data:
            for name in ("points", "pixels", "object_id", "normal", "motion", "motion_source", "edge"):
                assert name in data.files, (name, data.files)
            legend = json.loads((workdir / "gt" / f"cloud_{frame:04d}.legend.json").read_text())
            ids = {f"{v:08x}" for v in np.unique(data["object_id"].view(np.uint32)) if v}
            assert ids and ids <= set(legend), (ids, legend)
            assert np.allclose(np.linalg.norm(data["normal"], axis=1), 1.0, atol=1e-4)
    cameras = json.loads((workdir / "gt" / "cameras.json").read_text())
    assert [f["frame"] for f in cameras["frames"]] == list(range(1, FRAMES + 1))
    # the dataset: nerfstudio's transforms.json and a COLMAP model that pycolmap reads
    transforms = json.loads((workdir / "dataset" / "transforms.json").read_text())
    assert len(transforms["frames"]) == FRAMES
    assert all((workdir / "dataset" / f["file_path"]).is_file() for f in transforms["frames"])
    model = pycolmap.Reconstruction(str(workdir / "dataset" / "colmap" / "sparse" / "0"))
    assert model.num_reg_images() == FRAMES and model.num_points3D() > 0
    assert (workdir / "dataset" / "splats.ply").is_file()
