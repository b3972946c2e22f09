# llm-gateway developer commands. `make serve` runs the gateway locally; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
LLM_GATEWAY_MASTER_KEY ?= sk-local-gateway
export LLM_GATEWAY_MASTER_KEY

.PHONY: install serve test lint typecheck unit bench clean fuzz load soak

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

# Hardening runs (see the README's "Hardening" section). FUZZ_EXAMPLES, LOAD_STREAMS, SOAK_REQUESTS, SOAK_MIX.
FUZZ_EXAMPLES ?= 10000
SCHEMATHESIS_EXAMPLES ?= 1000
LOAD_STREAMS ?= 200
SOAK_REQUESTS ?= 20000
SOAK_MIX ?= stream=5,json=3,bad_request=1,unknown_model=1,upstream_error=1,disconnect=1
HARDENING := PYTHONPATH=shared:handlers:. $(PY) -m

fuzz: install
	$(HARDENING) tests.hardening.fuzz --examples $(FUZZ_EXAMPLES) --socket-examples 1000
	SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/functional/test_schemathesis.py

load: install
	$(HARDENING) tests.hardening.load load --streams $(LOAD_STREAMS)

soak: install
	$(HARDENING) tests.hardening.load soak --requests $(SOAK_REQUESTS) --mix $(SOAK_MIX)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
