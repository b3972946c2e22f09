"""Request logs: one structured line per request, with identities and figures, never prompt text.

Two hooks for deployment-specific observability (kept import-light: nothing here imports Powertools):

- ``log_context``: fields bound for the current request (e.g. the API Gateway request id as
  ``correlation_id``), added to every log line written while the request runs, streams included.
- request sinks (:func:`add_request_sink`): called once per request when it ends, after the access log
  line, with its fields: a stream ends when its last byte is written or the client goes away. EMF
  metrics hang off this (:mod:`llm_gateway.aws.powertools`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

import orjson

from llm_gateway.core.context import RequestContext

access_log = logging.getLogger("llm_gateway.access")
log = logging.getLogger("llm_gateway.observability")

log_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "llm_gateway_log_context", default=MappingProxyType({})
)

RequestSink = Callable[[RequestContext, int, Mapping[str, Any]], None]
"""Called with the request's context, its final status and the access line's fields."""
_request_sinks: list[RequestSink] = []


def add_request_sink(sink: RequestSink) -> None:
    if sink not in _request_sinks:
        _request_sinks.append(sink)


def remove_request_sink(sink: RequestSink) -> None:
    if sink in _request_sinks:
        _request_sinks.remove(sink)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(log_context.get())
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json_line(payload)


# dataclasses and datetimes go to ``default=str``, as with the json module
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def json_line(payload: dict[str, Any]) -> str:
    """Compact JSON in ASCII (non-ASCII escaped, so a stdout of any encoding can write it); values JSON
    cannot hold become their ``str()``. orjson writes the usual line in a fraction of json's time."""
    try:
        raw = orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS)
        if raw.isascii():
            return raw.decode()
    except TypeError:  # integers beyond 64 bits, keys that are not strings: the json module copes
        pass
    return json.dumps(payload, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger("llm_gateway")
    if any(getattr(h, "_llm_gateway", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._llm_gateway = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def request_fields(ctx: RequestContext, status: int, ended: float | None = None) -> dict[str, Any]:
    """The access line's fields; ``ended``: when the request ended (``ctx.monotonic()``), default now."""
    now = ctx.monotonic() if ended is None else ended
    usage = ctx.usage or {}
    fields: dict[str, Any] = {
        "request_id": ctx.request_id,
        "key_id": ctx.principal.key_id,
        "model": ctx.model_group,
        "deployment": ctx.deployment_id,
        "status": status,
        "latency_ms": round((now - ctx.started) * 1000, 2),
        "attempts": ctx.attempts,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
    }
    if ctx.first_token_at is not None:
        fields["ttft_ms"] = round((ctx.first_token_at - ctx.started) * 1000, 2)
    fields.update(ctx.notes)
    return fields


def request_ended(ctx: RequestContext, status: int) -> Callable[[], None]:
    """The end of a request's logging (its access line, then the request sinks) as a job to run now or
    later (:class:`llm_gateway.core.afterwards.Afterwards`): its latency is taken now."""
    return partial(_log_request, ctx, status, ctx.monotonic())


def _log_request(ctx: RequestContext, status: int, ended: float) -> None:
    fields = request_fields(ctx, status, ended)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("request", extra={"fields": fields})
    for sink in list(_request_sinks):
        try:
            sink(ctx, status, fields)
        except Exception:  # observability must never fail a request
            log.exception("request sink %r failed", sink)
