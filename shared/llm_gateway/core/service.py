"""The chat service: run the pipeline, shape the answer, set the response headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llm_gateway.config import ServerConfig
from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import ChatHandler
from llm_gateway.core.streaming import sse_stream
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.schemas.validation import ChatRequest


def set_routing_headers(ctx: RequestContext) -> None:
    """Which model group and deployment answered, after how many attempts (every endpoint's answer)."""
    if ctx.model_group:
        ctx.set_header("x-llm-gateway-model-group", ctx.model_group)
    if ctx.deployment_id:
        ctx.set_header("x-llm-gateway-deployment", ctx.deployment_id)
    ctx.set_header("x-llm-gateway-attempts", str(ctx.attempts))


class ChatService:
    def __init__(self, pipeline: ChatHandler, server: ServerConfig) -> None:
        self.pipeline = pipeline
        self.server = server

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        response = await self.pipeline.complete(request, ctx)
        usage = response.get("usage")
        if isinstance(usage, dict):
            ctx.usage = usage
        set_routing_headers(ctx)
        return response

    async def stream(self, request: ChatRequest, ctx: RequestContext) -> AsyncIterator[bytes]:
        """Open the stream (a failure before the first chunk raises, so the client gets a real HTTP
        status) and return the SSE body."""
        opened = await self.pipeline.open_stream(request, ctx)
        set_routing_headers(ctx)
        return sse_stream(
            opened,
            ctx,
            include_usage=request.include_usage,
            heartbeat=self.server.stream_heartbeat_seconds,
            prompt_tokens=lambda: estimate_prompt_tokens(request.body),
        )
