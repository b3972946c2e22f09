"""CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per request, which CloudWatch
Logs turns into metrics (no API calls, no latency). See
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Dimensions stay few (service and model, plus service alone for the totals the alarms read) so the metric
count stays bounded; the key id and request id are plain properties of the line, searchable with Logs
Insights. Off by default outside Lambda, so local
runs print nothing extra, and off when ``LLM_GATEWAY_OBSERVABILITY=powertools`` (Powertools' request
sink writes the EMF document then; :func:`request_metrics` gives it these figures). Metric names match
that sink's: Requests, ServerErrors, ClientErrors, Latency, TimeToFirstToken, PromptTokens...
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any

import orjson

from llm_gateway.aws.environment import on_lambda
from llm_gateway.core.context import RequestContext
from llm_gateway.routing.metrics import UNITS as ROUTE_UNITS
from llm_gateway.routing.metrics import route_metrics

MetricsSink = Callable[[str], None]

SERVICE_DIMENSION_SET = ["service"]
"""A second dimension set on every document: the totals over all models, for alarms and the dashboard's
figures (CloudWatch cannot add up metrics of different dimension values in an alarm's math)."""

UNITS = {
    "Requests": "Count",
    "ServerErrors": "Count",
    "ClientErrors": "Count",
    "RateLimited": "Count",
    "BudgetExceeded": "Count",
    "GuardrailRefusals": "Count",
    "StreamsAborted": "Count",
    "StreamErrors": "Count",
    "Latency": "Milliseconds",
    "TimeToFirstToken": "Milliseconds",
    "PromptTokens": "Count",
    "CompletionTokens": "Count",
    "CostUSD": "None",
    "CacheHits": "Count",
    "Retries": "Count",
    "Fallbacks": "Count",
    **ROUTE_UNITS,
}


def stdout_sink(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def metrics_enabled(setting: bool | None, env: Mapping[str, str]) -> bool:
    if setting is not None:
        return setting
    if (env.get("LLM_GATEWAY_OBSERVABILITY") or "").strip().lower() == "powertools":
        return False  # the Powertools request sink writes the EMF documents; one per request is enough
    return on_lambda(env)


def request_metrics(fields: Mapping[str, Any]) -> dict[str, float]:
    """The figures of one request log line (:func:`llm_gateway.observability.request_fields`) as metrics."""
    status = int(fields.get("status") or 0)
    values: dict[str, float] = {"Requests": 1}
    if status >= 500:
        values["ServerErrors"] = 1
    elif status >= 400:
        values["ClientErrors"] = 1
    if status == 429:
        values["BudgetExceeded" if fields.get("error_code") == "insufficient_quota" else "RateLimited"] = 1
    if str(fields.get("guardrails", "")).endswith("refused"):
        values["GuardrailRefusals"] = 1
    stream_status = fields.get("stream_status")
    if stream_status == "client_disconnected":
        values["StreamsAborted"] = 1
    elif stream_status == "error":
        values["StreamErrors"] = 1
    for metric, name in (
        ("Latency", "latency_ms"),
        ("TimeToFirstToken", "ttft_ms"),
        ("PromptTokens", "prompt_tokens"),
        ("CompletionTokens", "completion_tokens"),
        ("CostUSD", "cost_usd"),
        ("Retries", "retries"),
    ):
        value = fields.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[metric] = float(value)
    fallbacks = fields.get("fallbacks")
    if isinstance(fallbacks, int | list) and not isinstance(fallbacks, bool):
        values["Fallbacks"] = float(fallbacks if isinstance(fallbacks, int) else len(fallbacks))
    if fields.get("cache") == "hit":
        values["CacheHits"] = 1
    values.update(route_metrics(fields))  # upstream attempts and errors, cooldowns
    return values


# what the Powertools request sink (llm_gateway.aws.powertools) already writes itself
POWERTOOLS_METRICS = frozenset(
    {
        "Requests",
        "ServerErrors",
        "ClientErrors",
        "Latency",
        "TimeToFirstToken",
        "PromptTokens",
        "CompletionTokens",
        "StreamsAborted",
        "StreamErrors",
    }
)


def extra_request_metrics(ctx: RequestContext, status: int) -> list[tuple[str, str, float]]:
    """``(name, unit, value)`` for the figures this feature adds (cost, cache hits, limits, guardrails,
    retries, fallbacks), for a metrics writer that writes the common ones itself."""
    from llm_gateway.observability import request_fields

    values = request_metrics(request_fields(ctx, status))
    return [(name, UNITS.get(name, "None"), value) for name, value in values.items() if name not in POWERTOOLS_METRICS]


def emf_line(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    properties: Mapping[str, Any],
    now_ms: int,
) -> str:
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions), SERVICE_DIMENSION_SET],  # per model, and the service's totals
                    "Metrics": [{"Name": name, "Unit": UNITS.get(name, "None")} for name in values],
                }
            ],
        },
        **{k: v for k, v in properties.items() if v is not None},
        **dimensions,
        **values,
    }
    return orjson.dumps(document).decode()


class MetricsWriter:
    def __init__(
        self,
        namespace: str,
        sink: MetricsSink,
        clock: Callable[[], float],
        known_models: Callable[[], Collection[str]],
        service: str = "llm-gateway",
    ) -> None:
        self.namespace = namespace
        self.sink = sink
        self.clock = clock
        self.known_models = known_models
        self.service = service

    def _model(self, ctx: RequestContext) -> str:
        """Only configured model names become dimension values, so clients cannot mint metrics at will."""
        if ctx.model_group is None:
            return "none"
        return ctx.model_group if ctx.model_group in self.known_models() else "other"

    def emit(self, ctx: RequestContext, status: int) -> None:
        self.emit_job(ctx, status)()

    def emit_job(self, ctx: RequestContext, status: int) -> Callable[[], None]:
        """The request's metrics line as a job to run now or later; its latency and timestamp are taken now."""
        ended, at = ctx.monotonic(), self.clock()
        return lambda: self._emit(ctx, status, ended, at)

    def _emit(self, ctx: RequestContext, status: int, ended: float, at: float) -> None:
        from llm_gateway.observability import request_fields

        values = request_metrics(request_fields(ctx, status, ended))
        dimensions = {"service": self.service, "model": self._model(ctx)}
        properties = {"request_id": ctx.request_id, "key_id": ctx.principal.key_id, "deployment": ctx.deployment_id}
        self.sink(emf_line(self.namespace, dimensions, values, properties, int(at * 1000)))
