"""In-process counters of what the cache did (hits, misses, stores, skips, faults, single flight).

Every fault is also logged (``llm_gateway.cache``) and noted in the request log (``cache_error``), so
CloudWatch metric filters can count them across instances.
"""

from __future__ import annotations

import threading
from collections import Counter


class CacheMetrics:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
