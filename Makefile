# One command to run Storyteller, one to test it. Both build .venv from pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/storyteller models install
	$(BIN)/storyteller serve

test: $(STAMP)
	$(BIN)/storyteller models install --tiny-en --data $(CURDIR)/.venv/storyteller-test-data
	STORYTELLER_MODELS=$(CURDIR)/.venv/storyteller-test-data/models $(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# Every benchmark in tests/bench in a short mode, one table of ours vs its anchor (10-15 min on 2 cores).
bench: $(STAMP)
	STORYTELLER_MODELS=$${STORYTELLER_MODELS:-$(CURDIR)/.venv/storyteller-test-data/models} $(BIN)/python tests/bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
