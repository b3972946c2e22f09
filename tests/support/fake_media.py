"""A fake media host on 127.0.0.1 (plain or TLS with a test CA) serving scripted paths, plus a resolver
that maps any host name to chosen addresses, so the media fetcher can be tested without the internet."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@dataclass
class Media:
    body: bytes = PNG
    content_type: str = "image/png"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: int = 0
    """Send the body in this many pieces, ``delay`` s apart (0: all at once after ``delay``)."""


@dataclass
class FakeMediaServer(FakeHTTPServer):
    routes: dict[str, Media] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, sock=self._sock, ssl=self.tls)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        media = self.routes.get(request.path)
        if media is None:
            await respond.send(404, "not found")
            return
        headers = {"content-type": media.content_type, **media.headers}
        if not media.trickle:
            await asyncio.sleep(media.delay)
            await respond.send(media.status, media.body, headers=headers)
            return
        await respond.start_stream(media.status, headers)
        size = max(1, len(media.body) // media.trickle)
        for start in range(0, len(media.body), size):
            await asyncio.sleep(media.delay)
            await respond.write(media.body[start : start + size])
        await respond.end()


def resolver(table: dict[str, Sequence[str]], default: Sequence[str] = ()) -> Any:
    """``table`` maps host names to addresses; the fetcher connects only where it is told."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(table.get(host, default))

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve
