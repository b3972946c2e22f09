"""Load and soak runs against one gateway (uvicorn, real sockets) and an echoing fake upstream.

``python -m tests.hardening.load load --streams 200`` (``make load``): that many concurrent streams; each
must arrive complete and intact (assembled text equals what the upstream was asked to say). Prints time to
first token p50/p99 and throughput.

``python -m tests.hardening.load soak --requests 20000`` (``make soak``): a mix of streams, non-streams,
client errors, upstream errors and client disconnects (``--mix stream=5,json=3,...``); after warm-up, RSS
must grow by at most 10% and open fds and asyncio tasks must come back to their starting counts.

The gateway runs as its own process (``uvicorn gateway:app``, uvloop + httptools as on Lambda), the echo
upstream as another; RSS and fds are read from ``/proc/<gateway pid>``, asyncio tasks from the gateway's
opt-in ``/debug/runtime`` endpoint. The gateway's log is checked for tracebacks and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.hardening.processes import ROOT, Process, echo_upstream, gateway_process
from tests.hardening.upstreams import expected_text
from tests.support.gateway import MASTER_KEY, openai_config
from tests.support.sse import assemble, check_stream, parse_sse_text

HEADERS = {"authorization": f"Bearer {MASTER_KEY}"}


def _body(tag: str, stream: bool) -> dict[str, Any]:
    return {"model": "gpt-test", "stream": stream, "messages": [{"role": "user", "content": tag}]}


async def one_stream(client: httpx.AsyncClient, tag: str, words: int) -> float:
    """One stream read to the end; returns its time to first token. Raises if it is not intact."""
    body = _body(tag, True)
    started = time.monotonic()
    first: float | None = None
    parts: list[str] = []
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=HEADERS) as response:
        assert response.status_code == 200, await response.aread()
        async for text in response.aiter_text():
            if first is None and "content" in text:
                first = time.monotonic() - started
            parts.append(text)
    chunks, error = check_stream(parse_sse_text("".join(parts)))
    assert error is None, error
    content = assemble(chunks)[0]["content"]
    assert content == expected_text(body, words), f"stream {tag} corrupted: {content[:200]!r}"
    return first if first is not None else time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def limits_for(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency + 10)


def gateway_config(upstream: Process, concurrency: int) -> dict[str, Any]:
    config = openai_config(upstream.base_url + "/v1")
    config["server"] = {"max_connections": concurrency + 50, "max_keepalive_connections": concurrency + 50}
    # Opt-in, in-process cache: only the mix's cache_hit requests ("caching": true) use it.
    config["cache"] = {"mode": "opt-in"}  # DynamoDB when the table env var is set, else in memory
    return config


def log_problems(gateway: Process) -> list[str]:
    """Lines of the gateway's log that carry a stack trace or an ERROR."""
    return [
        line[:300]
        for line in gateway.log_text().splitlines()
        if "Traceback" in line or '"exception"' in line or '"level": "ERROR"' in line
    ]


async def run_load(base_url: str, streams: int, words: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits_for(streams)) as client:
        started = time.monotonic()
        ttfts = await asyncio.gather(*(one_stream(client, f"s{i}", words) for i in range(streams)))
        elapsed = time.monotonic() - started
    return {
        "streams": streams,
        "seconds": elapsed,
        "ttft_p50_ms": percentile(ttfts, 50) * 1000,
        "ttft_p99_ms": percentile(ttfts, 99) * 1000,
        "streams_per_s": streams / elapsed,
        "chunks_per_s": streams * (words + 4) / elapsed,
    }


