"""The Bedrock adapter: Converse / ConverseStream through an injected boto3 ``bedrock-runtime`` client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from llm_gateway.config import DeploymentConfig
from llm_gateway.errors import UpstreamTimeoutError
from llm_gateway.providers.base import ChatProvider, ProviderCall, ProviderDeps
from llm_gateway.providers.bedrock.errors import map_exception
from llm_gateway.providers.bedrock.request import build_converse_args, is_anthropic_model
from llm_gateway.providers.bedrock.response import map_response
from llm_gateway.providers.bedrock.settings import BedrockSettings
from llm_gateway.providers.bedrock.stream import ConverseStreamMapper
from llm_gateway.providers.bedrock.transport import END, ERROR, EVENT, ThreadRunner
from llm_gateway.providers.thinking.memory import ThinkingMemory
from llm_gateway.providers.thinking.store import memory_thinking_store

SERVICE = "bedrock-runtime"


def _without_thinking(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "reasoning_effort"}


class BedrockProvider(ChatProvider):
    name: ClassVar[str] = "bedrock"

    def __init__(self, deps: ProviderDeps) -> None:
        super().__init__(deps)
        self._settings: dict[str, BedrockSettings] = {}
        self._threads = ThreadRunner()
        self._own_clients: Callable[..., Any] | None = None
        self.thinking = ThinkingMemory(deps.thinking or memory_thinking_store(), deps.clock)

    async def _prepare(self, call: ProviderCall) -> ProviderCall:
        thinking_on = call.body.get("reasoning_effort") not in (None, "none") and is_anthropic_model(
            call.deployment.model
        )
        return await self.thinking.prepare(call, thinking_on=thinking_on, thinking_off=_without_thinking)

    @classmethod
    def validate_deployment(cls, deployment: DeploymentConfig) -> None:
        BedrockSettings.of(deployment)

    def settings(self, call: ProviderCall) -> BedrockSettings:
        found = self._settings.get(call.deployment.id)
        if found is None:
            found = BedrockSettings.of(call.deployment.config)
            self._settings[call.deployment.id] = found
        return found

    def _client(self, call: ProviderCall, settings: BedrockSettings) -> Any:
        """The boto3 client (built on first use, in a worker thread: loading its model reads files)."""
        factory = self.deps.aws_clients
        if factory is None:
            if self._own_clients is None:
                from llm_gateway.aws.clients import AwsClients

                # No botocore retries (max_attempts counts retries): the gateway decides what to retry.
                self._own_clients = AwsClients(connect_timeout=self.deps.server.connect_timeout, max_attempts=0)
            factory = self._own_clients
        # Long read timeout: a non-streamed answer arrives only when generation ends. Stream silence is
        # bounded separately by the server read_timeout (see stream()).
        read_timeout = max(self.deps.server.request_timeout, call.deployment.config.timeout or 0)
        return factory(SERVICE, region=settings.region, endpoint_url=settings.endpoint_url, read_timeout=read_timeout)

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        call = await self._prepare(call)
        settings = self.settings(call)
        plan = await build_converse_args(call, settings, self.deps.media_fetcher)
        try:
            data = await asyncio.wait_for(
                self._threads.run(lambda: self._client(call, settings).converse(**plan.kwargs)),
                timeout=self._deadline(call),
            )
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' did not answer in time."
            ) from None
        except Exception as exc:
            raise map_exception(call, exc) from None
        answer = map_response(call, data, self.deps.clock(), plan.json_tool)
        await self.thinking.remember(call, answer["choices"][0]["message"])
        return answer

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        call = await self._prepare(call)
        recorder = self.thinking.recorder(call)
        settings = self.settings(call)
        plan = await build_converse_args(call, settings, self.deps.media_fetcher)
        pump = self._threads.pump(lambda: self._client(call, settings).converse_stream(**plan.kwargs))
        try:
            kind, value = await self._next(pump, call, self._deadline(call))
            if kind == ERROR:
                raise map_exception(call, value)
            mapper = ConverseStreamMapper(call, created=self.deps.clock(), request_id=value, json_tool=plan.json_tool)
            silence = self.deps.server.read_timeout
            while True:
                kind, value = await self._next(pump, call, silence)
                if kind == EVENT:
                    for chunk in mapper.feed(value):
                        if recorder.observe(chunk):
                            await recorder.save()  # before the finish goes out: the loop's next request needs it
                        yield chunk
                elif kind == END:
                    for chunk in mapper.finish():
                        yield chunk
                    return
                else:
                    raise map_exception(call, value)
        finally:
            pump.close()

    @staticmethod
    async def _next(pump: Any, call: ProviderCall, timeout: float) -> tuple[str, Any]:
        try:
            item: tuple[str, Any] = await pump.next(timeout)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' went silent for too long."
            ) from None
        return item

    @staticmethod
    def _deadline(call: ProviderCall) -> float:
        per_attempt = call.deployment.config.timeout
        return min(call.timeout, per_attempt) if per_attempt else call.timeout

    async def aclose(self) -> None:
        self._threads.shutdown()
