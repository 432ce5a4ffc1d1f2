# The two commands of the README: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The exact versions `make install` and the Dockerfile install (pip constraints); `make lock` writes it.
LOCK := requirements/lock.txt
UV_VERSION := 0.13.9
UV := $(VENV)/uv-$(UV_VERSION)/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000
export PORTAL_DATA_DIR ?= $(CURDIR)/data

NPM_STAMP := frontend/node_modules/.installed
WEB_INDEX := src/portal/web/index.html
WEB_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts frontend/tsconfig.json

.PHONY: install lock run test lint types unit bench clean web client client-check frontend-test browser sshd

install: $(STAMP) $(NPM_STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --constraint=$(LOCK) --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check --constraint=$(LOCK) -e '.[dev]'
	@touch $(STAMP)

# Re-resolves $(LOCK) from pyproject.toml (the runtime and the dev extra, and pip) for Python 3.11 on Linux x86-64,
# keeping its current versions where they still fit; `make lock UPGRADE=1` moves everything to the newest releases.
# uv comes from PyPI into its own folder of the venv, not into the venv's packages.
lock: $(UV)
	printf 'pip\n' | $(UV) pip compile --quiet pyproject.toml - --extra dev --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' \
	  $(if $(filter-out 0,$(UPGRADE)),--upgrade) --output-file $(LOCK)

$(UV):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --target $(VENV)/uv-$(UV_VERSION) uv==$(UV_VERSION)

# npm install, not npm ci: the registry mirror serves only the Linux builds of optional native packages, which
# leaves the lock without the others and makes npm ci refuse it; npm install follows the lock all the same.
$(NPM_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm install --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

# The UI is built into the Python package; `portal serve` serves it at /.
web: $(WEB_INDEX)

$(WEB_INDEX): $(NPM_STAMP) $(WEB_SOURCES)
	cd frontend && npm run build --silent

# The API client's types are generated from the OpenAPI document; `client-check` fails when they are stale.
client: $(STAMP) $(NPM_STAMP)
	$(BIN)/portal openapi > frontend/openapi.json
	cd frontend && npx --no-install openapi-typescript openapi.json -o src/api/schema.d.ts --silent

client-check: $(STAMP) $(NPM_STAMP)
	@tmp=$$(mktemp -d) && $(BIN)/portal openapi > $$tmp/openapi.json \
	  && (cd frontend && npx --no-install openapi-typescript $$tmp/openapi.json -o $$tmp/schema.d.ts --silent) \
	  && if cmp -s $$tmp/openapi.json frontend/openapi.json && cmp -s $$tmp/schema.d.ts frontend/src/api/schema.d.ts; \
	     then rm -rf $$tmp; else rm -rf $$tmp; echo "the generated API client is stale: run 'make client' and commit"; exit 1; fi

frontend-test: $(NPM_STAMP)
	cd frontend && npm run typecheck --silent && npm test --silent

# Browser tests drive the system Chromium (Debian's package); nothing downloads a browser of its own.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && (apt-get install -y -q chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium >/dev/null)); } \
	  || echo "Chromium is not installed and cannot be installed here (apt-get install chromium): the browser tests will skip"

# The Git-over-SSH source test starts its own sshd (Debian's openssh-server; no service is enabled or started).
sshd:
	@[ -x /usr/sbin/sshd ] \
	  || { [ "$$(id -u)" = 0 ] && (apt-get install -y -q --no-install-recommends openssh-server >/dev/null \
	       || (apt-get update -q && apt-get install -y -q --no-install-recommends openssh-server >/dev/null)); } \
	  || echo "sshd is not installed and cannot be installed here (apt-get install openssh-server): the SSH source test will skip"

run: install web
	@echo "Starting the portal on http://localhost:$(PORT) (data in $(PORTAL_DATA_DIR))"
	@if [ -f "$(PORTAL_DATA_DIR)/initial-admin-password" ]; then \
	  echo "Log in as admin with the password in $(PORTAL_DATA_DIR)/initial-admin-password"; \
	else echo "The first start creates the user admin and prints its password below."; fi
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

types: install
	$(BIN)/mypy

# pytest-xdist workers: `auto` is one per core; TEST_WORKERS=0 runs the tests in this one process.
TEST_WORKERS ?= auto

unit: install web browser sshd
	$(BIN)/pytest -q -n $(TEST_WORKERS)

test: install lint types client-check frontend-test unit

bench: install
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache frontend/node_modules src/portal/web
