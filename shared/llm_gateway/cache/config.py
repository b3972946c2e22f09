"""The ``cache:`` config section (see the README's "Response cache")."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAMESPACE_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
DYNAMODB_ITEM_LIMIT = 400 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SingleFlightConfig(_Section):
    """Identical concurrent non-stream misses make one upstream call; the others wait for its answer."""

    enabled: bool = True
    distributed: bool = Field(
        default=True, description="Also coordinate across instances with a short lease item in the cache table."
    )
    wait: float = Field(default=30.0, gt=0, description="Longest a waiting request waits before calling upstream (s).")
    lease: float = Field(default=120.0, gt=0, description="Longest a leader's lease is honoured (s).")
    poll_interval: float = Field(default=0.1, gt=0, description="First pause between polls for a remote answer (s).")


class CacheConfig(_Section):
    mode: Literal["off", "on", "opt-in"] = Field(
        default="off",
        description="off: no caching; on: every request unless it says caching: false; opt-in: only requests "
        "that send caching: true, a cache object or a Cache-Control header. Unset: opt-in where a cache "
        "backend exists (LLM_GATEWAY_CACHE_TABLE, or a backend named here), else off.",
    )
    ttl: int = Field(default=3600, ge=1, description="Default lifetime of a stored answer (s).")
    max_ttl: int = Field(default=30 * 24 * 3600, ge=1, description="Upper bound for a request's own ttl (s).")
    backend: Literal["auto", "dynamodb", "memory"] = Field(
        default="auto", description="auto: DynamoDB when LLM_GATEWAY_CACHE_TABLE is set, else in-process memory."
    )
    shared_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces shared by every caller; any other namespace is private to the caller's key.",
    )
    max_item_bytes: int = Field(
        default=350_000, ge=1024, le=DYNAMODB_ITEM_LIMIT - 8 * 1024, description="Compressed bytes per item."
    )
    max_parts: int = Field(default=4, ge=1, le=25, description="Items one answer may span; larger is not cached.")
    compression_level: int = Field(default=6, ge=1, le=9)
    timeout: float = Field(default=0.5, gt=0, description="Bound on each cache read or write (s).")
    connect_timeout: float = Field(default=0.5, gt=0)
    read_timeout: float = Field(default=1.0, gt=0)
    failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive cache failures after which the cache is skipped for a while."
    )
    failure_cooldown: float = Field(default=5.0, ge=0, description="How long the cache is skipped then (s).")
    single_flight: SingleFlightConfig = Field(default_factory=SingleFlightConfig)

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` / `on` as a boolean.
        if value is False:
            return "off"
        if value is True:
            return "on"
        return value

    @field_validator("shared_namespaces")
    @classmethod
    def _valid_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.match(NAMESPACE_PATTERN, name) or len(name) > 128:
                raise ValueError(f"shared namespace {name!r} must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        return names

    @model_validator(mode="after")
    def _ttl_bounds(self) -> CacheConfig:
        if self.ttl > self.max_ttl:
            raise ValueError(f"ttl ({self.ttl}) is larger than max_ttl ({self.max_ttl})")
        return self

    @property
    def enabled(self) -> bool:
        return self.mode != "off"
