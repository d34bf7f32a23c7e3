# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= runs/demo

.PHONY: install demo test lint docs bench clean

# torch is installed first and pinned: 2.13.0 is available as a local CPU wheel; an unpinned torch pulls GBs of CUDA.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the built-in data, at a reduced budget (about 3 minutes on 2 cores; the README shows the full one):
# build halfcheetah-expert from the bundled expert -> CAT on 7 demos -> BC on the CAT set vs BC on the 7 demos.
demo: $(STAMP)
	$(VENV)/bin/trajaug datasets build halfcheetah-expert
	$(VENV)/bin/trajaug datasets info halfcheetah-expert
	$(VENV)/bin/trajaug augment cat --dataset halfcheetah-expert --episodes 7 --per-episode 10 \
		--total-steps 102400 --out $(DEMO_DIR)/cat.hdf5 --force
	$(VENV)/bin/trajaug bc train --dataset $(DEMO_DIR)/cat.hdf5 --steps 10000 --out $(DEMO_DIR)/bc-on-cat --force
	$(VENV)/bin/trajaug bc train --dataset halfcheetah-expert --episodes 7 --steps 10000 --out $(DEMO_DIR)/bc-on-demos --force
	$(VENV)/bin/trajaug bc eval $(DEMO_DIR)/bc-on-cat/policy.pt --episodes 20
	$(VENV)/bin/trajaug bc eval $(DEMO_DIR)/bc-on-demos/policy.pt --episodes 20

test: $(STAMP)
	$(PY) -m pytest -q

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(PY) bench/bench_bc.py

lint: $(STAMP)
	$(VENV)/bin/ruff check trajaug tests bench scripts
	$(VENV)/bin/mypy trajaug
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
