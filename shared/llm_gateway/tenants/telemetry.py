"""The outermost layer: one EMF metrics line per request that reached the pipeline, with its final status.

The request log line itself is written by :func:`llm_gateway.observability.log_request`; every figure the
tenant and guardrail layers know goes into ``ctx.notes`` so that line (whichever logger writes it)
carries it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_gateway.core.afterwards import Afterwards
from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream, StreamEnd, watch_stream
from llm_gateway.errors import GatewayError
from llm_gateway.tenants.metrics import MetricsWriter, metrics_enabled, stdout_sink

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext
    from llm_gateway.gateway import Gateway
    from llm_gateway.schemas.validation import ChatRequest


def _status(exc: BaseException, ctx: RequestContext) -> int:
    if isinstance(exc, GatewayError):
        ctx.notes["error_code"] = exc.code  # as the app's error handler will, which runs after this
        return exc.status_code
    return 500


class TelemetryLayer(Layer):
    def __init__(self, inner: ChatHandler, writer: MetricsWriter, afterwards: Afterwards | None = None) -> None:
        super().__init__(inner)
        self.writer = writer
        self.afterwards = afterwards or Afterwards(enabled=False)

    def _emit(self, ctx: RequestContext, status: int) -> None:
        self.afterwards.run(self.writer.emit_job(ctx, status))

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        try:
            response = await self.inner.complete(request, ctx)
        except BaseException as exc:
            self._emit(ctx, _status(exc, ctx))
            raise
        self._emit(ctx, 200)
        return response

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        try:
            opened = await self.inner.open_stream(request, ctx)
        except BaseException as exc:
            self._emit(ctx, _status(exc, ctx))
            raise

        def on_end(outcome: StreamEnd, failure: BaseException | None) -> None:
            if outcome == "error":
                ctx.notes.setdefault("stream_status", "error")
            self._emit(ctx, 200)

        return watch_stream(opened, on_end=on_end)


def telemetry_layer(gateway: Gateway, inner: ChatHandler) -> ChatHandler | None:
    from llm_gateway.tenants.services import tenants_config

    settings = tenants_config(gateway).telemetry
    sink = gateway.options.extras.get("metrics_sink")
    if sink is None:
        if not metrics_enabled(settings.metrics, gateway.env):
            return None
        sink = stdout_sink
    groups = gateway.groups
    writer = MetricsWriter(settings.namespace, sink, gateway.options.clock, known_models=groups.names)
    return TelemetryLayer(inner, writer, gateway.afterwards)
