"""A non-stream request whose client goes away is cancelled, upstream call included.

A stream notices a departed client at its next write and stops (``core/streaming.py``). A non-stream
request writes only once, at the end, so a client that gives up (its own timeout, a closed tab, a killed
script) would otherwise leave the gateway waiting on, and paying for, an answer nobody will read. While
the answer is being made (from 0.1 s on: quicker answers are not worth a task of their own),
:func:`unless_client_leaves` waits on the request's ASGI ``receive`` channel, which delivers
``http.disconnect`` when the client's connection closes; it then cancels the request. The
upstream connection is closed and the layers clean up as for any cancellation (idempotency claim released,
single-flight followers freed, usage recorded as ``aborted``), and the request is logged with status 499.

Whether it is on: ``server.cancel_on_client_disconnect``; by default on, except under Lambda, where neither
the Web Adapter nor Mangum passes a client's departure on to the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from starlette.types import Receive, Scope

from llm_gateway.aws.environment import on_lambda
from llm_gateway.config import ServerConfig
from llm_gateway.errors import GatewayError

T = TypeVar("T")


class ClientDisconnected(GatewayError):
    """The client closed its connection before the answer was ready (nginx's 499; nobody receives it)."""

    status_code = 499
    error_type = "client_disconnected"
    default_code = "client_disconnected"

    def __init__(self) -> None:
        super().__init__("The client closed the connection before the answer was ready.")


def watches_disconnects(server: ServerConfig, env: Mapping[str, str]) -> bool:
    if server.cancel_on_client_disconnect is not None:
        return server.cancel_on_client_disconnect
    return not on_lambda(env)


def has_live_client(scope: Scope) -> bool:
    """Whether a client is connected to this request at all: not under Mangum (a buffered Lambda
    invocation, whose scope carries the event), where the whole request arrived in the event and no one
    waits on a connection."""
    return "aws.event" not in scope


WATCH_AFTER = 0.1
"""Seconds a request runs before its client is watched: answers faster than that are not worth a task of
their own (a client that left earlier is seen at once when the watch starts)."""


async def unless_client_leaves(receive: Receive, work: Awaitable[T], *, watch_after: float = WATCH_AFTER) -> T:
    """Await ``work`` in the current task; :class:`ClientDisconnected` if the client leaves first.

    Call it once the request body has been read: from then on ``receive`` only reports the disconnect."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("unless_client_leaves() must run inside a task")
    loop = task.get_loop()
    finished = left = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal left
        while (await receive())["type"] != "http.disconnect":
            pass  # nothing else is expected once the body is read; keep waiting for the end
        if not finished:
            left = True
            task.cancel()

    def start_watching() -> None:
        nonlocal watcher
        if not finished:
            watcher = loop.create_task(watch())

    cancelling = task.cancelling()
    timer = loop.call_later(watch_after, start_watching)
    try:
        result = await work
    except asyncio.CancelledError:
        if left and task.uncancel() <= cancelling:
            raise ClientDisconnected() from None
        raise
    except BaseException:
        if left:  # a layer turned the cancellation into an error of its own: the client is still gone
            task.uncancel()
            raise ClientDisconnected() from None
        raise
    finally:
        finished = True
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
    if left:  # the cancellation was swallowed and an answer made anyway: no one will read it
        task.uncancel()
    return result
