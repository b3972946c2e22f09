"""Request logs: one structured line per request, with identities and figures, never prompt text."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from llm_gateway.core.context import RequestContext

access_log = logging.getLogger("llm_gateway.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


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


def request_fields(ctx: RequestContext, status: int) -> dict[str, Any]:
    now = ctx.monotonic()
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


def log_request(ctx: RequestContext, status: int) -> None:
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("request", extra={"fields": request_fields(ctx, status)})
