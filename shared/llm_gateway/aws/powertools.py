"""Powertools for AWS Lambda: structured JSON logs and EMF metrics, flushed per request.

Logs: the gateway's log handler gets Powertools' formatter (level, location, message, timestamp, service,
``correlation_id`` and the request's fields flattened to top-level keys).

Metrics: under the Web Adapter there is no handler function to decorate with ``log_metrics``, so each
request's metrics are written (one EMF document on stdout) when the request ends, from the request sink:
after a JSON answer is sent, after a stream's last byte, or when the client goes away mid-stream. stdout
is flushed right away: the execution environment may be frozen as soon as the response is complete.
The ``model`` dimension takes only configured model names (anything else is ``other``), so a client
cannot create metric dimensions at will.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Collection, Mapping

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import Metrics, MetricUnit

from llm_gateway.core.context import RequestContext
from llm_gateway.observability import add_request_sink, log_context, remove_request_sink
from llm_gateway.telemetry.metrics import extra_request_metrics

DEFAULT_SERVICE = "llm-gateway"
DEFAULT_NAMESPACE = "LlmGateway"

_installed_sink: EmfRequestMetrics | None = None  # one per process, even if the app is built again


class FlattenRequestFields(logging.Filter):
    """Lift the request-bound ids and a record's ``fields`` to top-level attributes for the formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in log_context.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        fields = record.__dict__.pop("fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                setattr(record, key if key not in record.__dict__ else f"field_{key}", value)
        return True


class EmfRequestMetrics:
    """A request sink writing one EMF document per request."""

    def __init__(self, metrics: Metrics, known_models: Callable[[], Collection[str]]) -> None:
        self.metrics = metrics
        self.known_models = known_models

    def _model_dimension(self, ctx: RequestContext) -> str:
        if ctx.model_group is None:
            return "none"
        try:
            known = self.known_models()
        except Exception:
            known = ()
        return ctx.model_group if ctx.model_group in known else "other"

    def __call__(self, ctx: RequestContext, status: int) -> None:
        metrics = self.metrics
        metrics.add_dimension("model", self._model_dimension(ctx))
        if metrics.provider.service:  # and the service's totals over all models, which the alarms read
            metrics.add_dimensions(service=metrics.provider.service)
        metrics.add_metric("Requests", MetricUnit.Count, 1)
        if status >= 500:
            metrics.add_metric("ServerErrors", MetricUnit.Count, 1)
        elif status >= 400:
            metrics.add_metric("ClientErrors", MetricUnit.Count, 1)
        metrics.add_metric("Latency", MetricUnit.Milliseconds, round((ctx.monotonic() - ctx.started) * 1000, 2))
        if ctx.first_token_at is not None:
            ttft = round((ctx.first_token_at - ctx.started) * 1000, 2)
            metrics.add_metric("TimeToFirstToken", MetricUnit.Milliseconds, ttft)
        usage = ctx.usage or {}
        for key, name in (("prompt_tokens", "PromptTokens"), ("completion_tokens", "CompletionTokens")):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                metrics.add_metric(name, MetricUnit.Count, value)
        stream_status = ctx.notes.get("stream_status")
        if stream_status == "client_disconnected":
            metrics.add_metric("StreamsAborted", MetricUnit.Count, 1)
        elif stream_status == "error":
            metrics.add_metric("StreamErrors", MetricUnit.Count, 1)
        for name, unit, value in extra_request_metrics(ctx, status):  # cost, cache hits, limits, guardrails
            metrics.add_metric(name, unit, value)
        metrics.add_metadata("request_id", ctx.request_id)
        correlation_id = log_context.get().get("correlation_id")
        if correlation_id:
            metrics.add_metadata("correlation_id", correlation_id)
        metrics.flush_metrics()
        sys.stdout.flush()


def powertools_formatter(env: Mapping[str, str]) -> logging.Formatter:
    service = env.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
    formatter: logging.Formatter = LambdaPowertoolsFormatter(service=service, utc=True, use_rfc3339=True)
    return formatter


def use_powertools(env: Mapping[str, str], known_models: Callable[[], Collection[str]]) -> EmfRequestMetrics:
    """Switch the gateway's log handler to Powertools' format and register the EMF request sink."""
    formatter = powertools_formatter(env)
    for handler in logging.getLogger("llm_gateway").handlers:
        if getattr(handler, "_llm_gateway", False):
            handler.setFormatter(formatter)
            if not any(isinstance(f, FlattenRequestFields) for f in handler.filters):
                handler.addFilter(FlattenRequestFields())
    metrics = Metrics(
        namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
        service=env.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
    )
    global _installed_sink
    if _installed_sink is not None:
        remove_request_sink(_installed_sink)
    _installed_sink = EmfRequestMetrics(metrics, known_models)
    add_request_sink(_installed_sink)
    return _installed_sink
