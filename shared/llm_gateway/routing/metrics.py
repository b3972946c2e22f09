"""What routing tells an operator: upstream attempts and failures, cooldowns, groups with nothing healthy.

The router records these facts in the request's notes as they happen (they go into the request log line
with the other notes); :func:`route_metrics` turns a request's log fields into metric values, which the
EMF writers add to the request's metrics:

- ``UpstreamAttempts``: calls made to upstream deployments (every entry of the ``route`` note);
- ``UpstreamErrors``: those that failed in a way that says something about the deployment (5xx, 429,
  timeouts, connection errors, refused credentials: what feeds its cooldown), not the client's own 4xx;
- ``Cooldowns``: failures that left the deployment cooling down;
- ``AllDeploymentsCooling``: 1 when a model group had no deployment that was not cooling down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_gateway.core.context import RequestContext

UPSTREAM_FAILURES = "upstream_failures"
COOLDOWNS = "cooldowns"
ALL_COOLING = "all_cooling"

UNITS = {
    "UpstreamAttempts": "Count",
    "UpstreamErrors": "Count",
    "Cooldowns": "Count",
    "AllDeploymentsCooling": "Count",
}


def note_upstream_failure(ctx: RequestContext, *, cooling: bool) -> None:
    """A failure that counts against its deployment; ``cooling``: it left the deployment cooling down."""
    ctx.notes[UPSTREAM_FAILURES] = ctx.notes.get(UPSTREAM_FAILURES, 0) + 1
    if cooling:
        ctx.notes[COOLDOWNS] = ctx.notes.get(COOLDOWNS, 0) + 1


def note_all_cooling(ctx: RequestContext, group: str) -> None:
    """Every deployment of ``group`` was cooling down when the request looked for one."""
    ctx.notes[ALL_COOLING] = group


def route_metrics(fields: Mapping[str, Any]) -> dict[str, float]:
    """The routing figures of one request log line (only those with something to say)."""
    values: dict[str, float] = {}
    route = fields.get("route")
    if isinstance(route, list) and route:
        values["UpstreamAttempts"] = float(len(route))
        values["UpstreamErrors"] = float(_count(fields.get(UPSTREAM_FAILURES)))
    cooldowns = _count(fields.get(COOLDOWNS))
    if cooldowns:
        values["Cooldowns"] = float(cooldowns)
    if fields.get(ALL_COOLING):
        values["AllDeploymentsCooling"] = 1.0
    return values


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
