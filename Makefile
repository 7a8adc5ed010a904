# Everything runs from a virtual environment in .venv, built from the lock files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Sources the linters and the type checker read (not the virtual environment).
CODE := $(wildcard index.py config controllers models routes tests bench deploy)

.PHONY: run test lint bench fleet-check release lock clean

run: $(VENV)/.runtime  ## serve on :3000 against the local MariaDB (database schoolapp)
	$(BIN)/python index.py

test: $(VENV)/.dev  ## the whole suite against a real MySQL-compatible server
	$(BIN)/pytest

lint: $(VENV)/.dev  ## ruff, ruff format and mypy --strict
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy --strict $(CODE)
	$(BIN)/cfn-lint deploy/cloudformation.yml

bench: $(VENV)/.dev  ## service versus a raw-ASGI ceiling and a FastAPI peer, under wrk (BENCH_ARGS=--quick: ~80 s)
	$(BIN)/python -m bench $(BENCH_ARGS)

fleet-check: $(VENV)/.dev  ## rolling deploy of 3 processes behind HAProxy under load, one kill -9 (FLEET_ARGS=--quick: 20 s)
	$(BIN)/python deploy/fleet_check.py $(FLEET_ARGS)

release: $(VENV)/.runtime  ## build, push and deploy this commit: make release ARGS="--region ... --dry-run"
	$(BIN)/python deploy/release.py $(ARGS)

lock:  ## re-pin requirements*.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml -q --python-version 3.11 --no-header -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml -q --python-version 3.11 --no-header --extra dev -o requirements-dev.lock

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.lock | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(VENV)/bin/python
	$(BIN)/pip install -q -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
