# Each target bootstraps .venv itself: on a fresh machine with only Python,
# `make demo` and `make test` are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# Each adapter is its own distribution (adapters/<name>/pyproject.toml), installed
# editable beside propcare so that its entry point is found and its tests run.
ADAPTERS := $(patsubst %/pyproject.toml,%,$(wildcard adapters/*/pyproject.toml))

.PHONY: demo test lint typecheck pytest fuzz bench bench-scale docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps record what was installed; they are rebuilt when pyproject.toml changes.
$(VENV)/.cli-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[cli]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml examples/plugin_channel/pyproject.toml \
		$(addsuffix /pyproject.toml,$(ADAPTERS)) | $(BIN)/python
	$(PIP) install -e '.[cli,dev]' -e examples/plugin_channel $(addprefix -e ,$(ADAPTERS))
	@touch $@ $(VENV)/.cli-installed

demo: $(VENV)/.cli-installed
	$(BIN)/propcare demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests examples benchmarks adapters conftest.py
	$(BIN)/ruff format --check src tests examples benchmarks adapters conftest.py

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy --strict src
	$(foreach a,$(ADAPTERS),$(BIN)/mypy --strict $(a)/src &&) true

pytest: $(VENV)/.dev-installed
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q

test: lint typecheck pytest

# Random exploration with Hypothesis: the `deep` profile of conftest.py (random, many
# examples). Not part of `make test`, which runs the derandomized `ci` profile so that CI is
# deterministic; plain `pytest` runs the random `dev` profile.
fuzz: $(VENV)/.dev-installed
	HYPOTHESIS_PROFILE=deep $(BIN)/pytest -q -p no:cacheprovider

bench: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/run.py

# Cost against size (10k, 50k and 200k units; SQLite and PostgreSQL): long, not part of
# `make bench`. SCALE_ARGS=--quick for a smoke run; the plot goes to docs/img/scale.svg.
bench-scale: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/bench_scale.py $(SCALE_ARGS)

# The documentation site (mkdocs.yml) into site/; --strict turns every warning into a failure.
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

clean:
	rm -rf $(VENV) build dist site test-artifacts .mypy_cache .pytest_cache .ruff_cache .hypothesis propcare-demo-report
