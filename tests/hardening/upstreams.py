"""Fake upstreams for the hardening runs: one that answers each request with text derived from it (so a
stream mixed up with another is caught), and one with extra hostile behaviours."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tests.support.fake_http import Responder
from tests.support.fake_openai import Behaviour, FakeOpenAI, Reply, Status, stream_chunks


def expected_text(body: dict[str, Any], words: int) -> str:
    """What :class:`EchoUpstream` answers: the last message's text, then numbered words."""
    last = body["messages"][-1]["content"]
    return " ".join([str(last), *(f"t{i}" for i in range(words))])


class EchoUpstream(FakeOpenAI):
    """Answers every request with :func:`expected_text`; ``words`` and ``chunk_delay`` set the length
    and pace of streams."""

    words: int = 20
    chunk_delay: float = 0.0

    async def _act(self, behaviour: Behaviour, body: dict[str, Any], respond: Responder) -> None:
        if isinstance(behaviour, Reply) and behaviour is self.default:
            if str(body["messages"][-1].get("content", "")).startswith("fail"):
                behaviour = Status(500, "the upstream failed on purpose", error_type="server_error")
            else:
                behaviour = Reply(text=expected_text(body, self.words), chunk_delay=self.chunk_delay)
        await super()._act(behaviour, body, respond)


@dataclass
class TrickleAfter:
    """Stream ``chunks`` real chunks, then one byte every ``interval`` seconds, forever."""

    chunks: int = 2
    interval: float = 0.2


class HostileUpstream(FakeOpenAI):
    async def _act(self, behaviour: Any, body: dict[str, Any], respond: Responder) -> None:
        if isinstance(behaviour, TrickleAfter):
            await respond.start_stream()
            for chunk in stream_chunks(Reply(text="one two three four five"), body)[: behaviour.chunks]:
                await respond.write(f"data: {json.dumps(chunk)}\n\n")
            while True:
                await asyncio.sleep(behaviour.interval)
                await respond.write(b":")
        else:
            await super()._act(behaviour, body, respond)


def main() -> None:
    """Run an :class:`EchoUpstream` in its own process (for load and soak runs); prints ``PORT <n>``."""
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args()
    server = EchoUpstream().start()
    server.words, server.chunk_delay = args.words, args.chunk_delay
    print(f"PORT {server.port}", flush=True)
    try:
        while sys.stdin.readline():  # runs until its parent closes stdin
            pass
    finally:
        server.stop()
        time.sleep(0.1)


if __name__ == "__main__":
    main()
