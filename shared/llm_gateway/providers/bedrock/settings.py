"""The Bedrock-specific fields of a ``models:`` entry, validated at start-up."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class GuardrailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier: str = Field(min_length=1, description="Guardrail id or ARN.")
    version: str = Field(min_length=1, description='A version number or "DRAFT".')
    trace: Literal["enabled", "disabled", "enabled_full"] | None = None
    stream_processing_mode: Literal["sync", "async"] | None = None


class BedrockSettings(BaseModel):
    """``provider: bedrock`` entries: ``model`` is a model id, inference-profile id or ARN."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    region: str | None = Field(default=None, description="AWS region; default: the Lambda's region.")
    endpoint_url: str | None = Field(default=None, description="Custom bedrock-runtime endpoint (VPC, tests).")
    drop_params: bool = False
    guardrail: GuardrailSettings | None = None
    structured_output: Literal["native", "tool"] = Field(
        default="native",
        description="response_format json_schema via Converse outputConfig (native) or a forced tool.",
    )
    additional_model_request_fields: dict[str, Any] = Field(
        default_factory=dict, description="Sent as additionalModelRequestFields on every call."
    )

    @classmethod
    def of(cls, extra: dict[str, Any]) -> BedrockSettings:
        return cls.model_validate(extra)
