"""The ``idempotency:`` config section (the ``Idempotency-Key`` header)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IdempotencyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Honour the Idempotency-Key header.")
    ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600, description="How long a key is kept.")
    lease_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How long an unfinished first request holds its key (default: server.request_timeout + 30).",
    )
    conflict_retry_after: float = Field(
        default=2.0, ge=0, description="Retry-After (s) sent with the 409 for a duplicate still in flight."
    )
    max_stored_bytes: int = Field(
        default=350_000, ge=1024, le=390_000, description="Largest compressed answer stored (DynamoDB item limit)."
    )
