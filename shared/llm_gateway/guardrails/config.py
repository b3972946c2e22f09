"""The ``guardrails:`` config section.

Example::

    guardrails:
      defaults: [pii_redaction]            # every request, every key
      definitions:
        deny_list: {type: deny_list, terms: ["project falcon"], patterns: ["(?i)internal[- ]only"]}
        prompt_size: {type: prompt_size, max_chars: 200000}
        corp-policy: {type: bedrock, guardrail_id: abc123, guardrail_version: "3", region: us-east-1}
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PiiEntity = Literal["email", "phone", "card", "national_id", "aws_access_key", "aws_secret_key"]
PII_ENTITIES: tuple[PiiEntity, ...] = ("email", "phone", "card", "national_id", "aws_access_key", "aws_secret_key")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiSpec(_Spec):
    type: Literal["pii"]
    entities: list[PiiEntity] = Field(default_factory=lambda: list(PII_ENTITIES))


class DenyListSpec(_Spec):
    type: Literal["deny_list"]
    terms: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    patterns: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    check_output: bool = Field(default=False, description="Also refuse answers (non-stream) that match.")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _not_empty(self) -> DenyListSpec:
        if not self.terms and not self.patterns:
            raise ValueError("a deny_list needs 'terms' or 'patterns'")
        return self


class PromptSizeSpec(_Spec):
    type: Literal["prompt_size"]
    max_chars: int | None = Field(default=100_000, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="Estimated prompt tokens (4 chars each).")
    max_messages: int | None = Field(default=None, ge=1)


class BedrockSpec(_Spec):
    type: Literal["bedrock"]
    guardrail_id: str = Field(min_length=1)
    guardrail_version: str = Field(default="DRAFT", pattern=r"^([1-9][0-9]{0,7}|DRAFT)$")
    region: str | None = None
    input: bool = True
    output: bool = Field(default=True, description="Check non-stream answers too.")


GuardrailSpec = Annotated[PiiSpec | DenyListSpec | PromptSizeSpec | BedrockSpec, Field(discriminator="type")]

BUILT_IN: dict[str, GuardrailSpec] = {
    "pii_redaction": PiiSpec(type="pii"),
    "prompt_size": PromptSizeSpec(type="prompt_size"),
}


class GuardrailsConfig(_Spec):
    defaults: list[str] = Field(default_factory=list, description="Applied to every request.")
    definitions: dict[str, GuardrailSpec] = Field(default_factory=dict)

    def specs(self) -> dict[str, GuardrailSpec]:
        return {**BUILT_IN, **self.definitions}

    @model_validator(mode="after")
    def _defaults_exist(self) -> GuardrailsConfig:
        known = self.specs()
        for name in self.defaults:
            if name not in known:
                raise ValueError(f"guardrails.defaults names {name!r}, which is not defined (known: {sorted(known)})")
        return self
