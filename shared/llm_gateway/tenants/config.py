"""The ``tenants:`` config section: key cache, rate limits, prices, usage records, telemetry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Section):
    """Requests and tokens per minute; ``None`` means unlimited."""

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


class Price(_Section):
    """USD per one million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(
        default=None, ge=0, description="Rate for prompt tokens served from the provider's prompt cache."
    )


class UsageSettings(_Section):
    record_ttl_days: int = Field(default=400, ge=1, description="How long usage records are kept.")
    write_concurrency: int = Field(default=8, ge=1, le=64, description="Background writes in flight at most.")
    max_pending_writes: int = Field(
        default=1_000,
        ge=1,
        description="Writes queued beyond this are dropped (and counted in the log), so a table slower than "
        "the request rate cannot grow the process's memory; Lambda, one request at a time, never queues.",
    )


class Telemetry(_Section):
    log_content: bool = Field(
        default=False, description="Put prompt and answer text in the request log. Off: never logged."
    )
    metrics: bool | None = Field(
        default=None,
        description="EMF metrics on stdout (Powertools' Metrics). Default: on inside Lambda or with "
        "LLM_GATEWAY_OBSERVABILITY=powertools, off elsewhere.",
    )
    namespace: str = Field(default="LlmGateway", min_length=1)


class TenantsConfig(_Section):
    key_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a key lookup is reused in memory: the longest a revocation takes to apply.",
    )
    limits_window: str = Field(default="sliding", pattern="^(sliding|fixed)$")
    model_limits: dict[str, Limits] = Field(
        default_factory=dict, description="Per model group or deployment id: rpm/tpm shared by all callers."
    )
    prices: dict[str, Price] = Field(
        default_factory=dict, description="Per deployment id or model group (the deployment wins)."
    )
    store_timeout: float = Field(
        default=1.0, gt=0, le=30, description="Longest wait for a DynamoDB call before the answer (s)."
    )
    limits_when_store_down: str = Field(
        default="allow",
        pattern="^(allow|refuse)$",
        description="When rate-limit or budget state cannot be read: let requests through (allow) or 503.",
    )
    usage: UsageSettings = Field(default_factory=UsageSettings)
    telemetry: Telemetry = Field(default_factory=Telemetry)
    default_max_tokens_estimate: int = Field(
        default=256, ge=0, description="Completion tokens assumed before a call when max_tokens is not sent."
    )

    @model_validator(mode="after")
    def _names(self) -> TenantsConfig:
        for name in [*self.model_limits, *self.prices]:
            if not name.strip():
                raise ValueError("model names in tenants.model_limits / tenants.prices must not be empty")
        return self
