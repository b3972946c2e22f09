"""Every error is OpenAI-shaped with the right status; credentials never leak."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.functional.conftest import UPSTREAM_KEY
from tests.support.fake_openai import Drop, FakeOpenAI, Hang, Raw, Status
from tests.support.gateway import MASTER_KEY
from tests.support.openai_schema import assert_error

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "hi"}]


def post(http: httpx.Client, body: object, **kwargs: object) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body, **kwargs)  # type: ignore[arg-type]


def test_upstream_429_is_passed_on_with_retry_after(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(
        Status(
            429, "Rate limit reached", code="rate_limit_exceeded", error_type="requests", headers={"retry-after": "2"}
        )
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-test", messages=USER)
    assert caught.value.response.headers["retry-after"] == "2"
    assert_error(caught.value.response.json())
    assert caught.value.code == "rate_limit_exceeded"


def test_upstream_400_is_passed_on_faithfully(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(400, "Invalid 'top_k'", code="unknown_parameter", param="top_k"))
    response = post(http, {"model": "gpt-test", "messages": USER, "top_k": 3})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Invalid 'top_k'",
            "type": "invalid_request_error",
            "param": "top_k",
            "code": "unknown_parameter",
        }
    }


@pytest.mark.parametrize(
    ("behaviour", "status", "code"),
    [
        (Status(500, "boom", error_type="server_error"), 502, "upstream_error"),
        (Drop(), 502, "upstream_connection_error"),
        (Raw(b"<html>not json</html>"), 502, "upstream_bad_response"),
        (Raw(b'{"error": {"message": "quota"}}'), 502, "upstream_error"),
    ],
)
def test_upstream_failures_map_to_502(
    http: httpx.Client, fake_openai: FakeOpenAI, behaviour: object, status: int, code: str
) -> None:
    fake_openai.plan(behaviour)  # type: ignore[arg-type]
    response = post(http, {"model": "gpt-test", "messages": USER})
    assert response.status_code == status
    assert_error(response.json())
    assert response.json()["error"]["code"] == code


def test_upstream_timeout_is_504(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Hang())
    response = post(http, {"model": "gpt-fast-timeout", "messages": USER})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_upstream_rejecting_our_key_never_leaks_it(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(401, f"Incorrect API key provided: {UPSTREAM_KEY}", code="invalid_api_key"))
    response = post(http, {"model": "gpt-test", "messages": USER})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_auth_error"
    assert UPSTREAM_KEY not in response.text and UPSTREAM_KEY[:12] not in response.text


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (json.dumps({"model": "gpt-test"}).encode(), 400, "messages"),
        (json.dumps({"model": "gpt-test", "messages": []}).encode(), 400, "messages"),
        (json.dumps({"model": "gpt-test", "messages": USER, "temperature": "hot"}).encode(), 400, "temperature"),
        (
            json.dumps({"model": "gpt-test", "messages": [{"role": "robot", "content": "x"}]}).encode(),
            400,
            "messages[0].role",
        ),
        (json.dumps({"model": "no-such-model", "messages": USER}).encode(), 404, "model"),
    ],
)
def test_bad_input_gets_the_right_4xx(
    http: httpx.Client, fake_openai: FakeOpenAI, body: bytes, status: int, param: str | None
) -> None:
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert_error(response.json())
    assert response.json()["error"]["param"] == param
    assert not fake_openai.chat_requests(), "nothing invalid reaches the upstream"


def test_unknown_model_via_sdk_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=USER)
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic abc"}])
def test_missing_or_wrong_key_is_401(gateway: object, headers: dict[str, str]) -> None:
    response = httpx.post(
        gateway.base_url + "/v1/chat/completions",  # type: ignore[attr-defined]
        json={"model": "gpt-test", "messages": USER},
        headers=headers,
    )
    assert response.status_code == 401
    assert_error(response.json())
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_sdk_with_a_wrong_key_gets_authentication_error(gateway: object) -> None:
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="sk-wrong", max_retries=0)  # type: ignore[attr-defined]
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_7_mb_body_is_413(http: httpx.Client, fake_openai: FakeOpenAI) -> None:
    big = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "x" * (7 * 1024 * 1024)}]})
    response = http.post("/v1/chat/completions", content=big.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert_error(response.json())
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_7_mb_chunked_body_without_length_is_413(http: httpx.Client) -> None:
    def body() -> object:
        yield b'{"model": "gpt-test", "messages": [{"role": "user", "content": "'
        for _ in range(7):
            yield b"x" * (1024 * 1024)
        yield b'"}]}'

    response = http.post("/v1/chat/completions", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_route_and_method_are_openai_shaped(http: httpx.Client) -> None:
    missing = http.get("/v1/nothing-here")
    assert missing.status_code == 404 and assert_error(missing.json())
    wrong_method = http.get("/v1/chat/completions")
    assert wrong_method.status_code == 405 and assert_error(wrong_method.json())


def test_master_key_is_not_echoed_anywhere(http: httpx.Client) -> None:
    for response in (http.get("/v1/models"), post(http, {"model": "nope", "messages": USER})):
        assert MASTER_KEY not in response.text and MASTER_KEY not in str(response.headers)
