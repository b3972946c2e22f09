"""The upstream pool (llm_gateway.transport.pool): HTTP/1.1 over TCP and TLS, keep-alive, limits, timeouts,
and every way an upstream can break the protocol, against raw asyncio servers that script their bytes."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llm_gateway.config import ServerConfig
from llm_gateway.transport.http import make_transport, send_upstream
from llm_gateway.transport.pool import UpstreamPool

pytestmark = pytest.mark.slow

Script = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request (its head and body already read); returns False to close the connection."""


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def echo(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    return True


def raw(data: bytes, keep: bool = True) -> Script:
    async def script(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return keep

    return script


def chunked(
    pieces: list[bytes], pause: float, headers: bytes = b"", last_waits_for: asyncio.Event | None = None
) -> Script:
    """A chunked answer (``headers``: extra header lines), one chunk per piece, ``pause`` s after each;
    the last piece waits for ``last_waits_for`` (30 s at most) when given."""

    async def script(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n" + headers + b"\r\n")
        for number, piece in enumerate(pieces, 1):
            if last_waits_for is not None and number == len(pieces):
                await asyncio.wait_for(last_waits_for.wait(), 30)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(pause)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    return script


class ScriptedServer:
    """Answers each request with the next script (the last one repeats); counts connections and requests."""

    def __init__(self, *scripts: Script) -> None:
        self.scripts = list(scripts) or [echo]
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                script = self.scripts[min(len(self.requests), len(self.scripts)) - 1]
                if not await script(body, reader, writer):
                    return
        finally:
            self.open_now -= 1
            writer.close()


async def post(transport: httpx.AsyncBaseTransport, url: str, body: bytes = b"x", timeout: float = 5) -> httpx.Response:
    return await send_upstream(transport, "POST", url, headers={}, content=body, timeout=httpx.Timeout(timeout))


async def fetch(transport: httpx.AsyncBaseTransport, url: str, body: bytes = b"x", timeout: float = 5) -> bytes:
    response = await post(transport, url, body, timeout)
    try:
        return await response.aread()
    finally:
        await response.aclose()


@pytest.fixture
async def pool() -> UpstreamPool:
    transport = make_transport(ServerConfig(), {})
    assert isinstance(transport, UpstreamPool)
    yield transport  # type: ignore[misc]
    await transport.aclose()


async def test_plain_http_keeps_the_connection_alive(pool: UpstreamPool) -> None:
    server = ScriptedServer()
    port = await server.start()
    try:
        for payload in (b"one", b"two", b"three"):
            assert await fetch(pool, f"http://127.0.0.1:{port}/x?q=1", payload) == payload
        assert server.connections == 1
        assert pool.connection_count == 1 and pool.idle_connection_count == 1
        first = server.requests[0]
        assert first.startswith(b"POST /x?q=1 HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in first and b"\r\nuser-agent: llm-gateway\r\n" in first
    finally:
        server.close()


async def test_the_shared_httpx_client_works_over_the_pool(pool: UpstreamPool) -> None:
    server = ScriptedServer()
    port = await server.start()
    try:
        async with httpx.AsyncClient(transport=pool) as client:
            response = await client.post(f"http://127.0.0.1:{port}/", content=b"via client")
            assert response.status_code == 200 and response.content == b"via client"
            assert response.http_version == "HTTP/1.1" and response.reason_phrase == "OK"
    finally:
        server.close()


async def test_a_streamed_request_body_is_sent_with_a_content_length(pool: UpstreamPool) -> None:
    server = ScriptedServer()
    port = await server.start()

    async def pieces():  # type: ignore[no-untyped-def]
        yield b"ab"
        yield b"cd"

    try:
        request = httpx.Request("POST", f"http://127.0.0.1:{port}/", content=pieces())
        response = await pool.handle_async_request(request)
        assert await response.aread() == b"abcd"
        assert b"content-length: 4" in server.requests[0].lower()
        assert b"transfer-encoding" not in server.requests[0].lower()
    finally:
        server.close()


async def test_tls_upstreams_work(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = ScriptedServer()
    port = await server.start(server_ctx)
    pool = UpstreamPool(ssl_context=ssl.create_default_context(cafile=str(cert)))
    try:
        assert await fetch(pool, f"https://localhost:{port}/x", b"secret") == b"secret"
        assert await fetch(pool, f"https://localhost:{port}/x", b"again") == b"again"
        assert server.connections == 1
    finally:
        await pool.aclose()
        server.close()


async def test_untrusted_certificates_are_refused(tmp_path: Path, pool: UpstreamPool) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = ScriptedServer()
    port = await server.start(server_ctx)
    try:
        with pytest.raises(httpx.ConnectError):
            await post(pool, f"https://localhost:{port}/x")  # system CAs only
        assert pool.connection_count == 0
    finally:
        server.close()


async def test_connect_errors_and_read_timeouts_map_to_httpx_errors(pool: UpstreamPool) -> None:
    with pytest.raises(httpx.ConnectError):
        await post(pool, "http://127.0.0.1:1/x", timeout=2)

    async def silent(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    server = ScriptedServer(silent)
    port = await server.start()
    try:
        with pytest.raises(httpx.ReadTimeout):  # the 0.3 s timeout, not the server closing after 5 s
            await post(pool, f"http://127.0.0.1:{port}/x", timeout=0.3)
        assert pool.connection_count == 0
    finally:
        server.close()


async def test_a_silent_body_times_out_per_read(pool: UpstreamPool) -> None:
    async def stalls(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(5)
        return False

    server = ScriptedServer(stalls)
    port = await server.start()
    try:
        response = await post(pool, f"http://127.0.0.1:{port}/", timeout=0.3)
        with pytest.raises(httpx.ReadTimeout):
            await response.aread()
        assert pool.connection_count == 0
    finally:
        server.close()


async def test_chunked_bodies_arrive_as_they_are_sent(pool: UpstreamPool) -> None:
    events = [b"data: %d\n\n" % i for i in range(3)]
    client_has_first = asyncio.Event()  # the server sends its last event only once the client has read one
    trickle = chunked(events, 0, b"content-type: text/event-stream\r\n", last_waits_for=client_has_first)
    server = ScriptedServer(trickle, echo)
    port = await server.start()
    try:
        response = await post(pool, f"http://127.0.0.1:{port}/")
        assert response.headers["content-type"] == "text/event-stream"
        pieces = []
        async for piece in response.aiter_raw():
            pieces.append(piece)
            client_has_first.set()
        await response.aclose()
        assert b"".join(pieces) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        assert len(pieces) >= 2  # not buffered to the end: the last event came after the client read one
        assert await fetch(pool, f"http://127.0.0.1:{port}/", b"next") == b"next"
        assert server.connections == 1  # a fully read chunked body leaves the connection reusable
    finally:
        server.close()


async def test_read_capped_reads_pool_bodies_whole_and_refuses_oversized_ones(pool: UpstreamPool) -> None:
    from llm_gateway.errors import UpstreamConnectionError
    from llm_gateway.providers.base import read_capped

    pieces = chunked([b"abc", b"defg", b"h"], 0.01)
    server = ScriptedServer(pieces, pieces, echo)
    port = await server.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        response = await post(pool, url)
        assert await read_capped(response, 8) == b"abcdefgh"  # exactly at the limit
        await response.aclose()
        assert pool.idle_connection_count == 1  # read to the end: back in the pool
        response = await post(pool, url)
        with pytest.raises(UpstreamConnectionError) as refused:
            await read_capped(response, 5)
        await response.aclose()
        assert refused.value.code == "upstream_response_too_large"
        assert pool.connection_count == 0  # a body cut short cannot be reused
        assert await fetch(pool, url, b"after") == b"after"
    finally:
        server.close()


async def test_a_body_delimited_by_the_connection_end_is_read_whole(pool: UpstreamPool) -> None:
    server = ScriptedServer(raw(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", keep=False), echo)
    port = await server.start()
    try:
        assert await fetch(pool, f"http://127.0.0.1:{port}/") == b"until the end"
        assert await fetch(pool, f"http://127.0.0.1:{port}/", b"fresh") == b"fresh"
        assert server.connections == 2
    finally:
        server.close()


async def test_connection_close_and_http_1_0_answers_are_not_reused(pool: UpstreamPool) -> None:
    server = ScriptedServer(
        raw(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok", keep=False),
        raw(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", keep=False),
        echo,
    )
    port = await server.start()
    try:
        for _ in range(3):
            await fetch(pool, f"http://127.0.0.1:{port}/")
        assert server.connections == 3
    finally:
        server.close()


async def test_a_server_closing_an_idle_connection_costs_nothing(pool: UpstreamPool) -> None:
    server = ScriptedServer(raw(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", keep=False), echo)
    port = await server.start()
    try:
        await fetch(pool, f"http://127.0.0.1:{port}/")
        await asyncio.sleep(0.1)  # the server's FIN reaches the idle connection
        assert pool.connection_count == 0
        assert await fetch(pool, f"http://127.0.0.1:{port}/", b"fine") == b"fine"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", "before the body was complete"),
        (b"", "without a response"),
        (b"HTTP/1.1 200 OK\r\ncontent-le", "without a response"),
        (b"NOT HTTP AT ALL\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "malformed"),
    ],
)
async def test_broken_answers_are_remote_protocol_errors(pool: UpstreamPool, answer: bytes, message: str) -> None:
    server = ScriptedServer(raw(answer, keep=False))
    port = await server.start()
    try:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await fetch(pool, f"http://127.0.0.1:{port}/")
        await asyncio.sleep(0.05)
        assert pool.connection_count == 0
    finally:
        server.close()


async def test_interim_answers_are_skipped_and_empty_bodies_keep_the_connection(pool: UpstreamPool) -> None:
    server = ScriptedServer(
        raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal"),
        raw(b"HTTP/1.1 204 No Content\r\n\r\n"),
        echo,
    )
    port = await server.start()
    try:
        assert await fetch(pool, f"http://127.0.0.1:{port}/") == b"final"
        response = await post(pool, f"http://127.0.0.1:{port}/")
        assert response.status_code == 204 and await response.aread() == b""
        assert await fetch(pool, f"http://127.0.0.1:{port}/", b"third") == b"third"
        assert server.connections == 1
    finally:
        server.close()


async def test_head_answers_have_no_body(pool: UpstreamPool) -> None:
    server = ScriptedServer(raw(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"))
    port = await server.start()
    try:
        response = await pool.handle_async_request(httpx.Request("HEAD", f"http://127.0.0.1:{port}/"))
        assert response.headers["content-length"] == "1000" and await response.aread() == b""
    finally:
        server.close()


async def test_a_response_closed_unread_closes_its_connection(pool: UpstreamPool) -> None:
    async def endless(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        try:
            while True:
                writer.write(b"5\r\nhello\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
        except ConnectionError:
            return False

    server = ScriptedServer(endless)
    port = await server.start()
    try:
        response = await post(pool, f"http://127.0.0.1:{port}/")
        async for _ in response.aiter_raw():
            break
        await response.aclose()
        assert pool.connection_count == 0
        for _ in range(100):
            if server.open_now == 0:
                break
            await asyncio.sleep(0.02)
        assert server.open_now == 0  # the upstream saw the connection go
    finally:
        server.close()


async def test_large_bodies_both_ways() -> None:
    server = ScriptedServer()
    port = await server.start()
    pool = UpstreamPool()
    big = bytes(range(256)) * (6 * 4096)  # 6 MB
    try:
        response = await post(pool, f"http://127.0.0.1:{port}/", big)
        received = bytearray()
        async for piece in response.aiter_raw():
            received += piece
            await asyncio.sleep(0)  # a slow reader: the pool pauses the socket instead of buffering it all
        assert bytes(received) == big
        assert pool.connection_count == 1
    finally:
        await pool.aclose()
        server.close()


async def test_the_pool_is_bounded_and_waiters_get_connections_in_turn() -> None:
    async def slow_echo(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        return await echo(body, reader, writer)

    server = ScriptedServer(slow_echo)
    port = await server.start()
    pool = UpstreamPool(max_connections=2, max_keepalive_connections=2)
    try:
        results = await asyncio.gather(*(fetch(pool, f"http://127.0.0.1:{port}/", b"%d" % i) for i in range(10)))
        assert results == [b"%d" % i for i in range(10)]
        assert server.most_open == 2 and server.connections == 2
        with pytest.raises(httpx.PoolTimeout):
            held = [await post(pool, f"http://127.0.0.1:{port}/") for _ in range(2)]  # unread: still in use
            await post(pool, f"http://127.0.0.1:{port}/", timeout=0.2)
        for response in held:
            await response.aclose()
        assert await fetch(pool, f"http://127.0.0.1:{port}/", b"free again") == b"free again"
    finally:
        await pool.aclose()
        server.close()


async def test_idle_connections_expire_and_are_capped() -> None:
    server = ScriptedServer()
    port = await server.start()
    pool = UpstreamPool(keepalive_expiry=0.05, max_keepalive_connections=1)
    try:
        await fetch(pool, f"http://127.0.0.1:{port}/")
        await asyncio.sleep(0.1)
        await fetch(pool, f"http://127.0.0.1:{port}/")
        assert server.connections == 2  # the first had expired
        held = [await post(pool, f"http://127.0.0.1:{port}/") for _ in range(3)]
        for response in held:
            await response.aread()
            await response.aclose()
        assert pool.idle_connection_count == 1 and pool.connection_count == 1
    finally:
        await pool.aclose()
        server.close()


async def test_a_cancelled_request_gives_its_connection_back() -> None:
    async def slow(body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        return False

    server = ScriptedServer(slow, echo)
    port = await server.start()
    pool = UpstreamPool(max_connections=1)
    try:
        task = asyncio.create_task(post(pool, f"http://127.0.0.1:{port}/"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.connection_count == 0
        assert await fetch(pool, f"http://127.0.0.1:{port}/", b"ok") == b"ok"
    finally:
        await pool.aclose()
        server.close()


async def test_header_injection_is_refused(pool: UpstreamPool) -> None:
    with pytest.raises(httpx.LocalProtocolError):
        await send_upstream(
            pool,
            "POST",
            "http://127.0.0.1:9/",
            headers={"x-api-key": "k\r\nx-evil: 1"},
            content=b"",
            timeout=httpx.Timeout(1),
        )
    with pytest.raises(httpx.UnsupportedProtocol):
        await pool.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))


def test_the_pool_works_the_same_on_uvloop() -> None:
    """Lambda runs uvicorn on uvloop, whose transports are not asyncio's classes."""
    import uvloop

    async def scenario() -> None:
        server = ScriptedServer(
            echo,
            raw(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
            raw(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", keep=False),
            echo,
        )
        port = await server.start()
        pool = UpstreamPool()
        try:
            assert await fetch(pool, f"http://127.0.0.1:{port}/", b"one") == b"one"
            assert await fetch(pool, f"http://127.0.0.1:{port}/") == b"ab"
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(pool, f"http://127.0.0.1:{port}/")
            answers = await asyncio.gather(*(fetch(pool, f"http://127.0.0.1:{port}/", b"%d" % i) for i in range(20)))
            assert answers == [b"%d" % i for i in range(20)]
            assert pool.connection_count == pool.idle_connection_count <= 20
        finally:
            await pool.aclose()
            server.close()

    uvloop.run(scenario())
