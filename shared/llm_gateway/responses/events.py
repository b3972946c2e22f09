"""Chat chunks in, the Responses API's stream events out (every event with its ``sequence_number``).

The sequence, as OpenAI sends it: ``response.created``, ``response.in_progress``; per output item
``response.output_item.added``, then for a message ``response.content_part.added``,
``response.output_text.delta``..., ``response.output_text.done``, ``response.content_part.done``; for a
function call ``response.function_call_arguments.delta``..., ``...done``; for reasoning
``response.reasoning_summary_part.added`` / ``response.reasoning_summary_text.delta`` (a summary was asked
for) or ``response.content_part.added`` / ``response.reasoning_text.delta``; ``response.output_item.done``;
last ``response.completed`` (or ``response.incomplete``) with the whole response and its usage. A failure
after the first event is an ``error`` event followed by ``response.failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_gateway.errors import GatewayError
from llm_gateway.responses.output import (
    Envelope,
    call_item,
    finish,
    message_item,
    new_id,
    reasoning_item,
    text_part,
    usage_of,
)

_ERROR_CODES = {429: "rate_limit_exceeded"}


@dataclass
class _Item:
    kind: str  # reasoning | message | function_call
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    done: bool = False


class ResponseEvents:
    """One response's stream: :meth:`start`, :meth:`feed` for each chat chunk, :meth:`end` or :meth:`fail`."""

    def __init__(self, envelope: Envelope, clock: Any) -> None:
        self.envelope = envelope
        self.clock = clock
        self._sequence = 0
        self._items: list[_Item] = []
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._finish_reason: Any = None
        self._usage: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        """The whole response, once the stream ended (completed or incomplete)."""
        self._response_id: str | None = None

    def follow(self, event: dict[str, Any]) -> None:
        """An event of a natively answered stream went by: a failure is numbered after it, and is the
        failure of the upstream's response (its id)."""
        if isinstance(event.get("sequence_number"), int):
            self._sequence = event["sequence_number"] + 1
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            self._response_id = response["id"]
            if event.get("type") in ("response.completed", "response.incomplete"):
                self.final = response

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def start(self) -> list[dict[str, Any]]:
        created = self.envelope.response(status="in_progress", output=[], usage=None)
        return [
            self._event("response.created", response=created),
            self._event("response.in_progress", response=created),
        ]

    # -- items ---------------------------------------------------------------------------------------

    def _item_json(self, item: _Item, status: str) -> dict[str, Any]:
        text = "".join(item.text)
        if item.kind == "reasoning":
            if status == "in_progress":
                empty = {"type": "reasoning", "id": item.id, "summary": [], "status": status}
                return empty if self.envelope.wants_summary else {**empty, "content": []}
            return reasoning_item(item.id, text, summary=self.envelope.wants_summary, status=status)
        if item.kind == "message":
            return message_item(item.id, [text_part(text)] if status != "in_progress" else [], status=status)
        return call_item(item.id, item.call_id, item.name, text if status != "in_progress" else "", status=status)

    def _add(self, kind: str, prefix: str) -> tuple[_Item, list[dict[str, Any]]]:
        item = _Item(kind=kind, index=len(self._items), id=new_id(prefix))
        self._items.append(item)
        events = [
            self._event(
                "response.output_item.added", output_index=item.index, item=self._item_json(item, "in_progress")
            )
        ]
        ids = {"item_id": item.id, "output_index": item.index}
        if kind == "message":
            events.append(self._event("response.content_part.added", **ids, content_index=0, part=text_part("")))
        elif kind == "reasoning" and self.envelope.wants_summary:
            part = {"type": "summary_text", "text": ""}
            events.append(self._event("response.reasoning_summary_part.added", **ids, summary_index=0, part=part))
        elif kind == "reasoning":
            part = {"type": "reasoning_text", "text": ""}
            events.append(self._event("response.content_part.added", **ids, content_index=0, part=part))
        return item, events

    def _close(self, item: _Item) -> list[dict[str, Any]]:
        if item.done:
            return []
        item.done = True
        text = "".join(item.text)
        ids = {"item_id": item.id, "output_index": item.index}
        events: list[dict[str, Any]] = []
        if item.kind == "message":
            events.append(self._event("response.output_text.done", **ids, content_index=0, text=text, logprobs=[]))
            events.append(self._event("response.content_part.done", **ids, content_index=0, part=text_part(text)))
        elif item.kind == "reasoning" and self.envelope.wants_summary:
            events.append(self._event("response.reasoning_summary_text.done", **ids, summary_index=0, text=text))
            part = {"type": "summary_text", "text": text}
            events.append(self._event("response.reasoning_summary_part.done", **ids, summary_index=0, part=part))
        elif item.kind == "reasoning":
            events.append(self._event("response.reasoning_text.done", **ids, content_index=0, text=text))
            part = {"type": "reasoning_text", "text": text}
            events.append(self._event("response.content_part.done", **ids, content_index=0, part=part))
        else:
            events.append(self._event("response.function_call_arguments.done", **ids, name=item.name, arguments=text))
        events.append(
            self._event("response.output_item.done", output_index=item.index, item=self._item_json(item, "completed"))
        )
        return events

    def _text(self, kind: str, prefix: str, delta: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self._open is None or self._open.kind != kind:
            if self._open is not None:
                events.extend(self._close(self._open))
            self._open, added = self._add(kind, prefix)
            events.extend(added)
        item = self._open
        item.text.append(delta)
        ids = {"item_id": item.id, "output_index": item.index}
        if kind == "message":
            events.append(self._event("response.output_text.delta", **ids, content_index=0, delta=delta, logprobs=[]))
        elif self.envelope.wants_summary:
            events.append(self._event("response.reasoning_summary_text.delta", **ids, summary_index=0, delta=delta))
        else:
            events.append(self._event("response.reasoning_text.delta", **ids, content_index=0, delta=delta))
        return events

    def _call(self, fragment: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        index = fragment.get("index", 0)
        function = fragment.get("function") or {}
        item = self._calls.get(index)
        if item is None:
            if self._open is not None:
                events.extend(self._close(self._open))
                self._open = None
            item = _Item(kind="function_call", index=len(self._items), id=new_id("fc"))
            item.call_id = str(fragment.get("id") or new_id("call"))
            item.name = str(function.get("name") or "")
            self._items.append(item)
            self._calls[index] = item
            added = self._item_json(item, "in_progress")
            events.append(self._event("response.output_item.added", output_index=item.index, item=added))
        elif function.get("name") and not item.name:
            item.name = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text.append(arguments)
            events.append(
                self._event(
                    "response.function_call_arguments.delta", item_id=item.id, output_index=item.index, delta=arguments
                )
            )
        return events

    # -- the stream ----------------------------------------------------------------------------------

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        events: list[dict[str, Any]] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                events.extend(self._text("reasoning", "rs", reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.extend(self._text("message", "msg", content))
            for fragment in delta.get("tool_calls") or ():
                if isinstance(fragment, dict):
                    events.extend(self._call(fragment))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def end(self, usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Close every open item; the last event carries the whole response (``response.completed``, or
        ``response.incomplete`` when the answer was cut)."""
        events: list[dict[str, Any]] = []
        for item in self._items:
            events.extend(self._close(item))
        output = [self._item_json(item, "completed") for item in self._items]
        response = self.envelope.response(status="completed", output=output, usage=usage_of(self._usage or usage))
        self.final = finish(response, self._finish_reason, int(self.clock()))
        kind = "response.completed" if self.final["status"] == "completed" else "response.incomplete"
        events.append(self._event(kind, response=self.final))
        return events

    def fail(self, error: GatewayError) -> list[dict[str, Any]]:
        """An ``error`` event, then ``response.failed`` with what was produced so far."""
        events = [self._event("error", code=error.code, message=error.message, param=error.param)]
        output = [self._item_json(item, "incomplete") for item in self._items]
        response = self.envelope.response(status="failed", output=output, usage=usage_of(self._usage))
        if self._response_id is not None:
            response["id"] = self._response_id
        response["error"] = {"code": _ERROR_CODES.get(error.status_code, "server_error"), "message": error.message}
        events.append(self._event("response.failed", response=response))
        return events
