"""ConverseStream events -> OpenAI ``chat.completion.chunk`` dicts, one state object per stream.

Events (each a one-key dict, parsed by botocore): ``messageStart`` -> the role chunk;
``contentBlockStart`` with ``toolUse`` -> a new tool call with its own index (0, 1, 2... in the order
calls start, never Bedrock's ``contentBlockIndex``, which also counts text and reasoning blocks);
``contentBlockDelta`` -> content, ``reasoning_content`` or argument fragments; ``contentBlockStop``
-> ``"{}"`` for a call that sent no arguments, or the whole signed ``thinking_blocks`` entry;
``messageStop`` -> the finish chunk (with ``parallel_tool_calls: false``, calls after the first are left
out: Converse cannot be told); ``metadata`` (after messageStop) -> the usage chunk
(``choices: []``) when the gateway asked for usage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.bedrock.errors import map_error_code
from llm_gateway.providers.bedrock.response import finish_reason, usage
from llm_gateway.providers.bedrock.thinking import thinking_block

_EXCEPTION_EVENTS = frozenset(
    {
        "internalServerException",
        "modelStreamErrorException",
        "validationException",
        "throttlingException",
        "serviceUnavailableException",
    }
)


@dataclass
class _ToolBlock:
    index: int | None
    """The OpenAI tool-call index; None for the block that emulates response_format (goes to content)."""
    sent_arguments: bool = False
    dropped: bool = False
    """A call after the first when the client asked for ``parallel_tool_calls: false``."""


@dataclass
class _ReasoningBlock:
    text: list[str] = field(default_factory=list)
    signature: str = ""
    redacted: bytes = b""


@dataclass
class ConverseStreamState:
    started: bool = False
    next_tool_index: int = 0
    thinking_blocks: int = 0
    tool_blocks: dict[int, _ToolBlock] = field(default_factory=dict)
    reasoning_blocks: dict[int, _ReasoningBlock] = field(default_factory=dict)
    json_tool_used: bool = False
    finished: bool = False
    usage_sent: bool = False


class ConverseStreamMapper:
    def __init__(
        self, call: ProviderCall, *, created: float, request_id: str | None, json_tool: str | None = None
    ) -> None:
        from llm_gateway.providers.bedrock.response import completion_id

        self.call = call
        self.json_tool = json_tool
        self.state = ConverseStreamState()
        self._base = {
            "id": completion_id(call, request_id),
            "object": "chat.completion.chunk",
            "created": math.floor(created),
            "model": call.deployment.model,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if not self.state.started:
            self.state.started = True
            delta = {"role": "assistant", **delta}
        return {**self._base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(event, dict) or len(event) != 1:
            raise self._bad("a malformed stream event")
        ((kind, payload),) = event.items()
        payload = payload if isinstance(payload, dict) else {}
        if kind in _EXCEPTION_EVENTS:
            raise map_error_code(self.call, kind, str(payload.get("message") or ""), None)
        handler = getattr(self, f"_on_{kind}", None)
        return handler(payload) if handler is not None else []

    def finish(self) -> list[dict[str, Any]]:
        if not self.state.finished:
            raise UpstreamConnectionError(
                f"The Bedrock stream for model '{self.call.deployment.group}' ended before the answer was complete.",
                code="upstream_stream_cut",
            )
        return []

    def _bad(self, what: str) -> UpstreamConnectionError:
        return UpstreamConnectionError(
            f"The upstream for model '{self.call.deployment.group}' sent {what}.", code="upstream_bad_response"
        )

    def _on_messageStart(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return [] if self.state.started else [self._chunk({"content": ""})]

    def _new_tool(self, block_index: int, tool_id: str, name: str) -> list[dict[str, Any]]:
        if self.json_tool is not None and name == self.json_tool:
            self.state.tool_blocks[block_index] = _ToolBlock(index=None)
            self.state.json_tool_used = True
            return []
        index = self.state.next_tool_index
        if index > 0 and self.call.body.get("parallel_tool_calls") is False:
            self.state.tool_blocks[block_index] = _ToolBlock(index=None, dropped=True)
            return []
        self.state.next_tool_index += 1
        self.state.tool_blocks[block_index] = _ToolBlock(index=index)
        call = {"index": index, "id": tool_id, "type": "function", "function": {"name": name, "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _on_contentBlockStart(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        tool = (payload.get("start") or {}).get("toolUse")
        if not isinstance(tool, dict):
            return []
        block_index = int(payload.get("contentBlockIndex", -1))
        return self._new_tool(block_index, str(tool.get("toolUseId")), str(tool.get("name")))

    def _on_contentBlockDelta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        delta = payload.get("delta") or {}
        block_index = int(payload.get("contentBlockIndex", -1))
        if "text" in delta:
            return [self._chunk({"content": str(delta["text"])})] if delta["text"] else []
        if "toolUse" in delta:
            fragment = str((delta["toolUse"] or {}).get("input") or "")
            out: list[dict[str, Any]] = []
            block = self.state.tool_blocks.get(block_index)
            if block is None:  # a delta without a start: give it an id so the call stays well formed
                out += self._new_tool(block_index, f"call_bedrock_{block_index}", "")
                block = self.state.tool_blocks[block_index]
            if not fragment or block.dropped:
                return out
            block.sent_arguments = True
            if block.index is None:
                return [*out, self._chunk({"content": fragment})]
            return [*out, self._chunk({"tool_calls": [{"index": block.index, "function": {"arguments": fragment}}]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            return self._reasoning(block_index, reasoning)
        return []

    def _reasoning(self, block_index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        block = self.state.reasoning_blocks.setdefault(block_index, _ReasoningBlock())
        if delta.get("signature"):
            block.signature += str(delta["signature"])
        if isinstance(delta.get("redactedContent"), bytes | bytearray):
            block.redacted += bytes(delta["redactedContent"])
        if not delta.get("text"):
            return []
        block.text.append(str(delta["text"]))
        return [self._chunk({"reasoning_content": str(delta["text"])})]

    def _on_contentBlockStop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        reasoning = self.state.reasoning_blocks.pop(int(payload.get("contentBlockIndex", -1)), None)
        if reasoning is not None:
            # The whole signed block at once: clients send it back with the tool results.
            thought = thinking_block(
                {
                    "reasoningText": {"text": "".join(reasoning.text), "signature": reasoning.signature},
                    "redactedContent": reasoning.redacted,
                }
            )
            if thought is None:
                return []
            # indexed like tool calls, so the SDKs' accumulators join several blocks into one list
            thought = {"index": self.state.thinking_blocks, **thought}
            self.state.thinking_blocks += 1
            return [self._chunk({"thinking_blocks": [thought]})]
        block = self.state.tool_blocks.get(int(payload.get("contentBlockIndex", -1)))
        if block is None or block.sent_arguments or block.dropped:
            return []
        block.sent_arguments = True
        if block.index is None:
            return [self._chunk({"content": "{}"})]
        return [self._chunk({"tool_calls": [{"index": block.index, "function": {"arguments": "{}"}}]})]

    def _on_messageStop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self.state.finished = True
        reason = finish_reason(payload.get("stopReason"), json_tool_used=self.state.json_tool_used)
        return [self._chunk({}, finish=reason)]

    def _on_metadata(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        mapped = usage(payload.get("usage"))
        if mapped is None or not self.call.want_usage or self.state.usage_sent:
            return []
        self.state.usage_sent = True
        return [{**self._base, "choices": [], "usage": mapped}]
