"""Lambda entry points.

- ``app``: the ASGI app. The Lambda Web Adapter runs it under uvicorn (``run.sh``) for response
  streaming; ``make serve`` runs the same object locally.
- ``handler``: a Mangum handler for buffered invocations (API Gateway REST/HTTP, Function URL, ALB
  events, and ``sam local invoke -e events/...``). Mangum never streams: an SSE answer is returned whole.

Nothing here does I/O: the gateway loads its config and creates clients on first use (under uvicorn, at
start-up; under Mangum, on the first invocation, which fails with the config error if the config is bad).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from llm_gateway.api.app import create_app
from llm_gateway.api.snapstart_hooks import install_snapstart_hooks
from llm_gateway.aws.lambda_observability import LOG_LEVEL_ENV, instrument_app
from llm_gateway.observability import configure_logging

configure_logging(os.environ.get(LOG_LEVEL_ENV) or "INFO")
app = create_app(settle_heap=True)  # this process serves the app for life
instrument_app(app, os.environ)
install_snapstart_hooks(app, os.environ)  # the Web Adapter's SnapStart hooks, when the function has them


@functools.cache
def _buffered_adapter() -> Any:
    from mangum import Mangum

    from llm_gateway.heap import settle_after_startup

    app.state.gateway.ensure_ready()  # a bad config fails here, with its message, not as a 500 per request
    settle_after_startup()
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _buffered_adapter()(event, context)
    _finish_usage_writes()
    return result


def _finish_usage_writes() -> None:
    """Mangum runs the event loop only during a request, so usage writes still pending after it (the
    request flushes its own before its answer; these are what a flush that timed out left) would wait for
    the next invocation (or be lost with the instance): finish them before returning."""
    gateway = app.state.gateway
    if getattr(gateway, "afterwards", None) is not None:
        gateway.afterwards.flush()  # queued only if server.defer_bookkeeping was turned on
    if getattr(gateway, "tenants", None) is not None:
        from llm_gateway.tenants.ledger import finish_in_loop

        finish_in_loop(gateway.tenants.ledger)
