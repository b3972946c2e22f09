"""What the slow-client bounds buy: connections dripping their head, against the gateway as shipped and
against uvicorn's own httptools protocol (``LLM_GATEWAY_HTTP=httptools``).

    python -m bench.slow_clients [--connections 500] [--header-timeout 2] [--watch 6]

Each side is a gateway process (the flags of ``handlers/run.sh``, uvloop) with ``server.header_timeout`` set
to ``--header-timeout``. ``--connections`` clients each send a request line, then a header line a second,
and never end their head. After ``--watch`` seconds the script counts the connections the gateway still
holds open, and reads its RSS and open file descriptors from /proc; then one ordinary request is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bypasses import Side, start
from bench.run import KEY, ROOT, free_port, rss_mb, wait_ready


async def drip(port: int, connections: int, watch: float) -> int:
    """Open ``connections`` dripping clients; after ``watch`` seconds, how many the server still holds."""
    open_ones: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /v1/models HTTP/1.1\r\nhost: gw\r\n")
        open_ones.append((reader, writer))
    ends = [asyncio.ensure_future(reader.read()) for reader, _ in open_ones]
    started = time.monotonic()
    line = 0
    while time.monotonic() - started < watch:
        await asyncio.sleep(1.0)
        for (_, writer), end in zip(open_ones, ends, strict=True):
            if not end.done():
                writer.write(f"x-drip-{line}: still here\r\n".encode())
        line += 1
    held = sum(not end.done() for end in ends)
    for (_, writer), end in zip(open_ones, ends, strict=True):
        end.cancel()
        writer.close()
    return held


def fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--header-timeout", type=float, default=2.0)
    parser.add_argument("--watch", type=float, default=6.0)
    args = parser.parse_args()
    env = {**os.environ, "LLM_GATEWAY_MASTER_KEY": KEY, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}:{ROOT}"}
    sides = [
        Side("shipped", config={"server": {"header_timeout": args.header_timeout}}),
        Side("uvicorn-httptools", http="httptools", config={"server": {"header_timeout": args.header_timeout}}),
    ]
    timeout = args.header_timeout
    print(f"{args.connections} connections dripping a header line a second, header_timeout {timeout:g} s")
    print(
        f"{'side':18} | held after {args.watch:g} s | RSS before -> with them | fds before -> with them | next request"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for side in sides:
            start(side, free_port(), env, Path(tmp))  # no upstream: /v1/models needs none
            assert side.process is not None
            try:
                wait_ready(f"http://127.0.0.1:{side.port}/health")
                pid = side.process.pid
                rss, fd = rss_mb(pid), fds(pid)
                held = asyncio.run(drip(side.port, args.connections, args.watch))
                rss_with, fd_with = rss_mb(pid), fds(pid)
                began = time.monotonic()
                probe = subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"authorization: Bearer {KEY}",
                     f"http://127.0.0.1:{side.port}/v1/models"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                took = (time.monotonic() - began) * 1000
                print(
                    f"{side.name:18} | {held:>4} of {args.connections} | {rss:6.1f} -> {rss_with:6.1f} MB | "
                    f"{fd:4} -> {fd_with:4} | {probe.stdout} in {took:.0f} ms"
                )
            finally:
                side.process.terminate()
                side.process.wait(15)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
