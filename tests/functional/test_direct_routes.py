"""Direct routes (chat completions) answer exactly as FastAPI's routing of the same endpoints does.

Two gateways with the same config run under uvicorn: one as deployed (direct routes on), one with the
library's path switched on by its setting (``LLM_GATEWAY_DIRECT_ROUTES=0``). Every case sends the same
request to both and compares status, headers and body (ids and timestamps of mock answers aside), errors
included.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import openai
import pytest

from llm_gateway.api.app import create_app, direct_routes_on
from llm_gateway.api.auth import MasterKeyAuthenticator
from llm_gateway.api.direct import DirectRoutes
from llm_gateway.aws.lambda_observability import instrument_app
from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.observability import add_request_sink, log_context, remove_request_sink
from tests.support.gateway import MASTER_KEY, make_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.servers import UvicornThread, wait_until
from tests.support.sse import check_stream, parse_sse_text

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "hi there"}]
EXPLODING_KEY = "sk-makes-the-authenticator-fail"
CONFIG = {
    "models": [{"name": "mock", "provider": "mock", "model": "mock-1"}],
    "server": {"max_body_bytes": 4096},
}
UNSTABLE_HEADERS = {"date", "content-length"}  # content-length: checked through the bodies it measures
UNSTABLE_FIELDS = {"id", "created", "system_fingerprint"}


class FlakyAuthenticator:
    """The master key, and one key that makes authentication itself fail (an unexpected error)."""

    def __init__(self) -> None:
        self.master = MasterKeyAuthenticator(MASTER_KEY)

    async def authenticate(self, token: str | None) -> Principal:
        if token == EXPLODING_KEY:
            raise RuntimeError("authenticator bug")
        return await self.master.authenticate(token)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, UvicornThread]]:
    started: dict[str, UvicornThread] = {}
    try:
        for name, env in (("direct", {}), ("routed", {"LLM_GATEWAY_DIRECT_ROUTES": "0"})):
            gateway = make_gateway(CONFIG, env, authenticator=FlakyAuthenticator())
            app = create_app(gateway)
            instrument_app(app, {})  # as handlers/gateway.py does: the Lambda request-id middleware
            started[name] = UvicornThread(app).start()
        yield started
    finally:
        for server in started.values():
            server.stop()


def direct_routes_installed(app: Any) -> bool:
    """Whether the app's built middleware stack holds the direct dispatcher."""
    node = app.middleware_stack
    while node is not None and not isinstance(node, DirectRoutes):
        node = getattr(node, "app", None)
    return node is not None


def test_the_setting_reads_like_a_switch() -> None:
    assert direct_routes_on({}) and direct_routes_on({"LLM_GATEWAY_DIRECT_ROUTES": "1"})
    for off in ("0", "off", "False", " no "):
        assert not direct_routes_on({"LLM_GATEWAY_DIRECT_ROUTES": off})


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if k not in UNSTABLE_FIELDS}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [m.data if m.data == "[DONE]" else _normalised(m.json()) for m in parse_sse_text(response.text)]
    try:
        return _normalised(response.json())
    except ValueError:
        return response.content


def _same_answer(servers: Mapping[str, UvicornThread], method: str, path: str, **kwargs: Any) -> httpx.Response:
    answers = {
        name: httpx.request(method, server.base_url + path, timeout=10, **kwargs) for name, server in servers.items()
    }
    direct, routed = answers["direct"], answers["routed"]
    assert direct.status_code == routed.status_code
    assert _headers(direct, servers["direct"]) == _headers(routed, servers["routed"])
    assert _body(direct) == _body(routed)
    return direct


def _headers(response: httpx.Response, server: UvicornThread) -> dict[str, str]:
    shown = {k: v.replace(server.base_url, "BASE") for k, v in response.headers.items() if k not in UNSTABLE_HEADERS}
    if "x-request-id" not in response.request.headers and "x-request-id" in shown:  # a fresh one: compare the form
        shown["x-request-id"] = shown["x-request-id"][:4] + "..."
    return shown


def _chat(**extra: Any) -> dict[str, Any]:
    return {"headers": {"authorization": f"Bearer {MASTER_KEY}", "x-request-id": "req-direct-1", **extra}}


def test_the_direct_routes_are_the_registered_endpoints() -> None:
    app = create_app(make_gateway(CONFIG))
    routes = [r for included in app.routes for r in getattr(getattr(included, "original_router", None), "routes", [])]
    registered = {(method, route.path): route.endpoint for route in routes for method in getattr(route, "methods", ())}
    for key, endpoint in app.state.direct_routes.items():
        assert registered[key] is endpoint


