"""A real boto3 ``bedrock-runtime`` client whose HTTP layer is scripted (botocore ``before-send`` hook).

botocore really serialises each request (parameter validation included) and really parses each reply:
JSON for Converse, the binary ``application/vnd.amazon.eventstream`` framing for ConverseStream (encoded
here, CRCs and all), and error responses into ``ClientError``/``EventStreamError``. Nothing leaves the
process. Script replies with :meth:`FakeBedrock.plan`; inspect what the gateway sent in ``requests``.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.echo import credential_of, echo_message
from tests.support.log_scan import remember_secret
from tests.support.pacing import FirstBeforeLast

FAKE_ACCESS_KEY_ID = "AKIAFAKEFAKEFAKEFAKE"
remember_secret(FAKE_ACCESS_KEY_ID)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bedrock"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


# --- the AWS event-stream binary framing ------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack("B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack(">I", binascii.crc32(message) & 0xFFFFFFFF)


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload).encode())


def encode_exception(exception_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps(payload).encode())


# --- scripted replies ---------------------------------------------------------------------------------


@dataclass
class Reply:
    """A Converse 200 with this JSON body."""

    body: dict[str, Any]


@dataclass
class Stream:
    """A ConverseStream 200 sending these ``(event_type, payload)`` events, ``delay`` s apart.

    ``exception=(type, payload)`` is sent after the events; ``hang`` keeps the stream open forever
    after the events (until closed)."""

    events: list[tuple[str, dict[str, Any]]]
    delay: float = 0.0
    exception: tuple[str, dict[str, Any]] | None = None
    hang: bool = False
    last_waits_for: FirstBeforeLast | None = None
    """The last event waits until the client has its first content."""


@dataclass
class Error:
    status: int
    code: str
    message: str = "error"


@dataclass
class Raise:
    exception: BaseException


class _Raw:
    """What botocore reads a response body from (``stream()``, ``close()``), like urllib3's response."""

    def __init__(
        self, parts: list[bytes], delay: float = 0.0, hang: bool = False, last_waits_for: FirstBeforeLast | None = None
    ) -> None:
        self._parts = parts
        self._delay = delay
        self._hang = hang
        self._last_waits_for = last_waits_for
        self.closed = threading.Event()

    def stream(self, **_: Any) -> Iterator[bytes]:
        for number, part in enumerate(self._parts, 1):
            if self._delay and self.closed.wait(self._delay):
                return
            if self._last_waits_for is not None and number == len(self._parts):
                self._last_waits_for.before_last()
            if self.closed.is_set():
                return
            yield part
        if self._hang:
            self.closed.wait(60)

    def close(self) -> None:
        self.closed.set()

    def read(self, *_: Any) -> bytes:
        return b"".join(self.stream())


@dataclass
class Recorded:
    operation: str
    model_id: str
    body: dict[str, Any]
    at: float


@dataclass
class FakeBedrock:
    region: str = "us-east-1"
    requests: list[Recorded] = field(default_factory=list)
    raws: list[_Raw] = field(default_factory=list)

    def __post_init__(self) -> None:
        import boto3
        from botocore.config import Config

        self._plans: list[Any] = []
        self._lock = threading.Lock()
        self.client = boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY_ID, aws_secret_access_key="fake-secret", region_name=self.region
        ).client(
            "bedrock-runtime",
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5),
        )
        self.client.meta.events.register("before-send.bedrock-runtime", self._send)

    def reset(self) -> None:
        with self._lock:
            self._plans.clear()
            self.requests.clear()
            self.raws.clear()

    def plan(self, *replies: Any) -> FakeBedrock:
        with self._lock:
            self._plans.extend(replies)
        return self

    def clients(self, service: str, **_: Any) -> Any:
        """Use as ``GatewayOptions(aws_clients=fake.clients)``."""
        assert service == "bedrock-runtime"
        return self.client

    def last(self) -> dict[str, Any]:
        return self.requests[-1].body

    def _send(self, request: Any, **_: Any) -> Any:
        from urllib.parse import unquote

        from botocore.awsrequest import AWSResponse

        path = unquote(request.url.split("/model/", 1)[1])
        model_id, _, operation = path.rpartition("/")
        body = json.loads(request.body or b"{}")
        name = "ConverseStream" if operation == "converse-stream" else "Converse"
        with self._lock:
            self.requests.append(Recorded(name, model_id, body, time.monotonic()))
            plan = self._plans.pop(0) if self._plans else Error(500, "InternalServerException", "nothing planned")
        headers = {"x-amzn-requestid": "4f1c2e2a-0d6b-4bb5-9a4c-5e1e1f0c2b11"}
        if isinstance(plan, Raise):
            raise plan.exception
        if isinstance(plan, Error):
            payload = json.dumps({"message": plan.message}).encode()
            headers |= {"content-type": "application/json", "x-amzn-errortype": f"{plan.code}:http://internal/"}
            return AWSResponse(request.url, plan.status, headers, _Raw([payload]))
        if isinstance(plan, Reply):
            headers["content-type"] = "application/json"
            return AWSResponse(request.url, 200, headers, _Raw([json.dumps(plan.body).encode()]))
        assert isinstance(plan, Stream), plan
        parts = [encode_event(kind, payload) for kind, payload in plan.events]
        if plan.exception is not None:
            parts.append(encode_exception(*plan.exception))
        raw = _Raw(parts, plan.delay, plan.hang, plan.last_waits_for)
        self.raws.append(raw)
        headers["content-type"] = "application/vnd.amazon.eventstream"
        return AWSResponse(request.url, 200, headers, raw)


