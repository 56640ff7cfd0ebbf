# Berth: `make run` starts the stack, `make test` runs every test. Both set up what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration e2e bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy services

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -q

# ruff first (cheap), then every test: unit, integration against real PostgreSQL, e2e with skopeo.
test: lint
	$(BIN)/pytest tests -q -ra

bench: $(STAMP)
	$(BIN)/python -m bench.registry_bench

# The registry alone for now; the whole stack (proxy, token, core, ...) arrives with the launcher.
run: $(STAMP)
	@test -f berth.yml || cp deploy/berth.yml.tmpl berth.yml
	@mkdir -p .berth/storage
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='berth'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -qc 'CREATE DATABASE berth'
	BERTH_CONFIG=berth.yml BERTH_STORAGE__FILESYSTEM__ROOTDIRECTORY=$(CURDIR)/.berth/storage \
		BERTH_LOG__FORMAT=console $(BIN)/python -m services.registry

clean:
	rm -rf $(VENV) .berth .pytest_cache .ruff_cache
