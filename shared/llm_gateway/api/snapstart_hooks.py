"""The SnapStart hook routes the Lambda Web Adapter calls, and the guard built from the gateway's parts.

With ``AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH`` / ``AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH`` set (template.yaml
sets them on the on-demand function), the adapter sends an empty ``POST`` to each path around the
snapshot; a non-2xx answer fails the phase, so Lambda never serves from an environment half reset. The
adapter answers 403 to any outside request for those paths, so only it reaches them. Without the
variables nothing is installed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from llm_gateway.aws.snapstart import ConnectionPool, SnapshotGuard

if TYPE_CHECKING:
    import httpx

    from llm_gateway.gateway import Gateway

BEFORE_CHECKPOINT_ENV = "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"
AFTER_RESTORE_ENV = "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"

log = logging.getLogger("llm_gateway.snapstart")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _HttpxPool:
    """httpx's own transport: closing it closes its pooled connections, and its pool serves on after."""

    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport

    async def close_idle_connections(self) -> None:
        await self.transport.aclose()


def connection_pool(transport: httpx.AsyncBaseTransport) -> ConnectionPool:
    """The upstream transport as a :class:`ConnectionPool` (an unknown kind is an error, not skipped)."""
    import httpx

    if callable(getattr(transport, "close_idle_connections", None)):
        pool: ConnectionPool = transport  # type: ignore[assignment]  # the gateway's pool has the method
        return pool
    if isinstance(transport, httpx.AsyncHTTPTransport):
        return _HttpxPool(transport)
    raise TypeError(f"cannot empty the connection pool of a {type(transport).__name__} before a snapshot")


def guard_for(gateway: Gateway) -> SnapshotGuard:
    """What of the (built) gateway must not survive a restore, handed to the guard explicitly."""
    from llm_gateway import ids
    from llm_gateway.aws.clients import renew_all

    return SnapshotGuard(
        generators=[gateway.router.rng],
        reseeds=[ids.reseed, random.seed],
        connection_pools=[connection_pool(gateway.transport)],
        client_renewals=[renew_all],
        caches=[gateway.secrets],
    )


class SnapStartHooks:
    """Pure ASGI: answers the adapter's two hook calls, passes everything else through."""

    def __init__(self, app: ASGIApp, *, before: str, after: str, guard: Callable[[], SnapshotGuard]) -> None:
        self.app = app
        self.paths = {before: "before_checkpoint", after: "after_restore"}
        self._guard_factory = guard
        self._guard: SnapshotGuard | None = None

    def guard(self) -> SnapshotGuard:
        if self._guard is None:
            self._guard = self._guard_factory()
        return self._guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        phase = self.paths.get(scope.get("path", "")) if scope["type"] == "http" else None
        if phase is None:
            await self.app(scope, receive, send)
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, b"POST only\n")
            return
        try:
            guard = self.guard()
            await (guard.before_checkpoint() if phase == "before_checkpoint" else guard.after_restore())
        except Exception:
            log.exception("SnapStart %s hook failed", phase)
            await _answer(send, 500, b"hook failed\n")
            return
        log.info("SnapStart %s hook done", phase)
        await _answer(send, 200, b"ok\n")


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install_snapstart_hooks(app: Any, env: Mapping[str, str]) -> bool:
    """Serve the hook paths the environment names (both or neither); ``app.state.gateway`` is reset."""
    before, after = (env.get(BEFORE_CHECKPOINT_ENV) or "").strip(), (env.get(AFTER_RESTORE_ENV) or "").strip()
    if not before or not after:
        return False

    def guard() -> SnapshotGuard:
        gateway: Gateway = app.state.gateway
        return guard_for(gateway.ensure_ready())

    app.add_middleware(SnapStartHooks, before=before, after=after, guard=guard)
    return True
