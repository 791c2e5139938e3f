# `make run` and `make test` are the whole set-up: each creates the virtualenv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test lint bench clean

venv: $(STAMP)

# Re-installs whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: venv
	$(BIN)/ownergraph migrate && $(BIN)/ownergraph seed --demo && $(BIN)/ownergraph serve

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# `make bench QUICK=1`: one short round on a small database.
bench: venv
	$(BIN)/python -m bench $(if $(QUICK),--quick)

# Leaves the virtualenv and ./ownergraph.db alone.
clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
