"""CloudWatch metrics in Embedded Metric Format: one JSON line on stdout per request, which CloudWatch
Logs turns into metrics (no API calls, no latency). See
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

Dimensions stay few (service, model) so the metric count stays bounded; the key id and request id are
plain properties of the line, searchable with Logs Insights. Off by default outside Lambda, so local
runs print nothing extra.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from llm_gateway.core.context import RequestContext

MetricsSink = Callable[[str], None]

UNITS = {
    "Requests": "Count",
    "Errors": "Count",
    "RateLimited": "Count",
    "GuardrailRefusals": "Count",
    "Latency": "Milliseconds",
    "TimeToFirstToken": "Milliseconds",
    "PromptTokens": "Count",
    "CompletionTokens": "Count",
    "CostUSD": "None",
    "CacheHits": "Count",
    "Retries": "Count",
    "Fallbacks": "Count",
}


def stdout_sink(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def metrics_enabled(setting: bool | None, env: Mapping[str, str]) -> bool:
    return setting if setting is not None else bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))


def request_metrics(fields: Mapping[str, Any]) -> dict[str, float]:
    """The figures of one request log line, as metric values."""
    status = int(fields.get("status") or 0)
    values: dict[str, float] = {
        "Requests": 1,
        "Errors": 1 if status >= 500 or fields.get("stream_status") == "error" else 0,
    }
    if status == 429:
        values["RateLimited"] = 1
    if str(fields.get("guardrails", "")).endswith("refused"):
        values["GuardrailRefusals"] = 1
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
    if isinstance(fallbacks, int | list):
        values["Fallbacks"] = float(fallbacks if isinstance(fallbacks, int) else len(fallbacks))
    if fields.get("cache") == "hit":
        values["CacheHits"] = 1
    return values


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
                    "Dimensions": [list(dimensions)],
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
        self, namespace: str, sink: MetricsSink, clock: Callable[[], float], service: str = "llm-gateway"
    ) -> None:
        self.namespace = namespace
        self.sink = sink
        self.clock = clock
        self.service = service

    def emit(self, ctx: RequestContext, status: int) -> None:
        from llm_gateway.observability import request_fields

        fields = request_fields(ctx, status)
        dimensions = {"service": self.service, "model": str(fields.get("model") or "-")}
        properties = {"request_id": ctx.request_id, "key_id": ctx.principal.key_id, "deployment": ctx.deployment_id}
        self.sink(emf_line(self.namespace, dimensions, request_metrics(fields), properties, int(self.clock() * 1000)))
