"""Fuzzed requests against the real app: every answer is a valid 2xx or a well-formed OpenAI 4xx.

A few hundred cases here, in-process and over a real socket; ``make fuzz`` runs 10,000+ (see
``tests/hardening/fuzz.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llm_gateway.api.app import create_app
from tests.hardening.fuzz import FUZZ_MODELS, FuzzUpstreams, Tally, check_answer, fuzz_config, run_fuzz, send
from tests.hardening.requests import NON_OBJECT_BODIES, encode, nested, seed_pool
from tests.support.gateway import MASTER_KEY, make_gateway, running_gateway

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool() -> list[dict[str, Any]]:
    return seed_pool(25, FUZZ_MODELS)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[FuzzUpstreams]:
    servers = FuzzUpstreams.start()
    yield servers
    servers.stop()


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


def test_fuzzed_requests_in_process(
    upstreams: FuzzUpstreams, pool: list[dict[str, Any]], runner: asyncio.Runner
) -> None:
    app = create_app(make_gateway(fuzz_config(upstreams)))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
    tally = Tally()
    try:
        run_fuzz(client, MASTER_KEY, runner.run, pool=pool, examples=300, tally=tally)
    finally:
        runner.run(client.aclose())
    print(tally.report("in-process"))
    assert tally.total >= 250  # hypothesis may skip a few duplicates
    assert all(status < 500 for status in tally.by_status())
    assert tally.by_status().get(200), "no fuzzed request succeeded: the generator is too hostile to be useful"


def test_fuzzed_requests_over_a_socket(
    upstreams: FuzzUpstreams, pool: list[dict[str, Any]], runner: asyncio.Runner
) -> None:
    with running_gateway(fuzz_config(upstreams)) as gateway:
        client = httpx.AsyncClient(base_url=gateway.base_url, timeout=15)
        tally = Tally()
        try:
            run_fuzz(client, MASTER_KEY, runner.run, pool=pool, examples=60, tally=tally)
        finally:
            runner.run(client.aclose())
    assert all(status < 500 for status in tally.by_status())


HOSTILE_BODIES: list[tuple[str, bytes]] = [
    *[(f"non-object {body[:12]!r}", body) for body in NON_OBJECT_BODIES],
    ("lone high surrogate", b'{"model":"mock","messages":[{"role":"user","content":"\\ud800"}]}'),
    ("lone low surrogate", b'{"model":"mock","messages":[{"role":"user","content":"x\\udfffy"}]}'),
    ("raw surrogate bytes", b'{"model":"mock","messages":[{"role":"user","content":"\xed\xa0\x80"}]}'),
    ("NUL in content", b'{"model":"mock","messages":[{"role":"user","content":"a\\u0000b"}]}'),
    ("NUL in model", b'{"model":"mo\\u0000ck","messages":[{"role":"user","content":"hi"}]}'),
    ("n = 2**63", b'{"model":"mock","n":9223372036854775808,"messages":[{"role":"user","content":"hi"}]}'),
    ("n = -1", b'{"model":"mock","n":-1,"messages":[{"role":"user","content":"hi"}]}'),
    ("max_tokens 1e308", b'{"model":"mock","max_tokens":1e308,"messages":[{"role":"user","content":"hi"}]}'),
    ("temperature 1e999", b'{"model":"mock","temperature":1e999,"messages":[{"role":"user","content":"hi"}]}'),
    ("seed -2**63-1", b'{"model":"mock","seed":-9223372036854775809,"messages":[{"role":"user","content":"x"}]}'),
    ("huge int", b'{"model":"mock","n":1' + b"0" * 400 + b',"messages":[{"role":"user","content":"x"}]}'),
    ("NaN", b'{"model":"mock","temperature":NaN,"messages":[{"role":"user","content":"hi"}]}'),
    ("duplicate keys", b'{"model":"mock","model":"nope","messages":[{"role":"user","content":"hi"}]}'),
    ("empty model", b'{"model":"","messages":[{"role":"user","content":"hi"}]}'),
    ("huge model", encode({"model": "m" * 1_000_000, "messages": [{"role": "user", "content": "hi"}]})),
    ("huge content", encode({"model": "mock", "messages": [{"role": "user", "content": "word " * 1_000_000}]})),
    ("deep 5000 arrays", b'{"model":"mock","messages":' + nested(5000) + b"}"),
    ("deep 100000 objects", b'{"model":"mock","x":' + nested(100_000, "{}") + b"}"),
    ("deep inside content", b'{"model":"mock","messages":[{"role":"user","content":' + nested(3000) + b"}]}"),
    ("brackets in strings", encode({"model": "mock", "messages": [{"role": "user", "content": "[" * 10_000}]})),
]


@pytest.mark.parametrize(("name", "body"), HOSTILE_BODIES, ids=[name for name, _ in HOSTILE_BODIES])
def test_hostile_bodies(name: str, body: bytes, runner: asyncio.Runner) -> None:
    app = create_app(make_gateway({"models": [{"name": "mock", "provider": "mock", "model": "mock-1"}]}))

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            return await send(client, MASTER_KEY, body)

    response = runner.run(go())
    check_answer(body, response.status_code, response.headers.get("content-type", ""), response.content)
    if name == "brackets in strings":
        assert response.status_code == 200, response.text  # brackets inside strings are not nesting
    elif name.startswith("deep"):
        assert response.status_code == 400
        assert "nested too deeply" in response.json()["error"]["message"]
