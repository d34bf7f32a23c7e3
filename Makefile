# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= runs/demo

.PHONY: install demo test lint bench clean

# torch is installed first and pinned: 2.13.0 is available as a local CPU wheel; an unpinned torch pulls GBs of CUDA.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/trajaug datasets build halfcheetah-expert
	$(VENV)/bin/trajaug datasets info halfcheetah-expert

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_bc.py

lint: $(STAMP)
	$(VENV)/bin/ruff check trajaug tests bench
	$(VENV)/bin/mypy trajaug

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
