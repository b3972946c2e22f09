"""The one shared ``httpx.AsyncClient`` per process: pooled keep-alive connections, bounded timeouts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from llm_gateway.config import ServerConfig


def make_http_client(server: ServerConfig, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(
            connect=server.connect_timeout,
            read=server.read_timeout,
            write=server.write_timeout,
            pool=server.pool_timeout,
        ),
        limits=httpx.Limits(
            max_connections=server.max_connections,
            max_keepalive_connections=server.max_keepalive_connections,
            keepalive_expiry=server.keepalive_expiry,
        ),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "llm-gateway"},
    )
