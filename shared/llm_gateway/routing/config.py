"""The ``router:`` config section: retries, backoff, cooldowns, fallbacks, context-window fallbacks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["weighted", "latency"] = Field(
        default="weighted",
        description="weighted: random by weight among healthy deployments; latency: weight / recent latency.",
    )
    num_retries: int = Field(default=2, ge=0, le=10, description="Retries per model group (request may override).")
    backoff_base: float = Field(default=0.5, ge=0, description="First backoff ceiling (s); doubles per retry.")
    backoff_cap: float = Field(default=8.0, ge=0, description="Largest backoff ceiling (s), before jitter.")
    max_retry_after: float = Field(
        default=30.0, ge=0, description="Longest upstream Retry-After the gateway will wait out in a request (s)."
    )
    allowed_fails: int = Field(default=3, ge=1, description="Failures within failure_window that cool a deployment.")
    failure_window: float = Field(default=60.0, gt=0, description="Window (s) in which failures are counted.")
    cooldown_seconds: float = Field(default=30.0, gt=0, description="How long a tripped deployment is skipped (s).")
    max_cooldown: float = Field(default=300.0, gt=0, description="Cap on a Retry-After driven cooldown (s).")
    state_cache_ttl: float = Field(
        default=5.0, ge=0, description="How long an instance trusts its copy of the shared cooldown state (s)."
    )
    state_retry_after: float = Field(
        default=30.0, ge=0, description="After the state table fails, use memory only for this long (s)."
    )
    state_timeout: float = Field(default=1.0, gt=0, description="Longest wait for one state table call (s).")
    when_all_cooling: Literal["auto", "fail_fast", "try_soonest"] = Field(
        default="auto",
        description="Every deployment of a group cooling down: fail_fast = next fallback group, else 503 + "
        "Retry-After; try_soonest = one attempt on the deployment back soonest; auto = fail_fast when a "
        "fallback group is left, else try_soonest.",
    )
    deadline_margin: float = Field(
        default=1.0, ge=0, description="Under Lambda: stop this long before the invocation's deadline (s)."
    )
    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict, description="Model group -> groups to try in order when its retries are exhausted."
    )
    context_window_fallbacks: dict[str, str] = Field(
        default_factory=dict, description="Model group -> larger-context group for context-length errors."
    )
    context_windows: dict[str, int] = Field(
        default_factory=dict, description="Model group -> context window in tokens (a deployment may set its own)."
    )
    context_window_margin: float = Field(
        default=1.1, ge=1.0, description="Skip straight to the fallback when the estimate exceeds window x margin."
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> RouterConfig:
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must be at least backoff_base")
        return self

    def groups_named(self) -> set[str]:
        """Every model group this section refers to (checked against ``models:`` at start-up)."""
        names = set(self.fallbacks) | set(self.context_window_fallbacks) | set(self.context_windows)
        for chain in self.fallbacks.values():
            names.update(chain)
        names.update(self.context_window_fallbacks.values())
        return names
