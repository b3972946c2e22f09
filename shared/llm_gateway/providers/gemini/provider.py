"""The Gemini adapter: endpoints, headers and deployment options; the translation lives next door.

Config (a ``models:`` entry)::

    - name: gemini-flash
      provider: gemini
      model: gemini-2.5-flash
      api_key: env:GEMINI_API_KEY            # sent as the x-goog-api-key header, never in the URL
      api_base: https://generativelanguage.googleapis.com/v1beta   # default
      drop_params: false                     # true: drop unsupported OpenAI fields instead of a 400
      safety_settings: [{category: HARM_CATEGORY_HARASSMENT, threshold: BLOCK_ONLY_HIGH}]
      generation_config: {topK: 40}          # defaults merged under what the request maps to
      include_thoughts: true                 # return thought summaries as reasoning_content
      thought_signature_fallback: true       # Gemini 3: sign unsigned replayed function calls
      schema_dialect: json_schema            # or openapi: the older parameters / responseSchema fields
      task_type: RETRIEVAL_DOCUMENT          # embeddings: Gemini's taskType (see .embeddings)
      embedding_concurrency: 4               # embeddings: batchEmbedContents calls at once
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field

from llm_gateway.config import DeploymentConfig
from llm_gateway.errors import GatewayError
from llm_gateway.providers.base import (
    HTTPChatProvider,
    ProviderCall,
    ProviderDeps,
    StreamMapper,
    UpstreamHTTPRequest,
)
from llm_gateway.providers.gemini.errors import map_gemini_error
from llm_gateway.providers.gemini.request import build_body
from llm_gateway.providers.gemini.response import parse_completion
from llm_gateway.providers.gemini.stream import GeminiStreamMapper
from llm_gateway.providers.options import ProviderOptions, read_options

DEFAULT_API_BASE = "https://generativelanguage.googleapis.com/v1beta"


class GeminiOptions(ProviderOptions):
    safety_settings: list[dict[str, Any]] | None = Field(default=None, description="[{category, threshold}]")
    generation_config: dict[str, Any] | None = Field(default=None, description="Defaults under the mapped ones.")
    include_thoughts: bool | None = None
    thought_signature_fallback: bool = True
    schema_dialect: Literal["json_schema", "openapi"] = "json_schema"
    headers: dict[str, str] = Field(default_factory=dict)
    task_type: (
        Literal[
            "RETRIEVAL_QUERY",
            "RETRIEVAL_DOCUMENT",
            "SEMANTIC_SIMILARITY",
            "CLASSIFICATION",
            "CLUSTERING",
            "QUESTION_ANSWERING",
            "FACT_VERIFICATION",
            "CODE_RETRIEVAL_QUERY",
        ]
        | None
    ) = Field(default=None, description="Embeddings: Gemini's taskType.")
    embedding_concurrency: int = Field(default=4, ge=1, le=32, description="Embeddings: batch calls at once.")


class GeminiProvider(HTTPChatProvider):
    name: ClassVar[str] = "gemini"
    serves_embeddings: ClassVar[bool] = True

    @classmethod
    def validate_deployment(cls, deployment: DeploymentConfig) -> None:
        read_options(GeminiOptions, deployment, "gemini")
        base = deployment.api_base or DEFAULT_API_BASE
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"api_base {base!r} must start with http:// or https://")

    def __init__(self, deps: ProviderDeps) -> None:
        super().__init__(deps)
        self._read: dict[str, GeminiOptions] = {}

    def _options(self, call: ProviderCall) -> GeminiOptions:
        """The deployment's options, read once (they were checked at start-up)."""
        found = self._read.get(call.deployment.id)
        if found is None:
            found = self._read[call.deployment.id] = read_options(GeminiOptions, call.deployment.config, self.name)
        return found

    @staticmethod
    def _headers(call: ProviderCall) -> dict[str, str]:
        headers: dict[str, str] = {}
        if call.api_key:
            headers["x-goog-api-key"] = call.api_key
        extra_headers = call.deployment.config.extra_fields.get("headers")
        if isinstance(extra_headers, dict):
            headers.update({str(k): str(v) for k, v in extra_headers.items()})
        return headers

    def build_request(self, call: ProviderCall) -> UpstreamHTTPRequest:
        base = (call.deployment.api_base or DEFAULT_API_BASE).rstrip("/")
        model = call.deployment.model
        resource = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        action = "streamGenerateContent?alt=sse" if call.stream else "generateContent"
        return UpstreamHTTPRequest(
            url=f"{base}/{quote(resource, safe='/-._')}:{action}", json=build_body(call), headers=self._headers(call)
        )

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        # on first use, not at cold start
        from llm_gateway.embeddings.response import embedding_list
        from llm_gateway.providers.embeddings import (
            batches,
            check_dimensions,
            check_extra_fields,
            gather_bounded,
            texts_of,
        )
        from llm_gateway.providers.gemini.embeddings import MAX_BATCH, NO_DIMENSIONS, embed_request, read_embeddings

        check_extra_fields(call, self.name)
        texts = texts_of(call, self.name)
        options = self._options(call)
        model = call.deployment.model
        dimensions = check_dimensions(call, model, None if model in NO_DIMENSIONS else ())
        base, headers = (call.deployment.api_base or DEFAULT_API_BASE).rstrip("/"), self._headers(call)

        def job(part: Sequence[str]) -> Callable[[], Awaitable[list[list[float]]]]:
            async def run() -> list[list[float]]:
                upstream = embed_request(call, base, headers, part, dimensions=dimensions, task_type=options.task_type)
                return read_embeddings(call, await self.send_json(call, upstream), len(part))

            return run

        parts = batches(texts, MAX_BATCH)
        results = await self.within_attempt(
            call, gather_bounded([job(part) for part in parts], options.embedding_concurrency)
        )
        vectors = [vector for result in results for vector in result]
        return embedding_list(vectors, model=model, prompt_tokens=None)

    def parse_response(self, call: ProviderCall, data: Any) -> dict[str, Any]:
        return parse_completion(call, data, int(self.deps.clock()))

    def new_stream_mapper(self, call: ProviderCall) -> StreamMapper:
        return GeminiStreamMapper(call, int(self.deps.clock()))

    def map_error(self, call: ProviderCall, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        return map_gemini_error(call, status, headers, body)
