"""Embeddings on Bedrock through InvokeModel: Amazon Titan Text Embeddings and Cohere Embed.

| Family     | Model ids                                          | Per call   | ``dimensions``          |
|------------|----------------------------------------------------|------------|-------------------------|
| titan-v2   | ``amazon.titan-embed-text-v2:0``                   | one text   | 256, 512, 1024          |
| titan-v1   | ``amazon.titan-embed-text-v1``, ``-g1-text-02``    | one text   | none                    |
| cohere-v4  | ``cohere.embed-v4:0``                              | 96 texts   | 256, 512, 1024, 1536    |
| cohere-v3  | ``cohere.embed-english-v3``, ``-multilingual-v3``  | 96 texts   | none                    |

The family comes from the model id (a cross-region prefix such as ``us.`` or an ARN's last part is
looked through), or from the deployment's ``embedding_family`` (an application inference profile's ARN
does not say). Titan counts its tokens in the body (``inputTextTokenCount``); Cohere's count comes in
InvokeModel's ``X-Amzn-Bedrock-Input-Token-Count`` header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from llm_gateway.embeddings.response import bad_answer, read_vector
from llm_gateway.providers.embeddings import given

Family = Literal["titan-v2", "titan-v1", "cohere-v4", "cohere-v3"]
FAMILIES: tuple[Family, ...] = get_args(Family)

DIMENSIONS: dict[Family, tuple[int, ...] | None] = {
    "titan-v2": (256, 512, 1024),
    "titan-v1": None,
    "cohere-v4": (256, 512, 1024, 1536),
    "cohere-v3": None,
}
PER_CALL: dict[Family, int] = {"titan-v2": 1, "titan-v1": 1, "cohere-v4": 96, "cohere-v3": 96}
TOKEN_COUNT_HEADER = "x-amzn-bedrock-input-token-count"  # noqa: S105 (a header name)

_PREFIXES: tuple[tuple[str, Family], ...] = (
    ("amazon.titan-embed-text-v2", "titan-v2"),
    ("amazon.titan-embed-text-v1", "titan-v1"),
    ("amazon.titan-embed-g1-text", "titan-v1"),
    ("cohere.embed-v4", "cohere-v4"),
    ("cohere.embed-english-v3", "cohere-v3"),
    ("cohere.embed-multilingual-v3", "cohere-v3"),
)
_CROSS_REGION = re.compile(r"^[a-z]{2,6}(-[a-z]+)?\.(?=(amazon|cohere)\.)")


def family_of(model: str) -> Family | None:
    """The embedding family a Bedrock model id (or foundation-model ARN, or inference profile) names."""
    name = _CROSS_REGION.sub("", model.rsplit("/", 1)[-1])
    return next((family for prefix, family in _PREFIXES if name.startswith(prefix)), None)


def is_cohere(family: Family) -> bool:
    return family.startswith("cohere")


def titan_body(text: str, *, dimensions: int | None, normalize: bool | None) -> dict[str, Any]:
    return given({"inputText": text, "dimensions": dimensions, "normalize": normalize})


def cohere_body(
    texts: Sequence[str], *, dimensions: int | None, input_type: str, truncate: str | None
) -> dict[str, Any]:
    return given(
        {
            "texts": list(texts),
            "input_type": input_type,
            "embedding_types": ["float"],
            "truncate": truncate,
            "output_dimension": dimensions,
        }
    )


def read_titan(data: Any, group: str) -> tuple[list[float], int | None]:
    if not isinstance(data, dict):
        raise bad_answer(group, "not a JSON object")
    by_type = data.get("embeddingsByType")
    value = data.get("embedding")
    if value is None and isinstance(by_type, dict):
        value = by_type.get("float")
    count = data.get("inputTextTokenCount")
    return read_vector(value, group), count if isinstance(count, int) and not isinstance(count, bool) else None


def read_cohere(data: Any, expected: int, group: str) -> list[list[float]]:
    """Cohere's ``embeddings``: a list of vectors (``embeddings_floats``) or ``{"float": [...]}`` by type."""
    embeddings = data.get("embeddings") if isinstance(data, dict) else None
    if isinstance(embeddings, dict):
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list) or len(embeddings) != expected:
        count = len(embeddings) if isinstance(embeddings, list) else 0
        raise bad_answer(group, f"{count} embeddings for {expected} inputs")
    return [read_vector(vector, group) for vector in embeddings]


def header_tokens(headers: Mapping[str, str]) -> int | None:
    value = headers.get(TOKEN_COUNT_HEADER)
    return int(value) if isinstance(value, str) and value.isdigit() else None
