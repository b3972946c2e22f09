"""GET /debug/runtime: process figures for soak tests (the serving process's id, asyncio tasks, open fds,
RSS, pooled upstream connections). Off unless ``LLM_GATEWAY_DEBUG_RUNTIME=1``; when on, only the master
key may read it."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from llm_gateway.api.auth import bearer_token
from llm_gateway.api.responses import json_response
from llm_gateway.api.services import DebugApi
from llm_gateway.errors import PermissionDeniedError

DEBUG_RUNTIME_ENV = "LLM_GATEWAY_DEBUG_RUNTIME"


def _rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _open_fds() -> int | None:
    try:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())
    except OSError:
        return None


def _pooled_connections(transport: Any, figure: str = "connection_count") -> int | None:
    count = getattr(transport, figure, None)  # the gateway's UpstreamPool; None for another transport
    return count if isinstance(count, int) else None


def runtime_figures(transport: Any = None, aws: Any = None) -> dict[str, Any]:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    return {
        "pid": os.getpid(),  # which worker answered, when several serve the port
        "asyncio_tasks": len(tasks),
        "open_fds": _open_fds(),
        "rss_bytes": _rss_bytes(),
        "upstream_connections": _pooled_connections(transport),
        "upstream_idle_connections": _pooled_connections(transport, "idle_connection_count"),
        "gc_objects": len(gc.get_objects()),
        "aws_calls": dict(getattr(aws, "calls", None) or {}),  # by service.Operation (botocore's event hook)
    }


def routes(services: Callable[[], DebugApi]) -> APIRouter:
    router = APIRouter()

    @router.get("/debug/runtime", include_in_schema=False, response_class=Response)
    async def debug_runtime(request: Request) -> Response:
        api = services()
        principal = await api.authenticator.authenticate(bearer_token(request.headers))
        if not principal.is_master:
            raise PermissionDeniedError("Only the master key may read the runtime figures.")
        if request.query_params.get("gc") == "1":
            gc.collect()
        return json_response(runtime_figures(api.transport, api.aws))

    return router
