"""SnapStart, simulated in process: nothing unique or connected survives a restore.

A SnapStart snapshot is the environment's memory as it was when Lambda took it; every environment restored
from it starts with that same memory. The test serves the real app over a socket, warms it (ids handed
out, an upstream connection pooled, a secret cached, a boto3 client signed in), then calls the hooks as
the Web Adapter does. "Restoring" puts the snapshot's generator states back, as each copy of the snapshot
would have them, before the after-restore hook runs. Two such copies must then hand out different request
ids and balancing draws, open new upstream connections, load the secret again and sign with the
credentials of their own environment. A control run shows that without the hook both copies repeat the
snapshot's sequence exactly, so the simulation is able to catch the sharing it checks for.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from llm_gateway import ids
from llm_gateway.api.app import create_app
from llm_gateway.api.snapstart_hooks import (
    AFTER_RESTORE_ENV,
    BEFORE_CHECKPOINT_ENV,
    SnapStartHooks,
    connection_pool,
    install_snapstart_hooks,
)
from llm_gateway.gateway import Gateway
from llm_gateway.secrets import SecretResolver
from llm_gateway.transport.http import HttpxTransport
from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder
from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY, make_gateway
from tests.support.servers import UvicornThread, wait_until

pytestmark = pytest.mark.slow

BEFORE, AFTER = "/lwa/snapstart/before", "/lwa/snapstart/after"
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


class CountingUpstream(FakeOpenAI):
    """The fake OpenAI upstream, recording each TCP connection the gateway opens and whether it is open."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.connections: list[dict[str, Any]] = []

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = {"port": writer.get_extra_info("peername")[1], "open": True}
        self.connections.append(record)
        try:
            await super()._connection(reader, writer)
        finally:
            record["open"] = False

    def open_connections(self) -> list[int]:
        return [c["port"] for c in self.connections if c["open"]]


class SigV4Recorder(FakeHTTPServer):
    """Stands in for DynamoDB: answers ListTables and keeps the access key each request was signed with."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.access_keys: list[str] = []

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        credential = request.headers.get("authorization", "").partition("Credential=")[2]
        self.access_keys.append(credential.partition("/")[0])
        await respond.send(200, {"TableNames": []}, {"content-type": "application/x-amz-json-1.0"})


@dataclass
class Snapshot:
    """The state of the process's generators at checkpoint time (what every restored copy starts with)."""

    ids: tuple[Any, ...]
    router: tuple[Any, ...]
    module: tuple[Any, ...]

    @classmethod
    def take(cls, gateway: Gateway) -> Snapshot:
        assert ids._generator is not None, "the warm-up must have handed out ids"
        return cls(ids._generator.getstate(), gateway.router.rng.getstate(), random.getstate())

    def restore_into(self, gateway: Gateway) -> None:
        generator = random.Random()
        generator.setstate(self.ids)
        ids._generator = generator
        gateway.router.rng.setstate(self.router)
        random.setstate(self.module)


@pytest.fixture
def upstream() -> Iterator[CountingUpstream]:
    server = CountingUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def aws_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[SigV4Recorder]:
    server = SigV4Recorder().start()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    yield server
    server.stop()


@dataclass
class Environment:
    gateway: Gateway
    server: UvicornThread
    http: httpx.Client
    secret_loads: list[str]

    def request_ids(self, n: int) -> list[str]:
        found = []
        for _ in range(n):
            response = self.http.post("/v1/chat/completions", json=BODY)
            assert response.status_code == 200, response.text
            found.append(response.headers["x-request-id"])
        return found


@pytest.fixture(params=["pool", "httpx"])
def environment(upstream: CountingUpstream, request: pytest.FixtureRequest) -> Iterator[Environment]:
    """The gateway on either upstream transport (``server.upstream_http``)."""
    secret_loads: list[str] = []

    async def vault(name: str) -> str:
        secret_loads.append(name)
        return "sk-upstream-from-the-vault"

    secrets = SecretResolver(env={}, ttl=3600)
    secrets.register("vault", vault)
    config: dict[str, Any] = {
        "models": [{"name": "gpt-test", "provider": "openai", "model": "fake", "api_base": upstream.v1}],
        "server": {"upstream_http": request.param},
    }
    config["models"][0]["api_key"] = "vault:openai-key"
    gateway = make_gateway(config, secrets=secrets)
    app = create_app(gateway)
    assert install_snapstart_hooks(app, {BEFORE_CHECKPOINT_ENV: BEFORE, AFTER_RESTORE_ENV: AFTER})
    server = UvicornThread(app).start()
    assert isinstance(gateway.transport, HttpxTransport) == (request.param == "httpx")
    http = httpx.Client(base_url=server.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30)
    try:
        yield Environment(gateway, server, http, secret_loads)
    finally:
        http.close()
        server.stop()


