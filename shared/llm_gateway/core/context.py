"""Per-request context: who is calling, when the request must end, what the response will say."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``key_id`` is an identity, never the key itself."""

    key_id: str
    owner: str | None = None
    allowed_models: frozenset[str] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    is_master: bool = False
    rpm: int | None = None
    """Requests per minute for this key (``None``: unlimited)."""
    tpm: int | None = None
    """Tokens per minute for this key (``None``: unlimited)."""
    budget_usd: float | None = None
    budget_period: str = "monthly"
    """daily | weekly | monthly | total (UTC calendar periods; weeks start on Monday)."""
    guardrails: tuple[str, ...] = ()
    """Guardrails applied to every request made with this key."""

    def may_use(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


@dataclass
class RequestContext:
    request_id: str
    principal: Principal
    deadline: float
    """``monotonic()`` time by which the whole request must be done."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The client's request headers (lower-case names)."""
    monotonic: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    response_headers: dict[str, str] = field(default_factory=dict)
    """Headers the gateway adds to the response (routing, cache, guardrails)."""
    usage: dict[str, Any] | None = None
    """Token usage of the answer, once known (stream or not)."""
    attempts: int = 0
    deployment_id: str | None = None
    model_group: str | None = None
    first_token_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    """Facts for the request log (cache status, retries, fallbacks...)."""

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.monotonic()

    def remaining(self) -> float:
        return self.deadline - self.monotonic()
