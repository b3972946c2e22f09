"""Anthropic's streaming events -> OpenAI ``chat.completion.chunk`` dicts, one event at a time.

=========================================  ==============================================================
Anthropic event                            OpenAI chunk(s)
=========================================  ==============================================================
``message_start``                          ``delta: {role: assistant, content: ""}``; id, model and input
                                           usage remembered
``content_block_start`` text               ``delta.content`` if the block already carries text
``content_block_start`` tool_use           ``tool_calls: [{index: k, id, type, function: {name, ""}}]``,
                                           k = tool calls so far in this answer (never the block index)
``content_block_delta`` text_delta         ``delta.content``
``content_block_delta`` input_json_delta   ``tool_calls: [{index: k, function: {arguments}}]``
``content_block_delta`` thinking_delta     ``delta.reasoning_content``
``content_block_stop`` tool_use            the ``input`` of ``content_block_start`` as ``arguments``
                                           (``"{}"`` when empty) if no ``input_json_delta`` came
``content_block_stop`` thinking            ``delta.thinking_blocks: [{index, ...}]`` with the signature
``message_delta``                          ``delta: {}`` with the mapped ``finish_reason`` (once)
``message_stop``                           the usage chunk (``choices: []``) when usage is wanted; done
``ping``, unknown events                   nothing
``error``                                  raises the mapped ``GatewayError``
=========================================  ==============================================================

A client that sent legacy ``functions`` gets ``delta.function_call`` (name, then argument pieces) and
``finish_reason: function_call`` instead of ``tool_calls``. In JSON-mode emulation the JSON tool's
argument deltas are sent as ``content`` instead (buffered to the end of the block only when the schema
was wrapped, to strip the wrapper). The stream always uses choice index 0. A stream that ends before
``message_stop`` was cut: :meth:`finish` raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.anthropic.errors import map_error_event
from llm_gateway.providers.anthropic.response import (
    arguments_json,
    completion_id,
    finish_reason,
    json_mode_content,
    map_usage,
)
from llm_gateway.providers.anthropic.tools import ResponsePlan
from llm_gateway.providers.base import ProviderCall, StreamMapper


@dataclass
class Block:
    kind: str
    """text | tool | json | thinking | other"""
    tool_index: int = -1
    streamed_arguments: bool = False
    buffer: list[str] = field(default_factory=list)
    signature: str | None = None
    start_input: Any = None
    """A tool_use block's ``input`` as ``content_block_start`` carried it: the whole arguments when no
    ``input_json_delta`` follows (seen from Anthropic-compatible servers and some proxies)."""


@dataclass
class StreamState:
    """Everything one stream remembers between events."""

    id: str = ""
    model: str = ""
    created: int = 0
    started: bool = False
    blocks: dict[int, Block] = field(default_factory=dict)
    tool_calls: int = 0
    thinking_blocks: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    done: bool = False


class AnthropicStreamMapper(StreamMapper):
    def __init__(self, call: ProviderCall, plan: ResponsePlan, now: float) -> None:
        self.call = call
        self.json_mode = plan.json_mode
        self.legacy_functions = plan.legacy_functions
        self.state = StreamState(created=math.floor(now), model=call.deployment.model)

    @property
    def done(self) -> bool:
        return self.state.done

    # --- chunk builders --------------------------------------------------------------------------------

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.state.id,
            "object": "chat.completion.chunk",
            "created": self.state.created,
            "model": self.state.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if self.call.want_usage:
            chunk["usage"] = None
        return chunk

    def _tool_delta(self, block: Block, arguments: str) -> dict[str, Any]:
        if self.legacy_functions:
            return self._chunk({"function_call": {"arguments": arguments}})
        return self._chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": arguments}}]})

    def _finish_reason(self, stop_reason: Any) -> str:
        called = self.state.tool_calls > 0
        return finish_reason(stop_reason, called_tools=called, legacy_functions=self.legacy_functions)

    def _bad(self, what: str) -> UpstreamConnectionError:
        return UpstreamConnectionError(
            f"The upstream for model '{self.call.deployment.group}' sent {what}.", code="upstream_bad_response"
        )

    # --- events ----------------------------------------------------------------------------------------

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if self.state.done or not data.strip():
            return []
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise self._bad("a malformed stream event") from None
        if not isinstance(payload, dict):
            raise self._bad("a stream event that is not a JSON object")
        kind = payload.get("type") or event
        if kind == "error":
            raise map_error_event(self.call, payload)
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return []  # ping, and event types added after this was written
        if kind != "message_start" and not self.state.started:
            raise self._bad(f"'{kind}' before 'message_start'")
        chunks: list[dict[str, Any]] = handler(payload)
        return chunks

    def _on_message_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        message = payload.get("message") or {}
        state = self.state
        state.started = True
        state.id = completion_id(message.get("id"), self.call.request_id)
        state.model = str(message.get("model") or state.model)
        if isinstance(message.get("usage"), dict):
            state.usage.update(message["usage"])
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_content_block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        block = payload.get("content_block") or {}
        index = payload.get("index", len(self.state.blocks))
        kind = block.get("type")
        if kind == "text":
            self.state.blocks[index] = Block("text")
            text = block.get("text")
            return [self._chunk({"content": text})] if text else []
        if kind == "tool_use" and self.json_mode is not None and block.get("name") == self.json_mode.tool_name:
            self.state.blocks[index] = Block("json", start_input=block.get("input"))
            return []
        if kind == "tool_use" and self.legacy_functions and self.state.tool_calls:
            self.state.blocks[index] = Block("other")  # a legacy function_call answer holds one call
            return []
        if kind == "tool_use" and self.legacy_functions:
            self.state.tool_calls += 1
            self.state.blocks[index] = Block("tool", tool_index=0, start_input=block.get("input"))
            return [self._chunk({"function_call": {"name": str(block.get("name")), "arguments": ""}})]
        if kind == "tool_use":
            tool = Block("tool", tool_index=self.state.tool_calls, start_input=block.get("input"))
            self.state.tool_calls += 1
            self.state.blocks[index] = tool
            head = {
                "index": tool.tool_index,
                "id": str(block.get("id")),
                "type": "function",
                "function": {"name": str(block.get("name")), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [head]})]
        if kind in ("thinking", "redacted_thinking"):
            thinking = Block("thinking")
            self.state.blocks[index] = thinking
            if kind == "redacted_thinking":
                thinking.kind = "redacted"
                thinking.signature = block.get("data")
                return []
            if isinstance(block.get("signature"), str) and block["signature"]:
                thinking.signature = block["signature"]
            text = block.get("thinking")
            if isinstance(text, str) and text:  # a start that already carries thinking (compatible servers)
                thinking.buffer.append(text)
                return [self._chunk({"reasoning_content": text})]
            return []
        self.state.blocks[index] = Block("other")
        return []

    def _on_content_block_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        block = self.state.blocks.get(payload.get("index", -1))
        delta = payload.get("delta") or {}
        kind = delta.get("type")
        if block is None:
            raise self._bad("a content delta for a block that never started")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "input_json_delta":
            piece = delta.get("partial_json") or ""
            if not piece or block.kind not in ("tool", "json"):
                return []  # server tools (web search, ...) stream their input too: not the client's calls
            block.streamed_arguments = True
            if block.kind == "json":
                if self.json_mode is not None and self.json_mode.wrapped:
                    block.buffer.append(piece)
                    return []
                return [self._chunk({"content": piece})]
            return [self._tool_delta(block, piece)]
        if kind == "thinking_delta" and delta.get("thinking"):
            block.buffer.append(delta["thinking"])
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta":
            block.signature = (block.signature or "") + str(delta.get("signature") or "")
        return []

    def _on_content_block_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        block = self.state.blocks.get(payload.get("index", -1))
        if block is None:
            return []
        if block.kind == "tool" and not block.streamed_arguments:
            return [self._tool_delta(block, arguments_json(block.start_input))]
        if block.kind == "json" and self.json_mode is not None:
            if not block.streamed_arguments:
                return [self._chunk({"content": json_mode_content(block.start_input or {}, self.json_mode)})]
            if self.json_mode.wrapped:
                joined = "".join(block.buffer)
                try:
                    value = orjson.loads(joined) if joined.strip() else {}
                except orjson.JSONDecodeError:  # cut short (max_tokens): pass on what came
                    return [self._chunk({"content": joined})]
                return [self._chunk({"content": json_mode_content(value, self.json_mode)})]
            return []
        if block.kind == "thinking":
            entry = {"type": "thinking", "thinking": "".join(block.buffer), "signature": block.signature}
            return [self._thinking_block(entry)]
        if block.kind == "redacted":
            return [self._thinking_block({"type": "redacted_thinking", "data": block.signature})]
        return []

    def _thinking_block(self, entry: dict[str, Any]) -> dict[str, Any]:
        # indexed like tool calls, so the SDKs' accumulators join several blocks into one list
        entry = {"index": self.state.thinking_blocks, **entry}
        self.state.thinking_blocks += 1
        return self._chunk({"thinking_blocks": [entry]})

    def _on_message_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(payload.get("usage"), dict):
            self.state.usage.update({k: v for k, v in payload["usage"].items() if v is not None})
        stop_reason = (payload.get("delta") or {}).get("stop_reason")
        if self.state.finish_reason is not None or stop_reason is None:
            return []
        self.state.finish_reason = self._finish_reason(stop_reason)
        return [self._chunk({}, self.state.finish_reason)]

    def _on_message_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self.state.done = True
        chunks = []
        if self.state.finish_reason is None:
            self.state.finish_reason = self._finish_reason(None)
            chunks.append(self._chunk({}, self.state.finish_reason))
        if self.call.want_usage:
            chunks.append(
                {
                    "id": self.state.id,
                    "object": "chat.completion.chunk",
                    "created": self.state.created,
                    "model": self.state.model,
                    "choices": [],
                    "usage": map_usage(self.state.usage),
                }
            )
        return chunks

    def finish(self) -> list[dict[str, Any]]:
        if self.state.done:
            return []
        raise UpstreamConnectionError(
            f"The upstream stream for model '{self.call.deployment.group}' ended before the answer was complete.",
            code="upstream_stream_cut",
        )