def load(streams: int, words: int, chunk_delay: float) -> dict[str, Any]:
    with echo_upstream(words, chunk_delay) as upstream, gateway_process(gateway_config(upstream, streams)) as gateway:
        rss_before = gateway.rss_bytes()
        cpu_before = gateway.cpu_seconds()
        peak = [rss_before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak.append(gateway.rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result: dict[str, Any] = dict(asyncio.run(run_load(gateway.base_url, streams, words)))
        finally:
            done.set()
            sampler.join()
        rss_peak = max(peak)
        result["gateway_cpu_s"] = gateway.cpu_seconds() - cpu_before
        result["rss_before_mb"] = rss_before / 2**20
        result["rss_peak_mb"] = rss_peak / 2**20
        result["kb_per_stream"] = max(0, rss_peak - rss_before) / streams / 1024
        result["log_problems"] = log_problems(gateway)
    return result


# --- soak -------------------------------------------------------------------------------------------

DEFAULT_MIX = {
    "stream": 5,
    "json": 3,
    "cache_hit": 2,
    "bad_request": 1,
    "unknown_model": 1,
    "upstream_error": 1,
    "disconnect": 1,
}
CACHED_PROMPTS = 50


@dataclass
class SoakStats:
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    cache: collections.Counter[str] = field(default_factory=collections.Counter)


async def soak_one(client: httpx.AsyncClient, kind: str, i: int, words: int, stats: SoakStats) -> None:
    tag = f"r{i}"
    try:
        if kind == "stream":
            await one_stream(client, tag, words)
        elif kind == "json":
            response = await client.post("/v1/chat/completions", json=_body(tag, False), headers=HEADERS)
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] == expected_text(_body(tag, False), words)
        elif kind == "cache_hit":  # a few prompts asked again and again: after the first, hits
            cached = {**_body(f"cached{i % CACHED_PROMPTS}", False), "caching": True}
            response = await client.post("/v1/chat/completions", json=cached, headers=HEADERS)
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] == expected_text(cached, words)
            stats.cache[response.headers.get("x-llm-gateway-cache", "none")] += 1
        elif kind == "bad_request":
            response = await client.post("/v1/chat/completions", json={"model": "gpt-test", "n": -1}, headers=HEADERS)
            assert response.status_code == 400, response.text
        elif kind == "unknown_model":
            response = await client.post(
                "/v1/chat/completions", json={**_body(tag, False), "model": "nope"}, headers=HEADERS
            )
            assert response.status_code == 404, response.text
        elif kind == "upstream_error":
            response = await client.post("/v1/chat/completions", json=_body(f"fail-{tag}", False), headers=HEADERS)
            assert response.status_code == 502, response.text
        elif kind == "disconnect":
            async with client.stream("POST", "/v1/chat/completions", json=_body(tag, True), headers=HEADERS) as r:
                async for _ in r.aiter_bytes():
                    break  # leave after the first bytes
        stats.counts[kind] = stats.counts.get(kind, 0) + 1
    except Exception as exc:
        stats.failures.append(f"{kind} {tag}: {exc!r}"[:300])


async def soak_batch(
    base_url: str, kinds: list[str], start: int, concurrency: int, words: int, stats: SoakStats
) -> None:
    queue = list(enumerate(kinds, start))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits_for(concurrency)) as client:

        async def worker() -> None:
            while queue:
                i, kind = queue.pop()
                await soak_one(client, kind, i, words, stats)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def idle_figures(gateway: Process, baseline: dict[str, int] | None, seconds: float = 240.0) -> dict[str, int]:
    """RSS, fds and tasks once the gateway is quiet: in-flight clean-ups and background writes (usage
    records) drained, i.e. the task count stopped falling (or is back to ``baseline``)."""
    deadline = time.monotonic() + seconds
    history: list[int] = []
    while True:
        time.sleep(0.5)
        runtime = gateway.runtime()
        time.sleep(0.2)  # let the debug request's own connection close
        figures = {
            "rss": gateway.rss_bytes(),
            "fds": gateway.open_fds(),
            "tasks": int(runtime["asyncio_tasks"]),
            "pooled": int(runtime["upstream_connections"] or 0),
        }
        # An idle keep-alive connection to the upstream is an fd the pool may keep (up to its limit);
        # what must come back is everything else.
        figures["fds_besides_pool"] = figures["fds"] - figures["pooled"]
        history.append(figures["tasks"])
        if len(history) % 20 == 0:
            print(f"  waiting for the gateway to go quiet: {figures['tasks']} asyncio tasks", file=sys.stderr)
        back = baseline is not None and (
            figures["fds_besides_pool"] <= baseline["fds_besides_pool"] and figures["tasks"] <= baseline["tasks"]
        )
        steady = len(history) >= 4 and len(set(history[-4:])) == 1
        if back or steady or time.monotonic() > deadline:
            return figures


@contextlib.contextmanager
def dynamodb_tables() -> Iterator[dict[str, str]]:
    """moto's DynamoDB in its own process with every table of template.yaml: the gateway keeps its cache,
    state and usage records there, as in production (in-memory stores grow by design, with no TTL)."""
    import boto3
    from bench.moto_process import moto_server

    from llm_gateway.aws.tables import create_tables

    with moto_server() as endpoint:
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        env = create_tables(client, ROOT / "template.yaml", prefix="soak")
        yield {
            **env,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }


