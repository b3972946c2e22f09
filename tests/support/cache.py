"""Helpers for cache tests: a settable clock, the gateway with caching on, raw and SDK requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.servers import UvicornThread
from tests.support.sse import check_stream, parse_sse_lines

HI = [{"role": "user", "content": "hi"}]


class FakeClock:
    """Wall-clock time that only moves when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def cache_config(fake: FakeOpenAI, **cache: Any) -> dict[str, Any]:
    config = openai_config(fake.v1)
    config["cache"] = {"mode": "on", "timeout": 5.0, **cache}
    return config


@contextmanager
def cached_gateway(
    fake: FakeOpenAI, env: dict[str, str], *, cache: dict[str, Any] | None = None, **options: Any
) -> Iterator[UvicornThread]:
    with running_gateway(cache_config(fake, **(cache or {})), env, **options) as gateway:
        yield gateway


def sdk(gateway: UvicornThread, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=key, max_retries=0, timeout=30)


def ask(
    client: openai.OpenAI, *, headers: dict[str, str] | None = None, **body: Any
) -> tuple[dict[str, Any], httpx.Headers]:
    """A non-stream request through the SDK: (completion as the client sees it, response headers)."""
    body.setdefault("model", "gpt-test")
    body.setdefault("messages", HI)
    extra = {k: body.pop(k) for k in ("caching", "cache") if k in body}
    raw = client.chat.completions.with_raw_response.create(**body, extra_body=extra or None, extra_headers=headers)
    return raw.parse().model_dump(exclude_unset=True), raw.headers


def stream(
    gateway: UvicornThread, body: dict[str, Any], *, key: str = MASTER_KEY, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], httpx.Headers]:
    """A stream request over raw HTTP: every frame schema-checked, must end in [DONE]."""
    payload = {"model": "gpt-test", "messages": HI, "stream": True, **body}
    with httpx.stream(
        "POST",
        gateway.base_url + "/v1/chat/completions",
        json=payload,
        headers={"authorization": f"Bearer {key}", **(headers or {})},
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.read()
        messages = parse_sse_lines(response.iter_lines())
    chunks, error = check_stream(messages)
    assert error is None, error
    return chunks, response.headers
