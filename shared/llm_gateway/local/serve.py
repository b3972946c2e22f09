"""``make serve``: the gateway under uvicorn, with an embedded DynamoDB unless one is configured.

python -m llm_gateway.local.serve --host 127.0.0.1 --port 8000 [--workers N]   (run from handlers/)

``--workers N`` serves from N processes (uvicorn's ``--workers``), as a server with N cores would run it.
They share the embedded DynamoDB, so keys, limits, spend, the cache and the routing state are the same
whichever worker a request reaches.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run llm-gateway locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--app", default="gateway:app", help="ASGI app to serve (module:attribute)")
    parser.add_argument("--no-access-log", action="store_true", help="the gateway logs each request itself")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level")
    parser.add_argument("--workers", type=int, default=1, help="processes serving the port (uvicorn's); default 1")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    import uvicorn

    from llm_gateway.api.slow_clients import served_http
    from llm_gateway.local.dynamodb import local_dynamodb_env

    additions, embedded = local_dynamodb_env()
    os.environ.update(additions)  # before the workers start: they inherit it
    if embedded is not None:
        tables = ", ".join(f"{k}={v}" for k, v in sorted(embedded.env.items()) if k.endswith("_TABLE"))
        print(f"embedded DynamoDB at {embedded.endpoint} ({tables})", file=sys.stderr, flush=True)
    # as handlers/run.sh: nothing reads the client's address, so X-Forwarded-For is not parsed
    options: dict[str, Any] = {
        "access_log": not args.no_access_log,
        "http": served_http(os.environ),  # uvicorn's httptools, bounding slow clients (api/slow_clients.py)
        "proxy_headers": False,
        "log_level": args.log_level,
    }
    try:
        uvicorn.run(args.app, host=args.host, port=args.port, workers=args.workers, **options)
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
