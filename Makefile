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
	$(BIN)/ruff check --no-cache services tests bench
	$(BIN)/ruff format --no-cache --check services tests bench
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
	$(BIN)/python -m bench.log_bench
	$(BIN)/python -m bench.token_bench

# The log collector, the token service, core (REST API) and the registry, as local processes; the proxy
# and the supervisor arrive with the launcher. Until the proxy exists, clients reach the token service directly
# (external_url). Ctrl-C stops everything.
run: $(STAMP)
	@test -f berth.yml || sed -e 's|/data/berth|$(CURDIR)/.berth|' -e 's|/var/log/berth|$(CURDIR)/.berth/logs|' \
		-e 's|^external_url: ""|external_url: "http://127.0.0.1:5001"|' deploy/berth.yml.tmpl > berth.yml
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='berth'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -qc 'CREATE DATABASE berth'
	@export BERTH_CONFIG=berth.yml; \
	$(BIN)/python -m services.log & log=$$!; \
	$(BIN)/python -m services.token & token=$$!; \
	$(BIN)/python -m services.core & core=$$!; \
	trap 'kill $$log $$token $$core 2>/dev/null; wait' EXIT; \
	echo "registry: http://127.0.0.1:5000/v2/ (login admin, password admin_password in berth.yml)"; \
	echo "REST API: http://127.0.0.1:5002/api/v2.0/ (e.g. curl -u admin:... .../projects)"; \
	echo "logs of every service: $(BIN)/berth logs -f"; \
	$(BIN)/python -m services.registry

clean:
	rm -rf $(VENV) .berth .pytest_cache .ruff_cache
