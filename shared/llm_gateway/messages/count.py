"""``POST /v1/messages/count_tokens``: the upstream's own count where it has one, else an estimate.

The model group's first deployment serving Messages counts: Claude through Anthropic's
``/v1/messages/count_tokens`` or Bedrock's ``CountTokens`` (:meth:`ChatProvider.count_tokens`), when it
passes Messages through natively. Anything else (a deployment that translates to chat, an upstream
without a count endpoint, or one that failed with a 5xx) gets the gateway's estimate of the chat
translation (four characters a token, deliberately low), and the answer says so in the header
``x-llm-gateway-token-count: estimate`` (``upstream`` otherwise). A count is not a completion: it costs
nothing, and no limit or budget counts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_gateway.core.context import RequestContext
from llm_gateway.core.tokens import estimate_prompt_tokens
from llm_gateway.errors import GatewayError, InvalidRequestError
from llm_gateway.messages.schema import CountTokensRequest, validate
from llm_gateway.messages.service import forwarded
from llm_gateway.messages.to_chat import to_chat
from llm_gateway.schemas.native import NativeRequest
from llm_gateway.schemas.validation import validate_chat_request

COUNT_HEADER = "x-llm-gateway-token-count"


class TokenCounter:
    def __init__(self, groups: Any, router: Any, providers: Any) -> None:
        self.groups, self.router, self.providers = groups, router, providers

    async def count(self, data: dict[str, Any], headers: Mapping[str, str], ctx: RequestContext) -> dict[str, Any]:
        validate(CountTokensRequest, data)
        model = data["model"]
        if not ctx.principal.may_use(model):
            raise InvalidRequestError(
                f"Your key is not allowed to use the model '{model}'.", param="model", status_code=403
            )
        deployments = self.groups.serving(model, "messages")  # 404 for an unknown group
        if not deployments:
            raise InvalidRequestError(f"The model '{model}' does not serve messages.", param="model")
        chat = validate_chat_request({**to_chat(data).body, "max_tokens": 1})
        chat.native = NativeRequest(endpoint="messages", body=data, headers=forwarded(headers))
        deployment = deployments[0]
        ctx.deployment_id = deployment.id
        counted: int | None = None
        call = await self.router.build_call(deployment, chat, ctx)
        if call.native is not None:
            try:
                counted = await self.providers.get(deployment.provider).count_tokens(call, call.native)
            except GatewayError as error:
                if error.status_code < 500:
                    raise
        ctx.set_header(COUNT_HEADER, "estimate" if counted is None else "upstream")
        return {"input_tokens": estimate_prompt_tokens(chat.body) if counted is None else counted}
