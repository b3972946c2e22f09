"""Choose one deployment among the healthy ones of a model group.

- ``weighted`` (default): random, in proportion to each deployment's ``weight``. Stateless, so many
  Lambda instances that know nothing of each other still split traffic in the configured ratio.
- ``latency``: random, in proportion to ``weight / recent latency`` (an exponentially weighted average
  of this instance's successful attempts: time to first chunk for streams, whole answer otherwise). A
  deployment this instance has not measured yet counts as fast as the fastest measured one, so it gets
  tried. Randomness keeps instances from all stampeding onto the single fastest deployment.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from llm_gateway.providers.base import Deployment


def pick(
    candidates: list[Deployment],
    rng: random.Random,
    *,
    strategy: str = "weighted",
    latency: Mapping[str, float] | None = None,
) -> Deployment:
    if len(candidates) == 1:
        return candidates[0]
    weights = [d.config.weight for d in candidates]
    if strategy == "latency" and latency:
        known = [latency[d.id] for d in candidates if d.id in latency]
        if known:
            fastest = max(min(known), 1e-3)
            weights = [w / max(latency.get(d.id, fastest), 1e-3) for w, d in zip(weights, candidates, strict=True)]
    point = rng.random() * sum(weights)
    for deployment, weight in zip(candidates, weights, strict=True):
        point -= weight
        if point < 0:
            return deployment
    return candidates[-1]
