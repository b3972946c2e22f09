"""The ``mock`` provider: answers from :mod:`.answers`, shaped exactly like OpenAI's wire format.

Deployment options: ``mock_response`` (fixed reply text), ``chunk_delay_ms`` (pause between stream
chunks), ``latency_ms`` (pause before answering), ``embedding_dimensions`` (the length of its
embeddings, 1536 unless set). A request may carry ``mock_response`` too. Embeddings: see :mod:`.embeddings`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson
from pydantic import Field

from llm_gateway.config import DeploymentConfig
from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.base import ChatProvider, ProviderCall
from llm_gateway.providers.mock.answers import MockAnswer, MockChoice, answer
from llm_gateway.providers.options import ProviderOptions, read_options

DEFAULT_EMBEDDING_DIMENSIONS = 1536


def _completion_id(call: ProviderCall) -> str:
    digest = hashlib.sha256(orjson.dumps(call.body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"chatcmpl-mock{digest[:24]}"


def _logprobs(pieces: list[str]) -> dict[str, Any]:
    entries = []
    for i, piece in enumerate(pieces):
        logprob = -0.05 * (1 + i % 5)
        entries.append({"token": piece, "logprob": logprob, "bytes": list(piece.encode()), "top_logprobs": []})
    return {"content": entries, "refusal": None}


class MockOptions(ProviderOptions):
    chunk_delay_ms: float = Field(default=0, ge=0, description="Pause between streamed chunks.")
    latency_ms: float = Field(default=0, ge=0, description="Pause before answering.")
    mock_response: str | None = Field(default=None, description="A fixed reply instead of the echo.")
    embedding_dimensions: int = Field(
        default=DEFAULT_EMBEDDING_DIMENSIONS, ge=1, le=8192, description="Embedding length."
    )


class MockProvider(ChatProvider):
    name: ClassVar[str] = "mock"
    serves_embeddings: ClassVar[bool] = True

    @classmethod
    def validate_deployment(cls, deployment: DeploymentConfig) -> None:
        read_options(MockOptions, deployment, "mock", reads_api_base=False)

    def _option(self, call: ProviderCall, key: str, default: float = 0.0) -> float:
        value = call.deployment.config.extra_fields.get(key, default)
        return float(value) if isinstance(value, int | float) else default

    def _answer(self, call: ProviderCall) -> MockAnswer:
        fixed = call.deployment.config.extra_fields.get("mock_response")
        return answer(call.body, fixed_reply=fixed if isinstance(fixed, str) else None)

    def _usage(self, result: MockAnswer) -> dict[str, Any]:
        completion = result.completion_tokens
        return {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": result.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        latency = self._option(call, "latency_ms")
        if latency:
            await asyncio.sleep(latency / 1000)
        result = self._answer(call)
        want_logprobs = bool(call.body.get("logprobs"))
        choices = []
        for index, choice in enumerate(result.choices):
            message: dict[str, Any] = {"role": "assistant", "content": choice.text, "refusal": None}
            if choice.tool_calls:
                message["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in choice.tool_calls
                ]
            if choice.function_call:
                message["function_call"] = {
                    "name": choice.function_call.name,
                    "arguments": choice.function_call.arguments,
                }
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": _logprobs(choice.pieces) if want_logprobs else None,
                    "finish_reason": choice.finish_reason,
                }
            )
        return {
            "id": _completion_id(call),
            "object": "chat.completion",
            "created": math.floor(self.deps.clock()),
            "model": call.deployment.model,
            "choices": choices,
            "usage": self._usage(result),
            "system_fingerprint": "fp_mock",
        }

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        from llm_gateway.embeddings.response import embedding_list  # on first use: not at cold start
        from llm_gateway.providers.mock.embeddings import mock_tokens, mock_vector

        latency = self._option(call, "latency_ms")
        if latency:
            await asyncio.sleep(latency / 1000)
        request = call.embedding
        full = int(self._option(call, "embedding_dimensions", DEFAULT_EMBEDDING_DIMENSIONS))
        dimensions = request.dimensions or full
        if dimensions > full:
            raise InvalidRequestError(
                f"Invalid 'dimensions': the model '{call.deployment.group}' makes embeddings of at most {full} "
                f"dimensions; got {dimensions}.",
                param="dimensions",
                code="invalid_value",
            )
        items: list[str | tuple[int, ...]] = list(request.input.texts or request.input.tokens or ())
        model = call.deployment.model
        vectors = [mock_vector(model, item, dimensions, full) for item in items]
        return embedding_list(vectors, model=model, prompt_tokens=sum(mock_tokens(item) for item in items))

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        latency = self._option(call, "latency_ms")
        delay = self._option(call, "chunk_delay_ms") / 1000
        if latency:
            await asyncio.sleep(latency / 1000)
        result = self._answer(call)
        base = {
            "id": _completion_id(call),
            "object": "chat.completion.chunk",
            "created": math.floor(self.deps.clock()),
            "model": call.deployment.model,
            "system_fingerprint": "fp_mock",
        }
        want_logprobs = bool(call.body.get("logprobs"))

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}
            return {**base, "choices": [choice]}

        for index, choice in enumerate(result.choices):
            yield chunk(index, {"role": "assistant", "content": "" if choice.text is not None else None})
            async for piece in self._choice_deltas(index, choice, want_logprobs, chunk, delay):
                yield piece
            yield chunk(index, {}, choice.finish_reason)
        if call.want_usage:
            yield {**base, "choices": [], "usage": self._usage(result)}

    async def _choice_deltas(
        self, index: int, choice: MockChoice, want_logprobs: bool, chunk: Any, delay: float
    ) -> AsyncIterator[dict[str, Any]]:
        for piece in choice.pieces:
            if delay:
                await asyncio.sleep(delay)
            extra = {"logprobs": _logprobs([piece])} if want_logprobs else {}
            yield chunk(index, {"content": piece}, **extra)
        for position, call in enumerate(choice.tool_calls):
            if delay:
                await asyncio.sleep(delay)
            head = {
                "index": position,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield chunk(index, {"tool_calls": [head]})
            middle = len(call.arguments) // 2
            for part in (call.arguments[:middle], call.arguments[middle:]):
                if part:
                    yield chunk(index, {"tool_calls": [{"index": position, "function": {"arguments": part}}]})
        if choice.function_call:
            yield chunk(index, {"function_call": {"name": choice.function_call.name, "arguments": ""}})
            yield chunk(index, {"function_call": {"arguments": choice.function_call.arguments}})
