"""The answer of ``/v1/embeddings``, as OpenAI's ``CreateEmbeddingResponse``.

Inside the gateway (providers, the cache, idempotent replays) an answer always carries its vectors as
lists of floats, whatever the upstream sent; :func:`for_client` encodes them the way the client asked
(``encoding_format``) on the way out, into a new object (a stored answer is never altered).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from llm_gateway.embeddings.vectors import decode_base64, encode_base64
from llm_gateway.errors import UpstreamConnectionError


def usage(prompt_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}


def embedding_list(vectors: Sequence[list[float]], *, model: str, prompt_tokens: int | None) -> dict[str, Any]:
    """The answer for ``vectors`` (in input order). ``prompt_tokens`` ``None``: the upstream did not count
    them, and the answer has no ``usage`` yet (the service fills in an estimate)."""
    answer: dict[str, Any] = {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)],
        "model": model,
    }
    if prompt_tokens is not None:
        answer["usage"] = usage(prompt_tokens)
    return answer


def bad_answer(group: str, what: str) -> UpstreamConnectionError:
    return UpstreamConnectionError(
        f"The upstream for model '{group}' sent an embeddings answer the gateway cannot read ({what}).",
        code="upstream_bad_response",
    )


def read_vector(value: Any, group: str) -> list[float]:
    """One upstream vector: a list of numbers, or OpenAI's base64 string."""
    if isinstance(value, str):
        try:
            return decode_base64(value)
        except ValueError as exc:
            raise bad_answer(group, f"an embedding string is {exc}") from None
    if isinstance(value, list) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
        return [float(x) for x in value]
    raise bad_answer(group, "an embedding is not a list of numbers")


def is_complete(answer: dict[str, Any], expected: int) -> bool:
    """One vector per input, in order: an answer worth storing."""
    data = answer.get("data")
    return (
        isinstance(data, list)
        and len(data) == expected
        and all(isinstance(item, dict) and item.get("index") == i for i, item in enumerate(data))
    )


def for_client(answer: dict[str, Any], encoding_format: Literal["float", "base64"]) -> dict[str, Any]:
    """The answer as the client receives it: vectors base64-encoded when it asked for base64."""
    data = answer["data"]
    if encoding_format == "base64":
        data = [{**item, "embedding": encode_base64(item["embedding"])} for item in data]
    return {"object": "list", "data": data, "model": answer.get("model", ""), "usage": answer["usage"]}
