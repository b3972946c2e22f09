#!/bin/bash
# Start command for the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap): uvicorn serves the
# ASGI app on $PORT and LWA streams its responses back through Lambda response streaming.
# PYTHONUNBUFFERED: logs and EMF metrics must reach CloudWatch before Lambda freezes the environment.
# --no-proxy-headers: the only client is the adapter on 127.0.0.1 and nothing reads the client address, so
# uvicorn need not parse X-Forwarded-For on every request.
# --http: uvicorn's own httptools protocol, held by one that bounds how long a client may take to send its
# request's head and body (llm_gateway/api/slow_clients.py, docs/decisions/0008-slow-clients.md);
# LLM_GATEWAY_HTTP=httptools serves with uvicorn's alone.
# --workers: one process per vCPU. On demand an environment serves one request at a time, so one process.
# On Lambda Managed Instances it serves many at once and one event loop uses at most one vCPU, so the
# environment's vCPUs (its memory / LLM_GATEWAY_MEMORY_PER_VCPU GiB) get a worker each; uvicorn's own
# supervisor runs them on one listening socket (docs/deploy-modes.md has the measurement).
# LLM_GATEWAY_WORKERS overrides the count.
workers="${LLM_GATEWAY_WORKERS:-}"
if [ -z "$workers" ] && [ "${AWS_LAMBDA_INITIALIZATION_TYPE:-}" = lambda-managed-instances ] \
    && [ -n "${LLM_GATEWAY_MEMORY_PER_VCPU:-}" ]; then
  workers=$(( ${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-2048} / 1024 / ${LLM_GATEWAY_MEMORY_PER_VCPU%%.*} ))
fi
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || workers=1
PATH=$PATH:$LAMBDA_TASK_ROOT/bin \
PYTHONPATH=$LAMBDA_TASK_ROOT:/opt/python:$PYTHONPATH \
PYTHONUNBUFFERED=1 \
exec python -m uvicorn --host 127.0.0.1 --port "${PORT:-8000}" --workers "$workers" --no-access-log --no-proxy-headers \
  --timeout-keep-alive 60 --http "${LLM_GATEWAY_HTTP:-llm_gateway.api.slow_clients:BoundedHttpTools}" gateway:app
