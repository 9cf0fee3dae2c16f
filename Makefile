# Depth Cloud: set-up, tests, demo. Every target creates what it needs from scratch.
#   make demo   venv + pinned deps, render a sample scene, build its point cloud (out/demo/)
#   make test   venvs + the whole suite under Blender 5.0, 4.5 LTS and 4.2 LTS
#   make extension   the installable Blender extension, dist/depth_cloud-<version>.zip
#   make bench  our Build vs the forum recipe on a 1080p Cycles frame (out/bench/, docs/benchmarks.md)
PYTHON ?= python3.11
PIP_FLAGS ?= --quiet --disable-pip-version-check

VENV_50 := .venv
VENV_45 := .venv-bpy4.5
VENV_42 := .venv-bpy4.2

.PHONY: setup setup-lts test test-core demo extension bench clean

# A venv is rebuilt when its pinned requirements or the package metadata change.
$(VENV_50)/.ready: requirements/blender-5.0.txt pyproject.toml
$(VENV_45)/.ready: requirements/blender-4.5.txt pyproject.toml
$(VENV_42)/.ready: requirements/blender-4.2.txt pyproject.toml
%/.ready:
	rm -rf $*
	$(PYTHON) -m venv $*
	$*/bin/python -m pip install $(PIP_FLAGS) -r $(filter requirements/%,$^)
	$*/bin/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

setup: $(VENV_50)/.ready
setup-lts: $(VENV_45)/.ready $(VENV_42)/.ready

test: setup setup-lts
	$(VENV_50)/bin/python -m pytest tests
	$(VENV_45)/bin/python -m pytest tests/blender
	$(VENV_42)/bin/python -m pytest tests

test-core: setup
	$(VENV_50)/bin/python -m pytest tests/core

demo: setup
	$(VENV_50)/bin/python tools/demo.py --out out/demo

# OpenEXR wheels for every platform are fetched from PyPI into wheels/ (cached); numpy is Blender's.
extension: setup
	$(VENV_50)/bin/python tools/build_extension.py

# 1920x1080: Build vs the forum recipe, then sequence playback; tables + out/bench/*.json (about 1 minute).
bench: setup
	$(VENV_50)/bin/python tools/bench.py
	$(VENV_50)/bin/python tools/bench_sequence.py

clean:
	rm -rf $(VENV_50) $(VENV_45) $(VENV_42) out build dist wheels
