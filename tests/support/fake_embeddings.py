"""Embedding upstreams that answer as the real APIs do, over real HTTP on 127.0.0.1.

- :class:`FakeOpenAIEmbeddings`: OpenAI's ``POST /v1/embeddings`` (strings, token arrays, ``dimensions``
  only on text-embedding-3 models, ``encoding_format`` float or base64 of little-endian float32,
  unknown fields refused, a bearer key checked).
- :class:`FakeBedrockEmbeddings`: Bedrock's ``POST /model/{modelId}/invoke`` for Titan Text Embeddings
  v2 (one ``inputText``, ``dimensions`` 256/512/1024) and Cohere Embed v3/v4 (``texts`` up to 96,
  ``input_type`` required, ``output_dimension`` on v4 only), with Bedrock's ``ValidationException``
  for what the real service refuses and its ``X-Amzn-Bedrock-Input-Token-Count`` header.
- :class:`FakeGeminiEmbeddings`: ``models/{m}:embedContent`` and ``:batchEmbedContents`` (at most 100
  requests, each naming the model; ``outputDimensionality``; an ``x-goog-api-key``).

Every vector is a pure function of the model and the text (float32 values, unit length), and what each
fake answered is kept in ``answered`` (vectors in order), so tests compare what a client got with what
the upstream sent. ``fail_next`` scripts error answers, one per request: ``(status, body)`` (Bedrock:
``(status, (error code, message))``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import random
import struct
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.support.echo import credential_of, echo_google_error, echo_message, echo_openai_error
from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder
from tests.support.log_scan import remember_secret

OPENAI_KEY = "sk-fake-embeddings-upstream-0123456789"
GEMINI_KEY = "AIzaSyFakeEmbeddingsKey0123456789abcdefg"
remember_secret(OPENAI_KEY)
remember_secret(GEMINI_KEY)


def fake_vector(model: str, text: str, dimensions: int) -> list[float]:
    """The upstream's vector for ``text``: float32 values of unit length, the same in every batch."""
    rng = random.Random(hashlib.sha256(f"{model}\0{text}".encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values))
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in values]


def shortened(vector: list[float], dimensions: int) -> list[float]:
    """The first ``dimensions`` values, scaled back to unit length (how Matryoshka models shorten)."""
    head = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in head))
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in head]


