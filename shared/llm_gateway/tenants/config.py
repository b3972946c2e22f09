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
    write_concurrency: int = Field(
        default=8, ge=1, le=64, description="DynamoDB writes of one flush in flight at most."
    )
    max_pending_writes: int = Field(
        default=10_000,
        ge=1,
        description="Usage records held in memory at most: past this, new requests wait (up to 10 s) for a "
        "flush, so a table slower than the request rate slows admission instead of growing memory.",
    )
    flush_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between the first usage record or sum queued and their flush: records go out "
        "25 to a BatchWriteItem, each running sum as one UpdateItem ADD per flush. Other instances see a "
        "request's spend at most this much later (this one sees it at once).",
    )
    flush_timeout: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Under Lambda on demand (frozen between requests) each request's writes are flushed before "
        "its answer ends: the longest that flush may add to an invocation (s); what is left goes at the next one.",
    )


class BudgetSettings(_Section):
    """How budget reservations price a request before its call."""

    hold_seconds: float = Field(
        default=900.0,
        ge=60,
        description="Epoch of a budget hold: a hold its process never settled (the process died) is released "
        "between one and two epochs later. Kept above server.request_timeout.",
    )
    default_completion_tokens: int = Field(
        default=4096,
        ge=1,
        description="Completion tokens reserved for a request that sets neither max_tokens nor max_completion_tokens.",
    )
    completion_tokens: dict[str, int] = Field(
        default_factory=dict,
        description="The same, per model group or deployment id (the largest of those a request may reach wins).",
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
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
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
