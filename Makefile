# The two commands of the README: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export PORTAL_DATA_DIR ?= $(CURDIR)/data

.PHONY: install run test lint types unit bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: install
	@echo "Starting the portal on http://localhost:$(PORT) (data in $(PORTAL_DATA_DIR))"
	@if [ -f "$(PORTAL_DATA_DIR)/initial-admin-password" ]; then \
	  echo "Log in as admin with the password in $(PORTAL_DATA_DIR)/initial-admin-password"; \
	else echo "The first start creates the user admin and prints its password below."; fi
	$(BIN)/portal serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: install lint types unit

bench: install
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
