"""Embeddings on the Gemini API: ``embedContent`` for one text, ``batchEmbedContents`` for more (at most
100 a call, the API's limit; larger requests are split, the calls run a few at once, the order kept).

``dimensions`` becomes ``outputDimensionality`` (Gemini shortens the vector); the deployment's
``task_type`` becomes ``taskType``. Gemini reads text only, and counts no tokens in its answer (the
gateway's estimate stands in, and the request log says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from llm_gateway.embeddings.response import bad_answer, read_vector
from llm_gateway.providers.base import ProviderCall, UpstreamHTTPRequest
from llm_gateway.providers.embeddings import given

MAX_BATCH = 100
NO_DIMENSIONS = frozenset({"embedding-001", "models/embedding-001"})
"""Models that cannot shorten their vectors (``outputDimensionality`` is refused)."""


def resource(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def _item(call: ProviderCall, text: str, dimensions: int | None, task_type: str | None) -> dict[str, Any]:
    content = {"parts": [{"text": text}]}
    model = resource(call.deployment.model)
    return given({"model": model, "content": content, "taskType": task_type, "outputDimensionality": dimensions})


def embed_request(
    call: ProviderCall,
    base: str,
    headers: dict[str, str],
    texts: Sequence[str],
    *,
    dimensions: int | None,
    task_type: str | None,
) -> UpstreamHTTPRequest:
    path = quote(resource(call.deployment.model), safe="/-._")
    if len(texts) == 1:
        body = _item(call, texts[0], dimensions, task_type)
        return UpstreamHTTPRequest(url=f"{base}/{path}:embedContent", json=body, headers=headers)
    body = {"requests": [_item(call, text, dimensions, task_type) for text in texts]}
    return UpstreamHTTPRequest(url=f"{base}/{path}:batchEmbedContents", json=body, headers=headers)


def read_embeddings(call: ProviderCall, data: Any, expected: int) -> list[list[float]]:
    group = call.deployment.group
    if not isinstance(data, dict):
        raise bad_answer(group, "not a JSON object")
    if expected == 1 and isinstance(data.get("embedding"), dict):
        return [read_vector(data["embedding"].get("values"), group)]
    items = data.get("embeddings")
    if not isinstance(items, list) or len(items) != expected:
        count = len(items) if isinstance(items, list) else 0
        raise bad_answer(group, f"{count} embeddings for {expected} inputs")
    return [read_vector(item.get("values") if isinstance(item, dict) else None, group) for item in items]
