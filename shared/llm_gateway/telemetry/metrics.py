"""The figures of a request as CloudWatch metrics, and when they are written.

Powertools' ``Metrics`` writes them, one Embedded Metric Format document on stdout per request, which
CloudWatch Logs turns into metrics (no API calls, no latency): see :mod:`llm_gateway.aws.powertools`.
Dimensions stay few (service and model, plus service alone for the totals the alarms and the dashboard
read) so the metric count stays bounded; the key id and request id are metadata of the document,
searchable with Logs Insights. On by default inside Lambda and with ``LLM_GATEWAY_OBSERVABILITY=powertools``,
off elsewhere, so local runs print nothing extra (``tenants.telemetry.metrics`` decides otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any

from llm_gateway.aws.environment import on_lambda
from llm_gateway.routing.metrics import UNITS as ROUTE_UNITS
from llm_gateway.routing.metrics import route_metrics
from llm_gateway.tenants.config import Telemetry

MetricsSink = Callable[[str], None]
"""Where EMF documents go, one JSON line each (default: stdout)."""

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


def metrics_enabled(setting: bool | None, env: Mapping[str, str]) -> bool:
    if setting is not None:
        return setting
    if (env.get("LLM_GATEWAY_OBSERVABILITY") or "").strip().lower() == "powertools":
        return True
    return on_lambda(env)


def install_request_metrics(
    settings: Telemetry,
    env: Mapping[str, str],
    known_models: Callable[[], Collection[str]],
    write: MetricsSink | None = None,
) -> None:
    """Register the EMF request sink when metrics are on (``write``: where documents go, default stdout;
    given, metrics are on); when they are off, take away one registered before."""
    if write is not None or metrics_enabled(settings.metrics, env):
        from llm_gateway.aws.powertools import install_emf_metrics

        install_emf_metrics(
            env, namespace=settings.namespace, known_models=known_models, figures=request_figures, write=write
        )
    elif "llm_gateway.aws.powertools" in sys.modules:  # never imported: nothing was registered
        from llm_gateway.aws.powertools import replace_emf_metrics

        replace_emf_metrics(None)


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


def request_figures(fields: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """:func:`request_metrics` as ``(name, unit, value)``, what the EMF writer adds to a document."""
    return [(name, UNITS.get(name, "None"), value) for name, value in request_metrics(fields).items()]
