"""Upstream HTTP: the transport provider calls go through, chosen by ``server.upstream_http``.

- ``pool`` (the default): :class:`~llm_gateway.transport.pool.UpstreamPool`, the gateway's own HTTP/1.1
  keep-alive pool (docs/decisions/0001-upstream-pool.md says why, and what it does not do).
- ``httpx``: :class:`HttpxTransport`, httpx's client as it comes. It reads the proxy variables
  (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) and ``SSL_CERT_FILE`` from the
  environment. The pool cannot talk through a proxy, so a proxy variable set selects httpx whatever the
  setting says.

Both are ``httpx.AsyncBaseTransport``; :func:`send_upstream` hands the pool a request without building an
``httpx.Request`` first, and builds one for any other transport (httpx's, or a test's ``MockTransport``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from llm_gateway.config import ServerConfig

log = logging.getLogger("llm_gateway.transport")

PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy")
"""The variables (in either case) through which httpx sends requests to a proxy."""


def proxy_configured(env: Mapping[str, str]) -> bool:
    return any(value.strip() for name, value in env.items() if name.lower() in PROXY_VARIABLES)


def make_transport(server: ServerConfig, env: Mapping[str, str]) -> httpx.AsyncBaseTransport:
    """The process's upstream transport, sized from the config."""
    if server.upstream_http == "httpx" or proxy_configured(env):
        if server.upstream_http == "pool":
            log.info("a proxy is set in the environment: upstream calls go through httpx's client")
        return HttpxTransport(server)
    from llm_gateway.transport.pool import UpstreamPool

    return UpstreamPool(
        max_connections=server.max_connections,
        max_keepalive_connections=server.max_keepalive_connections,
        keepalive_expiry=server.keepalive_expiry,
    )


class HttpxTransport(httpx.AsyncBaseTransport):
    """httpx's own client as a transport: its pool (httpcore), proxies and certificates from the environment.

    Requests arrive built (with their timeouts in ``extensions``); the client adds nothing to them (no
    base URL, default headers, auth or cookies), follows no redirect, and picks the proxy for each URL."""

    def __init__(self, server: ServerConfig) -> None:
        self.server = server
        self.client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        server = self.server
        return httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=server.max_connections,
                max_keepalive_connections=server.max_keepalive_connections,
                keepalive_expiry=server.keepalive_expiry,
            ),
            follow_redirects=False,
            trust_env=True,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # a jar that keeps no cookie
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.client.send(request, stream=True)

    async def close_idle_connections(self) -> None:
        """Close the pooled connections and go on with a new client (before a SnapStart snapshot and after a
        restore, when no request is in flight): a closed ``AsyncClient`` cannot be opened again."""
        closing, self.client = self.client, self._new_client()
        await closing.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


async def send_upstream(
    transport: httpx.AsyncBaseTransport,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    content: bytes,
    timeout: httpx.Timeout,
) -> httpx.Response:
    """Send one request and return the response with its body still unread (the caller closes it)."""
    from llm_gateway.transport.pool import UpstreamPool

    headers = {"user-agent": "llm-gateway", "accept-encoding": "identity", **headers}
    if isinstance(transport, UpstreamPool):
        return await transport.send(method, url, headers, content, timeout.as_dict())
    request = httpx.Request(method, url, headers=headers, content=content, extensions={"timeout": timeout.as_dict()})
    response = await transport.handle_async_request(request)
    response.request = request
    return response
