"""Routing's figures for the operator: attempts, failures that count against a deployment, cooldowns."""

from __future__ import annotations

from llm_gateway.core.context import Principal, RequestContext
from llm_gateway.routing.metrics import note_all_cooling, note_upstream_failure, route_metrics


def _ctx() -> RequestContext:
    return RequestContext(request_id="req_1", principal=Principal(key_id="k"), deadline=1e9)


def test_a_request_that_never_reached_an_upstream_has_no_routing_figures() -> None:
    assert route_metrics({}) == {}
    assert route_metrics({"route": []}) == {}


def test_attempts_failures_and_cooldowns_come_from_the_notes() -> None:
    ctx = _ctx()
    ctx.notes["route"] = ["a=upstream_error", "b=upstream_error", "a=ok"]
    note_upstream_failure(ctx, cooling=True)
    note_upstream_failure(ctx, cooling=False)
    assert route_metrics(ctx.notes) == {"UpstreamAttempts": 3.0, "UpstreamErrors": 2.0, "Cooldowns": 1.0}


def test_a_group_with_nothing_healthy_is_flagged_once() -> None:
    ctx = _ctx()
    note_all_cooling(ctx, "gpt")
    note_all_cooling(ctx, "gpt")
    assert route_metrics(ctx.notes) == {"AllDeploymentsCooling": 1.0}


def test_odd_values_in_the_notes_count_as_nothing() -> None:
    assert route_metrics({"route": ["a=ok"], "upstream_failures": True, "cooldowns": -2}) == {
        "UpstreamAttempts": 1.0,
        "UpstreamErrors": 0.0,
    }
