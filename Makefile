# platform-payments: `make run` serves on :3700 with SQLite; `make test` runs everything CI runs.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
PYTHON := $(PYTHON)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PLUGINS := plugins/stripe_provider plugins/http_consumer plugins/funnel_consumer plugins/sandbox_provider
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

export PAYMENTS_INTERNAL_TOKEN ?= dev-internal-token
export PORT ?= 3700

.PHONY: install install-test run migrate test lint typecheck unit bench chaos clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "make: Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "pip==26.3"

$(STAMP): $(BIN)/python pyproject.toml constraints.txt $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(PIP) install --quiet -c constraints.txt -e . $(foreach p,$(PLUGINS),-e $(p))
	@touch $@

$(TEST_STAMP): $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	@touch $@

## install: the host and the bundled plugins into .venv
install: $(STAMP)

## run: install, migrate the SQLite database under ./data, serve on :3700
# FunnelAI's events go to the sandbox's development inbox unless a real URL is exported
# (GET /sandbox/inbox shows them; docs/sandbox.md).
run: export PAYMENTS_CONSUMER_FUNNEL_EVENTS_URL ?= http://localhost:$(PORT)/sandbox/inbox
run: install
	$(BIN)/payments migrate
	$(BIN)/payments serve

migrate: install
	$(BIN)/payments migrate

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy core web bench chaos plugins/stripe_provider/stripe_provider plugins/http_consumer/http_consumer plugins/funnel_consumer/funnel_consumer plugins/sandbox_provider/sandbox_provider tests

unit: $(TEST_STAMP)
	$(BIN)/pytest

## bench: the benchmarks on PostgreSQL (bench/README.md); installs Debian's wrk if missing
bench: $(TEST_STAMP)
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## chaos: 2 serve + 2 worker on PostgreSQL under a webhook storm with kill -9 (chaos/README.md)
chaos: $(TEST_STAMP)
	$(BIN)/python -m chaos.run $(CHAOS_ARGS)

## test: lint, type-check, then the whole suite on SQLite and PostgreSQL
test: lint typecheck unit

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
