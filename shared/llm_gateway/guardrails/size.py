"""Prompt size limit: refuse prompts over a number of characters, estimated tokens or messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.guardrails.base import Guardrail, prompt_texts
from llm_gateway.guardrails.config import PromptSizeSpec

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext


class PromptSize(Guardrail):
    def __init__(self, name: str, spec: PromptSizeSpec) -> None:
        super().__init__(name)
        self.spec = spec

    async def check_input(self, body: dict[str, Any], ctx: RequestContext) -> str:
        from llm_gateway.tenants.tokens import prompt_tokens

        spec = self.spec
        messages = len(body.get("messages") or [])
        if spec.max_messages is not None and messages > spec.max_messages:
            raise self._refuse(f"{messages} messages; the limit is {spec.max_messages}")
        chars = sum(len(text) for text in prompt_texts(body))
        if spec.max_chars is not None and chars > spec.max_chars:
            raise self._refuse(f"{chars} characters; the limit is {spec.max_chars}")
        if spec.max_tokens is not None:
            tokens = prompt_tokens(body)
            if tokens > spec.max_tokens:
                raise self._refuse(f"about {tokens} tokens; the limit is {spec.max_tokens}")
        return "passed"

    def _refuse(self, detail: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"The prompt is too large for this gateway ({self.name}): {detail}.",
            param="messages",
            code="prompt_too_large",
        )
