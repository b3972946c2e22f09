# llm-gateway developer commands. `make serve` runs the gateway locally; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
LLM_GATEWAY_MASTER_KEY ?= sk-local-gateway
export LLM_GATEWAY_MASTER_KEY

.PHONY: install serve test lint typecheck unit bench bench-routing bench-tenants clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

serve: install
	cd handlers && PYTHONPATH=../shared exec ../$(PY) -m uvicorn --host 127.0.0.1 --port $(PORT) --no-access-log gateway:app

lint: install
	$(PY) -m ruff check shared handlers tests bench
	$(PY) -m ruff format --check shared handlers tests bench

typecheck: install
	$(PY) -m mypy

unit: install
	$(PY) -m pytest -q

test: lint typecheck unit

bench: install
	$(PY) bench/run.py

bench-routing: install
	$(PY) bench/routing_overhead.py --requests 1000 --rounds 9

bench-tenants: install
	$(PY) bench/tenants.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
