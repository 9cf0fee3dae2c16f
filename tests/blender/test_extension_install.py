"""The built extension zip (tools/build_extension.py): its contents, then installing, enabling and
uninstalling it in the real Blender of this venv, the way a user does with "Install from Disk".

The zip is built once per module into a temporary folder with this venv's own ``blender_ext.py``;
the OpenEXR wheels come from the ``wheels/`` cache (PyPI on the first run only). Blender's user
folder is the temporary ``BLENDER_USER_RESOURCES`` set by conftest.py, so nothing touches ``~``.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys
import tomllib
import zipfile

import addon_utils
import bpy
import numpy as np
import pytest

from tools import scenes

ROOT = pathlib.Path(__file__).resolve().parents[2]
REPO = "user_default"
PKG_ID = "depth_cloud"
MODULE = f"bl_ext.{REPO}.{PKG_ID}"
OPERATORS = ("setup_outputs", "remove_outputs", "build")

# Blender platform -> wheel platform tag, for the two CPython versions Blender ships (4.2-5.0, 5.1+).
PYTHON_TAGS = ("cp311", "cp313")
PLATFORM_TAG_PATTERNS = {
    "linux-x64": r"manylinux(_2_\d+|2014)_x86_64",
    "windows-x64": r"win_amd64",
    "macos-arm64": r"macosx_\d+_\d+_arm64",
    "macos-x64": r"macosx_\d+_\d+_x86_64",
}


def _load_build_extension():
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "tools" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_extension():
    return _load_build_extension()


@pytest.fixture(scope="module")
def extension_zip(build_extension, tmp_path_factory) -> pathlib.Path:
    tmp = tmp_path_factory.mktemp("extension")
    return build_extension.build(stage_dir=tmp / "stage", out_dir=tmp / "dist", log=print)


# --- the zip ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zip_names(extension_zip) -> list[str]:
    with zipfile.ZipFile(extension_zip) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def zip_manifest(extension_zip) -> dict:
    with zipfile.ZipFile(extension_zip) as archive:
        return tomllib.loads(archive.read("blender_manifest.toml").decode())


def test_zip_is_named_after_the_manifest(extension_zip):
    committed = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert extension_zip.name == f"{committed['id']}-{committed['version']}.zip"


@pytest.mark.parametrize("python_tag", PYTHON_TAGS)
@pytest.mark.parametrize("platform", sorted(PLATFORM_TAG_PATTERNS))
def test_zip_bundles_one_openexr_wheel_per_platform_and_python(zip_names, build_extension, platform, python_tag):
    version = build_extension.openexr_version()
    pattern = re.compile(rf"wheels/openexr-{re.escape(version)}-{python_tag}-{python_tag}-"
                         rf"({PLATFORM_TAG_PATTERNS[platform]})\.whl", re.IGNORECASE)
    matches = [name for name in zip_names if pattern.fullmatch(name)]
    assert len(matches) == 1, f"{platform}/{python_tag}: {matches} among {[n for n in zip_names if 'whl' in n]}"


def test_zip_bundles_only_those_wheels_and_no_numpy(zip_names):
    wheels = [name for name in zip_names if name.endswith(".whl")]
    assert len(wheels) == len(PYTHON_TAGS) * len(PLATFORM_TAG_PATTERNS), wheels
    assert all(name.startswith("wheels/openexr-") for name in wheels), wheels


def test_zip_manifest_is_the_committed_one_plus_the_wheels_list(zip_manifest, zip_names):
    committed = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert "wheels" not in committed
    assert {key: value for key, value in zip_manifest.items() if key != "wheels"} == committed
    assert sorted(zip_manifest["wheels"]) == sorted("./" + name for name in zip_names if name.endswith(".whl"))
    assert zip_manifest["blender_version_min"] == "4.2.0"
    assert zip_manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert zip_manifest["permissions"]["files"].strip()


def test_zip_holds_the_addon_package_and_no_caches_or_tests(zip_names):
    assert "__init__.py" in zip_names and "core/__init__.py" in zip_names
    sources = sorted(str(p.relative_to(ROOT / "depth_cloud_addon")) for p in (ROOT / "depth_cloud_addon").rglob("*.py")
                     if "__pycache__" not in p.parts)
    assert set(sources) <= set(zip_names), set(sources) - set(zip_names)
    unwanted = [name for name in zip_names
                if "__pycache__" in name or name.endswith((".pyc", ".pyo")) or re.search(r"(^|/)tests?(/|_)", name)]
    assert unwanted == []


# --- installing it into this Blender ------------------------------------------------------------

def _handlers() -> dict[str, list]:
    return {name: list(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
            if isinstance(getattr(bpy.app.handlers, name), list)}


def _registered_operators() -> set[str]:
    return set(dir(bpy.ops.depth_cloud))


def _user_repo():
    return next(repo for repo in bpy.context.preferences.extensions.repos if repo.module == REPO)


def _installed_openexr() -> list[pathlib.Path]:
    """OpenEXR modules Blender unpacked from the extension's wheels (shared by all extensions)."""
    local = pathlib.Path(bpy.utils.user_resource("EXTENSIONS")) / ".local"
    return sorted(local.glob("lib/python*/site-packages/OpenEXR*"))


