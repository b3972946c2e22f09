"""The runtime: what every part of the process shares, built once by the composition root
(:mod:`llm_gateway.gateway`) and never changed afterwards.

Components get the pieces they use (a clock, the AWS client factory, a table) through their
constructors, not this object: it is how the root keeps them in one place, and what a test replaces.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from llm_gateway.aws.clients import AwsClientFactory
from llm_gateway.tables.base import Tables

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    env: Mapping[str, str]
    """The process environment (or a test's)."""
    clock: Callable[[], float]
    """Wall-clock seconds (timestamps, expiry, periods)."""
    monotonic: Callable[[], float]
    """Monotonic seconds (deadlines, latencies, caches' ages)."""
    rng: random.Random
    """Load balancing and retry jitter."""
    sleep: Sleep
    """How the router waits between attempts."""
    aws: AwsClientFactory
    """The process's one boto3 client factory (one session)."""
    tables: Tables
    """The deployment's tables; the in-memory stand-ins are made by the stores that need them."""
