"""Validate what ``/v1/messages`` emits against Anthropic's shapes (tests/fixtures copy of
../shared/reference/anthropic-messages-schemas.json; tests/unit/test_anthropic_schema_fixture.py keeps
the two identical)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.openai_schema import check_against

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "anthropic-messages-schemas.json"

EVENT_SCHEMAS = {
    "message_start": "MessageStartEvent",
    "content_block_start": "ContentBlockStartEvent",
    "content_block_delta": "ContentBlockDeltaEvent",
    "content_block_stop": "ContentBlockStopEvent",
    "message_delta": "MessageDeltaEvent",
    "message_stop": "MessageStopEvent",
    "ping": "PingEvent",
    "error": "ErrorEvent",
}


def check(name: str, obj: Any) -> Any:
    return check_against(SCHEMA_PATH, name, obj)


def assert_message(obj: Any) -> Any:
    return check("Message", obj)


def assert_error(obj: Any) -> Any:
    return check("ErrorResponse", obj)


def assert_event(name: str, obj: Any) -> Any:
    """One stream event: its SSE ``event:`` name is its ``type``, and it is valid as that event."""
    assert obj.get("type") == name, (name, obj)
    return check(EVENT_SCHEMAS[name], obj)
