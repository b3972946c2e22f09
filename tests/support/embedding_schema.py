"""Validate ``/v1/embeddings`` objects against OpenAI's published schemas (tests/fixtures copy of the
embeddings part of ../shared/reference/openai-responses-schemas.json; a test keeps the two identical).

The published ``Embedding`` types ``embedding`` as an array of numbers only, while OpenAI itself answers
``encoding_format: base64`` with a string (its SDKs decode it): :func:`assert_embeddings` checks such a
string is base64 of whole float32 values and validates the answer with it decoded.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

from tests.support.openai_schema import check_against

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "openai-embeddings-schemas.json"


def _check(name: str, obj: Any) -> Any:
    return check_against(SCHEMA_PATH, name, obj)


def decode_float32(text: str) -> list[float]:
    raw = base64.b64decode(text, validate=True)
    assert len(raw) % 4 == 0, f"{len(raw)} bytes is not whole float32 values"
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def vectors_of(answer: dict[str, Any]) -> list[list[float]]:
    """The answer's vectors, in input order, decoded when they are base64."""
    return [
        decode_float32(item["embedding"]) if isinstance(item["embedding"], str) else item["embedding"]
        for item in answer["data"]
    ]


def assert_embeddings(answer: Any) -> dict[str, Any]:
    """A valid ``CreateEmbeddingResponse`` (base64 vectors checked, then validated decoded)."""
    vectors = vectors_of(answer)
    decoded = {**answer, "data": [{**item, "embedding": v} for item, v in zip(answer["data"], vectors, strict=True)]}
    _check("CreateEmbeddingResponse", decoded)
    assert [item["index"] for item in answer["data"]] == list(range(len(answer["data"])))
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"]
    return answer  # type: ignore[no-any-return]


def assert_embedding_request(body: Any) -> Any:
    """What the gateway forwarded to an OpenAI-compatible upstream: a valid ``CreateEmbeddingRequest``."""
    return _check("CreateEmbeddingRequest", body)
