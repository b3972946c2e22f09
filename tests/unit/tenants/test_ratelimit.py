from __future__ import annotations

import pytest

from llm_gateway.tables.memory import MemoryTable
from llm_gateway.tenants.ratelimit import Quota, RateLimiter, format_reset, ratelimit_headers
from tests.support.tenants import ManualClock


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (1, "1s"), (17.2, "18s"), (60, "1m0s"), (90, "1m30s"), (0, "0ms")]
)
def test_reset_format_is_openais(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


async def test_fixed_window_counts_and_resets() -> None:
    clock = ManualClock(now=1_764_000_000.0 + 50)
    limiter = RateLimiter(MemoryTable(), clock, sliding=False)
    decisions = [await limiter.admit("key#a", Quota(rpm=2), 10) for _ in range(3)]
    assert [d.admitted for d in decisions] == [True, True, False]
    assert decisions[2].exceeded == "requests"
    assert decisions[2].retry_after == pytest.approx(10)
    assert ratelimit_headers(decisions[1]) == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "10s",
    }
    clock.advance(10)
    assert (await limiter.admit("key#a", Quota(rpm=2), 10)).admitted


async def test_sliding_window_weights_the_previous_minute() -> None:
    clock = ManualClock(now=1_764_000_000.0)
    limiter = RateLimiter(MemoryTable(), clock, sliding=True)
    for _ in range(10):
        assert (await limiter.admit("k", Quota(rpm=10), 1)).admitted
    clock.advance(60 + 30)  # half way through the next minute: the last one counts 5
    results = [(await limiter.admit("k", Quota(rpm=10), 1)).admitted for _ in range(6)]
    assert results == [True] * 5 + [False]
    assert limiter.reads == 2  # the previous window is read once per window, then remembered


async def test_tokens_settle_to_real_usage_and_refunds() -> None:
    clock = ManualClock(now=1_764_000_000.0)
    table = MemoryTable()
    limiter = RateLimiter(table, clock, sliding=False)
    first = await limiter.admit("k", Quota(tpm=1000), 900)
    assert first.admitted and first.remaining_tokens() == 100
    limiter.settle_tokens(first, 100)  # the answer used far less than the estimate: queued in the ledger
    await limiter.ledger.flush()
    second = await limiter.admit("k", Quota(tpm=1000), 500)
    assert second.admitted and second.tokens_used == 600
    decisions = await limiter.admit_all([("k", Quota(tpm=1000)), ("m", Quota(rpm=1))], 10)
    assert [d.admitted for d in decisions] == [True, True]
    decisions = await limiter.admit_all([("k", Quota(tpm=1000)), ("m", Quota(rpm=1))], 10)
    assert [d.admitted for d in decisions] == [True, False]
    # the refused request gave its slot back on "k"
    assert await table.get("rl#k", "1764000000") == {
        "pk": "rl#k",
        "sk": "1764000000",
        "r": 3,
        "t": 610,
        "expires_at": 1764000180,
    }
