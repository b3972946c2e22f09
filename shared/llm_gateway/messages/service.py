"""``POST /v1/messages``: a Messages request through the chat pipeline, answered in Anthropic's shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from llm_gateway.core.context import RequestContext
from llm_gateway.core.deployments import ModelGroups
from llm_gateway.core.service import ChatService, set_routing_headers
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.errors import InvalidRequestError
from llm_gateway.messages.from_chat import message_from_chat, message_id
from llm_gateway.messages.schema import MessagesRequest, validate
from llm_gateway.messages.stream import ChatToEvents, message_events
from llm_gateway.messages.to_chat import to_chat
from llm_gateway.schemas.native import NATIVE_FIELD, NativeRequest
from llm_gateway.schemas.validation import ChatRequest, validate_chat_request

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}


def chat_request(data: dict[str, Any], headers: Mapping[str, str], groups: ModelGroups) -> ChatRequest:
    """The validated chat translation of a Messages body, carrying the body itself for native upstreams."""
    validate(MessagesRequest, data)
    translation = to_chat(data)
    if translation.lossy and data["model"] in groups:
        translated = [d.id for d in groups.serving(data["model"], "messages") if "messages" not in d.config.native]
        if translated:
            raise InvalidRequestError(
                f"The model '{data['model']}' is served through a translation to chat completions "
                f"(deployment '{translated[0]}'), which cannot carry {', '.join(translation.lossy)}. "
                "Use a model whose deployments all pass Messages through (native: [messages]).",
                code="unsupported_feature",
            )
    chat = validate_chat_request(translation.body)
    chat.native = NativeRequest(endpoint="messages", body=data, headers=forwarded(headers))
    return chat


class MessagesService:
    def __init__(self, chat: ChatService, groups: ModelGroups, heartbeat: float) -> None:
        self.chat, self.groups, self.heartbeat = chat, groups, heartbeat

    def request(self, data: dict[str, Any], headers: Mapping[str, str]) -> ChatRequest:
        return chat_request(data, headers, self.groups)

    async def create(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        answer = await self.chat.complete(request, ctx)
        model = ctx.model_group or request.model  # the group that answered (a fallback's, if one did)
        native = answer.get(NATIVE_FIELD)
        if isinstance(native, dict):
            return {**native, "model": model}
        return message_from_chat(answer, model, ctx.request_id)

    async def stream(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[bytes]:
        opened = await self.chat.pipeline.open_stream(request, ctx)
        set_routing_headers(ctx)
        prompt = estimate_prompt_tokens(request.body)
        model = ctx.model_group or request.model
        translate = ChatToEvents(message_id(None, ctx.request_id), model, prompt)
        return message_events(opened, ctx, translate, heartbeat=self.heartbeat, prompt_tokens=lambda: prompt)
