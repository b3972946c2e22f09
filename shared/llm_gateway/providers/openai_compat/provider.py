"""OpenAI-compatible upstreams: the request body passes through nearly untouched; answers are checked and
held to OpenAI's exact shape (:mod:`.normalise`), fields this gateway does not know left as they are.
Embeddings go to ``{api_base}/embeddings`` (:mod:`.embeddings`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from llm_gateway.config import DeploymentConfig
from llm_gateway.errors import GatewayError
from llm_gateway.providers.base import HTTPChatProvider, ProviderCall, StreamMapper, UpstreamHTTPRequest
from llm_gateway.providers.openai_compat.errors import map_openai_error
from llm_gateway.providers.openai_compat.stream import OpenAIStreamMapper, check_completion
from llm_gateway.providers.options import ProviderOptions, read_options

if TYPE_CHECKING:
    from llm_gateway.schemas.native import NativeRequest

DEFAULT_API_BASE = "https://api.openai.com/v1"


class OpenAIOptions(ProviderOptions):
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers for every upstream request.")
    embedding_encoding: Literal["float", "base64"] | None = Field(
        default=None,
        description="Embeddings: ask the upstream for this encoding whatever the client asked (for servers "
        "without base64); the gateway encodes the answer as the client asked. Default: the client's.",
    )


class OpenAICompatProvider(HTTPChatProvider):
    name: ClassVar[str] = "openai"
    serves_embeddings: ClassVar[bool] = True
    native_endpoints: ClassVar[frozenset[str]] = frozenset({"responses"})

    @classmethod
    def validate_deployment(cls, deployment: DeploymentConfig) -> None:
        read_options(OpenAIOptions, deployment, "openai")
        base = deployment.api_base or DEFAULT_API_BASE
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"api_base {base!r} must start with http:// or https://")

    @staticmethod
    def _base(call: ProviderCall) -> str:
        return (call.deployment.api_base or DEFAULT_API_BASE).rstrip("/")

    @staticmethod
    def _headers(call: ProviderCall) -> dict[str, str]:
        headers: dict[str, str] = {}
        if call.api_key:
            headers["authorization"] = f"Bearer {call.api_key}"
        extra_headers = call.deployment.config.extra_fields.get("headers")
        if isinstance(extra_headers, dict):
            headers.update({str(k): str(v) for k, v in extra_headers.items()})
        return headers

    def build_request(self, call: ProviderCall) -> UpstreamHTTPRequest:
        base, headers = self._base(call), self._headers(call)
        body = call.body
        if call.stream and call.want_usage and call.deployment.config.stream_usage:
            options = dict(body.get("stream_options") or {})
            if not options.get("include_usage"):
                options["include_usage"] = True
                body = {**body, "stream_options": options}
        return UpstreamHTTPRequest(url=f"{base}/chat/completions", json=body, headers=headers)

    def parse_response(self, call: ProviderCall, data: Any) -> dict[str, Any]:
        return check_completion(call, data, self.deps.clock())

    def new_stream_mapper(self, call: ProviderCall) -> StreamMapper:
        return OpenAIStreamMapper(call, self.deps.clock())

    def map_error(self, call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_openai_error(call, status, headers, body)

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        from llm_gateway.providers.openai_compat.embeddings import parse_embeddings  # not at cold start

        body = call.body
        encoding = call.deployment.config.extra_fields.get("embedding_encoding")
        if encoding is not None:
            body = {**body, "encoding_format": encoding}
        upstream = UpstreamHTTPRequest(url=f"{self._base(call)}/embeddings", json=body, headers=self._headers(call))
        return parse_embeddings(call, await self.within_attempt(call, self.send_json(call, upstream)))

    async def complete_native(self, call: ProviderCall, native: NativeRequest) -> dict[str, Any]:
        from llm_gateway.providers.openai_compat.responses import completion_from_response, native_request

        upstream = native_request(call, native, self._base(call), self._headers(call))
        data = await self.within_attempt(call, self.send_json(call, upstream))
        return completion_from_response(call, data, self.deps.clock())

    def stream_native(self, call: ProviderCall, native: NativeRequest) -> AsyncIterator[dict[str, Any]]:
        from llm_gateway.providers.openai_compat.responses import ResponsesStreamMapper, native_request

        upstream = native_request(call, native, self._base(call), self._headers(call))
        return self.stream_request(call, upstream, ResponsesStreamMapper(call, self.deps.clock()))
