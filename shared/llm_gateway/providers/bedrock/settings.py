"""The Bedrock-specific fields of a ``models:`` entry, validated at start-up."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_gateway.config import DeploymentConfig
from llm_gateway.providers.bedrock.embeddings import Family, family_of
from llm_gateway.providers.options import ProviderOptions, read_options


class GuardrailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str = Field(min_length=1, description="Guardrail id or ARN.")
    version: str = Field(min_length=1, description='A version number or "DRAFT".')
    trace: Literal["enabled", "disabled", "enabled_full"] | None = None
    stream_processing_mode: Literal["sync", "async"] | None = None


class BedrockSettings(ProviderOptions):
    """``provider: bedrock`` entries: ``model`` is a model id, inference-profile id or ARN. The entry's
    ``api_base`` is the bedrock-runtime endpoint, as ``endpoint_url`` is (one of them, or both equal)."""

    region: str | None = Field(default=None, description="AWS region; default: the Lambda's region.")
    endpoint_url: str | None = Field(default=None, description="Custom bedrock-runtime endpoint (VPC, tests).")
    guardrail: GuardrailSettings | None = None
    structured_output: Literal["native", "tool"] = Field(
        default="native",
        description="response_format json_schema via Converse outputConfig (native) or a forced tool.",
    )
    additional_model_request_fields: dict[str, Any] = Field(
        default_factory=dict, description="Sent as additionalModelRequestFields on every call."
    )
    # for embeddings, see .embeddings:
    embedding_family: Family | None = Field(
        default=None, description="titan-v2 | titan-v1 | cohere-v4 | cohere-v3; default: from the model id."
    )
    normalize: bool | None = Field(default=None, description="Titan: scale vectors to unit length (its default).")
    input_type: Literal["search_document", "search_query", "classification", "clustering"] = Field(
        default="search_document", description="Cohere: what the texts are for."
    )
    truncate: Literal["NONE", "START", "END", "LEFT", "RIGHT"] | None = Field(
        default=None, description="Cohere: how an over-long text is cut (v3: START/END, v4: LEFT/RIGHT)."
    )
    embedding_concurrency: int = Field(default=8, ge=1, le=64, description="InvokeModel calls at once per request.")

    @classmethod
    def of(cls, deployment: DeploymentConfig) -> BedrockSettings:
        """The entry's settings; ``ValueError`` naming what is wrong."""
        settings = read_options(cls, deployment, "bedrock")
        base = deployment.api_base
        if base is not None:
            if not base.startswith(("https://", "http://")):
                raise ValueError(f"api_base {base!r} must start with https:// or http://")
            if settings.endpoint_url not in (None, base):
                raise ValueError("api_base and endpoint_url name different endpoints; keep one")
            settings = settings.model_copy(update={"endpoint_url": base})
        if "embeddings" in deployment.endpoints and settings.family(deployment.model) is None:
            raise ValueError(
                f"the Bedrock model {deployment.model!r} is not one the gateway knows how to embed with; set "
                "embedding_family (titan-v2, titan-v1, cohere-v4 or cohere-v3)"
            )
        return settings

    def family(self, model: str) -> Family | None:
        """The model's embedding request format."""
        return self.embedding_family or family_of(model)
