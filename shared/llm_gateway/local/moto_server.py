"""moto's DynamoDB as a local HTTP endpoint, one call at a time, in a thread or in a process of its own.

DynamoDB applies the writes to one item one after the other, so a conditional update is atomic: two
instances can never both take the last slot of a limit or the last dollar of a budget. moto's server
handles requests in threads and its update is a read, a check and a write, so two concurrent
conditional updates can both pass. Here every call runs under one lock (connections are still served by
threads, so a keep-alive connection never blocks another), which gives the gateway the guarantee it
has in AWS.

    python -m llm_gateway.local.moto_server --host 127.0.0.1 --port 4566

``make serve`` starts it as a process of its own (:mod:`llm_gateway.local.dynamodb`), so its CPU is not the
gateway's; tests run it in a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialised_app() -> WsgiApp:
    """moto's WSGI app, each call (body read, work, answer) under one lock."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return one_at_a_time


class MotoServer:
    """The serialised moto server on ``host:port`` (0: a free port), served from a thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per call otherwise
        self._server = make_server(host, port, serialised_app(), threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-dynamodb", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self) -> None:
        """Serve from the calling thread until :meth:`stop` (or the process ends)."""
        self._server.serve_forever()

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's DynamoDB, one call at a time")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = MotoServer(args.host, args.port)
    print(f"DynamoDB (moto) at {server.endpoint}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve()


if __name__ == "__main__":
    main()
