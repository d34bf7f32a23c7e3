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

# The main job on the built-in data at a reduced budget (about 2 minutes on 2 cores, docs/getting-started.md):
# build halfcheetah-expert from the bundled expert -> CAT on its first 3 demos (10k warm-start updates, 100k
# adversarial steps, 10 trajectories per demo) -> BC (10k updates) on the CAT set and on the 3 demos -> 20
# evaluation episodes each, standard and with sigma 0.1 action noise. Seed 0; the setting was chosen on seeds
# 100-105 (docs/results/demo-tuning), with the 256-256 generator on 8 environments: at this budget CAT's 128-128
# default on 32 showed no reliable gain, and 10k warm-start updates (20k by default) gave the better sets.
# The run resumes: a second `make demo` reuses $(DEMO_DIR); remove it to start again.
DEMO_SETTING := --dataset halfcheetah-expert --demo-counts 3 --seeds 1 --first-seed 0 \
	--method cat:total_steps=102400:hidden=256x256:n_envs=8:n_steps=256:bc_warmstart_steps=10000 \
	--per-episode 10 --bc-steps 10000 --eval-episodes 20 --bc-rows demos,augmented

demo: $(STAMP)
	$(VENV)/bin/trajaug datasets build halfcheetah-expert
	mkdir -p $(DEMO_DIR)
	$(VENV)/bin/trajaug bench few-demo $(DEMO_SETTING) --workers 2 --out $(DEMO_DIR) > $(DEMO_DIR)/bench.log
	@echo
	@cat $(DEMO_DIR)/few_demo.md
	@echo
	@echo "Full run (7 demos, CAT 1.5M steps, BC 60k, 100 episodes, 5 seeds): BC on CAT 97% of the demos' return vs 87%"
	@echo "for BC on the demos, 82% vs 62% under sigma 0.1 (README). Launch it: trajaug bench seed-table --rows demos,cat"

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
