# One command to run Storyteller, one to test it. Both build .venv from pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core checks the pages for accessibility in the browser tests. It comes from npm, lives in the
# venv folder and is never served. Pinned, since a newer axe adds rules; the stamp names the version.
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/.installed-$(AXE_VERSION)

.PHONY: run test test-fast bench clean axe lint

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/storyteller models install
	$(BIN)/storyteller serve

$(AXE):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(VENV)/axe --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION) && touch $@; \
	else \
		echo "npm is missing: axe-core is not installed, the accessibility checks will skip (install nodejs and npm)" >&2; \
	fi

axe: $(AXE)

# The house style is checked before the tests: ruff's lint rules and its formatter (pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check storyteller tests setup.py media
	$(BIN)/ruff format --check storyteller tests setup.py media

test: $(STAMP) $(AXE) lint
	$(BIN)/storyteller models install --tiny-en --data $(CURDIR)/.venv/storyteller-test-data
	STORYTELLER_MODELS=$(CURDIR)/.venv/storyteller-test-data/models $(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# Every benchmark in tests/bench in a short mode, one table of ours vs its anchor (10-15 min on 2 cores).
bench: $(STAMP)
	STORYTELLER_MODELS=$${STORYTELLER_MODELS:-$(CURDIR)/.venv/storyteller-test-data/models} $(BIN)/python tests/bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache
