"""``make serve``: the gateway under uvicorn, with an embedded DynamoDB unless one is configured.

python -m llm_gateway.local.serve --host 127.0.0.1 --port 8000   (run from handlers/)
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run llm-gateway locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--app", default="gateway:app", help="ASGI app to serve (module:attribute)")
    parser.add_argument("--no-access-log", action="store_true", help="the gateway logs each request itself")
    args = parser.parse_args(argv)

    import uvicorn

    from llm_gateway.api.uvicorn_protocol import PROTOCOL
    from llm_gateway.local.dynamodb import local_dynamodb_env

    additions, embedded = local_dynamodb_env()
    os.environ.update(additions)
    if embedded is not None:
        tables = ", ".join(f"{k}={v}" for k, v in sorted(embedded.env.items()) if k.endswith("_TABLE"))
        print(f"embedded DynamoDB at {embedded.endpoint} ({tables})", file=sys.stderr, flush=True)
    try:
        uvicorn.run(args.app, host=args.host, port=args.port, access_log=not args.no_access_log, http=PROTOCOL)
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
