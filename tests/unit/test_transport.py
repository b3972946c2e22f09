"""The upstream transport: plain-asyncio backend under httpx, over TCP and TLS."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from llm_gateway.config import ServerConfig
from llm_gateway.transport.asyncio_backend import AsyncioBackend
from llm_gateway.transport.http import make_transport, send_upstream


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


async def serve_once(server_ssl: ssl.SSLContext | None) -> tuple[asyncio.base_events.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            body = await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)
    return server, server.sockets[0].getsockname()[1]


def test_the_transport_really_uses_the_asyncio_backend() -> None:
    transport = make_transport(ServerConfig())
    assert isinstance(transport._pool._network_backend, AsyncioBackend)  # type: ignore[attr-defined]


async def test_plain_http_keeps_the_connection_alive() -> None:
    server, port = await serve_once(None)
    transport = make_transport(ServerConfig())
    try:
        for payload in (b"one", b"two"):
            response = await send_upstream(
                transport, "POST", f"http://127.0.0.1:{port}/x", headers={}, content=payload, timeout=httpx.Timeout(5)
            )
            assert await response.aread() == payload
            await response.aclose()
        assert len(transport._pool.connections) == 1  # type: ignore[attr-defined]
    finally:
        await transport.aclose()
        server.close()


async def test_tls_upstreams_work(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server, port = await serve_once(server_ctx)
    transport = make_transport(ServerConfig())
    client_ctx = ssl.create_default_context(cafile=str(cert))
    transport._pool._ssl_context = client_ctx  # type: ignore[attr-defined]
    try:
        response = await send_upstream(
            transport, "POST", f"https://localhost:{port}/x", headers={}, content=b"secret", timeout=httpx.Timeout(5)
        )
        assert await response.aread() == b"secret"
        await response.aclose()
    finally:
        await transport.aclose()
        server.close()


async def test_untrusted_certificates_are_refused(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server, port = await serve_once(server_ctx)
    transport = make_transport(ServerConfig())  # system CAs only
    try:
        with pytest.raises(httpx.ConnectError):
            await send_upstream(
                transport, "POST", f"https://localhost:{port}/x", headers={}, content=b"x", timeout=httpx.Timeout(5)
            )
    finally:
        await transport.aclose()
        server.close()


async def test_connect_errors_and_timeouts_map_to_httpx_errors() -> None:
    transport = make_transport(ServerConfig())
    with pytest.raises(httpx.ConnectError):
        await send_upstream(
            transport, "POST", "http://127.0.0.1:1/x", headers={}, content=b"x", timeout=httpx.Timeout(2)
        )

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(httpx.ReadTimeout):
            await send_upstream(
                transport, "POST", f"http://127.0.0.1:{port}/x", headers={}, content=b"x", timeout=httpx.Timeout(0.3)
            )
    finally:
        await transport.aclose()
        server.close()
