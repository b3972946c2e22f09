"""An egress proxy in the environment: upstream calls go through it (httpx's client, not the gateway's pool),
over a CONNECT tunnel for https and as absolute-form requests for http, and NO_PROXY is honoured.

The proxy is a real one (proxy.py, in its own process); the upstream is the fake OpenAI server, over TLS
with a certificate from a test CA that the gateway trusts through SSL_CERT_FILE."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from llm_gateway.transport.http import HttpxTransport
from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.servers import free_port, wait_until

pytestmark = pytest.mark.slow
HELLO = [{"role": "user", "content": "hello"}]


@dataclass
class TlsFakeOpenAI(FakeOpenAI):
    tls: ssl.SSLContext | None = None

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, sock=self._sock, ssl=self.tls)


class Proxy:
    """proxy.py listening on a free port; its access log (one line per proxied connection, written when the
    connection closes) goes to a file."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "proxy.log"
        command = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(self.port)]
        command += ["--num-workers", "1", "--num-acceptors", "1", "--log-file", str(self.log)]
        self.process = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: self.process.poll() is not None or self.listening(), limit=30)
            assert self.process.poll() is None, self.text()
        except BaseException:
            self.stop()  # never left running when it did not come up
            raise

    def listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    running = Proxy(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[TlsFakeOpenAI, Path]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = TlsFakeOpenAI(tls=server_context).start()
    yield server, ca_file
    server.stop()


def _ask(base_url: str) -> str | None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=MASTER_KEY, max_retries=0)
    answer = client.chat.completions.create(model="gpt-test", messages=HELLO)  # type: ignore[arg-type]
    return answer.choices[0].message.content


def test_https_upstreams_are_reached_through_the_proxy_tunnel(
    proxy: Proxy, tls_upstream: tuple[TlsFakeOpenAI, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream, ca_file = tls_upstream
    env = {"HTTPS_PROXY": proxy.url, "SSL_CERT_FILE": str(ca_file)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # httpx reads them from the process environment
    with running_gateway(openai_config(f"https://localhost:{upstream.port}/v1"), env=env) as gateway:
        assert isinstance(gateway.gateway.transport, HttpxTransport)  # type: ignore[attr-defined]
        assert _ask(gateway.base_url)
        assert len(upstream.chat_requests()) == 1
        assert upstream.chat_requests()[0].headers["authorization"] == "Bearer sk-upstream-secret-key-abcdef"
    wait_until(lambda: f"CONNECT localhost:{upstream.port}" in proxy.text(), limit=10)  # logged at its close


def test_http_upstreams_go_through_the_proxy_unless_no_proxy_names_them(
    proxy: Proxy, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with running_gateway(openai_config(fake_openai.v1), env={"HTTP_PROXY": proxy.url}) as gateway:
        assert _ask(gateway.base_url)
    wait_until(lambda: f"POST 127.0.0.1:{fake_openai.port}/v1/chat/completions" in proxy.text(), limit=10)

    seen = proxy.text().count("/v1/chat/completions")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with running_gateway(openai_config(fake_openai.v1), env={"HTTP_PROXY": proxy.url}) as gateway:
        assert _ask(gateway.base_url)
    assert len(fake_openai.chat_requests()) == 2
    assert proxy.text().count("/v1/chat/completions") == seen  # straight to the upstream
