"""Powertools for AWS Lambda: structured JSON logs and EMF metrics, flushed per request.

Logs: the gateway's log handler gets Powertools' formatter (level, location, message, timestamp, service,
``correlation_id`` and the request's fields flattened to top-level keys).

Metrics: the one EMF writer, Powertools' ``Metrics`` (tenants.telemetry.metrics says when; on inside
Lambda by default). Under the Web Adapter there is no handler function to decorate with ``log_metrics``,
so each request's document is built when the request ends, from the request sink: after a JSON answer is
sent, after a stream's last byte, or when the client goes away mid-stream; it is written to stdout and
flushed right away (the execution environment may be frozen as soon as the response is complete). The
``model`` dimension takes only configured model names (anything else is ``other``), so a client cannot
create metric dimensions at will; a second dimension set, the service alone, carries the totals over all
models that the alarms and the dashboard read.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import Metrics

from llm_gateway.core.context import RequestContext
from llm_gateway.observability import add_request_sink, log_context, remove_request_sink

DEFAULT_SERVICE = "llm-gateway"

_installed_sink: EmfRequestMetrics | None = None  # one per process, even if the app is built again

Figures = Callable[[Mapping[str, Any]], Iterable[tuple[str, str, float]]]
"""A request's ``(name, unit, value)`` metrics from its access line's fields
(:func:`llm_gateway.telemetry.metrics.request_figures`)."""


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
    """A request sink writing one EMF document per request, built by Powertools' ``Metrics``."""

    def __init__(
        self,
        metrics: Metrics,
        known_models: Callable[[], Collection[str]],
        figures: Figures,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.metrics = metrics
        self.known_models = known_models
        self.figures = figures
        self.write = write or _stdout_line

    def _model_dimension(self, ctx: RequestContext) -> str:
        if ctx.model_group is None:
            return "none"
        try:
            known = self.known_models()
        except Exception:
            known = ()
        return ctx.model_group if ctx.model_group in known else "other"

    def __call__(self, ctx: RequestContext, status: int, fields: Mapping[str, Any]) -> None:
        metrics = self.metrics
        metrics.add_dimension("model", self._model_dimension(ctx))
        if metrics.provider.service:  # and the service's totals over all models, which the alarms read
            metrics.add_dimensions(service=metrics.provider.service)
        for name, unit, value in self.figures(fields):
            metrics.add_metric(name, unit, value)
        for key in ("request_id", "key_id", "deployment"):
            if fields.get(key) is not None:
                metrics.add_metadata(key, fields[key])
        correlation_id = log_context.get().get("correlation_id")
        if correlation_id:
            metrics.add_metadata("correlation_id", correlation_id)
        document = metrics.serialize_metric_set()
        metrics.clear_metrics()
        self.write(json.dumps(document, separators=(",", ":")))


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # the execution environment may be frozen as soon as the response is complete


def powertools_formatter(env: Mapping[str, str]) -> logging.Formatter:
    service = env.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
    formatter: logging.Formatter = LambdaPowertoolsFormatter(service=service, utc=True, use_rfc3339=True)
    return formatter


def use_powertools_logs(env: Mapping[str, str]) -> None:
    """Switch the gateway's log handler to Powertools' format."""
    formatter = powertools_formatter(env)
    for handler in logging.getLogger("llm_gateway").handlers:
        if getattr(handler, "_llm_gateway", False):
            handler.setFormatter(formatter)
            if not any(isinstance(f, FlattenRequestFields) for f in handler.filters):
                handler.addFilter(FlattenRequestFields())


def install_emf_metrics(
    env: Mapping[str, str],
    *,
    namespace: str,
    known_models: Callable[[], Collection[str]],
    figures: Figures,
    write: Callable[[str], None] | None = None,
) -> EmfRequestMetrics:
    """Register the EMF request sink, in place of the one installed before (one per process).

    ``POWERTOOLS_METRICS_NAMESPACE`` and ``POWERTOOLS_SERVICE_NAME`` win over ``namespace`` and the default
    service name, as they do for Powertools everywhere."""
    metrics = Metrics(
        namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or namespace,
        service=env.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
    )
    sink = EmfRequestMetrics(metrics, known_models, figures, write)
    replace_emf_metrics(sink)
    return sink


def replace_emf_metrics(sink: EmfRequestMetrics | None) -> None:
    global _installed_sink
    if _installed_sink is not None:
        remove_request_sink(_installed_sink)
    _installed_sink = sink
    if sink is not None:
        add_request_sink(sink)
