# zerops — `make demo` sets everything up and runs the main job on the bundled example; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
ZEROPS  = $(VENV)/bin/zerops
STAMP   = $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: all venv models demo lint test test-fast bench bench-render bench-sam bench-memory bench-evidence e2e realdev clean help

all: demo

help:
	@echo "make demo        set up .venv, fetch the embedded model, segment examples/chair.ply into out/demo"
	@echo "make lint        ruff (pyflakes, pycodestyle, import order, bugbear, complexity) on src tests bench"
	@echo "make test        lint, then the test suite (fetches the embedded model first)"
	@echo "make e2e         headless-browser test of the HTML viewer (installs Debian's chromium if missing)"
	@echo "make bench       renderer benchmark (bench/render.json)"
	@echo "make bench-sam   Segment Anything benchmark and quality table (bench/sam.json)"
	@echo "make bench-evidence what the merge consumes, against the ground truth: recall, candidate choice, partitions, view error (bench/evidence.json)"
	@echo "make bench-memory peak RSS of the pipeline at 10k / 100k / 1M points (bench/memory.json)"
	@echo "make realdev     convert pybullet_data robots and objects into data/realdev (PartNetE layout)"

venv: $(STAMP)

# torch is pinned first: an unpinned torch would pull GBs of CUDA packages on a CPU machine.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[hf,ray,test]"
	touch $(STAMP)

models: $(STAMP)
	$(ZEROPS) models fetch

demo: models
	$(ZEROPS) segment examples/chair.ply --out $(DEMO_OUT)
	$(ZEROPS) view $(DEMO_OUT)
	@echo "demo output: $(DEMO_OUT)/views.png (parts colored), $(DEMO_OUT)/viewer.html (interactive), $(DEMO_OUT)/parts.ply, $(DEMO_OUT)/summary.json"

lint: $(STAMP)
	$(PY) -m ruff check src tests bench

test: lint models
	$(PY) -m pytest

test-fast: lint
	$(PY) -m pytest -m "not slow and not model"

# needs no model; sets up .venv only when it is missing (its stamp would reinstall everything)
e2e:
	@test -x $(PY) || $(MAKE) venv
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium with apt-get"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || exit 1; \
	  else \
	    echo "make e2e needs the chromium browser: install it (Debian/Ubuntu: sudo apt-get install chromium) and rerun" >&2; \
	    exit 1; \
	  fi; }
	$(PY) -m pytest tests/e2e -q

bench: bench-render bench-memory

bench-render: $(STAMP)
	$(PY) bench/bench_render.py

bench-sam: models
	$(PY) bench/bench_sam.py

bench-evidence: models
	$(PY) bench/bench_evidence.py

bench-memory: models
	$(PY) bench/bench_memory.py

# real multi-part assets: pybullet 3.2.7's pybullet_data (wheel or sdist; only pybullet_data/ is unpacked)
realdev: $(STAMP)
	@mkdir -p data/.wheels
	@ls data/.wheels/pybullet-3.2.7* >/dev/null 2>&1 || $(PY) -m pip download -q pybullet==3.2.7 --no-deps -d data/.wheels
	$(PY) bench/realdev.py --wheels data/.wheels --src data/.pybullet --out data/realdev --sheet out/realdev-sheet.png

clean:
	rm -rf out build dist src/*.egg-info .pytest_cache