def image_bytes_of(block: dict[str, Any]) -> bytes:
    """The raw bytes of a recorded image/document block (REST-JSON sends blobs as base64)."""
    return base64.b64decode(block["source"]["bytes"])


CLAUDE = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def provider_call(body: dict[str, Any], *, model: str = CLAUDE, group: str = "claude", **extra: Any) -> Any:
    """A ProviderCall as the router builds it, for a bedrock deployment with ``extra`` config fields."""
    from llm_gateway.config import DeploymentConfig
    from llm_gateway.providers.base import Deployment, ProviderCall
    from llm_gateway.schemas.validation import validate_chat_request

    request = validate_chat_request({"model": group, **body})
    config = DeploymentConfig(name=group, provider="bedrock", model=model, **extra)
    deployment = Deployment(id=f"{group}#0", group=group, provider="bedrock", model=model, config=config)
    upstream = request.upstream_body()
    upstream["model"] = model
    return ProviderCall(deployment=deployment, request=request, body=upstream, request_id="req-123")


class FakeBedrockHTTP:
    """The same scripted replies, served over real HTTP on 127.0.0.1 (for ``endpoint_url``): exercises the
    gateway's own boto3 client, urllib3 streaming and connection release, with nothing injected."""

    def __init__(self) -> None:
        from tests.support.fake_http import FakeHTTPServer

        outer = self

        class _Server(FakeHTTPServer):
            async def handle(self, request: Any, respond: Any) -> None:
                await outer._handle(request, respond)

        self._plans: list[Any] = []
        self.server = _Server()
        self.base_url = self.server.base_url
        self.echo = False
        """The echo mode (:mod:`tests.support.echo`): an ``Error`` quotes the signature's access key id
        in its code and message, and so does a stream's exception."""

    @property
    def requests(self) -> list[Any]:
        return self.server.requests

    def start(self) -> FakeBedrockHTTP:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def plan(self, *replies: Any) -> FakeBedrockHTTP:
        self._plans.extend(replies)
        return self

    async def _handle(self, request: Any, respond: Any) -> None:
        import asyncio

        plan = self._plans.pop(0) if self._plans else Error(500, "InternalServerException", "nothing planned")
        headers = {"x-amzn-requestid": "8c4e0f5e-2b7a-4c1d-9e3f-6a5b4c3d2e1f"}
        key = credential_of(request.headers) if self.echo else None
        if key and isinstance(plan, Error):
            plan = Error(plan.status, key, echo_message(key))
        if key and isinstance(plan, Stream) and plan.exception is not None:
            plan = Stream(plan.events, plan.delay, (plan.exception[0], {"message": echo_message(key)}))
        if isinstance(plan, Error):
            headers["x-amzn-errortype"] = f"{plan.code}:http://internal/"
            await respond.send(plan.status, {"message": plan.message}, headers=headers)
        elif isinstance(plan, Reply):
            await respond.send(200, plan.body, headers=headers)
        else:
            assert isinstance(plan, Stream), plan
            await respond.start_stream(200, {"content-type": "application/vnd.amazon.eventstream", **headers})
            for number, (kind, payload) in enumerate(plan.events, 1):
                await asyncio.sleep(plan.delay)
                if plan.last_waits_for is not None and number == len(plan.events):
                    await plan.last_waits_for.before_last_async()
                await respond.write(encode_event(kind, payload))
            if plan.exception is not None:
                await respond.write(encode_exception(*plan.exception))
            if plan.hang:
                await asyncio.sleep(60)
            await respond.end()


def post_chat(base_url: str, body: dict[str, Any], key: str) -> Any:
    """POST a chat request with httpx (to see raw status codes and SSE text)."""
    import httpx

    return httpx.post(
        base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body, timeout=20
    )


def stream_until(base_url: str, body: dict[str, Any], key: str, marker: str) -> None:
    """Open a stream, read until a line containing ``marker``, then disconnect."""
    import httpx

    with httpx.stream(
        "POST", base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body, timeout=10
    ) as response:
        for line in response.iter_lines():
            if marker in line:
                return
