"""The embeddings service: run the pipeline's ``embed``, complete the usage, encode, set the headers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_gateway.core.context import RequestContext
from llm_gateway.core.pipeline import ChatHandler
from llm_gateway.core.service import set_routing_headers

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest


class EmbeddingsService:
    def __init__(self, pipeline: ChatHandler) -> None:
        self.pipeline = pipeline

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        from llm_gateway.embeddings.response import for_client, usage  # on first use, not at cold start

        answer = await self.pipeline.embed(request, ctx)
        if not isinstance(answer.get("usage"), dict):
            # the upstream counts no tokens (Gemini): the gateway's estimate, said to be one
            estimate = request.input.estimated_tokens()
            answer = {**answer, "usage": usage(estimate)}
            ctx.note("usage_estimated", True)
        ctx.usage = answer["usage"]
        set_routing_headers(ctx)
        return for_client(answer, request.encoding_format)
