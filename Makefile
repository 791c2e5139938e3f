# `make run` and `make test` are the whole set-up: each creates the virtualenv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The graphql-http audit suite (tests/ownergraph/test_http_audit.py), pinned by its lock file.
AUDIT := tests/http/node_modules/.package-lock.json
# graphql-codegen and tsc for tests/ownergraph/test_codegen.py, pinned by their lock file.
CODEGEN := web/codegen/node_modules/.package-lock.json
# GraphiQL's browser files (ownergraph/graphiql.py), served by the app itself.
GRAPHIQL := web/graphiql/node_modules/.package-lock.json
# The dashboard's two browser libraries (ownergraph/dashboard.py), the same way.
DASHBOARD := web/dashboard/node_modules/.package-lock.json
# PostGraphile 4, the benchmark's peer (bench/peer.py), pinned by its lock file.
PEER := bench/peer/node_modules/.package-lock.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv graphiql dashboard run test lint bench clean messages

venv: $(STAMP)

# Re-installs whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# npm is optional on a developer's machine (the audit is then skipped); CI=true requires it.
$(AUDIT): tests/http/package-lock.json
	@if command -v npm >/dev/null; then cd tests/http && npm ci --no-audit --no-fund; \
	else echo "npm not found: the graphql-http audit will be skipped"; fi

$(CODEGEN): web/codegen/package-lock.json
	@if command -v npm >/dev/null; then cd web/codegen && npm ci --no-audit --no-fund; \
	else echo "npm not found: the codegen check will be skipped"; fi

graphiql: $(GRAPHIQL)

$(GRAPHIQL): web/graphiql/package-lock.json
	@if command -v npm >/dev/null; then cd web/graphiql && npm ci --no-audit --no-fund; \
	else echo "npm not found: GraphiQL's page will say how to install its files"; fi

dashboard: $(DASHBOARD)

$(DASHBOARD): web/dashboard/package-lock.json
	@if command -v npm >/dev/null; then cd web/dashboard && npm ci --no-audit --no-fund; \
	else echo "npm not found: the dashboard's page will say how to install its files"; fi

# The message catalogues (kernel/messages.py): extract the N_(...) texts, merge them into
# each locale's .po (translate the new entries there), compile the .mo files.
LOCALES_DIR := kernel/locale
messages: venv
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k N_ --no-location \
		--sort-output --project ownergraph -o $(LOCALES_DIR)/ownergraph.pot \
		authz db kernel ownergraph resolvers schema subscriptions
	$(BIN)/pybabel update -D ownergraph -i $(LOCALES_DIR)/ownergraph.pot -d $(LOCALES_DIR) \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -D ownergraph -d $(LOCALES_DIR) --statistics
	$(BIN)/pybabel compile -D codes -d $(LOCALES_DIR)

# Blocks while serving: use a second terminal for anything else.
# Demo sign-in (a pick-list of the demo users) is on: it works only on a loopback HOST.
run: venv $(GRAPHIQL) $(DASHBOARD)
	$(BIN)/ownergraph migrate && $(BIN)/ownergraph seed --demo && \
	OWNERGRAPH_DEMO_LOGIN=true $(BIN)/ownergraph serve --host $(HOST) --port $(PORT)

# The browser test uses Debian's chromium: installed here in CI when absent.
test: venv $(AUDIT) $(CODEGEN) $(GRAPHIQL) $(DASHBOARD)
	@if [ "$$CI" = true ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then \
	(apt-get update -q >/dev/null; apt-get install -y -q chromium >/dev/null) || echo "chromium not installed: browser test skipped"; fi
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(PEER): bench/peer/package-lock.json
	@if command -v npm >/dev/null; then cd bench/peer && npm ci --no-audit --no-fund; \
	else echo "npm not found: the benchmark will skip PostGraphile"; fi

# `make bench QUICK=1`: one short round on a small database.
bench: venv $(PEER)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

# Leaves the virtualenv and ./ownergraph.db alone.
clean:
	rm -rf build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
