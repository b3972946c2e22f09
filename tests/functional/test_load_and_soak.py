"""Bounded versions of ``make load`` and ``make soak``: concurrent streams arrive complete and intact,
and a mixed run (with client disconnects and errors) leaves no task and no file descriptor behind."""

from __future__ import annotations

from tests.hardening.load import DEFAULT_MIX, load, soak


def test_concurrent_streams_are_complete_and_intact() -> None:
    result = load(streams=60, words=20, chunk_delay=0.01)
    print(result)
    assert result["streams"] == 60  # every stream was checked in load(): text equals what was asked


def test_mixed_requests_leave_nothing_behind() -> None:
    result = soak(requests=500, mix=DEFAULT_MIX, concurrency=16, warmup=150)
    print({k: v for k, v in result.items() if k != "failures"})
    assert not result["failures"], result["failures"][:5]
    assert set(result["counts"]) == set(DEFAULT_MIX)
    assert result["tasks_after"] <= result["tasks_before"]
    assert result["fds_after"] <= result["fds_before"]
