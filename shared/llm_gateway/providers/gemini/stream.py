"""Gemini ``streamGenerateContent?alt=sse`` events -> OpenAI ``chat.completion.chunk`` dicts.

Each SSE event is a whole ``GenerateContentResponse`` holding only the new parts. The stream has no
``[DONE]``: the body ending after every candidate reported a ``finishReason`` is a clean end; ending
before that is a cut (an error frame for the client). Per candidate the mapper emits: the role first,
then text / ``reasoning_content`` deltas as they come, each function call as one tool-call delta (id,
name and complete arguments; Vertex's streamed arguments are put together first, see
:mod:`.partial_calls`) with its own running ``index``, then the finish chunk. With
``parallel_tool_calls: false`` only a candidate's first call is kept. The usage chunk (``choices: []``,
from the last ``usageMetadata`` seen) comes at the end when ``call.want_usage``; every other chunk then
carries ``"usage": null``, as OpenAI's do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.base import ProviderCall, StreamMapper
from llm_gateway.providers.gemini.errors import error_from_payload
from llm_gateway.providers.gemini.partial_calls import PartialCall, is_streamed_piece
from llm_gateway.providers.gemini.response import (
    bad_response,
    block_refusal,
    completion_id,
    finish_reason,
    logprobs,
    model_name,
    tool_call,
    usage,
)


@dataclass
class _Candidate:
    started: bool = False
    tool_calls: int = 0
    finished: bool = False
    pending: PartialCall | None = None
    """A function call whose arguments Vertex is still streaming."""


@dataclass
class GeminiStreamState:
    id: str | None = None
    model: str | None = None
    response_id: str | None = None
    candidates: dict[int, _Candidate] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    blocked: bool = False


class GeminiStreamMapper(StreamMapper):
    def __init__(self, call: ProviderCall, created: int) -> None:
        self.call = call
        self.created = created
        self.state = GeminiStreamState()
        self.max_calls = 1 if call.body.get("parallel_tool_calls") is False else None
        """``parallel_tool_calls: false``: Gemini has no such switch, so only the first call is kept."""

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if not data.strip():
            return []
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise bad_response(self.call, "a malformed stream frame") from None
        if isinstance(payload, dict) and "error" in payload:
            raise error_from_payload(self.call, payload, status=None)
        if not isinstance(payload, dict):
            raise bad_response(self.call, "a stream frame that is not a JSON object")
        state = self.state
        if state.id is None:
            state.id = completion_id(payload)
            state.model = model_name(self.call, payload)
            rid = payload.get("responseId")
            state.response_id = rid if isinstance(rid, str) else None
        if payload.get("usageMetadata") is not None:
            state.usage = usage(payload["usageMetadata"])
        candidates = payload.get("candidates")
        if isinstance(candidates, list) and candidates:
            out: list[dict[str, Any]] = []
            for position, candidate in enumerate(candidates):
                if not isinstance(candidate, dict):
                    raise bad_response(self.call, "a malformed candidate")
                out += self._candidate(candidate, position)
            return out
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            return self._blocked(feedback)
        return []

    def _chunk(
        self, index: int, delta: dict[str, Any], finish: str | None = None, choice_logprobs: Any = None
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": index, "delta": delta, "logprobs": choice_logprobs, "finish_reason": finish}
        chunk: dict[str, Any] = {
            "id": self.state.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.state.model,
            "choices": [choice],
        }
        if self.call.want_usage:
            chunk["usage"] = None
        return chunk

    def _slot(self, index: int, out: list[dict[str, Any]]) -> _Candidate:
        slot = self.state.candidates.setdefault(index, _Candidate())
        if not slot.started:
            slot.started = True
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))
        return slot

    def _candidate(self, candidate: dict[str, Any], position: int) -> list[dict[str, Any]]:
        index = candidate.get("index", position)
        index = index if isinstance(index, int) else position
        out: list[dict[str, Any]] = []
        slot = self._slot(index, out)
        if slot.finished:
            return out
        chunk_logprobs = logprobs(candidate.get("logprobsResult"))
        for part in (candidate.get("content") or {}).get("parts") or []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("functionCall"), dict):
                whole = self._function_call(slot, part)
                if whole is not None:
                    out += self._tool_call(index, slot, whole)
                continue
            out += self._flush(index, slot)
            if isinstance(part.get("text"), str) and part["text"]:
                if part.get("thought"):
                    out.append(self._chunk(index, {"reasoning_content": part["text"]}))
                else:
                    out.append(self._chunk(index, {"content": part["text"]}, choice_logprobs=chunk_logprobs))
                    chunk_logprobs = None
        reason = candidate.get("finishReason")
        if reason:
            out += self._flush(index, slot)
            mapped = finish_reason(
                self.call, str(reason), has_tool_calls=slot.tool_calls > 0, message=candidate.get("finishMessage")
            )
            slot.finished = True
            out.append(self._chunk(index, {}, mapped))
        return out

    @staticmethod
    def _function_call(slot: _Candidate, part: dict[str, Any]) -> dict[str, Any] | None:
        """The part of a whole call, or None while Vertex is still streaming its arguments."""
        if slot.pending is None and not is_streamed_piece(part):
            return part
        pending = slot.pending or PartialCall()
        pending.add(part)
        if part["functionCall"].get("willContinue"):
            slot.pending = pending
            return None
        slot.pending = None
        return pending.as_part()

    def _flush(self, index: int, slot: _Candidate) -> list[dict[str, Any]]:
        """A streamed call cut short by the next part or the finish: emit what came (it said it was done)."""
        if slot.pending is None:
            return []
        pending, slot.pending = slot.pending, None
        return self._tool_call(index, slot, pending.as_part())

    def _tool_call(self, index: int, slot: _Candidate, part: dict[str, Any]) -> list[dict[str, Any]]:
        if not part["functionCall"].get("name"):
            raise bad_response(self.call, "a function call without a name")
        if self.max_calls is not None and slot.tool_calls >= self.max_calls:
            return []
        call = tool_call(part, self.state.response_id, index, slot.tool_calls)
        slot.tool_calls += 1
        return [self._chunk(index, {"tool_calls": [{"index": slot.tool_calls - 1, **call}]})]

    def _blocked(self, feedback: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        slot = self._slot(0, out)
        if not slot.finished:
            slot.finished = True
            self.state.blocked = True
            out.append(self._chunk(0, {"refusal": block_refusal(feedback)}))
            out.append(self._chunk(0, {}, "content_filter"))
        return out

    def finish(self) -> list[dict[str, Any]]:
        slots = self.state.candidates.values()
        if not slots or not all(slot.finished for slot in slots):
            raise UpstreamConnectionError(
                f"The upstream stream for model '{self.call.deployment.group}' ended before the answer was complete.",
                code="upstream_stream_cut",
            )
        if not self.call.want_usage or self.state.usage is None:
            return []
        return [
            {
                "id": self.state.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.state.model,
                "choices": [],
                "usage": self.state.usage,
            }
        ]
