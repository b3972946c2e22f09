"""The JSON log line: one compact ASCII line that any JSON reader parses back to the same values."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from llm_gateway.observability import JsonFormatter, json_line, log_context


@dataclass
class Point:
    x: int


def test_a_plain_line_is_compact_json() -> None:
    payload = {"level": "INFO", "status": 200, "latency_ms": 12.5, "model": None, "ok": True, "route": ["a=ok"]}
    line = json_line(payload)
    assert line == '{"level":"INFO","status":200,"latency_ms":12.5,"model":null,"ok":true,"route":["a=ok"]}'
    assert json.loads(line) == payload


def test_non_ascii_is_escaped_so_any_stdout_can_write_it() -> None:
    line = json_line({"model": "modèle-日本", "emoji": "🙂"})
    assert line.isascii()
    assert json.loads(line) == {"model": "modèle-日本", "emoji": "🙂"}


def test_values_json_cannot_hold_become_strings_as_with_the_json_module() -> None:
    when = dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.UTC)
    payload = {"when": when, "point": Point(1), "big": 2**70, "keys": {1: "one"}}
    assert json.loads(json_line(payload)) == json.loads(json.dumps(payload, default=str))
    assert json.loads(json_line({"when": when}))["when"] == str(when)


def test_the_formatter_adds_the_request_context_and_fields() -> None:
    token = log_context.set({"correlation_id": "apigw-1"})
    try:
        record = logging.LogRecord("llm_gateway.access", logging.INFO, __file__, 1, "request", (), None)
        record.fields = {"status": 200}
        line = JsonFormatter().format(record)
    finally:
        log_context.reset(token)
    assert json.loads(line) == {
        "level": "INFO",
        "logger": "llm_gateway.access",
        "message": "request",
        "correlation_id": "apigw-1",
        "status": 200,
    }


@pytest.fixture
def plain_logging() -> Iterator[logging.StreamHandler[Any]]:
    """The logging set-up configure_logging makes, whatever earlier tests (Powertools' formatter and
    filters, for one) did to it; restored afterwards."""
    from llm_gateway.observability import access_log, configure_logging

    configure_logging("INFO")
    handler = next(h for h in logging.getLogger("llm_gateway").handlers if getattr(h, "_llm_gateway", False))
    assert isinstance(handler, logging.StreamHandler)
    saved = handler.formatter, handler.filters[:], access_log.filters[:]
    handler.setFormatter(JsonFormatter())
    handler.filters[:] = []
    access_log.filters[:] = []
    try:
        yield handler
    finally:
        handler.setFormatter(saved[0])
        handler.filters[:] = saved[1]
        access_log.filters[:] = saved[2]


class _Stream:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        self.flushes += 1


def test_the_access_line_through_the_handler_configure_logging_installs(
    plain_logging: logging.StreamHandler[Any],
) -> None:
    from llm_gateway.core.context import Principal, RequestContext
    from llm_gateway.observability import request_ended

    stream = _Stream()
    previous = plain_logging.setStream(stream)  # type: ignore[arg-type]
    token = log_context.set({"correlation_id": "apigw-7"})
    try:
        ctx = RequestContext(request_id="req_1", principal=Principal(key_id="k1"), deadline=1e9, monotonic=lambda: 5.0)
        ctx.started = 4.0
        ctx.model_group = "modèle"
        ctx.notes.update({"cache": "off", "route": ["d1=ok"]})
        request_ended(ctx, 200)()
    finally:
        log_context.reset(token)
        plain_logging.setStream(previous)  # type: ignore[arg-type]
    (line,) = stream.parts
    assert stream.flushes == 2  # after the line, and when the stream is swapped back
    first = json.loads(line)
    assert first["logger"] == "llm_gateway.access" and first["correlation_id"] == "apigw-7"
    assert first["status"] == 200 and first["latency_ms"] == 1000.0 and first["model"] == "modèle"
    assert first["route"] == ["d1=ok"] and line.endswith("}\n") and line.isascii()
