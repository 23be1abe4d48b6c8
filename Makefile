# Each target bootstraps .venv itself: on a fresh machine with only Python,
# `make demo` and `make test` are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record what was installed; they are rebuilt when pyproject.toml changes.
$(VENV)/.cli-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[cli]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml examples/plugin_channel/pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[cli,dev]' -e examples/plugin_channel
	@touch $@ $(VENV)/.cli-installed

demo: $(VENV)/.cli-installed
	$(BIN)/propcare demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy --strict src

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache .hypothesis
