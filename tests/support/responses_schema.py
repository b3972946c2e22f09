"""Validate ``/v1/responses`` objects and stream events against OpenAI's published schemas (tests/fixtures
copy of the Responses part of ../shared/reference/openai-responses-schemas.json; a test keeps the two
identical)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.openai_schema import check_against

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "openai-responses-schemas.json"

EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.reasoning_text.delta": "ResponseReasoningTextDeltaEvent",
    "response.reasoning_text.done": "ResponseReasoningTextDoneEvent",
    "response.reasoning_summary_part.added": "ResponseReasoningSummaryPartAddedEvent",
    "response.reasoning_summary_part.done": "ResponseReasoningSummaryPartDoneEvent",
    "response.reasoning_summary_text.delta": "ResponseReasoningSummaryTextDeltaEvent",
    "response.reasoning_summary_text.done": "ResponseReasoningSummaryTextDoneEvent",
    "error": "ResponseErrorEvent",
}


def _check(name: str, obj: Any) -> Any:
    return check_against(SCHEMA_PATH, name, obj)


def assert_response(obj: Any) -> dict[str, Any]:
    _check("Response", obj)
    return obj  # type: ignore[no-any-return]


def assert_event(obj: Any) -> dict[str, Any]:
    """A valid stream event: against its own schema (and the union of all of them)."""
    assert isinstance(obj, dict) and obj.get("type") in EVENT_SCHEMAS, obj
    _check(EVENT_SCHEMAS[obj["type"]], obj)
    _check("ResponseStreamEvent", obj)
    return obj


def assert_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every event valid, ``sequence_number`` counting up from 0, the spec's order kept."""
    for event in events:
        assert_event(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete", "response.failed"), kinds
    opened: set[int] = set()
    for event in events:
        if event["type"] == "response.output_item.added":
            opened.add(event["output_index"])
        elif "output_index" in event:
            assert event["output_index"] in opened, f"{event['type']} before its item was added"
    return events


def assert_request(obj: Any) -> Any:
    """What the gateway forwarded to a native Responses upstream: a valid ``CreateResponse``."""
    return _check("CreateResponse", obj)


def assert_error(obj: Any) -> Any:
    return _check("ErrorResponse", obj)
