"""Bounded versions of ``make load`` and ``make soak`` against a gateway process (uvicorn): concurrent
streams arrive complete and intact, and a mixed run (with client disconnects and errors) leaves no task
and no file descriptor behind, and no stack trace in the gateway's log."""

from __future__ import annotations

import pytest

from tests.hardening.load import DEFAULT_MIX, check_soak, load, soak

pytestmark = pytest.mark.slow


def test_concurrent_streams_are_complete_and_intact() -> None:
    result = load(streams=60, words=20, chunk_delay=0.01)
    print(result)
    assert result["streams"] == 60  # load() checked every stream: the text equals what was asked
    assert not result["log_problems"]


def test_mixed_requests_leave_nothing_behind() -> None:
    result = soak(requests=600, mix=DEFAULT_MIX, concurrency=16, warmup=200)
    print({k: v for k, v in result.items() if k != "failures"})
    assert set(result["counts"]) == set(DEFAULT_MIX)
    assert result["cache"].get("hit")  # repeated prompts were answered from the cache
    # RSS is only meaningful over a long run (make soak); here: no failure, no leftover task or fd.
    assert check_soak(result, max_growth=1.0) == []
