"""An incremental Server-Sent Events decoder (bytes in, events out), per the WHATWG rules we need.

Lines end in LF, CRLF or CR; an empty line ends an event; ``data:`` lines are joined with LF;
comments (``:``) are skipped. A single event larger than ``max_event_bytes`` is refused, so a hostile
upstream cannot grow our memory without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_gateway.errors import UpstreamConnectionError


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None


class SSEDecoder:
    def __init__(self, max_event_bytes: int = 16 * 1024 * 1024) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._size = 0
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            cut, skip = _next_line_end(self._buffer)
            if cut < 0:
                break
            line = self._buffer[:cut]
            self._buffer = self._buffer[cut + skip :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        if len(self._buffer) + self._size > self._max:
            raise UpstreamConnectionError(
                f"An upstream stream event exceeded the gateway's size limit ({self._max} bytes).",
                code="upstream_response_too_large",
            )
        return events

    def close(self) -> list[SSEEvent]:
        """End of input: an unterminated last event still counts (some servers omit the blank line)."""
        events: list[SSEEvent] = []
        if self._buffer:
            event = self._line(self._buffer)
            self._buffer = b""
            if event is not None:
                events.append(event)
        if self._data:
            events.append(self._dispatch())
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            if self._data:
                return self._dispatch()
            self._reset()
            return None
        if raw.startswith(b":"):
            return None
        name, _, value = raw.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", errors="replace")
        if name == b"data":
            self._data.append(text)
            self._size += len(value)
        elif name == b"event":
            self._event = text
        elif name == b"id":
            self._id = text
        return None

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent(data="\n".join(self._data), event=self._event, id=self._id)
        self._reset()
        return event

    def _reset(self) -> None:
        self._data = []
        self._event = None
        self._size = 0


def _next_line_end(buffer: bytes) -> tuple[int, int]:
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r")
    if cr < 0:
        return lf, 1
    if lf >= 0 and lf < cr:
        return lf, 1
    if cr == len(buffer) - 1:
        return -1, 0  # a CR at the very end may be the first half of CRLF: wait for more
    if buffer[cr + 1 : cr + 2] == b"\n":
        return cr, 2
    return cr, 1
