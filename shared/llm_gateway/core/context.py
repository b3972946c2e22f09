"""Per-request context: the request's facts, and the one place where layers say what they did.

:class:`RequestContext` carries what is known about a request when it arrives (its id, the caller, the
deadline, the client's headers) and what routing learns on the way (attempts, the deployment and model
group that answered, token usage, the first token's time).

Everything a layer adds goes through two methods, and every name they accept is listed here:

- :meth:`RequestContext.set_header`: a response header (:data:`RESPONSE_HEADERS`). A refusal's headers ride
  on its error instead (``GatewayError.headers``), since an error is a response of its own.
- :meth:`RequestContext.note`: a field of the request's log line, which metrics are derived from too
  (:data:`NOTES`; see :func:`llm_gateway.observability.request_fields`).

Readers use ``ctx.response_headers`` and ``ctx.notes``. An undocumented name fails an assertion, so a
new header or note cannot go out without its line below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

RESPONSE_HEADERS: Mapping[str, str] = {
    "x-llm-gateway-model-group": "chat / embeddings service: the model group that answered",
    "x-llm-gateway-deployment": "chat / embeddings service: the deployment that answered",
    "x-llm-gateway-attempts": "chat / embeddings service: upstream attempts made",
    "x-llm-gateway-fallback": "router: why a fallback group answered",
    "x-llm-gateway-requested-model": "router: the model the client asked for, when a fallback answered",
    "x-llm-gateway-cache": "cache: hit, miss, bypass, refresh...",
    "age": "cache: seconds since a cached answer was stored",
    "x-llm-gateway-guardrails": "guardrails: what each guardrail did",
    "idempotent-replayed": "idempotency: the answer is a replay of an earlier one",
    "x-ratelimit-limit-requests": "limits: the key's (or model's) requests per minute",
    "x-ratelimit-remaining-requests": "limits: requests left in the window",
    "x-ratelimit-reset-requests": "limits: until the request count is back under the limit",
    "x-ratelimit-limit-tokens": "limits: tokens per minute",
    "x-ratelimit-remaining-tokens": "limits: tokens left in the window",
    "x-ratelimit-reset-tokens": "limits: until the token count is back under the limit",
    "request-id": "messages route: the request id, where Anthropic's SDKs read it",
    "x-llm-gateway-token-count": "messages route: count_tokens answered with the gateway's estimate",
}
"""Response headers the pipeline adds, and who adds them."""

NOTES: Mapping[str, str] = {
    "route": "router: every attempt, as deployment=outcome",
    "backoff_s": "router: seconds waited between attempts",
    "fallback": "router: reason:requested->group when a fallback group answered",
    "context_window_precheck": "router: group->group when the prompt went straight to a larger window",
    "retries": "limits and spend: attempts beyond the first",
    "fallbacks": "limits and spend: 1 when a fallback group answered",
    "cache": "cache: its status (off when the cache did not run)",
    "cache_age": "cache: age of the answer served",
    "cache_stored_bytes": "cache: compressed size stored",
    "cache_not_stored": "cache: why an answer was not stored",
    "cache_error": "cache: operation:fault when the table failed",
    "idempotency": "idempotency: claimed, stored, replayed, too_large",
    "guardrails": "guardrails: as in x-llm-gateway-guardrails",
    "pii_redacted": "guardrails: redactions per entity",
    "budget_spent_usd": "limits and spend: the key's spend when its budget was checked",
    "budget": "limits and spend: store_unavailable when the budget could not be read",
    "limits": "limits and spend: store_unavailable when the limits could not be checked",
    "rate_limited": "limits and spend: key or model, the scope that refused",
    "usage_backlog": "limits and spend: usage writes queued when the queue was full",
    "usage_dropped": "limits and spend: the usage record could not be queued",
    "usage_estimated": "limits and spend / streaming / embeddings: tokens counted by the gateway, not the upstream",
    "cost_usd": "limits and spend: the request's cost",
    "price": "limits and spend: missing when no price is configured",
    "total_tokens": "limits and spend: prompt + completion tokens",
    "cached_tokens": "limits and spend: prompt tokens served from the provider's cache",
    "prompt": "limits and spend: the prompt, when tenants.telemetry.log_content is on",
    "answer": "limits and spend: the answer, when tenants.telemetry.log_content is on",
    "stream_status": "streaming: complete, error, client_disconnected",
    "error_code": "the error's code, when the request failed",
}
"""Fields of the request log line the pipeline adds, and who adds them."""


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
    usage: dict[str, Any] | None = None
    """Token usage of the answer, once known (stream or not)."""
    attempts: int = 0
    deployment_id: str | None = None
    model_group: str | None = None
    first_token_at: float | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    """Headers added to the response (write them with :meth:`set_header`)."""
    notes: dict[str, Any] = field(default_factory=dict)
    """Fields for the request log line (write them with :meth:`note`)."""

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.monotonic()

    def remaining(self) -> float:
        return self.deadline - self.monotonic()

    def set_header(self, name: str, value: str) -> None:
        assert name in RESPONSE_HEADERS, f"response header {name!r} is not listed in RESPONSE_HEADERS"
        self.response_headers[name] = value

    def note(self, name: str, value: Any) -> None:
        assert name in NOTES, f"note {name!r} is not listed in NOTES"
        self.notes[name] = value

    def note_default(self, name: str, value: Any) -> Any:
        """The note's value, set to ``value`` first if it has none."""
        assert name in NOTES, f"note {name!r} is not listed in NOTES"
        return self.notes.setdefault(name, value)