def soak(
    requests: int, mix: dict[str, int], concurrency: int, warmup: int, seed: int = 7, store: str = "dynamodb"
) -> dict[str, Any]:
    rng = random.Random(seed)
    kinds = rng.choices(list(mix), weights=list(mix.values()), k=requests)
    words = 30
    stats = SoakStats()
    with contextlib.ExitStack() as resources:
        env = resources.enter_context(dynamodb_tables()) if store == "dynamodb" else {}
        upstream = resources.enter_context(echo_upstream(words, 0.0))
        gateway = resources.enter_context(gateway_process(gateway_config(upstream, concurrency), env))
        asyncio.run(soak_batch(gateway.base_url, kinds[:warmup], 0, concurrency, words, stats))
        before = idle_figures(gateway, None)
        started = time.monotonic()
        asyncio.run(soak_batch(gateway.base_url, kinds[warmup:], warmup, concurrency, words, stats))
        elapsed = time.monotonic() - started
        after = idle_figures(gateway, before)
        problems_in_log = log_problems(gateway)
    return {
        "store": store,
        "requests": requests,
        "warmup": warmup,
        "seconds": elapsed,
        "requests_per_s": (requests - warmup) / elapsed,
        "counts": stats.counts,
        "cache": dict(stats.cache),
        "failures": stats.failures,
        "log_problems": problems_in_log,
        "rss_before_mb": before["rss"] / 2**20,
        "rss_after_mb": after["rss"] / 2**20,
        "rss_growth": after["rss"] / before["rss"] - 1,
        "fds_before": before["fds"],
        "fds_after": after["fds"],
        "pooled_before": before["pooled"],
        "pooled_after": after["pooled"],
        "fds_besides_pool_before": before["fds_besides_pool"],
        "fds_besides_pool_after": after["fds_besides_pool"],
        "tasks_before": before["tasks"],
        "tasks_after": after["tasks"],
    }


def check_soak(result: dict[str, Any], max_growth: float = 0.10) -> list[str]:
    problems = list(result["failures"][:10]) + list(result["log_problems"][:10])
    if result["rss_growth"] > max_growth:
        problems.append(f"RSS grew {result['rss_growth']:.1%} (limit {max_growth:.0%})")
    if result["fds_besides_pool_after"] > result["fds_besides_pool_before"]:
        problems.append(
            f"open fds besides pooled upstream connections {result['fds_besides_pool_before']} -> "
            f"{result['fds_besides_pool_after']}"
        )
    if result["tasks_after"] > result["tasks_before"]:
        problems.append(f"asyncio tasks {result['tasks_before']} -> {result['tasks_after']}")
    return problems


def _parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in DEFAULT_MIX:
            raise SystemExit(f"unknown mix entry {name!r}; known: {', '.join(DEFAULT_MIX)}")
        mix[name.strip()] = int(weight or 1)
    return mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_load = sub.add_parser("load")
    p_load.add_argument("--streams", type=int, default=200)
    p_load.add_argument("--words", type=int, default=50)
    p_load.add_argument("--chunk-delay", type=float, default=0.01)
    p_soak = sub.add_parser("soak")
    p_soak.add_argument("--requests", type=int, default=20_000)
    p_soak.add_argument("--warmup", type=int, default=2_000)
    p_soak.add_argument("--concurrency", type=int, default=32)
    p_soak.add_argument("--mix", default=",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items()))
    p_soak.add_argument("--store", choices=["dynamodb", "memory"], default="dynamodb")
    args = parser.parse_args(argv)
    if args.command == "load":
        result = load(args.streams, args.words, args.chunk_delay)
        print(
            f"{result['streams']} concurrent streams, all complete and intact, in {result['seconds']:.2f}s: "
            f"TTFT p50 {result['ttft_p50_ms']:.0f} ms, p99 {result['ttft_p99_ms']:.0f} ms; "
            f"{result['streams_per_s']:.1f} streams/s, {result['chunks_per_s']:.0f} chunks/s; gateway RSS "
            f"{result['rss_before_mb']:.1f} MB, peak {result['rss_peak_mb']:.1f} MB "
            f"(~{result['kb_per_stream']:.0f} KB a stream); gateway CPU {result['gateway_cpu_s']:.2f} s "
            f"({result['gateway_cpu_s'] / result['streams'] * 1000:.1f} ms a stream)"
        )
        for problem in result["log_problems"][:10]:
            print(f"  FAIL (gateway log): {problem}", file=sys.stderr)
        return 1 if result["log_problems"] else 0
    result = soak(args.requests, _parse_mix(args.mix), args.concurrency, args.warmup, store=args.store)
    print(
        f"soak ({result['store']} stores): {result['requests']} requests ({result['warmup']} warm-up), "
        f"{result['requests_per_s']:.0f} req/s after warm-up; mix {result['counts']}; cache {result['cache']}\n"
        f"  RSS {result['rss_before_mb']:.1f} MB -> {result['rss_after_mb']:.1f} MB ({result['rss_growth']:+.1%}); "
        f"fds {result['fds_before']} -> {result['fds_after']} (pooled upstream connections "
        f"{result['pooled_before']} -> {result['pooled_after']}); "
        f"asyncio tasks {result['tasks_before']} -> "
        f"{result['tasks_after']}; gateway log: {len(result['log_problems'])} tracebacks/errors"
    )
    problems = check_soak(result)
    for problem in problems:
        print(f"  FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
