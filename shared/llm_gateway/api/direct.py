"""Direct dispatch for the hot routes: the endpoint is called without FastAPI's per-request routing.

For every request FastAPI matches the path against each route, opens two exit stacks, solves the
endpoint's dependencies and wraps the call in a second exception handler. The hot endpoints take only
the ``Request`` and return a finished ``Response``, so none of that machinery does anything for them
(what skipping it saves, and what it costs: docs/decisions/0003-direct-routes.md; the library's path is
``LLM_GATEWAY_DIRECT_ROUTES=0``).

:func:`install_direct_routes` puts a small dispatcher at the bottom of the app's middleware stack, right
inside FastAPI's ``ExceptionMiddleware``: everything above it runs for these routes as for any other
(the server-error handler, FastAPI's telemetry and body-size middleware, the app's own middleware such as
the Lambda request ids, the exception handlers that turn a ``GatewayError`` into an OpenAI error). A
request whose method and path are one of the direct routes calls the endpoint; every other request goes
on to FastAPI's router unchanged. The routes stay registered with FastAPI too: the OpenAPI document lists
them, and an app whose stack does not have the expected shape simply keeps FastAPI's routing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("llm_gateway.api")

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoutes:
    """Calls ``endpoints[(method, path)]`` directly; anything else goes on to ``app`` (FastAPI's router)."""

    def __init__(self, app: ASGIApp, endpoints: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self.endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self.endpoints.get((scope["method"], scope["path"]))
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def install_direct_routes(app: FastAPI, endpoints: Mapping[tuple[str, str], Endpoint]) -> None:
    """Serve ``endpoints`` (``(method, path) -> endpoint``) directly once the middleware stack is built.

    Each must be the endpoint FastAPI routes the same method and path to, taking only the ``Request``
    (tests compare both ways in, response for response)."""
    build_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = build_stack()
        if not _insert_below_exception_middleware(stack, endpoints):
            log.warning("direct routes not installed: unexpected middleware stack; FastAPI routes every request")
        return stack

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


def _insert_below_exception_middleware(stack: ASGIApp, endpoints: Mapping[tuple[str, str], Endpoint]) -> bool:
    node: Any = stack
    for _ in range(64):  # the stack is a short chain of middleware, each holding the next as ``app``
        if isinstance(node, ExceptionMiddleware):
            node.app = DirectRoutes(node.app, endpoints)
            return True
        node = getattr(node, "app", None)
        if node is None:
            return False
    return False
