"""Request ids from Lambda into the logs; Powertools JSON logs and one EMF document per request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from llm_gateway.aws.lambda_observability import LambdaContextMiddleware, lambda_request_ids
from llm_gateway.aws.powertools import (
    EmfRequestMetrics,
    FlattenRequestFields,
    install_emf_metrics,
    powertools_formatter,
)
from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.observability import log_context, request_ended, request_fields
from llm_gateway.telemetry.metrics import request_figures

API_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def _scope(headers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "headers": raw, **extra}


def test_ids_from_the_web_adapter_headers() -> None:
    scope = _scope(
        {
            "x-amzn-request-context": json.dumps({"requestId": API_ID, "stage": "prod"}),
            "x-amzn-lambda-context": json.dumps({"request_id": "5f0c3a8e-1b7d"}),
        }
    )
    assert lambda_request_ids(scope) == {"correlation_id": API_ID, "function_request_id": "5f0c3a8e-1b7d"}


def test_ids_from_a_mangum_scope() -> None:
    class Context:
        aws_request_id = "lambda-1"

    scope = _scope(**{"aws.event": {"requestContext": {"requestId": API_ID}}, "aws.context": Context()})
    assert lambda_request_ids(scope) == {"correlation_id": API_ID, "function_request_id": "lambda-1"}


@pytest.mark.parametrize(
    "value",
    ["not json", json.dumps(["list"]), json.dumps({"requestId": "bad id\nwith newline"}), json.dumps({"requestId": 7})],
)
def test_unusable_context_headers_are_ignored(value: str) -> None:
    assert lambda_request_ids(_scope({"x-amzn-request-context": value})) == {}


async def test_middleware_binds_ids_for_the_request_only() -> None:
    seen: list[dict[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(log_context.get()))

    middleware = LambdaContextMiddleware(app)
    await middleware(_scope({"x-amzn-request-context": json.dumps({"requestId": API_ID})}), None, None)
    await middleware(_scope(), None, None)
    assert seen == [{"correlation_id": API_ID}, {}]
    assert dict(log_context.get()) == {}


def _context(**kwargs: Any) -> RequestContext:
    ctx = RequestContext(request_id="req_1", principal=Principal(key_id="k"), deadline=100, monotonic=lambda: 10.0)
    ctx.monotonic = lambda: 10.25  # the request ends 250 ms after it started
    for key, value in kwargs.items():
        setattr(ctx, key, value)
    return ctx


def test_powertools_log_line_flattens_fields_and_carries_the_correlation_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(powertools_formatter({"POWERTOOLS_SERVICE_NAME": "llm-gateway"}))
    handler.addFilter(FlattenRequestFields())
    logger = logging.getLogger("llm_gateway.test_powertools")
    logger.addHandler(handler)
    logger.propagate = False
    token = log_context.set({"correlation_id": API_ID})
    try:
        logger.warning("request", extra={"fields": {"status": 200, "model": "mock", "name": "clash"}})
    finally:
        log_context.reset(token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["correlation_id"] == API_ID
    assert line["service"] == "llm-gateway" and line["level"] == "WARNING" and line["message"] == "request"
    assert line["status"] == 200 and line["model"] == "mock"
    assert line["field_name"] == "clash"  # a field never overwrites a log record attribute
    assert "fields" not in line


def _emf(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_one_emf_document_per_request_with_bounded_model_dimension(
    capsys: pytest.CaptureFixture[str], isolated_observability: None
) -> None:
    sink = install_emf_metrics(
        {"POWERTOOLS_METRICS_NAMESPACE": "Test"},
        namespace="Ns",
        known_models=lambda: {"gpt-x"},
        figures=request_figures,
    )
    request_ended(_context(model_group="gpt-x", usage={"prompt_tokens": 3, "completion_tokens": 5}), 200)()
    document = _emf(capsys)
    assert document["model"] == "gpt-x" and document["service"] == "llm-gateway"
    assert document["Requests"] == [1.0] and document["Latency"] == [250.0]
    assert document["PromptTokens"] == [3.0] and document["CompletionTokens"] == [5.0]
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Test"

    ctx = _context(model_group="made-up-by-a-client")
    sink(ctx, 404, request_fields(ctx, 404))
    document = _emf(capsys)
    assert document["model"] == "other" and document["ClientErrors"] == [1.0]
    assert "made-up-by-a-client" not in json.dumps(document)

    ctx = _context(model_group="gpt-x", notes={"stream_status": "client_disconnected"})
    sink(ctx, 200, request_fields(ctx, 200))
    assert _emf(capsys)["StreamsAborted"] == [1.0]
    ctx = _context(notes={"stream_status": "error"})
    sink(ctx, 502, request_fields(ctx, 502))
    document = _emf(capsys)
    assert document["model"] == "none" and document["ServerErrors"] == [1.0] and document["StreamErrors"] == [1.0]


def test_installing_twice_keeps_one_sink(capsys: pytest.CaptureFixture[str], isolated_observability: None) -> None:
    install_emf_metrics({}, namespace="Ns", known_models=frozenset, figures=request_figures)
    install_emf_metrics({}, namespace="Ns", known_models=frozenset, figures=request_figures)
    request_ended(_context(), 200)()
    _emf(capsys)


def test_a_failing_sink_never_fails_the_request(isolated_observability: None) -> None:
    from llm_gateway.observability import add_request_sink

    calls = []

    def broken(ctx: RequestContext, status: int, fields: Mapping[str, Any]) -> None:
        calls.append(status)
        raise RuntimeError("metrics backend down")

    add_request_sink(broken)
    request_ended(_context(), 200)()
    assert calls == [200]


def test_emf_sink_tolerates_a_gateway_that_is_not_ready(capsys: pytest.CaptureFixture[str]) -> None:
    from aws_lambda_powertools.metrics import Metrics

    def not_ready() -> frozenset[str]:
        raise AttributeError("config")

    ctx = _context(model_group="x")
    EmfRequestMetrics(Metrics(namespace="Test", service="s"), not_ready, request_figures)(
        ctx, 200, request_fields(ctx, 200)
    )
    assert _emf(capsys)["model"] == "other"
