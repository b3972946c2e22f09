"""The Bedrock adapter: Converse / ConverseStream through an injected boto3 ``bedrock-runtime`` client;
embeddings through InvokeModel (:mod:`.embeddings`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import orjson

from llm_gateway.config import DeploymentConfig
from llm_gateway.embeddings.response import bad_answer, embedding_list
from llm_gateway.errors import GatewayError, InvalidRequestError, UpstreamTimeoutError
from llm_gateway.providers.anthropic.native import NativeEvents, counted, native_answer
from llm_gateway.providers.base import ChatProvider, ProviderCall, ProviderDeps
from llm_gateway.providers.bedrock import embeddings as embedding
from llm_gateway.providers.bedrock.errors import map_exception
from llm_gateway.providers.bedrock.native import decoded, invoke_args, stream_payload
from llm_gateway.providers.bedrock.request import build_converse_args, is_anthropic_model
from llm_gateway.providers.bedrock.response import map_response
from llm_gateway.providers.bedrock.settings import BedrockSettings
from llm_gateway.providers.bedrock.stream import ConverseStreamMapper
from llm_gateway.providers.bedrock.transport import END, ERROR, EVENT, OPEN, ThreadRunner
from llm_gateway.providers.embeddings import batches, check_dimensions, check_extra_fields, gather_bounded, texts_of
from llm_gateway.providers.thinking.memory import ThinkingMemory
from llm_gateway.providers.thinking.store import memory_thinking_store
from llm_gateway.schemas.native import NativeRequest

SERVICE = "bedrock-runtime"


def _without_thinking(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "reasoning_effort"}


class BedrockProvider(ChatProvider):
    name: ClassVar[str] = "bedrock"
    serves_embeddings: ClassVar[bool] = True
    native_endpoints: ClassVar[frozenset[str]] = frozenset({"messages"})

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
        data = await self.call_blocking(call, lambda: self._client(call, settings).converse(**plan.kwargs))
        answer = map_response(call, data, self.deps.clock(), plan.json_tool)
        await self.thinking.remember(call, answer["choices"][0]["message"])
        return answer

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        call = await self._prepare(call)
        recorder = self.thinking.recorder(call)
        settings = self.settings(call)
        plan = await build_converse_args(call, settings, self.deps.media_fetcher)
        pump = self._threads.pump(lambda: self._client(call, settings).converse_stream(**plan.kwargs))
        mapper: ConverseStreamMapper | None = None
        async for kind, value in self._pumped(call, pump):
            if kind == OPEN:
                mapper = ConverseStreamMapper(
                    call, created=self.deps.clock(), request_id=value, json_tool=plan.json_tool
                )
                continue
            assert mapper is not None
            for chunk in mapper.feed(value) if kind == EVENT else mapper.finish():
                if recorder.observe(chunk):
                    await recorder.save()  # before the finish goes out: the loop's next request needs it
                yield chunk

    async def complete_native(self, call: ProviderCall, native: NativeRequest) -> dict[str, Any]:
        """A Messages request to Claude as it came (InvokeModel, Anthropic's body); other models translate."""
        if not is_anthropic_model(call.deployment.model):
            return await self.complete(call)
        settings, args = self.settings(call), invoke_args(call, native)

        def invoke() -> Any:
            return self._client(call, settings).invoke_model(**args)["body"].read()

        raw = await self.call_blocking(call, invoke)
        return native_answer(call, decoded(call, raw), self.deps.clock())

    async def count_tokens(self, call: ProviderCall, native: NativeRequest) -> int | None:
        """Bedrock's CountTokens over the InvokeModel body (Claude only; ``max_tokens`` as it needs one)."""
        if not is_anthropic_model(call.deployment.model):
            return None
        settings = self.settings(call)
        body = {"max_tokens": 1, **native.body}
        args = invoke_args(call, replace(native, body=body))

        def count() -> Any:
            client = self._client(call, settings)
            return client.count_tokens(modelId=args["modelId"], input={"invokeModel": {"body": args["body"]}})

        return counted(call, await self.call_blocking(call, count), "inputTokens")

    async def stream_native(self, call: ProviderCall, native: NativeRequest) -> AsyncIterator[dict[str, Any]]:
        """The same through InvokeModelWithResponseStream: each ``chunk`` holds one Anthropic event."""
        if not is_anthropic_model(call.deployment.model):
            async for chunk in self.stream(call):
                yield chunk
            return
        settings, args = self.settings(call), invoke_args(call, native)

        def open_stream() -> Any:
            response = self._client(call, settings).invoke_model_with_response_stream(**args)
            return {**response, "stream": response["body"]}

        mapper = NativeEvents(call, self.deps.clock())
        async for kind, value in self._pumped(call, self._threads.pump(open_stream)):
            payload = stream_payload(call, value) if kind == EVENT else None
            for chunk in mapper.feed_payload(payload) if payload else mapper.finish() if kind == END else ():
                yield chunk

    async def call_blocking(self, call: ProviderCall, blocking: Callable[[], Any]) -> Any:
        """One boto3 call in the provider's threads, within the attempt's deadline, failures mapped."""
        try:
            return await asyncio.wait_for(self._threads.run(blocking), timeout=self._deadline(call))
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' did not answer in time."
            ) from None
        except Exception as exc:
            raise map_exception(call, exc) from None

    async def _pumped(self, call: ProviderCall, pump: Any) -> AsyncIterator[tuple[str, Any]]:
        """The pump's ``(OPEN, request id)``, its events, then ``(END, None)``; a failure raised as a gateway
        error; silence bounded (the attempt's deadline until it opens, then the server's read timeout)."""
        try:
            kind, value = await self._next(pump, call, self._deadline(call))
            silence = self.deps.server.read_timeout
            while kind != ERROR:
                yield kind, value
                if kind == END:
                    return
                kind, value = await self._next(pump, call, silence)
            raise map_exception(call, value)
        finally:
            pump.close()

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        check_extra_fields(call, self.name)
        texts = texts_of(call, self.name)
        settings = self.settings(call)
        model = call.deployment.model
        family = settings.family(model)
        if family is None:  # checked at start-up for deployments that list embeddings
            raise InvalidRequestError(
                f"The model '{call.deployment.group}' ({model}) is not a Bedrock embedding model the gateway knows.",
                param="model",
                code="model_not_supported",
            )
        dimensions = check_dimensions(call, model, embedding.DIMENSIONS[family])

        def invoke(payload: dict[str, Any]) -> Callable[[], Awaitable[tuple[Any, dict[str, str]]]]:
            def blocking() -> tuple[Any, dict[str, str]]:
                response = self._client(call, settings).invoke_model(
                    modelId=model, body=orjson.dumps(payload), contentType="application/json", accept="application/json"
                )
                headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
                return response["body"].read(), headers

            async def run() -> tuple[Any, dict[str, str]]:
                try:
                    raw, headers = await self._threads.run(blocking)
                except Exception as exc:
                    raise _for_input(map_exception(call, exc)) from None
                try:
                    return orjson.loads(raw), headers
                except orjson.JSONDecodeError:
                    raise bad_answer(call.deployment.group, "not JSON") from None

            return run

        parts: Sequence[Sequence[str]] = batches(texts, embedding.PER_CALL[family])
        if embedding.is_cohere(family):
            payloads = [
                embedding.cohere_body(
                    part, dimensions=dimensions, input_type=settings.input_type, truncate=settings.truncate
                )
                for part in parts
            ]
        else:
            payloads = [
                embedding.titan_body(part[0], dimensions=dimensions, normalize=settings.normalize) for part in parts
            ]
        try:
            async with asyncio.timeout(self._deadline(call)):
                answers = await gather_bounded([invoke(p) for p in payloads], settings.embedding_concurrency)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"The upstream for model '{call.deployment.group}' did not answer in time."
            ) from None
        return _embedding_answer(call, family, parts, answers)

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


def _for_input(error: GatewayError) -> GatewayError:
    """An embeddings request has no messages: a context-length refusal names its input."""
    if getattr(error, "param", None) == "messages":
        error.param = "input"
    return error


def _embedding_answer(
    call: ProviderCall,
    family: embedding.Family,
    parts: Sequence[Sequence[str]],
    answers: list[tuple[Any, dict[str, str]]],
) -> dict[str, Any]:
    group = call.deployment.group
    vectors: list[list[float]] = []
    counts: list[int | None] = []
    for part, (data, headers) in zip(parts, answers, strict=True):
        if embedding.is_cohere(family):
            vectors.extend(embedding.read_cohere(data, len(part), group))
            counts.append(embedding.header_tokens(headers))
        else:
            vector, count = embedding.read_titan(data, group)
            vectors.append(vector)
            counts.append(count if count is not None else embedding.header_tokens(headers))
    known = [count for count in counts if count is not None]
    return embedding_list(
        vectors, model=call.deployment.model, prompt_tokens=sum(known) if len(known) == len(counts) else None
    )
