#!/bin/bash
# Start command for the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap): uvicorn serves the
# ASGI app on $PORT and LWA streams its responses back through Lambda response streaming.
# PYTHONUNBUFFERED: logs and EMF metrics must reach CloudWatch before Lambda freezes the environment.
# --no-proxy-headers: the only client is the adapter on 127.0.0.1 and nothing reads the client address, so
# uvicorn need not parse X-Forwarded-For on every request.
# --http httptools: what uvicorn picks anyway when httptools is installed, said outright.
PATH=$PATH:$LAMBDA_TASK_ROOT/bin \
PYTHONPATH=$LAMBDA_TASK_ROOT:/opt/python:$PYTHONPATH \
PYTHONUNBUFFERED=1 \
exec python -m uvicorn --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --no-proxy-headers --timeout-keep-alive 60 \
  --http httptools gateway:app
