"""Which failures are worth another attempt, and how long to wait before it.

Retried: upstream HTTP 408, 429, 500, 502, 503, 504, 529, connection errors and timeouts (the errors
module marks them ``retryable``). Never retried: any other 4xx, and the gateway's own errors.

Backoff is exponential with full jitter: before retry ``n`` (0-based) the wait is uniform in
``[0, min(cap, base * 2**n)]``. When the upstream said how long to wait (``Retry-After`` in seconds or
as an HTTP date, or ``retry-after-ms``), and the next attempt goes to that same deployment, the wait is
that long instead; a wait longer than ``max_retry_after`` or than the time left is not waited out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llm_gateway.errors import GatewayError, UpstreamError

CONTEXT_LENGTH_CODE = "context_length_exceeded"


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, UpstreamError) and bool(error.retryable)


def is_context_length_error(error: BaseException) -> bool:
    return isinstance(error, GatewayError) and error.code == CONTEXT_LENGTH_CODE


def counts_against_deployment(error: BaseException) -> bool:
    """Failures that say something about the deployment's health (and feed its cooldown)."""
    if not isinstance(error, UpstreamError):
        return False
    if error.retryable:
        return True
    # the gateway's credentials for this deployment were refused: the deployment is broken, not the request
    return error.upstream_status in (401, 403)


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float
    max_retry_after: float

    def jitter(self, retry_index: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * (2 ** min(retry_index, 30)))
        return rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0

    def delay(
        self, retry_index: int, rng: random.Random, *, retry_after: float | None, same_deployment: bool
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when the upstream asked for longer than
        the gateway is willing to wait (the caller gives up on this deployment)."""
        if retry_after is not None and same_deployment:
            if retry_after > self.max_retry_after:
                return None
            return retry_after
        return self.jitter(retry_index, rng)
