"""Send fuzzed bodies to the real app and check every answer: a 2xx that is a valid chat completion (or a
valid stream), or a well-formed OpenAI error with a 4xx status; never a 5xx, never a hang.

``python -m tests.hardening.fuzz --examples 10000`` runs the long version (``make fuzz``) and prints the
counts by mutation and status; the test suite runs a few hundred cases through the same checks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.requests import encode, mutated_bodies, seed_pool
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.sse import check_stream, parse_sse_text

REQUEST_TIMEOUT = 15.0
FUZZ_MODELS = ("mock", "gpt-test", "claude", "gem")


@dataclass
class FuzzUpstreams:
    """One fake per HTTP provider family, so every translation path is fuzzed."""

    openai: Any
    anthropic: Any
    gemini: Any

    @classmethod
    def start(cls) -> FuzzUpstreams:
        from tests.support.fake_anthropic import FakeAnthropic
        from tests.support.fake_gemini import FakeGemini
        from tests.support.fake_openai import FakeOpenAI

        return cls(FakeOpenAI().start(), FakeAnthropic().start(), FakeGemini().start())

    def stop(self) -> None:
        for server in (self.openai, self.anthropic, self.gemini):
            server.stop()


def fuzz_config(upstreams: FuzzUpstreams) -> dict[str, Any]:
    from tests.support import fake_anthropic, fake_gemini

    return {
        "models": [
            {"name": "mock", "provider": "mock", "model": "mock-1"},
            {
                "name": "gpt-test",
                "provider": "openai",
                "model": "fake-model",
                "api_base": upstreams.openai.v1,
                "api_key": "sk-upstream-secret-key-abcdef",
            },
            {
                "name": "claude",
                "provider": "anthropic",
                "model": "claude-sonnet-4-5-20250929",
                "api_base": upstreams.anthropic.base_url,
                "api_key": fake_anthropic.API_KEY,
            },
            {
                "name": "gem",
                "provider": "gemini",
                "model": "gemini-2.5-flash",
                "api_base": upstreams.gemini.v1beta,
                "api_key": fake_gemini.API_KEY,
            },
        ],
        "server": {"read_timeout": 5, "request_timeout": 10},
    }


class FuzzFailure(AssertionError):
    pass


def check_answer(body: bytes, status: int, content_type: str, text: bytes) -> None:
    """The contract every answer must meet, whatever the request."""
    if status >= 500:
        raise FuzzFailure(f"HTTP {status} for {body[:300]!r}: {text[:500]!r}")
    if 200 <= status < 300:
        if content_type.startswith("text/event-stream"):
            chunks, error = check_stream(parse_sse_text(text.decode()))
            assert error is None or "error" in error
            assert chunks, "a 200 stream with no chunks"
        else:
            assert_completion(json.loads(text))
        return
    if not 400 <= status < 500:
        raise FuzzFailure(f"unexpected HTTP {status} for {body[:300]!r}")
    payload = json.loads(text)
    assert_error(payload)
    assert payload["error"]["message"], "an error without a message"
    assert content_type.startswith("application/json")


@dataclass
class Tally:
    counts: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    slowest: float = 0.0

    def add(self, kind: str, status: int, seconds: float) -> None:
        self.counts[(kind, status)] += 1
        self.slowest = max(self.slowest, seconds)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_status(self) -> dict[int, int]:
        out: collections.Counter[int] = collections.Counter()
        for (_, status), count in self.counts.items():
            out[status] += count
        return dict(sorted(out.items()))

    def report(self, title: str) -> str:
        lines = [f"{title}: {self.total} requests, slowest {self.slowest:.2f}s", f"  by status: {self.by_status()}"]
        kinds = sorted({kind for kind, _ in self.counts})
        for kind in kinds:
            row = {status: n for (k, status), n in sorted(self.counts.items()) if k == kind}
            lines.append(f"  {kind:16s} {row}")
        return "\n".join(lines)


async def send(client: httpx.AsyncClient, key: str, body: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    return await asyncio.wait_for(client.post("/v1/chat/completions", content=body, headers=headers), REQUEST_TIMEOUT)


def run_fuzz(
    client: httpx.AsyncClient,
    key: str,
    runner: Callable[[Any], Any],
    *,
    pool: list[dict[str, Any]],
    examples: int,
    tally: Tally,
    seed: int | None = None,
) -> None:
    """Drive ``examples`` hypothesis cases (schema-valid requests from ``pool``, and mutations of them)
    through ``client``; raise on the first broken answer."""
    requests = st.sampled_from(pool)
    strategy = st.one_of(
        requests.map(lambda r: ("schema_valid", encode(r))),
        mutated_bodies(requests),
        mutated_bodies(requests),
        mutated_bodies(requests),
    )

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=seed is not None,
        print_blob=True,
    )
    @given(strategy)
    def case(item: tuple[str, bytes]) -> None:
        kind, body = item
        started = time.monotonic()
        try:
            response = runner(send(client, key, body))
        except TimeoutError:
            raise FuzzFailure(f"no answer within {REQUEST_TIMEOUT}s for {body[:300]!r}") from None
        tally.add(kind, response.status_code, time.monotonic() - started)
        check_answer(body, response.status_code, response.headers.get("content-type", ""), response.content)

    case()


def main(argv: list[str] | None = None) -> int:
    from llm_gateway.api.app import create_app
    from tests.support.gateway import make_gateway, running_gateway

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000, help="in-process ASGI cases")
    parser.add_argument("--socket-examples", type=int, default=1_000, help="cases over a real socket (uvicorn)")
    parser.add_argument("--pool", type=int, default=300, help="schema-generated requests to mutate")
    args = parser.parse_args(argv)
    started = time.monotonic()
    pool = seed_pool(args.pool, FUZZ_MODELS)
    print(f"{len(pool)} schema-valid seed requests generated in {time.monotonic() - started:.0f}s")

    upstreams = FuzzUpstreams.start()
    config = fuzz_config(upstreams)
    failures = 0
    try:
        with asyncio.Runner() as runner:
            app = create_app(make_gateway(config))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
            failures += _phase("in-process ASGI", client, runner, pool, args.examples)
        if args.socket_examples:
            with running_gateway(config) as gateway, asyncio.Runner() as runner:
                client = httpx.AsyncClient(base_url=gateway.base_url, timeout=REQUEST_TIMEOUT)
                failures += _phase("real socket, uvicorn", client, runner, pool, args.socket_examples)
    finally:
        upstreams.stop()
    return 1 if failures else 0


def _phase(title: str, client: httpx.AsyncClient, runner: asyncio.Runner, pool: list[Any], examples: int) -> int:
    """One fuzz run through ``client``; prints the counts; returns 1 if a case broke the contract."""
    from tests.support.gateway import MASTER_KEY

    tally = Tally()
    started = time.monotonic()
    failed = 0
    try:
        run_fuzz(client, MASTER_KEY, runner.run, pool=pool, examples=examples, tally=tally)
    except Exception as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        failed = 1
    print(tally.report(f"{title} ({time.monotonic() - started:.0f}s)"))
    runner.run(client.aclose())
    return failed


if __name__ == "__main__":
    sys.exit(main())
