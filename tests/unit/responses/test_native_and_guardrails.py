"""A guardrail that masks an answer drops the upstream's native answer, so the client gets the masked
chat view translated, never the unmasked native body."""

from __future__ import annotations

import asyncio
from typing import Any

from llm_gateway.config import GatewayConfig
from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.core.pipeline import ChatHandler, OpenedStream
from llm_gateway.guardrails.base import Guardrail
from llm_gateway.guardrails.layer import GuardrailLayer
from llm_gateway.schemas.native import NATIVE_FIELD, NativeRequest
from llm_gateway.schemas.validation import ChatRequest, validate_chat_request

ANSWER = {
    "id": "x",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Ann lives here"}, "finish_reason": "stop"}],
    NATIVE_FIELD: {"id": "resp_1", "output": [{"type": "message", "content": [{"text": "Ann lives here"}]}]},
}


class Inner(ChatHandler):
    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        return ANSWER

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        raise NotImplementedError


class Masking(Guardrail):
    checks_output = True

    def __init__(self, name: str, mask: bool) -> None:
        super().__init__(name)
        self.mask = mask

    async def check_output(self, response: dict[str, Any], ctx: RequestContext) -> str:
        if not self.mask:
            return "passed"
        response["choices"][0]["message"]["content"] = "{NAME} lives here"
        return "masked"


def _run(mask: bool) -> dict[str, Any]:
    config = GatewayConfig.model_validate(
        {"models": [{"name": "m", "provider": "mock", "model": "m"}], "guardrails": {"defaults": ["prompt_size"]}}
    ).guardrails
    layer = GuardrailLayer(Inner(), config, aws_clients=None)  # type: ignore[arg-type]
    layer._built["prompt_size"] = Masking("prompt_size", mask)
    chat = validate_chat_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    request = ChatRequest(chat.body, chat.parsed, native=NativeRequest("responses", {"model": "m", "input": "hi"}))
    ctx = RequestContext(request_id="r", principal=Principal(key_id="k"), deadline=1e9)
    return asyncio.run(layer.complete(request, ctx))


def test_a_masked_answer_loses_its_native_body() -> None:
    masked = _run(mask=True)
    assert NATIVE_FIELD not in masked and masked["choices"][0]["message"]["content"] == "{NAME} lives here"
    assert NATIVE_FIELD in ANSWER  # what a layer below (the cache) may keep is left alone


def test_an_answer_that_passed_keeps_it() -> None:
    assert _run(mask=False)[NATIVE_FIELD] == ANSWER[NATIVE_FIELD]
