"""Which transport upstream calls take (``server.upstream_http``, a proxy in the environment), httpx's own
path doing the same job as the pool, and neither keeping a credential once its requests are done."""

from __future__ import annotations

import gc
import secrets
import sys

import httpx
import pytest

from llm_gateway.config import ConfigError, ServerConfig, parse_config
from llm_gateway.transport.http import HttpxTransport, make_transport, proxy_configured, send_upstream
from llm_gateway.transport.pool import UpstreamPool
from tests.unit.test_transport import ScriptedServer, fetch, raw


@pytest.mark.parametrize(
    ("setting", "env", "expected"),
    [
        ("pool", {}, UpstreamPool),
        ("httpx", {}, HttpxTransport),
        ("pool", {"HTTPS_PROXY": "http://proxy.internal:3128"}, HttpxTransport),
        ("pool", {"http_proxy": "http://proxy.internal:3128"}, HttpxTransport),
        ("pool", {"ALL_PROXY": "http://proxy.internal:3128"}, HttpxTransport),
        ("pool", {"HTTPS_PROXY": " ", "NO_PROXY": "*"}, UpstreamPool),
    ],
)
async def test_the_setting_and_the_environment_choose_the_transport(
    setting: str, env: dict[str, str], expected: type
) -> None:
    transport = make_transport(ServerConfig(upstream_http=setting), env)
    try:
        assert type(transport) is expected
    finally:
        await transport.aclose()


def test_an_unknown_transport_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"server\.upstream_http"):
        parse_config({"models": [{"name": "m", "provider": "mock", "model": "m"}], "server": {"upstream_http": "h2"}})


def test_proxy_variables_are_read_in_either_case() -> None:
    assert proxy_configured({"https_proxy": "http://p:1"}) and proxy_configured({"ALL_PROXY": "http://p:1"})
    assert not proxy_configured({"NO_PROXY": "localhost", "PROXY": "x"})


@pytest.mark.slow  # a scripted server on a socket
async def test_httpx_path_sends_what_the_pool_sends() -> None:
    server = ScriptedServer()
    port = await server.start()
    transports = [make_transport(ServerConfig(), {}), make_transport(ServerConfig(upstream_http="httpx"), {})]
    try:
        for transport in transports:
            assert await fetch(transport, f"http://127.0.0.1:{port}/v1/x?q=1", b"hello") == b"hello"
        assert len(server.requests) == 2
        for request in server.requests:
            assert request.startswith(b"POST /v1/x?q=1 HTTP/1.1\r\n")
            assert request.endswith(b"\r\n\r\nhello")
        names = [
            {line.split(b":")[0].lower() for line in r.split(b"\r\n")[1:] if b":" in line} for r in server.requests
        ]
        assert names[0] == names[1] == {b"host", b"user-agent", b"accept-encoding", b"content-length"}
    finally:
        for transport in transports:
            await transport.aclose()
        server.close()


@pytest.mark.slow  # a scripted server on a socket
async def test_httpx_path_keeps_no_cookie() -> None:
    server = ScriptedServer(raw(b"HTTP/1.1 200 OK\r\nset-cookie: session=abc; Path=/\r\ncontent-length: 2\r\n\r\nok"))
    port = await server.start()
    transport = make_transport(ServerConfig(upstream_http="httpx"), {})
    assert isinstance(transport, HttpxTransport)
    try:
        for _ in range(2):
            assert await fetch(transport, f"http://127.0.0.1:{port}/") == b"ok"
        assert not transport.client.cookies
        assert b"cookie" not in server.requests[1].lower()
    finally:
        await transport.aclose()
        server.close()


def _holders(marker: str) -> list[str]:
    """Every string or bytes with ``marker`` inside (other than ``marker`` itself) reachable from the objects
    the collector tracks and from every module: containers the collector no longer tracks (a dict of str
    tuples and bytes, say) are walked too."""
    encoded = marker.encode()
    seen: set[int] = set()
    pending: list[object] = [*gc.get_objects(), *sys.modules.values()]
    found = []
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, str):
            if marker in item and item is not marker:
                found.append(item[:80])
        elif isinstance(item, bytes | bytearray):
            if encoded in item and item is not encoded:
                found.append(repr(bytes(item[:80])))
        else:
            pending.extend(gc.get_referents(item))
    return found


async def _call_with_key(transport: httpx.AsyncBaseTransport, url: str, marker: str) -> None:
    response = await send_upstream(
        transport,
        "POST",
        url,
        headers={"authorization": f"Bearer sk-{marker}"},
        content=b"{}",
        timeout=httpx.Timeout(5),
    )
    try:
        await response.aread()
    finally:
        await response.aclose()


@pytest.mark.slow  # a scripted server on a socket
@pytest.mark.parametrize("setting", ["pool", "httpx"])
async def test_a_rotated_key_is_not_kept_once_its_requests_are_done(setting: str) -> None:
    """After a key rotates, nothing in the process still holds the old one (the pool once cached every
    header line it encoded, credentials included, in a module-wide table)."""
    server = ScriptedServer()
    port = await server.start()
    transport = make_transport(ServerConfig(upstream_http=setting), {})
    old, new = secrets.token_hex(12), secrets.token_hex(12)
    try:
        await _call_with_key(transport, f"http://127.0.0.1:{port}/", old)
        await _call_with_key(transport, f"http://127.0.0.1:{port}/", new)  # the same connection, reused
        assert f"Bearer sk-{old}".encode() in server.requests[0]
        assert f"Bearer sk-{new}".encode() in server.requests[1]
        server.requests.clear()  # the test server's own record of what it received
        gc.collect()
        assert _holders(old) == []
    finally:
        await transport.aclose()
        server.close()