def _uninstall() -> None:
    if MODULE in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=MODULE)
    if (pathlib.Path(_user_repo().directory) / PKG_ID).exists():
        bpy.ops.extensions.package_uninstall(repo_directory=_user_repo().directory, pkg_id=PKG_ID)


@pytest.fixture(scope="module")
def installed(extension_zip):
    """Install + enable the zip; always disable + uninstall afterwards, whatever the tests did."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before = {"handlers": _handlers(), "operators": _registered_operators()}
    try:
        # Raises RuntimeError with the add-on's own error if its register() fails.
        result = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo=REPO,
                                                          enable_on_install=True)
        assert result == {"FINISHED"}
        yield before
    finally:
        _uninstall()


def test_install_enables_the_addon_as_a_blender_extension(installed):
    assert MODULE in bpy.context.preferences.addons
    assert addon_utils.check(MODULE) == (True, True)  # (enabled by default, loaded)
    assert (pathlib.Path(_user_repo().directory) / PKG_ID / "blender_manifest.toml").is_file()
    # Blender picked this platform's and this Python's wheel out of the eight and unpacked it.
    assert _installed_openexr(), "no bundled OpenEXR wheel was installed"


@pytest.mark.parametrize("operator", OPERATORS)
def test_install_registers_the_operator_with_a_description(installed, operator):
    assert operator in _registered_operators(), f"bpy.ops.depth_cloud.{operator} is not registered"
    description = getattr(bpy.ops.depth_cloud, operator).get_rna_type().description
    assert description.strip(), f"bpy.ops.depth_cloud.{operator} has no description (docstring)"


def test_installed_extension_builds_the_ray_cast_cloud(installed, tmp_path):
    """Set up -> Cycles render -> Build, through the installed extension (its handler writes the sidecar)."""
    scene = scenes.configure_scene(bpy.context.scene)
    cam = scenes.add_camera(location=(0.3, -7.0, 1.5), rotation=(1.45, 0.02, 0.05), lens=35.0, shift_y=0.08)
    scenes.standard_objects(cam)
    assert bpy.ops.depth_cloud.setup_outputs(directory=str(tmp_path)) == {"FINISHED"}
    scene.frame_set(4)
    bpy.ops.render.render(write_still=False)
    assert (tmp_path / "camera_0004.json").is_file()
    assert bpy.ops.depth_cloud.build() == {"FINISHED"}
    obj = bpy.context.active_object
    positions = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.attributes["position"].data.foreach_get("vector", positions)
    truth, _ = scenes.ray_cast_grid(scene, *scenes.pixel_rays_from_view_frame(scene, cam))
    hit = np.isfinite(truth[..., 0])
    assert np.abs(positions.reshape(-1, 3) - truth[hit]).max() < 2e-5


def test_the_installed_extensions_preferences_attach_and_take_effect(installed):
    """Blender keys add-on preferences on the add-on's module (bl_ext.<repo>.<id>), not on a submodule."""
    prefs = bpy.context.preferences.addons[MODULE].preferences
    assert prefs is not None and hasattr(prefs, "cache_mb") and hasattr(prefs, "playback_points")
    sequence = sys.modules[f"{MODULE}.blender.sequence"]
    prefs.playback_points, prefs.cache_mb = 12_345, 7
    assert sequence.playback_points() == 12_345 and sequence.cache_limit_bytes() == 7 * 2**20


def test_uninstall_leaves_no_trace(installed):
    _uninstall()
    assert MODULE not in bpy.context.preferences.addons
    assert addon_utils.check(MODULE) == (False, False)  # Blender keeps the disabled module in sys.modules
    assert not (pathlib.Path(_user_repo().directory) / PKG_ID).exists()
    assert _registered_operators() == installed["operators"]
    assert _installed_openexr() == []
    # Python handlers left registered at exit crash bpy 4.2 and hang 4.5.
    assert _handlers() == installed["handlers"]

