# Depth Cloud: set-up, tests, demo. Every target creates what it needs from scratch.
#   make demo   venv + pinned deps, render a sample scene with Blender 5.3, build its point cloud (out/demo/)
#   make test   venvs + colmap + lint + the whole suite under Blender 4.2 LTS, 4.5 LTS, 5.0, 5.2 LTS and 5.3
#   make lint   ruff and mypy (pinned in requirements/blender-5.3.txt; configuration in pyproject.toml)
#   make extension   the installable Blender extension, dist/depth_cloud-<version>.zip
#   make bench  Build, sequences and the CLI on frames like users' renders, against baselines and the floor (docs/benchmarks.md)
PIP_FLAGS ?= --quiet --disable-pip-version-check

# Each bpy wheel needs the CPython it was built for: 4.2-5.0 Python 3.11, 5.1 and later Python 3.13.
# tools/find_python.sh finds one that runs: on the PATH, else under pyenv's versions folder (PYENV_ROOT or
# ~/.pyenv). Set PYTHON311 / PYTHON313 to choose another.
PYTHON311 ?= $(shell tools/find_python.sh 3.11)
PYTHON313 ?= $(shell tools/find_python.sh 3.13)

VENV_53 := .venv
VENV_52 := .venv-bpy5.2
VENV_50 := .venv-bpy5.0
VENV_45 := .venv-bpy4.5
VENV_42 := .venv-bpy4.2
VENV_O3D := .venv-open3d

.PHONY: setup setup-all setup-open3d setup-colmap lint test test-core demo extension bench clean

# A venv is rebuilt when its pinned requirements or the package metadata change.
$(VENV_53)/.ready: requirements/blender-5.3.txt pyproject.toml
$(VENV_52)/.ready: requirements/blender-5.2.txt pyproject.toml
$(VENV_50)/.ready: requirements/blender-5.0.txt pyproject.toml
$(VENV_45)/.ready: requirements/blender-4.5.txt pyproject.toml
$(VENV_42)/.ready: requirements/blender-4.2.txt pyproject.toml
$(VENV_O3D)/.ready: requirements/bench-open3d.txt pyproject.toml
$(VENV_53)/.ready $(VENV_52)/.ready: PY_VERSION := 3.13
$(VENV_53)/.ready $(VENV_52)/.ready: PY := $(PYTHON313)
$(VENV_50)/.ready $(VENV_45)/.ready $(VENV_42)/.ready $(VENV_O3D)/.ready: PY_VERSION := 3.11
$(VENV_50)/.ready $(VENV_45)/.ready $(VENV_42)/.ready $(VENV_O3D)/.ready: PY := $(PYTHON311)
%/.ready:
	@if [ -z "$(PY)" ]; then \
	  echo "error: $* needs Python $(PY_VERSION) (its bpy wheel is built for it), and none runs here: not" \
	       "python$(PY_VERSION) on the PATH, nor under $${PYENV_ROOT:-$$HOME/.pyenv}/versions/. Install it" \
	       "(e.g. 'pyenv install $(PY_VERSION)') or name it: make PYTHON$(subst .,,$(PY_VERSION))=/path/to/python$(PY_VERSION)" >&2; \
	  exit 1; \
	fi
	rm -rf $*
	$(PY) -m venv $*
	$*/bin/python -m pip install $(PIP_FLAGS) -r $(filter requirements/%,$^)
	$*/bin/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

setup: $(VENV_53)/.ready
setup-all: $(VENV_53)/.ready $(VENV_52)/.ready $(VENV_50)/.ready $(VENV_45)/.ready $(VENV_42)/.ready

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

# COLMAP itself reads the datasets' models in tests/formats (model_analyzer, bundle_adjuster): Debian's colmap,
# installed here with apt-get when it is missing and this is root (as `make test` runs in CI); otherwise a note, and
# the COLMAP test fails saying what to install (it never skips).
setup-colmap:
	@if ! command -v colmap >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "colmap missing (tests/formats/test_colmap.py runs it): apt-get install -y colmap"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq colmap; \
	  else \
	    echo "NOTE: colmap is missing and this is not root with apt-get: install it (e.g. sudo apt-get install" \
	         "colmap); tests/formats/test_colmap.py fails without it."; \
	  fi; \
	fi

lint: setup
	$(VENV_53)/bin/ruff check .
	$(VENV_53)/bin/mypy

# The whole suite on every Blender we support; the core's suite on Python 3.11 (numpy 2 in the 4.2 venv,
# numpy 1.26 in 5.0's) and 3.13 (5.3); the format readers (tests/formats, COLMAP's own binary) and the Dask cluster
# of --scheduler (tests/cluster: a LocalCluster of 2 worker processes on 127.0.0.1) in the 4.2 venv.
test: setup-all setup-colmap lint
	node --test farm/flamenco/test/
	$(VENV_42)/bin/python -m pytest tests/core tests/blender tests/formats tests/cluster
	$(VENV_45)/bin/python -m pytest tests/blender
	$(VENV_50)/bin/python -m pytest tests/core tests/blender
	$(VENV_52)/bin/python -m pytest tests/blender
	$(VENV_53)/bin/python -m pytest tests/core tests/blender

test-core: setup
	$(VENV_53)/bin/python -m pytest tests/core

demo: setup
	$(VENV_53)/bin/python tools/demo.py --out out/demo

# OpenEXR wheels for every platform are fetched from PyPI into wheels/ (cached); numpy is Blender's.
extension: setup
	$(VENV_53)/bin/python tools/build_extension.py

# On frames like users' renders (tools/bench_frames.py: the demo shot at 1920x1080 and 3840x2160, textured, 16 Cycles
# samples, in every Capture Format; rendered once, about 20 minutes on 2 cores, then cached in out/bench/frames):
# Build vs the seed's recipe, the forum recipe and the floor (decode + write); sequence playback vs its floor; what
# each capture format costs and changes; the cost of each point attribute; tables + out/bench/*.json.
# Then, in the Open3D venv: Open3D must read our PLY (a missing Open3D fails that test), and the CLI vs
# Open3D on the bench's 1080p frame. bench_cli.py runs even when the test failed, to say which figures are
# absent; the target then fails with the test's status. (-p no:dash: a pytest plugin that Open3D's dash brings.)
# Then convert on a local Dask cluster of 1 and 2 workers against --jobs 1/2 on the same frames, and the cost of one
# task of each engine (tools/bench_cluster.py, in the 4.2 venv that has Dask; out/bench/cluster.json).
bench: setup setup-open3d $(VENV_42)/.ready
	$(VENV_53)/bin/python tools/bench_frames.py --formats ZIP,ZIP_HALF,NONE,NONE_HALF
	$(VENV_53)/bin/python tools/bench.py
	$(VENV_53)/bin/python tools/bench_sequence.py
	$(VENV_53)/bin/python tools/bench_capture.py
	$(VENV_53)/bin/python tools/bench_attributes.py
	$(VENV_42)/bin/python tools/bench_cluster.py
	DEPTH_CLOUD_REQUIRE_OPEN3D=1 $(VENV_O3D)/bin/python -m pytest -q -p no:dash tests/open3d; \
	  status=$$?; $(VENV_O3D)/bin/python tools/bench_cli.py && exit $$status

clean:
	rm -rf $(VENV_53) $(VENV_52) $(VENV_50) $(VENV_45) $(VENV_42) $(VENV_O3D) out build dist wheels
