"""The cache key: SHA-256 over a canonical JSON of everything that changes the answer, within a scope.

Included: every field the upstream sees (model group, messages, tools, tool_choice, response_format,
sampling parameters, n, seed, stop, logprobs, and fields the gateway does not know yet), because any of
them may change the answer. Excluded: how the answer travels (``stream``, ``stream_options``), who asked
for bookkeeping (``user``, ``metadata``, ``safety_identifier``), upstream-side storage and routing hints
(``store``, ``service_tier``, ``prompt_cache_key``, ``prompt_cache_retention``) and the gateway's own
extension fields (cache controls, guardrails, retries, fallbacks...) except ``drop_params``, which
changes what the upstream is sent. So a stream and a non-stream request share an entry. (An answer
that came from a fallback model group is not stored: see :mod:`.layer`.)

A value given as ``null`` at the top level counts as not given, and a whole-number float equals the
integer (``temperature: 1.0`` and ``1`` are one key).

An embeddings request has a key of its own kind (``"endpoint": "embeddings"`` in what is hashed, so it
never meets a chat key): its input as a list (``"a"`` and ``["a"]`` get the same vectors), its
``dimensions`` and any other field the upstream sees, but not ``encoding_format`` (the entry holds
floats; base64 is encoded on the way out) nor ``user``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from llm_gateway.schemas.validation import ChatRequest

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest

KEY_VERSION = 1

TRANSPORT_ONLY_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "safety_identifier",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_request(request: ChatRequest) -> dict[str, Any]:
    """The part of the request that decides the answer (a bridged request's endpoint too: its entry may
    hold a native answer, which a chat client must never get)."""
    canonical = {
        name: _canonical(value)
        for name, value in request.upstream_body().items()
        if name not in TRANSPORT_ONLY_FIELDS and value is not None
    }
    if request.native is not None:
        canonical["endpoint"] = request.native.endpoint
    return canonical


NATIVE_NOT_KEYED = frozenset({"stream", "metadata"})
"""Fields of a native body that do not change the answer."""


# gateway extensions that change what the upstream is sent
KEYED_EXTENSION_FIELDS = ("drop_params",)


def cache_key(request: ChatRequest, scope: str) -> str:
    extensions = {name: request.body[name] for name in KEYED_EXTENSION_FIELDS if request.body.get(name) is not None}
    material: dict[str, Any] = {
        "v": KEY_VERSION,
        "scope": scope,
        "request": canonical_request(request),
        "gateway": extensions,
    }
    native = request.native
    if native is not None:  # keyed by its own body too: what the chat view leaves out may change a native answer
        material["native"] = {k: _canonical(v) for k, v in native.body.items() if k not in NATIVE_NOT_KEYED}
        material["native_headers"] = native.headers
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


EMBEDDINGS_NOT_KEYED = frozenset({"input", "encoding_format", "user"})


def embeddings_cache_key(request: EmbeddingRequest, scope: str) -> str:
    fields = {
        name: _canonical(value)
        for name, value in request.upstream_body().items()
        if name not in EMBEDDINGS_NOT_KEYED and value is not None
    }
    fields["input"] = request.input.as_json()
    extensions = {name: request.body[name] for name in KEYED_EXTENSION_FIELDS if request.body.get(name) is not None}
    material = {"v": KEY_VERSION, "endpoint": "embeddings", "scope": scope, "request": fields, "gateway": extensions}
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()