def test_the_deployed_app_dispatches_directly(servers: dict[str, UvicornThread]) -> None:
    _same_answer(servers, "POST", "/v1/chat/completions", json={"model": "mock", "messages": USER}, **_chat())
    assert direct_routes_installed(servers["direct"].server.config.app)
    assert not direct_routes_installed(servers["routed"].server.config.app)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
def test_a_completion(servers: dict[str, UvicornThread], path: str) -> None:
    response = _same_answer(servers, "POST", path, json={"model": "mock", "messages": USER}, **_chat())
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-direct-1"
    assert_completion(response.json())


def test_a_stream(servers: dict[str, UvicornThread]) -> None:
    body = {"model": "mock", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    response = _same_answer(servers, "POST", "/v1/chat/completions", json=body, **_chat())
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks, error = check_stream(parse_sse_text(response.text))
    assert error is None and chunks[-1]["usage"]


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"json": {"model": "mock"}}, 400),  # no messages
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ({"json": {"model": "nope", "messages": USER}}, 404),
        ({"json": {"model": "mock", "messages": [{"role": "user", "content": "x" * 5000}]}}, 413),
    ],
    ids=["invalid", "not-json", "unknown-model", "oversize"],
)
def test_request_errors(servers: dict[str, UvicornThread], request_kwargs: dict[str, Any], status: int) -> None:
    kwargs = _chat()
    kwargs["headers"].update(request_kwargs.pop("headers", {}))
    response = _same_answer(servers, "POST", "/v1/chat/completions", **request_kwargs, **kwargs)
    assert response.status_code == status and response.headers["x-request-id"] == "req-direct-1"
    assert_error(response.json())


@pytest.mark.parametrize("authorization", [None, "Bearer sk-wrong", f"Bearer {EXPLODING_KEY}"])
def test_auth_failures_and_unexpected_errors(servers: dict[str, UvicornThread], authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    body = {"model": "mock", "messages": USER}
    response = _same_answer(servers, "POST", "/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == (500 if authorization and EXPLODING_KEY in authorization else 401)
    assert_error(response.json())


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/chat/completions"), ("POST", "/v1/chat/completions/"), ("GET", "/health"), ("POST", "/v1/nope")],
)
def test_other_methods_and_paths_are_routed_by_fastapi(
    servers: dict[str, UvicornThread], method: str, path: str
) -> None:
    _same_answer(servers, method, path, follow_redirects=False, **_chat())


def test_the_openai_sdk_through_the_direct_route(servers: dict[str, UvicornThread]) -> None:
    client = openai.OpenAI(base_url=servers["direct"].base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
    completion = client.chat.completions.create(model="mock", messages=USER)  # type: ignore[arg-type]
    assert_completion(completion.model_dump(exclude_unset=True))
    chunks = list(client.chat.completions.create(model="mock", messages=USER, stream=True))  # type: ignore[arg-type]
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == completion.choices[0].message.content
    )


def test_lambda_request_ids_reach_the_request_log(servers: dict[str, UvicornThread]) -> None:
    seen: list[str | None] = []

    def sink(ctx: RequestContext, status: int, fields: Mapping[str, Any]) -> None:
        if ctx.request_id == "req-lambda-ids":  # not the tail of an earlier test's stream
            seen.append(log_context.get().get("correlation_id"))

    add_request_sink(sink)
    try:
        headers = _chat(**{"x-amzn-request-context": json.dumps({"requestId": "apigw-req-42"})})
        headers["headers"]["x-request-id"] = "req-lambda-ids"
        _same_answer(servers, "POST", "/v1/chat/completions", json={"model": "mock", "messages": USER}, **headers)
        wait_until(lambda: len(seen) == 2)  # each server logs its request once its loop is quiet
    finally:
        remove_request_sink(sink)
    assert seen == ["apigw-req-42", "apigw-req-42"]


async def test_middleware_added_to_the_app_runs_for_direct_routes() -> None:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    class Stamp:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def stamped(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-stamp", b"1")]
                await send(message)

            await self.app(scope, receive, stamped)

    app = create_app(make_gateway(CONFIG))
    app.add_middleware(Stamp)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await http.post("/v1/chat/completions", json={"model": "mock", "messages": USER}, **_chat())
    assert response.status_code == 200 and response.headers["x-stamp"] == "1"
    assert direct_routes_installed(app)


def test_fastapi_native_telemetry_is_off_only_where_no_sdk_could_report() -> None:
    from llm_gateway.api.app import fastapi_telemetry

    def installed(*names: str) -> Callable[[str], object | None]:
        return lambda name: object() if name in names else None

    off = {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    assert fastapi_telemetry(installed("fastapi.telemetry")) == off
    assert fastapi_telemetry(installed("fastapi.telemetry", "opentelemetry.sdk")) == {}  # e.g. the ADOT layer
    assert fastapi_telemetry(installed()) == {}  # a FastAPI without native telemetry takes no such argument
