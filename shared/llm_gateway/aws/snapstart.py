"""What a SnapStart snapshot must not carry into the execution environments restored from it.

With SnapStart, Lambda initialises a published version once, snapshots the whole environment (memory, open
sockets, seeded generators) and restores copies of it on cold starts, possibly days later and many at once.
Anything unique or connected would then be shared by every copy or be dead: random generators would hand
out the same "random" ids and choices in every environment, pooled connections point at sockets the
restored machine never had, boto3 clients carry credentials and connections from snapshot time, and the
secrets cache holds values that may have been rotated since.

:class:`SnapshotGuard` is told exactly what to reset, and knows nothing else of the gateway:

- before the checkpoint: pooled connections closed, cached secret values forgotten (no secret sits in the
  snapshot);
- after a restore: generators re-seeded from the kernel, id generators reset, pooled connections closed
  again, every boto3 client renewed (new session: credentials fetched anew), cached secrets forgotten.

The Lambda Web Adapter (1.1+) bridges Lambda's runtime hooks to the app as two HTTP calls
(``AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH`` / ``..._AFTER_RESTORE_PATH``); :mod:`llm_gateway.api.snapstart_hooks`
serves them.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class ConnectionPool(Protocol):
    async def close_idle_connections(self) -> None:
        """Close the connections kept for reuse; the pool serves later requests with new ones."""


class Cache(Protocol):
    def clear(self) -> None:
        """Forget every cached value."""


@dataclass
class SnapshotGuard:
    generators: Sequence[random.Random] = ()
    """Re-seeded from the kernel after a restore."""
    reseeds: Sequence[Callable[[], None]] = ()
    """Reset id generators and the like (each seeds itself again on next use)."""
    connection_pools: Sequence[ConnectionPool] = ()
    """Emptied before the checkpoint and again after a restore."""
    client_renewals: Sequence[Callable[[], None]] = ()
    """Make clients of remote services be built anew (fresh credentials and connections) after a restore."""
    caches: Sequence[Cache] = ()
    """Secret values and the like: forgotten before the checkpoint and after a restore."""
    entropy: Callable[[int], bytes] = os.urandom
    checkpoints: int = field(default=0, init=False)
    restores: int = field(default=0, init=False)

    async def before_checkpoint(self) -> None:
        await self._close_connections()
        self._clear_caches()
        self.checkpoints += 1

    async def after_restore(self) -> None:
        for generator in self.generators:
            generator.seed(self.entropy(32))
        for reseed in self.reseeds:
            reseed()
        await self._close_connections()
        for renew in self.client_renewals:
            renew()
        self._clear_caches()
        self.restores += 1

    async def _close_connections(self) -> None:
        for pool in self.connection_pools:
            await pool.close_idle_connections()

    def _clear_caches(self) -> None:
        for cache in self.caches:
            cache.clear()
