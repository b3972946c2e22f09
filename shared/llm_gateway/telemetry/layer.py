"""The outermost layer: one EMF metrics line per request that reached the pipeline, with its final status.

The request log line itself is written by :func:`llm_gateway.observability.log_request`; every figure the
tenant and guardrail layers know goes into ``ctx.notes`` so that line (whichever logger writes it)
carries it too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from llm_gateway.core.afterwards import Afterwards
from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream, StreamEnd, watch_stream
from llm_gateway.errors import GatewayError
from llm_gateway.telemetry.metrics import MetricsSink, MetricsWriter, metrics_enabled, stdout_sink

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext
    from llm_gateway.schemas.embeddings import EmbeddingRequest
    from llm_gateway.schemas.validation import ChatRequest


def _status(exc: BaseException, ctx: RequestContext) -> int:
    if isinstance(exc, GatewayError):
        ctx.note("error_code", exc.code)  # as the app's error handler will, which runs after this
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
                ctx.note_default("stream_status", "error")
            self._emit(ctx, 200)

        return watch_stream(opened, on_end=on_end)

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        try:
            response = await self.inner.embed(request, ctx)
        except BaseException as exc:
            self._emit(ctx, _status(exc, ctx))
            raise
        self._emit(ctx, 200)
        return response


def telemetry_layer(
    inner: ChatHandler,
    *,
    metrics: bool | None,
    namespace: str,
    env: Mapping[str, str],
    sink: MetricsSink | None,
    clock: Callable[[], float],
    known_models: Callable[[], Collection[str]],
    afterwards: Afterwards,
) -> ChatHandler | None:
    """The layer when metrics are on (``metrics``, else by default only inside Lambda), or a ``sink`` is given
    (tests); ``None`` otherwise. ``metrics`` and ``namespace``: ``tenants.telemetry`` in the config."""
    if sink is None:
        if not metrics_enabled(metrics, env):
            return None
        sink = stdout_sink
    writer = MetricsWriter(namespace, sink, clock, known_models=known_models)
    return TelemetryLayer(inner, writer, afterwards)
