"""A ``ConverseResponse`` -> an OpenAI ``chat.completion``; the tables the stream mapper shares."""

from __future__ import annotations

import math
from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.base import ProviderCall

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
    if written:
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


def map_response(call: ProviderCall, data: Any, created: float, json_tool: str | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _bad(call, "a response that is not an object")
    message = (data.get("output") or {}).get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise _bad(call, "a response without an output message")
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    json_tool_used = False
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            tool = block["toolUse"]
            if json_tool is not None and tool.get("name") == json_tool:
                json_tool_used = True
                texts.append(arguments_json(tool.get("input")))
                continue
            tool_calls.append(
                {
                    "id": str(tool.get("toolUseId")),
                    "type": "function",
                    "function": {"name": str(tool.get("name")), "arguments": arguments_json(tool.get("input"))},
                }
            )
        elif "reasoningContent" in block:
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            if text:
                reasoning.append(str(text))
        elif "citationsContent" in block:
            texts.extend(str(c.get("text", "")) for c in block["citationsContent"].get("content") or [])
    out_message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        out_message["tool_calls"] = tool_calls
    if reasoning:
        out_message["reasoning_content"] = "".join(reasoning)
    result: dict[str, Any] = {
        "id": completion_id(call, (data.get("ResponseMetadata") or {}).get("RequestId")),
        "object": "chat.completion",
        "created": math.floor(created),
        "model": call.deployment.model,
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "finish_reason": finish_reason(data.get("stopReason"), json_tool_used=json_tool_used),
                "logprobs": None,
            }
        ],
    }
    mapped_usage = usage(data.get("usage"))
    if mapped_usage is not None:
        result["usage"] = mapped_usage
    return result
