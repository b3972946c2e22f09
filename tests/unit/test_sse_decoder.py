from __future__ import annotations

import pytest

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.sse import SSEDecoder


def feed_all(pieces: list[bytes]) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events += [(e.event, e.data) for e in decoder.feed(piece)]
    events += [(e.event, e.data) for e in decoder.close()]
    return events


def test_events_split_across_reads_and_line_endings() -> None:
    raw = b'event: message_start\r\ndata: {"a":1}\r\n\r\n: comment\n\ndata: line1\ndata: line2\n\ndata: last\r\r'
    expected = [("message_start", '{"a":1}'), (None, "line1\nline2"), (None, "last")]
    assert feed_all([raw]) == expected
    assert feed_all([bytes([b]) for b in raw]) == expected  # one byte at a time


def test_unterminated_final_event_still_counts() -> None:
    assert feed_all([b"data: [DONE]"]) == [(None, "[DONE]")]


def test_oversized_event_is_refused() -> None:
    decoder = SSEDecoder(max_event_bytes=1024)
    with pytest.raises(UpstreamConnectionError):
        decoder.feed(b"data: " + b"x" * 2048)
