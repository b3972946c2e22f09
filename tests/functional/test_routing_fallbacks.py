"""Fallback groups, context-window fallbacks and stream retries, through the HTTP API and the openai SDK."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.support.fake_openai import CutStream, Drop, FakeOpenAI, Reply, Status
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.routing import FakeTime, FixedRandom, groups, two_deployments, upstream_models
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}
OVERFLOW = Status(
    400,
    message="This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.",
    code="context_length_exceeded",
)


def sdk(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=MASTER_KEY, max_retries=0)


def post(base_url: str, model: str, **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(f"{base_url}/v1/chat/completions", json=payload, headers=HEADERS, timeout=30)


def test_config_fallbacks_are_tried_in_order(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(500), Status(500), model="model-a")
    fake_openai.plan(Status(503), Status(503), model="model-b")
    cfg = groups(fake_openai.v1, {"a": "model-a", "b": "model-b", "c": "model-c"}, fallbacks={"a": ["b", "c"]})
    clock = FakeTime()
    with running_gateway(cfg, rng=FixedRandom(), **clock.options()) as gw:
        raw = sdk(gw.base_url).chat.completions.with_raw_response.create(
            model="a", messages=[{"role": "user", "content": "hi"}], extra_body={"num_retries": 1}
        )
    result = raw.parse()
    assert_completion(result.model_dump(exclude_unset=True))
    assert upstream_models(fake_openai) == ["model-a", "model-a", "model-b", "model-b", "model-c"]
    assert raw.headers["x-llm-gateway-model-group"] == "c"
    assert raw.headers["x-llm-gateway-deployment"] == "c/openai/model-c"
    assert raw.headers["x-llm-gateway-attempts"] == "5"
    assert raw.headers["x-llm-gateway-fallback"] == "fallback"
    assert raw.headers["x-llm-gateway-requested-model"] == "a"


def test_request_fallbacks_replace_the_configured_ones(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(502), model="model-a")
    cfg = groups(fake_openai.v1, {"a": "model-a", "b": "model-b", "c": "model-c"}, fallbacks={"a": ["b"]})
    with running_gateway(cfg, **FakeTime().options()) as gw:
        response = post(gw.base_url, "a", num_retries=0, fallbacks=["c"])
    assert response.status_code == 200
    assert upstream_models(fake_openai) == ["model-a", "model-c"]


def test_last_error_is_returned_when_every_fallback_fails(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(500), model="model-a")
    fake_openai.plan(Status(429, error_type="rate_limit_error", headers={"retry-after": "99"}), model="model-b")
    cfg = groups(fake_openai.v1, {"a": "model-a", "b": "model-b"}, fallbacks={"a": ["b"]})
    with running_gateway(cfg, **FakeTime().options()) as gw:
        response = post(gw.base_url, "a", num_retries=0)
    assert response.status_code == 429
    assert_error(response.json())
    assert response.headers["x-llm-gateway-attempts"] == "2"
    assert response.headers["x-llm-gateway-model-group"] == "b"


def test_non_retryable_errors_do_not_fall_back(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(Status(400, message="bad temperature", param="temperature"), model="model-a")
    cfg = groups(fake_openai.v1, {"a": "model-a", "b": "model-b"}, fallbacks={"a": ["b"]})
    with running_gateway(cfg, **FakeTime().options()) as gw:
        response = post(gw.base_url, "a")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"
    assert upstream_models(fake_openai) == ["model-a"]


def test_unknown_fallback_in_a_request_is_a_400(fake_openai: FakeOpenAI) -> None:
    cfg = groups(fake_openai.v1, {"a": "model-a"})
    with running_gateway(cfg) as gw:
        response = post(gw.base_url, "a", fallbacks=["nope"])
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "fallbacks[0]"
    assert fake_openai.chat_requests() == []


def test_context_window_fallback_from_the_request_through_the_sdk(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(OVERFLOW, model="model-small")
    fake_openai.plan(Reply(text="plenty of room here"), model="model-large")
    cfg = groups(fake_openai.v1, {"small": "model-small", "large": "model-large"})
    with running_gateway(cfg, **FakeTime().options()) as gw:
        raw = sdk(gw.base_url).chat.completions.with_raw_response.create(
            model="small",
            messages=[{"role": "user", "content": "a very long document ..."}],
            extra_body={"context_window_fallback_dict": {"small": "large"}},
        )
    result = raw.parse()
    assert result.choices[0].message.content == "plenty of room here"
    assert raw.headers["x-llm-gateway-model-group"] == "large"
    assert raw.headers["x-llm-gateway-fallback"] == "context_window"
    assert upstream_models(fake_openai) == ["model-small", "model-large"]
    forwarded = fake_openai.chat_requests()[-1].json()
    assert "context_window_fallback_dict" not in forwarded


def test_context_window_fallback_from_config_on_a_stream(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(OVERFLOW, model="model-small")
    cfg = groups(
        fake_openai.v1, {"small": "model-small", "large": "model-large"}, context_window_fallbacks={"small": "large"}
    )
    with running_gateway(cfg, **FakeTime().options()) as gw:
        chunks = list(
            sdk(gw.base_url).chat.completions.create(
                model="small", messages=[{"role": "user", "content": "long"}], stream=True
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake upstream."
    assert upstream_models(fake_openai) == ["model-small", "model-large"]


def test_context_length_error_without_a_mapping_reaches_the_client(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(OVERFLOW, model="model-small")
    cfg = groups(fake_openai.v1, {"small": "model-small", "large": "model-large"})
    with running_gateway(cfg) as gw, pytest.raises(openai.BadRequestError) as caught:
        sdk(gw.base_url).chat.completions.create(model="small", messages=[{"role": "user", "content": "long"}])
    assert caught.value.code == "context_length_exceeded"
    assert upstream_models(fake_openai) == ["model-small"]


def test_context_window_fallback_happens_only_once(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(OVERFLOW, model="model-small")
    fake_openai.plan(OVERFLOW, model="model-large")
    cfg = groups(
        fake_openai.v1,
        {"small": "model-small", "large": "model-large"},
        context_window_fallbacks={"small": "large", "large": "small"},
    )
    with running_gateway(cfg) as gw:
        response = post(gw.base_url, "small")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert upstream_models(fake_openai) == ["model-small", "model-large"]


def test_a_prompt_clearly_over_the_known_window_goes_straight_to_the_mapped_model(fake_openai: FakeOpenAI) -> None:
    cfg = groups(
        fake_openai.v1, {"small": "model-small", "large": "model-large"}, context_window_fallbacks={"small": "large"}
    )
    cfg["models"][0]["context_window"] = 100
    with running_gateway(cfg) as gw:
        short = post(gw.base_url, "small")
        long = post(gw.base_url, "small", messages=[{"role": "user", "content": "word " * 400}])
    assert short.headers["x-llm-gateway-model-group"] == "small"
    assert long.status_code == 200
    assert long.headers["x-llm-gateway-model-group"] == "large"
    assert long.headers["x-llm-gateway-fallback"] == "context_window"
    assert upstream_models(fake_openai) == ["model-small", "model-large"]


@pytest.mark.parametrize("fault", [Status(503), Status(429, headers={"retry-after": "1"}), Drop()])
def test_a_stream_that_fails_before_its_first_chunk_is_retried(fake_openai: FakeOpenAI, fault: Any) -> None:
    fake_openai.plan(fault, Reply(text="clean second answer"))
    clock = FakeTime()
    cfg = groups(fake_openai.v1, {"gpt-test": "fake-model"})
    with running_gateway(cfg, rng=FixedRandom(), **clock.options()) as gw:
        payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream(
            "POST", f"{gw.base_url}/v1/chat/completions", json=payload, headers=HEADERS, timeout=30
        ) as response:
            text = response.read().decode()
    assert response.status_code == 200
    assert response.headers["x-llm-gateway-attempts"] == "2"
    chunks, error = check_stream(parse_sse_text(text))
    assert error is None
    assert assemble(chunks)[0]["content"] == "clean second answer"
    assert len(fake_openai.chat_requests()) == 2


def test_a_stream_that_fails_after_its_first_chunk_ends_with_an_error_frame(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(CutStream(after=2), Reply(text="must never be spliced in"))
    cfg = groups(fake_openai.v1, {"gpt-test": "fake-model"})
    with running_gateway(cfg, **FakeTime().options()) as gw:
        payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream(
            "POST", f"{gw.base_url}/v1/chat/completions", json=payload, headers=HEADERS, timeout=30
        ) as response:
            text = response.read().decode()
    chunks, error = check_stream(parse_sse_text(text))
    assert error is not None
    assert "spliced" not in text
    assert assemble(chunks)[0]["content"] == "one two "
    assert len(fake_openai.chat_requests()) == 1


def test_a_stream_cut_midway_counts_against_its_deployment(fake_openai: FakeOpenAI) -> None:
    fake_openai.plan(CutStream(after=1), model="model-a")
    cfg = two_deployments(fake_openai.v1, allowed_fails=1)
    with running_gateway(cfg, rng=FixedRandom(0.1), **FakeTime().options()) as gw:
        payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        for _ in range(2):
            with httpx.stream(
                "POST", f"{gw.base_url}/v1/chat/completions", json=payload, headers=HEADERS, timeout=30
            ) as response:
                response.read()
    assert upstream_models(fake_openai) == ["model-a", "model-b"]  # model-a cooled down after its cut stream
