"""The Responses service: a ``CreateResponse`` through the chat pipeline, and the stored responses.

A request is validated (:mod:`.request`), its ``previous_response_id`` read from the caller's own stored
responses (404 when it is not theirs, or gone), translated onto chat (:mod:`.to_chat`), with the inbound
body riding along for a deployment that serves the Responses API itself, and run by the chat service
(every layer: keys, limits, budgets, idempotency, the cache, the router, guardrails, usage). The answer
comes back as a ``Response`` (:mod:`.output`) or its stream (:mod:`.sse`), and is stored unless ``store``
is false.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from llm_gateway.config import ServerConfig
from llm_gateway.core.context import RequestContext
from llm_gateway.core.service import ChatService, set_routing_headers
from llm_gateway.errors import GatewayError, InvalidRequestError
from llm_gateway.responses.output import Envelope, from_completion, new_id
from llm_gateway.responses.request import CreateResponse, validate_create_response
from llm_gateway.responses.store import ResponseStore, StoredResponse
from llm_gateway.responses.to_chat import chat_body
from llm_gateway.schemas.native import NATIVE_FIELD, NativeRequest
from llm_gateway.schemas.request import GATEWAY_EXTENSION_FIELDS
from llm_gateway.schemas.validation import ChatRequest, validate_chat_request

if TYPE_CHECKING:
    from llm_gateway.core.deployments import ModelGroups

_NOT_FOUND = "No response found with id '{id}'."


def not_found(response_id: str, param: str = "id") -> GatewayError:
    return GatewayError(
        _NOT_FOUND.format(id=response_id[:100]),
        status_code=404,
        error_type="invalid_request_error",
        param=param,
        code="response_not_found",
    )


_ID_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def _stored_item(item: Any) -> Any:
    """An input item as stored and listed: with an id, a message's content as a list of parts."""
    if not isinstance(item, dict):
        return item
    kind = item.get("type") or "message"
    out = {**item, "type": kind}
    if not out.get("id") and kind in _ID_PREFIX:
        out["id"] = new_id(_ID_PREFIX[kind])
    if kind == "message" and isinstance(out.get("content"), str):
        part = "output_text" if out.get("role") == "assistant" else "input_text"
        extra: dict[str, Any] = {"annotations": []} if part == "output_text" else {}
        out["content"] = [{"type": part, "text": out["content"], **extra}]
    return out


class Prepared:
    """One request, ready for the pipeline."""

    def __init__(
        self, parsed: CreateResponse, chat: ChatRequest, envelope: Envelope, input_items: list[dict[str, Any]]
    ):
        self.parsed = parsed
        self.chat = chat
        self.envelope = envelope
        self.input_items = input_items


class ResponsesService:
    def __init__(
        self,
        chat: ChatService,
        store: ResponseStore,
        server: ServerConfig,
        clock: Callable[[], float],
        groups: ModelGroups | None = None,
    ) -> None:
        self.chat = chat
        self.store = store
        self.server = server
        self.clock = clock
        self.groups = groups
        """The model groups: a request with hosted tools is refused unless every deployment of its group
        serves the Responses API natively."""

    def _all_native(self, model: str) -> bool:
        if self.groups is None or model not in self.groups:
            return False
        serving = self.groups.serving(model, "responses")
        return bool(serving) and all("responses" in d.config.native for d in serving)

    async def prepare(self, data: Any, ctx: RequestContext, headers: dict[str, str]) -> Prepared:
        parsed = validate_create_response(data)
        key_id, now = ctx.principal.key_id, self.clock()
        history: list[dict[str, Any]] = []
        if parsed.previous_response_id is not None:
            previous = await self.store.get(key_id, parsed.previous_response_id, now=now)
            if previous is None:
                raise not_found(parsed.previous_response_id, "previous_response_id")
            history = previous.conversation
        given = parsed.input if parsed.input is not None else []
        items = [{"type": "message", "role": "user", "content": given}] if isinstance(given, str) else list(given)
        known = {str(item["id"]): item for item in history if isinstance(item, dict) and item.get("id")}
        only_native: list[InvalidRequestError] = []
        chat = validate_chat_request(chat_body(parsed, data, [*history, *items], known, only_native))
        if only_native and not self._all_native(parsed.model):
            raise only_native[0]  # hosted tools and the like, for a model bridged onto chat
        input_items = [*history, *(_stored_item(item) for item in items)]
        native = NativeRequest(
            "responses",
            {k: v for k, v in data.items() if k not in GATEWAY_EXTENSION_FIELDS},
            headers,
            only_native=tuple(str(error.param) for error in only_native),
        )
        chat = ChatRequest(body=chat.body, parsed=chat.parsed, native=native)
        envelope = Envelope(id=new_id("resp"), created_at=int(now), request=parsed, store=parsed.store is not False)
        ctx.model_group = parsed.model
        return Prepared(parsed, chat, envelope, input_items)

    async def create(self, prepared: Prepared, ctx: RequestContext) -> dict[str, Any]:
        completion = await self.chat.complete(prepared.chat, ctx)
        native = completion.get(NATIVE_FIELD)
        if isinstance(native, dict):
            response = {**native, "model": prepared.parsed.model}  # the upstream's own answer, as it came
        else:
            response = from_completion(completion, prepared.envelope, int(self.clock()))
        await self.keep(prepared, response, ctx)
        return response

    async def stream(self, prepared: Prepared, ctx: RequestContext) -> AsyncIterator[bytes]:
        from llm_gateway.responses.sse import response_stream

        opened = await self.chat.pipeline.open_stream(prepared.chat, ctx)
        set_routing_headers(ctx)

        async def keep(response: dict[str, Any]) -> None:
            await self.keep(prepared, response, ctx)

        return response_stream(
            opened,
            ctx,
            prepared.envelope,
            prepared.chat.body,
            heartbeat=self.server.stream_heartbeat_seconds,
            clock=self.clock,
            on_done=keep,
        )

    async def keep(self, prepared: Prepared, response: dict[str, Any], ctx: RequestContext) -> None:
        if prepared.envelope.store and response.get("status") in ("completed", "incomplete"):
            stored = StoredResponse(response=response, input_items=prepared.input_items)
            await self.store.put(ctx.principal.key_id, stored, now=self.clock())

    # -- stored responses ----------------------------------------------------------------------------

    async def get(self, response_id: str, ctx: RequestContext) -> StoredResponse:
        stored = await self.store.get(ctx.principal.key_id, response_id, now=self.clock())
        if stored is None:
            raise not_found(response_id)
        return stored

    async def delete(self, response_id: str, ctx: RequestContext) -> dict[str, Any]:
        if not await self.store.delete(ctx.principal.key_id, response_id, now=self.clock()):
            raise not_found(response_id)
        return {"id": response_id, "object": "response.deleted", "deleted": True}
