# Everything runs from a virtual environment in .venv, built from the lock files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Sources the linters and the type checker read (not the virtual environment).
CODE := $(wildcard index.py cli.py config controllers mail models routes tests bench deploy)
# checkov's own environment, outside the checkout (its pins conflict with the dev
# extra's: boto3, packaging), one per lock file content.
CHECKOV_VENV := $(HOME)/.cache/schoolapp-checkov/$(shell sha256sum requirements-checkov.lock | cut -c1-16)

.PHONY: run test lint bench fleet-check release lock clean

run: $(VENV)/.runtime  ## serve on :3000 against the local MariaDB (database schoolapp)
	$(BIN)/python index.py

test: $(VENV)/.dev tests/browser/node_modules/.installed  ## the whole suite against a real MySQL-compatible server
	$(BIN)/pytest

# The console's browser tests: Debian's chromium and axe-core (npm), installed once.
tests/browser/node_modules/.installed: tests/browser/package-lock.json
	bash .ci/browser-deps
	touch $@

lint: $(VENV)/.dev $(CHECKOV_VENV)/.installed  ## ruff, ruff format, mypy --strict, cfn-lint, checkov
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy --strict $(CODE)
	$(BIN)/cfn-lint deploy/cloudformation.yml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		--file deploy/cloudformation.yml

bench: $(VENV)/.dev  ## service versus a raw-ASGI ceiling and a FastAPI peer, under wrk (BENCH_ARGS=--quick: ~80 s)
	$(BIN)/python -m bench $(BENCH_ARGS)

fleet-check: $(VENV)/.dev  ## rolling deploy of 3 processes behind HAProxy under load, one kill -9 (FLEET_ARGS=--quick: 20 s)
	$(BIN)/python deploy/fleet_check.py $(FLEET_ARGS)

release: $(VENV)/.runtime  ## build, push and deploy this commit: make release ARGS="--region ... --dry-run"
	$(BIN)/python deploy/release.py $(ARGS)

lock:  ## re-pin requirements*.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml -q --python-version 3.11 --no-header -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml -q --python-version 3.11 --no-header --extra dev -o requirements-dev.lock
	$(BIN)/uv pip compile deploy/checkov.in -q --python-version 3.11 --no-header -o requirements-checkov.lock

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.lock | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements.lock
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
