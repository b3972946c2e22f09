"""The JSON log line: one compact ASCII line that any JSON reader parses back to the same values."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

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
