"""Run an ASGI app under a real uvicorn server in a background thread, on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def wait_until(condition: Callable[[], object], limit: float = 30.0) -> None:
    """Poll ``condition`` until it holds: for what a server thread does after its answer is sent (its
    access line, usage record and metrics are written once its event loop is quiet). ``limit`` only
    stops a hang; it bounds nothing a test shows."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def free_port() -> int:
    """A port nothing listens on now (for a server started in another process)."""
    with free_socket() as sock:
        return int(sock.getsockname()[1])


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class UvicornThread:
    def __init__(self, app: Any, *, lifespan: str = "on", uvloop: bool = False, **config: Any) -> None:
        """``uvloop``: serve on uvloop's event loop (as ``python -m uvicorn`` does), not asyncio's."""
        from tests.support.log_scan import scan_responses  # every answer of every test server is scanned

        app = scan_responses(app)
        self._uvloop = uvloop
        self._sock = free_socket()
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False, **config)
        )
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"uvicorn-{self.port}")
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        if self._uvloop:
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self._sock]))

    def start(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


@contextmanager
def serve_app(app: Any, **config: Any) -> Iterator[UvicornThread]:
    server = UvicornThread(app, **config).start()
    try:
        yield server
    finally:
        server.stop()