def float32_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def word_tokens(text: str) -> int:
    return max(1, len(text.split()) + len(text) // 16)


@dataclass
class _Fake(FakeHTTPServer):
    answered: list[list[float]] = field(default_factory=list)
    fail_next: list[tuple[int, Any]] = field(default_factory=list)
    echo: bool = False
    """The echo mode (:mod:`tests.support.echo`): a planned failure quotes the request's credential in
    every field instead of its own body."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.guard = threading.Lock()

    def clear(self) -> None:
        self.reset()
        with self.guard:
            self.answered.clear()
            self.fail_next.clear()
        self.echo = False

    def bodies(self) -> list[Any]:
        return [request.json() for request in self.requests]

    def _failure(self) -> tuple[int, Any] | None:
        with self.guard:
            return self.fail_next.pop(0) if self.fail_next else None

    def _answer(self, vectors: list[list[float]]) -> None:
        with self.guard:
            self.answered.extend(vectors)


def _openai_error(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


@dataclass
class FakeOpenAIEmbeddings(_Fake):
    dimensions: dict[str, int] = field(
        default_factory=lambda: {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
    )

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        if request.headers.get("authorization") != f"Bearer {OPENAI_KEY}":
            await respond.send(401, _openai_error("Incorrect API key provided.", code="invalid_api_key"))
            return
        failure = self._failure()
        if failure is not None:
            echoed = {"error": echo_openai_error(credential_of(request.headers))} if self.echo else None
            await respond.send(failure[0], echoed or failure[1])
            return
        body = request.json()
        unknown = sorted(set(body) - {"model", "input", "encoding_format", "dimensions", "user"})
        if unknown:
            await respond.send(400, _openai_error(f"Unrecognized request argument supplied: {unknown[0]}"))
            return
        model = body["model"]
        full = self.dimensions.get(model, 1536)
        dimensions = body.get("dimensions")
        if dimensions is not None and not model.startswith("text-embedding-3"):
            await respond.send(400, _openai_error("This model does not support specifying dimensions.", "dimensions"))
            return
        raw = body["input"]
        items = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else raw
        if any(item in ("", []) for item in items):
            await respond.send(400, _openai_error("'$.input' is invalid.", "input"))
            return
        texts = [item if isinstance(item, str) else " ".join(map(str, item)) for item in items]
        vectors = [shortened(fake_vector(model, t, full), dimensions or full) for t in texts]
        self._answer(vectors)
        base64_out = body.get("encoding_format") == "base64"
        tokens = sum(word_tokens(t) if isinstance(i, str) else len(i) for t, i in zip(texts, items, strict=True))
        await respond.send(
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": float32_base64(v) if base64_out else v}
                    for i, v in enumerate(vectors)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            {"openai-model": model, "x-request-id": "req_fake_embeddings"},
        )


def _bedrock_error(code: str, message: str) -> tuple[dict[str, str], dict[str, Any]]:
    return {"x-amzn-errortype": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"}, {"message": message}


@dataclass
class FakeBedrockEmbeddings(_Fake):
    hold_until_in_flight: int = 0
    """Hold each request until this many are in flight at once (0: answer at once); ``max_in_flight``
    then shows how many the gateway ran together, without a clock."""
    max_in_flight: int = 0
    _in_flight: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._released: asyncio.Event | None = None

    def clear(self) -> None:
        super().clear()
        self.hold_until_in_flight = self.max_in_flight = 0
        self._released = None

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            headers, body = _bedrock_error("UnrecognizedClientException", "The security token is not valid.")
            await respond.send(403, body, headers)
            return
        model = unquote(request.path.split("/model/", 1)[1].rsplit("/invoke", 1)[0])
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            await self._hold()
            failure = self._failure()
            if failure is not None:
                key = credential_of(request.headers)
                headers, body = _bedrock_error(key, echo_message(key)) if self.echo else _bedrock_error(*failure[1])
                await respond.send(failure[0], body, headers)
                return
            status, payload, headers = self._invoke(model, request.json())
            await respond.send(status, payload, {"x-amzn-requestid": "5b8c2f3e-fake", **headers})
        finally:
            self._in_flight -= 1

    async def _hold(self) -> None:
        if not self.hold_until_in_flight:
            return
        if self._released is None:
            self._released = asyncio.Event()
        if self._in_flight >= self.hold_until_in_flight:
            self._released.set()
        with contextlib.suppress(TimeoutError):  # a bound on a hang, not a measurement
            await asyncio.wait_for(self._released.wait(), timeout=5)

    def _invoke(self, model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if "titan-embed-text-v2" in model:
            return self._titan(model, body)
        if "cohere.embed" in model:
            return self._cohere(model, body)
        headers, payload = _bedrock_error("ResourceNotFoundException", "Could not resolve the foundation model.")
        return 404, payload, headers

    def _invalid(self, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers, payload = _bedrock_error("ValidationException", message)
        return 400, payload, headers

    def _titan(self, model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        extra = sorted(set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"})
        if extra:
            return self._invalid(f"Malformed input request: #: extraneous key [{extra[0]}] is not permitted")
        text = body.get("inputText")
        if not isinstance(text, str) or not text:
            return self._invalid("Malformed input request: #/inputText: expected minLength: 1")
        dimensions = body.get("dimensions", 1024)
        if dimensions not in (256, 512, 1024):
            return self._invalid(f"Malformed input request: #/dimensions: {dimensions} is not a valid enum value")
        vector = shortened(fake_vector(model, text, 1024), dimensions)
        self._answer([vector])
        tokens = word_tokens(text)
        payload = {"embedding": vector, "embeddingsByType": {"float": vector}, "inputTextTokenCount": tokens}
        return 200, payload, {"x-amzn-bedrock-input-token-count": str(tokens)}

    def _cohere(self, model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        v4 = "embed-v4" in model
        allowed = {"texts", "input_type", "truncate", "embedding_types", "images"}
        allowed |= {"output_dimension", "max_tokens", "inputs"} if v4 else set()
        extra = sorted(set(body) - allowed)
        if extra:
            return self._invalid(f"Malformed input request: #: extraneous key [{extra[0]}] is not permitted")
        if "input_type" not in body:
            return self._invalid("Malformed input request: #: required key [input_type] not found")
        texts = body.get("texts") or []
        if len(texts) > 96:
            return self._invalid(f"Malformed input request: #/texts: expected maxItems: 96, actual: {len(texts)}")
        dimensions = body.get("output_dimension", 1536 if v4 else 1024)
        if v4 and dimensions not in (256, 512, 1024, 1536):
            return self._invalid("Malformed input request: #/output_dimension: not a valid enum value")
        vectors = [
            shortened(fake_vector(model, t + body["input_type"], 1536 if v4 else 1024), dimensions) for t in texts
        ]
        self._answer(vectors)
        tokens = sum(word_tokens(t) for t in texts)
        by_type = "embedding_types" in body or v4  # v4 answers by type even when not asked
        payload: dict[str, Any] = {
            "id": "0e4b5c2a-fake",
            "texts": texts,
            "embeddings": {"float": vectors} if by_type else vectors,
            "response_type": "embeddings_by_type" if by_type else "embeddings_floats",
        }
        return 200, payload, {"x-amzn-bedrock-input-token-count": str(tokens)}


def _google_error(status: int, grpc: str, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": grpc}}


@dataclass
class FakeGeminiEmbeddings(_Fake):
    full: int = 768

    @property
    def v1beta(self) -> str:
        return f"{self.base_url}/v1beta"

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        if request.headers.get("x-goog-api-key") != GEMINI_KEY:
            await respond.send(
                400, _google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
            )
            return
        failure = self._failure()
        if failure is not None:
            grpc = str((failure[1].get("error") or {}).get("status", "INVALID_ARGUMENT"))
            echoed = echo_google_error(failure[0], grpc, credential_of(request.headers)) if self.echo else None
            await respond.send(failure[0], echoed or failure[1])
            return
        path = request.path.split("/v1beta/", 1)[1]
        resource, _, method = path.partition(":")
        body = request.json()
        if method == "embedContent":
            items = [body]
        elif method == "batchEmbedContents":
            items = body.get("requests") or []
            if len(items) > 100:
                message = "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
                await respond.send(400, _google_error(400, "INVALID_ARGUMENT", message))
                return
        else:
            await respond.send(404, _google_error(404, "NOT_FOUND", f"Method not found: {method}"))
            return
        vectors = []
        for item in items:
            if method == "batchEmbedContents" and item.get("model") != resource:
                message = "* BatchEmbedContentsRequest.model: unexpected model name format\n"
                await respond.send(400, _google_error(400, "INVALID_ARGUMENT", message))
                return
            text = "".join(part.get("text", "") for part in item["content"]["parts"])
            vector = fake_vector(resource + (item.get("taskType") or ""), text, self.full)
            vectors.append(shortened(vector, item.get("outputDimensionality") or self.full))
        self._answer(vectors)
        if method == "embedContent":
            await respond.send(200, {"embedding": {"values": vectors[0]}})
        else:
            await respond.send(200, {"embeddings": [{"values": v} for v in vectors]})
