"""A lean HTTP/1.1 keep-alive load generator on raw asyncio streams.

httpx costs ~0.6 ms of CPU per request on this machine; on 2 cores that CPU would compete with the very
processes under test and swamp the figure we want. This client costs a few tens of microseconds, so
the measured difference between "direct" and "through the gateway" is the gateway's.
"""

from __future__ import annotations

import asyncio
import time


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, list[tuple[float, bytes]]]:
        """POST and read the whole response; returns (status, [(arrival time, piece)]) where pieces are the
        body (one piece) or each chunk of a chunked (streamed) body, timed as they arrive."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = [
            f"POST {path} HTTP/1.1",
            f"host: {self.host}:{self.port}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = None
        chunked = False
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        pieces: list[tuple[float, bytes]] = []
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                data = await self.reader.readexactly(size + 2)
                pieces.append((time.perf_counter(), data[:-2]))
        elif length is not None:
            pieces.append((time.perf_counter(), await self.reader.readexactly(length)))
        return status, pieces
