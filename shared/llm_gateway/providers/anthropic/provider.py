"""The ``anthropic`` provider: Anthropic's Messages API behind the OpenAI interface.

This module is the adapter: URL, headers and the wiring of the translation modules (:mod:`.request`,
:mod:`.response`, :mod:`.stream`, :mod:`.errors`), and of the thinking kept across tool loops
(:mod:`llm_gateway.providers.thinking`). :class:`~llm_gateway.providers.base.HTTPChatProvider`
does the HTTP I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from llm_gateway.config import DeploymentConfig
from llm_gateway.errors import GatewayError
from llm_gateway.providers.anthropic.errors import map_http_error
from llm_gateway.providers.anthropic.native import (
    COUNTED_FIELDS,
    NativeEvents,
    betas,
    counted,
    native_answer,
    native_body,
)
from llm_gateway.providers.anthropic.request import build_messages_body
from llm_gateway.providers.anthropic.response import map_message
from llm_gateway.providers.anthropic.settings import AnthropicSettings, settings_for
from llm_gateway.providers.anthropic.stream import AnthropicStreamMapper
from llm_gateway.providers.anthropic.tools import plan_response
from llm_gateway.providers.base import (
    HTTPChatProvider,
    ProviderCall,
    ProviderDeps,
    StreamMapper,
    UpstreamHTTPRequest,
)
from llm_gateway.providers.thinking.memory import ThinkingMemory
from llm_gateway.providers.thinking.store import memory_thinking_store
from llm_gateway.schemas.native import NativeRequest


def thinking_requested(body: dict[str, Any]) -> bool:
    native = body.get("thinking")
    if isinstance(native, dict):
        return native.get("type") in ("enabled", "adaptive")
    return body.get("reasoning_effort") not in (None, "none")


def without_thinking(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("reasoning_effort", "thinking")}


class AnthropicProvider(HTTPChatProvider):
    name: ClassVar[str] = "anthropic"
    native_endpoints: ClassVar[frozenset[str]] = frozenset({"messages"})

    @classmethod
    def validate_deployment(cls, deployment: DeploymentConfig) -> None:
        settings_for(deployment)

    def __init__(self, deps: ProviderDeps) -> None:
        super().__init__(deps)
        self._settings_by_deployment: dict[str, AnthropicSettings] = {}
        self.thinking = ThinkingMemory(deps.thinking or memory_thinking_store(), deps.clock)

    def _settings(self, call: ProviderCall) -> AnthropicSettings:
        settings = self._settings_by_deployment.get(call.deployment.id)
        if settings is None:
            settings = settings_for(call.deployment.config)
            self._settings_by_deployment[call.deployment.id] = settings
        return settings

    def build_request(self, call: ProviderCall) -> UpstreamHTTPRequest:
        settings = self._settings(call)
        headers = dict(settings.headers)
        headers["anthropic-version"] = settings.version
        if call.api_key:
            headers["x-api-key"] = call.api_key
        if settings.betas:
            headers["anthropic-beta"] = ",".join(settings.betas)
        return UpstreamHTTPRequest(url=settings.messages_url, json=build_messages_body(call, settings), headers=headers)

    def _native_request(self, call: ProviderCall, native: NativeRequest, *, stream: bool) -> UpstreamHTTPRequest:
        """The client's Messages body as it came, with its ``anthropic-version`` and ``anthropic-beta``."""
        settings = self._settings(call)
        headers = dict(settings.headers)
        headers["anthropic-version"] = native.headers.get("anthropic-version") or settings.version
        if call.api_key:
            headers["x-api-key"] = call.api_key
        if beta := betas(native, settings.betas):
            headers["anthropic-beta"] = ",".join(beta)
        body = native_body(native, model=call.deployment.model, stream=stream)
        return UpstreamHTTPRequest(url=settings.messages_url, json=body, headers=headers)

    async def complete_native(self, call: ProviderCall, native: NativeRequest) -> dict[str, Any]:
        data = await self.within_attempt(call, self.send_json(call, self._native_request(call, native, stream=False)))
        return native_answer(call, data, self.deps.clock())

    async def count_tokens(self, call: ProviderCall, native: NativeRequest) -> int | None:
        upstream = self._native_request(call, native, stream=False)
        upstream.url += "/count_tokens"
        upstream.json = {k: v for k, v in upstream.json.items() if k in COUNTED_FIELDS}
        data = await self.within_attempt(call, self.send_json(call, upstream))
        return counted(call, data, "input_tokens")

    def stream_native(self, call: ProviderCall, native: NativeRequest) -> AsyncIterator[dict[str, Any]]:
        upstream = self._native_request(call, native, stream=True)
        return self.stream_request(call, upstream, NativeEvents(call, self.deps.clock()))

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        call = await self.thinking.prepare(
            call, thinking_on=thinking_requested(call.body), thinking_off=without_thinking
        )
        answer = await super().complete(call)
        await self.thinking.remember(call, answer["choices"][0]["message"])
        return answer

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        call = await self.thinking.prepare(
            call, thinking_on=thinking_requested(call.body), thinking_off=without_thinking
        )
        recorder = self.thinking.recorder(call)
        async for chunk in super().stream(call):
            if recorder.observe(chunk):
                await recorder.save()  # before the finish goes out: the loop's next request must find it
            yield chunk

    def parse_response(self, call: ProviderCall, data: Any) -> dict[str, Any]:
        return map_message(call, data, plan_response(call.body, self._settings(call)), self.deps.clock())

    def new_stream_mapper(self, call: ProviderCall) -> StreamMapper:
        return AnthropicStreamMapper(call, plan_response(call.body, self._settings(call)), self.deps.clock())

    def map_error(self, call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_http_error(call, status, headers, body)
