# Depth Cloud: set-up, tests, demo. Every target creates what it needs from scratch.
#   make demo   venv + pinned deps, render a sample scene, build its point cloud (out/demo/)
#   make test   venvs + lint + the whole suite under Blender 5.0, 4.5 LTS and 4.2 LTS
#   make lint   ruff (pinned in requirements/blender-5.0.txt; rules in pyproject.toml)
#   make extension   the installable Blender extension, dist/depth_cloud-<version>.zip
#   make bench  our Build vs the forum recipe on a 1080p Cycles frame (out/bench/, docs/benchmarks.md)
PYTHON ?= python3.11
PIP_FLAGS ?= --quiet --disable-pip-version-check

VENV_50 := .venv
VENV_45 := .venv-bpy4.5
VENV_42 := .venv-bpy4.2
VENV_O3D := .venv-open3d

.PHONY: setup setup-lts setup-open3d lint test test-core demo extension bench clean

# A venv is rebuilt when its pinned requirements or the package metadata change.
$(VENV_50)/.ready: requirements/blender-5.0.txt pyproject.toml
$(VENV_45)/.ready: requirements/blender-4.5.txt pyproject.toml
$(VENV_42)/.ready: requirements/blender-4.2.txt pyproject.toml
$(VENV_O3D)/.ready: requirements/bench-open3d.txt pyproject.toml
%/.ready:
	rm -rf $*
	$(PYTHON) -m venv $*
	$*/bin/python -m pip install $(PIP_FLAGS) -r $(filter requirements/%,$^)
	$*/bin/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

setup: $(VENV_50)/.ready
setup-lts: $(VENV_45)/.ready $(VENV_42)/.ready

# Open3D's Linux wheel links libusb-1.0.so.0, which a bare machine lacks: installed here with apt-get
# only when it cannot be loaded, and only as root; otherwise a note, and the bench reports Open3D missing.
setup-open3d: $(VENV_O3D)/.ready
	@if ! $(VENV_O3D)/bin/python -c 'import ctypes; ctypes.CDLL("libusb-1.0.so.0")' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "libusb-1.0 missing (Open3D needs it): apt-get install -y libusb-1.0-0"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0; \
	  else \
	    echo "NOTE: libusb-1.0.so.0 is missing and this is not root with apt-get: Open3D cannot be imported;" \
	         "install libusb-1.0-0 (e.g. sudo apt-get install libusb-1.0-0). The Open3D figures will be absent."; \
	  fi; \
	fi

lint: setup
	$(VENV_50)/bin/ruff check .

test: setup setup-lts lint
	node --test farm/flamenco/test/
	$(VENV_42)/bin/python -m pytest tests/core tests/blender tests/formats
	$(VENV_45)/bin/python -m pytest tests/blender
	$(VENV_50)/bin/python -m pytest tests/core tests/blender

test-core: setup
	$(VENV_50)/bin/python -m pytest tests/core

demo: setup
	$(VENV_50)/bin/python tools/demo.py --out out/demo

# OpenEXR wheels for every platform are fetched from PyPI into wheels/ (cached); numpy is Blender's.
extension: setup
	$(VENV_50)/bin/python tools/build_extension.py

# 1920x1080: Build vs the forum recipe, sequence playback, then the cost of each point attribute; tables +
# out/bench/*.json (about 2 minutes).
# Then, in the Open3D venv: Open3D must read our PLY (a missing Open3D fails that test), and the CLI vs
# Open3D on the sequence's frame. bench_cli.py runs even when the test failed, to say which figures are
# absent; the target then fails with the test's status. (-p no:dash: a pytest plugin that Open3D's dash brings.)
bench: setup setup-open3d
	$(VENV_50)/bin/python tools/bench.py
	$(VENV_50)/bin/python tools/bench_sequence.py
	$(VENV_50)/bin/python tools/bench_attributes.py
	DEPTH_CLOUD_REQUIRE_OPEN3D=1 $(VENV_O3D)/bin/python -m pytest -q -p no:dash tests/open3d; \
	  status=$$?; $(VENV_O3D)/bin/python tools/bench_cli.py && exit $$status

clean:
	rm -rf $(VENV_50) $(VENV_45) $(VENV_42) $(VENV_O3D) out build dist wheels
