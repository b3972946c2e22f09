"""``/embeddings`` on OpenAI-compatible upstreams: the body goes as the client sent it (token arrays,
``dimensions``, ``encoding_format``, fields this gateway does not know); the answer is checked (one
vector per input, indices complete) and its vectors read, from floats or from base64."""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.embeddings.response import bad_answer, embedding_list, read_vector
from llm_gateway.errors import GatewayError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.openai_compat.errors import map_openai_error


def parse_embeddings(call: ProviderCall, data: Any) -> dict[str, Any]:
    group = call.deployment.group
    if isinstance(data, dict) and data.get("error"):
        raise _error_in_body(call, data)  # some servers send their errors with status 200
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad_answer(group, "no 'data' list")
    expected = len(call.embedding.input)
    if len(items) != expected:
        raise bad_answer(group, f"{len(items)} embeddings for {expected} inputs")
    indices = [item.get("index", position) for position, item in enumerate(items)]
    if sorted(i for i in indices if isinstance(i, int)) != list(range(expected)):
        raise bad_answer(group, "the embeddings' indices do not match the inputs")
    ordered = [item for _, item in sorted(zip(indices, items, strict=True), key=lambda pair: pair[0])]
    vectors = [read_vector(item.get("embedding"), group) for item in ordered]
    usage = data.get("usage")
    prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    counted = prompt if isinstance(prompt, int) and not isinstance(prompt, bool) and prompt >= 0 else None
    model = data.get("model")
    return embedding_list(
        vectors, model=model if isinstance(model, str) and model else call.deployment.model, prompt_tokens=counted
    )


def _error_in_body(call: ProviderCall, data: dict[str, Any]) -> GatewayError:
    return map_openai_error(call, 502, {}, orjson.dumps(data))
