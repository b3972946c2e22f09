"""The ``Response`` object: its envelope (what the request asked for), and its output from a chat answer.

==============================  ================================================================
Chat completion                 Response
==============================  ================================================================
``message.reasoning_content``   a ``reasoning`` item: ``summary`` text when ``reasoning.summary`` was
                                asked for, else ``content`` (``reasoning_text``)
``message.content``             a ``message`` item with one ``output_text`` part
``message.refusal``             a ``message`` item with a ``refusal`` part
``message.tool_calls``          one ``function_call`` item each (``call_id`` = the call's id)
``finish_reason: length``       ``status: incomplete``, ``incomplete_details.reason: max_output_tokens``
``finish_reason: content_filter``  ``status: incomplete``, ``reason: content_filter``
``usage``                       ``input_tokens`` / ``output_tokens`` / ``total_tokens``, cached and
                                reasoning tokens in their details
==============================  ================================================================
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from llm_gateway.responses.request import CreateResponse


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


@dataclass(frozen=True)
class Envelope:
    """What every form of one response shares (the created event, the completed one, the stored one)."""

    id: str
    created_at: int
    request: CreateResponse
    store: bool

    def response(self, *, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        request = self.request
        reasoning = request.reasoning
        fmt = request.text.format if request.text is not None else None
        text: dict[str, Any] = {"format": fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"}}
        if request.text is not None and request.text.verbosity is not None:
            text["verbosity"] = request.text.verbosity
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
            "model": request.model,
            "output": output,
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "previous_response_id": request.previous_response_id,
            "reasoning": {
                "effort": reasoning.effort if reasoning else None,
                "summary": (reasoning.summary or reasoning.generate_summary) if reasoning else None,
            },
            "store": self.store,
            "temperature": request.temperature if request.temperature is not None else 1.0,
            "text": text,
            "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
            "tools": [_tool(t) for t in request.tools or []],
            "top_p": request.top_p if request.top_p is not None else 1.0,
            "truncation": request.truncation or "disabled",
            "usage": usage,
            "user": request.user,
            "metadata": request.metadata or {},
        }

    @property
    def wants_summary(self) -> bool:
        reasoning = self.request.reasoning
        return reasoning is not None and (reasoning.summary or reasoning.generate_summary) is not None


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    out = {"type": "function", "name": tool["name"], "parameters": tool.get("parameters"), "strict": tool.get("strict")}
    if tool.get("description") is not None:
        out["description"] = tool["description"]
    return out


def usage_of(usage: Any) -> dict[str, Any] | None:
    """Chat's ``usage`` in the Responses shape."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens") or 0),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def reasoning_item(item_id: str, text: str, *, summary: bool, status: str = "completed") -> dict[str, Any]:
    if summary:
        return {
            "type": "reasoning",
            "id": item_id,
            "summary": [{"type": "summary_text", "text": text}],
            "status": status,
        }
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "status": status,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, content: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def finish(response: dict[str, Any], finish_reason: Any, completed_at: int) -> dict[str, Any]:
    """``response`` completed, or incomplete for a ``finish_reason`` that says it was cut."""
    reason = INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None
    if reason is not None:
        response["status"], response["incomplete_details"] = "incomplete", {"reason": reason}
    else:
        response["status"], response["completed_at"] = "completed", completed_at
    return response


def from_completion(completion: dict[str, Any], envelope: Envelope, completed_at: int) -> dict[str, Any]:
    """A chat completion as the ``Response`` of ``envelope``."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(new_id("rs"), reasoning, summary=envelope.wants_summary))
    content: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append(text_part(message["content"]))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        content.append({"type": "refusal", "refusal": message["refusal"]})
    if content:
        output.append(message_item(new_id("msg"), content))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        output.append(
            call_item(
                new_id("fc"),
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
            )
        )
    response = envelope.response(status="completed", output=output, usage=usage_of(completion.get("usage")))
    return finish(response, choice.get("finish_reason"), completed_at)
