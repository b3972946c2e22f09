"""A chat answer as an Anthropic ``Message`` (for deployments that do not answer Messages natively).

``reasoning_content`` (or ``thinking_blocks``, with their signatures) becomes ``thinking`` blocks, then
``content`` a ``text`` block and each tool call a ``tool_use`` block (its JSON ``arguments`` as
``input``). ``finish_reason`` maps to ``stop_reason``: ``stop`` -> ``end_turn``, ``length`` ->
``max_tokens``, ``tool_calls`` / ``function_call`` -> ``tool_use``, ``content_filter`` -> ``refusal``.
Usage: ``input_tokens`` are the prompt tokens less cache reads and writes, which Anthropic reports apart.
"""

from __future__ import annotations

from typing import Any

import orjson

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(str(finish_reason), "end_turn")


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def usage_of(usage: Any) -> dict[str, Any]:
    """Anthropic usage from chat usage (``prompt_tokens_details``: ``cached_tokens``, ``cache_write_tokens``)."""
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    details = as_dict(usage.get("prompt_tokens_details"))
    read, write = _count(details.get("cached_tokens")), _count(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(0, _count(usage.get("prompt_tokens")) - read - write),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }


def tool_input(arguments: Any) -> Any:
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def thinking_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [b for b in message.get("thinking_blocks") or () if isinstance(b, dict)]
    if blocks:
        out = []
        for block in blocks:
            if block.get("type") == "redacted_thinking":
                out.append({"type": "redacted_thinking", "data": str(block.get("data") or "")})
            else:
                out.append(
                    {
                        "type": "thinking",
                        "thinking": str(block.get("thinking") or ""),
                        "signature": str(block.get("signature") or ""),
                    }
                )
        return out
    reasoning = message.get("reasoning_content")
    return (
        [{"type": "thinking", "thinking": reasoning, "signature": ""}]
        if isinstance(reasoning, str) and reasoning
        else []
    )


def message_id(answer_id: Any, request_id: str) -> str:
    text = str(answer_id or "")
    return text if text.startswith("msg_") else f"msg_{request_id}"


def message_from_chat(answer: dict[str, Any], model: str, request_id: str) -> dict[str, Any]:
    choices = answer.get("choices") or [{}]
    choice = as_dict(choices[0])
    message = as_dict(choice.get("message"))
    content: list[dict[str, Any]] = thinking_blocks(message)
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        content.append({"type": "text", "text": message["refusal"]})
    for call in message.get("tool_calls") or ():
        function = as_dict(call.get("function"))
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or ""),
                "name": str(function.get("name") or ""),
                "input": tool_input(function.get("arguments")),
            }
        )
    return {
        "id": message_id(answer.get("id"), request_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": usage_of(answer.get("usage")),
    }
