"""An OpenAI-compatible server that also serves the Responses API itself (``POST /v1/responses``), for
native pass-through: it answers a function call while tools are offered and no call output has come
back, else text; streamed, in the spec's event order. ``fail_stream_after`` ends the next stream with a
``response.failed`` event after that many events; ``fail_status`` refuses the next request. Chat
requests are the plain fake's."""

from __future__ import annotations

import json
from typing import Any

from tests.support.fake_http import FakeRequest, Responder
from tests.support.fake_openai import FakeOpenAI

NATIVE_TEXT = "A native answer."
USAGE = {
    "input_tokens": 21,
    "input_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 0},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 28,
}


def _response(body: dict[str, Any], status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
    return {
        "id": "resp_upstream_0001",
        "object": "response",
        "created_at": 1764000000,
        "status": status,
        "completed_at": 1764000001 if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


class FakeResponsesServer(FakeOpenAI):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.fail_stream_after: int | None = None
        self.fail_status: int | None = None
        """The next ``/responses`` request gets this status and an OpenAI error body."""

    def responses_requests(self) -> list[FakeRequest]:
        return [r for r in self.requests if r.path.endswith("/responses")]

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        if not request.path.endswith("/responses"):
            await super().handle(request, respond)
            return
        if self.fail_status is not None:
            status, self.fail_status = self.fail_status, None
            error = {"message": "upstream down", "type": "server_error", "param": None, "code": None}
            await respond.send(status, {"error": error})
            return
        body = request.json()
        items = body.get("input") if isinstance(body.get("input"), list) else []
        answered = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        if tools and not answered:
            item = {
                "type": "function_call",
                "id": "fc_upstream_1",
                "call_id": "call_upstream_1",
                "name": tools[0]["name"],
                "arguments": json.dumps({"city": "Paris"}),
                "status": "completed",
            }
        else:
            part = {"type": "output_text", "text": NATIVE_TEXT, "annotations": [], "logprobs": []}
            item = {
                "type": "message",
                "id": "msg_upstream_1",
                "role": "assistant",
                "status": "completed",
                "content": [part],
            }
        if not body.get("stream"):
            await respond.send(200, _response(body, "completed", [item], USAGE))
            return
        events = self._events(body, item)
        fail_after, self.fail_stream_after = self.fail_stream_after, None
        await respond.start_stream()
        if fail_after is not None:
            failed = _response(body, "failed", [], None)
            failed["error"] = {"code": "server_error", "message": "The model broke down."}
            events = [*events[:fail_after], {"type": "response.failed", "response": failed}]
        for number, event in enumerate(events):
            await respond.write(f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': number})}\n\n")
            if event["type"] == "response.failed":
                break
        await respond.end()

    @staticmethod
    def _events(body: dict[str, Any], item: dict[str, Any]) -> list[dict[str, Any]]:
        started = _response(body, "in_progress", [], None)
        ids = {"item_id": item["id"], "output_index": 0}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": started},
            {"type": "response.in_progress", "response": started},
        ]
        if item["type"] == "function_call":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**item, "arguments": "", "status": "in_progress"},
                }
            )
            events.append({"type": "response.function_call_arguments.delta", **ids, "delta": item["arguments"]})
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    **ids,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        else:
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**item, "content": [], "status": "in_progress"},
                }
            )
            events.append({"type": "response.content_part.added", **ids, "content_index": 0, "part": empty})
            for piece in ("A native", " answer."):
                events.append(
                    {"type": "response.output_text.delta", **ids, "content_index": 0, "delta": piece, "logprobs": []}
                )
            events.append(
                {"type": "response.output_text.done", **ids, "content_index": 0, "text": NATIVE_TEXT, "logprobs": []}
            )
            events.append({"type": "response.content_part.done", **ids, "content_index": 0, "part": item["content"][0]})
        events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        events.append({"type": "response.completed", "response": _response(body, "completed", [item], USAGE)})
        return events
