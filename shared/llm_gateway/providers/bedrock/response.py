"""A ``ConverseResponse`` -> an OpenAI ``chat.completion``; the tables the stream mapper shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.bedrock.thinking import thinking_block

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}


def finish_reason(stop_reason: Any, *, json_tool_used: bool = False) -> str:
    reason = FINISH_REASONS.get(str(stop_reason), "stop")
    return "stop" if json_tool_used and reason == "tool_calls" else reason


def usage(raw: Any) -> dict[str, Any] | None:
    """Converse ``TokenUsage`` -> OpenAI usage. ``inputTokens`` excludes cache reads/writes; OpenAI's
    ``prompt_tokens`` includes them, so they are added back."""
    if not isinstance(raw, dict):
        return None
    cached = int(raw.get("cacheReadInputTokens") or 0)
    written = int(raw.get("cacheWriteInputTokens") or 0)
    prompt = int(raw.get("inputTokens") or 0) + cached + written
    completion = int(raw.get("outputTokens") or 0)
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if written or "cacheWriteInputTokens" in raw:
        result["prompt_tokens_details"]["cache_write_tokens"] = written
    return result


def arguments_json(tool_input: Any) -> str:
    """Tool input -> OpenAI's ``arguments`` string (``"{}"`` when empty)."""
    if tool_input in (None, "", {}):
        return "{}"
    return orjson.dumps(tool_input).decode()


def completion_id(call: ProviderCall, upstream_request_id: str | None) -> str:
    suffix = (upstream_request_id or call.request_id or "").replace("-", "")
    return f"chatcmpl-{suffix or 'bedrock'}"


def _bad(call: ProviderCall, what: str) -> UpstreamConnectionError:
    return UpstreamConnectionError(
        f"The upstream for model '{call.deployment.group}' sent {what}.", code="upstream_bad_response"
    )


@dataclass
class _Message:
    """The output message's blocks, sorted into what an OpenAI message carries."""

    json_tool: str | None
    single_call: bool = False
    """``parallel_tool_calls: false``: keep the first call only (Converse cannot be told)."""
    texts: list[str] = field(default_factory=list)
    thinking: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    json_tool_used: bool = False

    def add(self, block: dict[str, Any]) -> None:
        if "text" in block:
            self.texts.append(str(block["text"]))
        elif "toolUse" in block:
            self._tool(block["toolUse"])
        elif "reasoningContent" in block:
            thought = thinking_block(block["reasoningContent"])
            if thought is not None:
                self.thinking.append(thought)
        elif "citationsContent" in block:
            self.texts.extend(str(c.get("text", "")) for c in block["citationsContent"].get("content") or [])

    def _tool(self, tool: dict[str, Any]) -> None:
        if self.json_tool is not None and tool.get("name") == self.json_tool:
            self.json_tool_used = True
            self.texts.append(arguments_json(tool.get("input")))
            return
        if self.single_call and self.tool_calls:
            return
        function = {"name": str(tool.get("name")), "arguments": arguments_json(tool.get("input"))}
        self.tool_calls.append({"id": str(tool.get("toolUseId")), "type": "function", "function": function})

    def openai(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.texts) if self.texts or not self.tool_calls else None,
            "refusal": None,
        }
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        reasoning = "".join(t.get("thinking", "") for t in self.thinking)
        if reasoning:
            message["reasoning_content"] = reasoning
        if self.thinking:
            message["thinking_blocks"] = self.thinking
        return message


def map_response(call: ProviderCall, data: Any, created: float, json_tool: str | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _bad(call, "a response that is not an object")
    message = (data.get("output") or {}).get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise _bad(call, "a response without an output message")
    collected = _Message(json_tool, single_call=call.body.get("parallel_tool_calls") is False)
    for block in message["content"]:
        if isinstance(block, dict):
            collected.add(block)
    result: dict[str, Any] = {
        "id": completion_id(call, (data.get("ResponseMetadata") or {}).get("RequestId")),
        "object": "chat.completion",
        "created": math.floor(created),
        "model": call.deployment.model,
        "choices": [
            {
                "index": 0,
                "message": collected.openai(),
                "finish_reason": finish_reason(data.get("stopReason"), json_tool_used=collected.json_tool_used),
                "logprobs": None,
            }
        ],
    }
    mapped_usage = usage(data.get("usage"))
    if mapped_usage is not None:
        result["usage"] = mapped_usage
    return result