def _draws(gateway: Gateway) -> tuple[list[float], list[float]]:
    """What load balancing and retry jitter draw next, and what the random module does."""
    return [gateway.router.rng.random() for _ in range(4)], [random.random() for _ in range(4)]


def test_a_restored_environment_shares_nothing_unique_or_connected(
    environment: Environment,
    upstream: CountingUpstream,
    aws_endpoint: SigV4Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = environment.gateway
    # Initialisation as Lambda runs it before the snapshot: ids handed out, a pooled upstream connection,
    # the upstream key loaded from its store and cached, a boto3 client built and signing requests.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASNAPSHOTTIME0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "snapshot-secret")
    environment.request_ids(2)
    dynamodb = gateway.aws("dynamodb", endpoint_url=aws_endpoint.base_url)
    dynamodb.list_tables()
    assert environment.secret_loads == ["openai-key"]
    assert len(upstream.open_connections()) == 1
    assert aws_endpoint.access_keys == ["AKIASNAPSHOTTIME0000"]

    checkpoint = environment.http.post(BEFORE)
    assert checkpoint.status_code == 200
    wait_until(lambda: not upstream.open_connections())  # nothing connected goes into the snapshot
    snapshot = Snapshot.take(gateway)
    connections_at_checkpoint = len(upstream.connections)

    seen: dict[str, tuple[list[str], tuple[list[float], list[float]]]] = {}
    for copy in ("first", "second"):
        snapshot.restore_into(gateway)  # every copy wakes up with the snapshot's memory...
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"AKIARESTORED{copy.upper():0<8}"[:20])
        assert environment.http.post(AFTER).status_code == 200  # ...then the adapter calls the hook
        seen[copy] = (environment.request_ids(3), _draws(gateway))
        dynamodb.list_tables()
        assert aws_endpoint.access_keys[-1] == f"AKIARESTORED{copy.upper():0<8}"[:20]

    first_ids, (first_balancing, first_module) = seen["first"]
    second_ids, (second_balancing, second_module) = seen["second"]
    assert not set(first_ids) & set(second_ids)
    assert first_balancing != second_balancing
    assert first_module != second_module
    assert environment.secret_loads == ["openai-key"] * 3  # loaded again after each restore, not cached
    assert len(upstream.connections) > connections_at_checkpoint  # new connections after the restores


def test_without_the_hook_every_copy_repeats_the_snapshot(environment: Environment) -> None:
    """The control: the simulation does reproduce the sharing the hook prevents."""
    gateway = environment.gateway
    environment.request_ids(1)
    snapshot = Snapshot.take(gateway)
    copies = []
    for _ in range(2):
        snapshot.restore_into(gateway)
        copies.append((environment.request_ids(3), _draws(gateway)))
    assert copies[0] == copies[1]


def test_a_failing_hook_fails_the_phase_and_other_methods_are_refused() -> None:
    calls: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["path"])

    def broken_guard() -> Any:
        raise RuntimeError("no gateway")

    hooks = SnapStartHooks(app, before=BEFORE, after=AFTER, guard=broken_guard)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def run(method: str, path: str) -> int | None:
        sent.clear()
        await hooks({"type": "http", "method": method, "path": path}, receive, send)
        return sent[0]["status"] if sent else None

    assert asyncio.run(run("POST", AFTER)) == 500  # the adapter then fails the restore
    assert asyncio.run(run("GET", BEFORE)) == 405
    assert asyncio.run(run("POST", "/v1/models")) is None and calls == ["/v1/models"]


def test_hooks_are_installed_only_when_the_adapter_names_both_paths() -> None:
    gateway = make_gateway({"models": [{"name": "m", "provider": "mock", "model": "mock-1"}]})
    assert not install_snapstart_hooks(create_app(gateway), {BEFORE_CHECKPOINT_ENV: BEFORE})
    assert not install_snapstart_hooks(create_app(gateway), {})


def test_an_unknown_transport_is_an_error_not_a_silent_skip() -> None:
    with pytest.raises(TypeError, match="MockTransport"):
        connection_pool(httpx.MockTransport(lambda request: httpx.Response(200)))


def test_httpx_own_transport_serves_on_after_its_pool_is_emptied() -> None:
    async def scenario() -> None:
        with UpstreamForHttpx() as base_url:
            transport = httpx.AsyncHTTPTransport()
            async with httpx.AsyncClient(transport=transport) as client:
                assert (await client.get(base_url + "/v1/models")).status_code == 200
                await connection_pool(transport).close_idle_connections()
                assert (await client.get(base_url + "/v1/models")).status_code == 200

    asyncio.run(scenario())


class UpstreamForHttpx:
    def __enter__(self) -> str:
        self.server = CountingUpstream().start()
        return self.server.base_url

    def __exit__(self, *exc: object) -> None:
        assert len(self.server.connections) == 2  # the second request needed a new connection
        self.server.stop()
