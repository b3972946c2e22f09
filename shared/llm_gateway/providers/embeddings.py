"""What translating providers share to serve embeddings: what they refuse, and bounded batching.

An upstream that takes fewer inputs per call than a request carries (Titan: one; Cohere on Bedrock: 96;
Gemini: 100) gets several calls, at most ``limit`` at once, and the answer keeps the input order. The
first call to fail cancels the others and is the attempt's failure (the router may retry it whole).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.params import drop_params_enabled

log = logging.getLogger("llm_gateway.providers")
T = TypeVar("T")
Item = TypeVar("Item")


def texts_of(call: ProviderCall, provider: str) -> tuple[str, ...]:
    """The request's strings; a 400 for token arrays, which only OpenAI-compatible upstreams read."""
    texts = call.embedding.input.texts
    if texts is None:
        raise InvalidRequestError(
            f"Token-array input is not supported by the {provider} provider (model '{call.deployment.group}'), "
            "which embeds text: send the input as a string or a list of strings.",
            param="input",
            code="unsupported_content",
        )
    return texts


def check_extra_fields(call: ProviderCall, provider: str) -> None:
    """A 400 naming the first field OpenAI's embeddings API does not define (the provider has nowhere to
    put it), unless ``drop_params`` says to leave them out."""
    extra = call.embedding.extra_fields()
    if not extra:
        return
    if not drop_params_enabled(call):
        raise InvalidRequestError(
            f"The parameter '{extra[0]}' is not supported by the {provider} provider (model "
            f"'{call.deployment.group}'). Remove it, or send \"drop_params\": true to have the gateway drop it.",
            param=extra[0],
            code="unsupported_parameter",
        )
    log.info(
        "dropped unsupported parameters",
        extra={"fields": {"provider": provider, "model": call.deployment.group, "dropped": extra}},
    )


def check_dimensions(call: ProviderCall, model: str, allowed: Collection[int] | None) -> int | None:
    """``dimensions``, when the model takes it; ``allowed`` ``None``: it takes none, an empty collection:
    any value. A 400 that says what the model can do otherwise."""
    dimensions = call.embedding.dimensions
    if dimensions is None:
        return None
    if allowed is None:
        raise InvalidRequestError(
            f"The model '{call.deployment.group}' ({model}) cannot change its embeddings' dimensions: remove "
            "'dimensions'.",
            param="dimensions",
            code="unsupported_parameter",
        )
    if allowed and dimensions not in allowed:
        choices = ", ".join(str(n) for n in sorted(allowed))
        raise InvalidRequestError(
            f"Invalid 'dimensions': the model '{call.deployment.group}' ({model}) takes {choices}; got {dimensions}.",
            param="dimensions",
            code="invalid_value",
        )
    return dimensions


def given(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without those left ``None`` (an upstream body's optional parameters)."""
    return {name: value for name, value in fields.items() if value is not None}


def batches(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def gather_bounded(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Every job's result in order, at most ``limit`` running at once; the first failure cancels the rest."""
    if len(jobs) == 1:
        return [await jobs[0]()]
    room = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with room:
            return await job()

    tasks = [asyncio.ensure_future(run(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
