"""An Anthropic Messages request as the chat request every layer reads (and a translating provider sends).

=============================  =====================================================================
Messages                       chat
=============================  =====================================================================
``system`` (string or blocks)  a ``system`` message (text joined); a ``system`` turn likewise, in place
user ``text`` / ``image``      user content parts (``image_url``; base64 sources as ``data:`` URLs)
user ``document``              a ``document`` part (providers that take documents map it)
user ``tool_result``           a ``tool`` message (``tool_call_id``), before the rest of the turn
assistant ``text``             ``content``
assistant ``tool_use``         ``tool_calls`` (``input`` as JSON ``arguments``)
assistant ``thinking``         left out (only the model that wrote it can read it back)
``tools`` (custom)             function tools (``input_schema`` as ``parameters``)
``tool_choice``                ``auto`` / ``required`` (any) / a named function / ``none``;
                               ``disable_parallel_tool_use`` as ``parallel_tool_calls: false``
``thinking`` (budget)          ``reasoning_effort``: low up to 4,096 tokens, medium up to 16,384, high;
                               ``adaptive``: ``output_config.effort`` (``max`` as high), else medium
``output_config.format``       ``response_format`` ``json_schema``
``stop_sequences``             ``stop``
``metadata.user_id``           ``user``
``max_tokens``, ``temperature``, ``top_p``, ``stream``: the same (a stream asks for usage)
=============================  =====================================================================

``cache_control`` marks, ``top_k``, ``context_management`` (what to keep of earlier thinking) and other
Anthropic-only options are left out of the chat view; what only a
native upstream can serve (server tools, ``container``, ``mcp_servers``, ``file`` sources) is listed in
:attr:`Translation.lossy`, and a model group none of whose deployments serves Messages natively refuses
such a request with a 400 (:mod:`.service`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_gateway.messages.from_chat import as_dict

NATIVE_ONLY_FIELDS = ("container", "mcp_servers")


@dataclass
class Translation:
    body: dict[str, Any]
    lossy: list[str] = field(default_factory=list)
    """What the chat view could not carry (a native upstream still gets it)."""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        str(block.get("text") or "")
        for block in content or ()
        if isinstance(block, dict) and block.get("type") == "text"
    )


def _image_part(block: dict[str, Any], lossy: list[str]) -> dict[str, Any] | None:
    source = as_dict(block.get("source"))
    if source.get("type") == "base64":
        return {
            "type": "image_url",
            "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data')}"},
        }
    if source.get("type") == "url" and source.get("url"):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    lossy.append(f"an image whose source is '{source.get('type')}'")
    return None


def _user_part(block: dict[str, Any], lossy: list[str]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    if kind == "image":
        return _image_part(block, lossy)
    if kind == "document":
        source = as_dict(block.get("source"))
        if source.get("type") == "text":  # plain text documents read as text anywhere
            return {"type": "text", "text": str(source.get("data") or "")}
        if source.get("type") == "file":
            lossy.append("a document from the Files API")
            return None
        return {"type": "document", "source": source}
    if kind in ("thinking", "redacted_thinking"):
        return None
    lossy.append(f"a user content block of type '{kind}'")
    return None


def _tool_message(block: dict[str, Any], lossy: list[str]) -> list[dict[str, Any]]:
    """The ``tool`` message of a ``tool_result`` (and a user message for images it returned)."""
    content = block.get("content")
    text = _text_of(content) if content is not None else ""
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    out: list[dict[str, Any]] = [{"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": text}]
    if isinstance(content, list):
        images = [
            part
            for b in content
            if isinstance(b, dict) and b.get("type") == "image"
            for part in [_image_part(b, lossy)]
            if part
        ]
        if images:
            out.append({"role": "user", "content": images})
    return out


def _user_messages(content: Any, lossy: list[str]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if block.get("type") == "tool_result":
            out.extend(_tool_message(block, lossy))
            continue
        part = _user_part(block, lossy)
        if part is not None:
            parts.append(part)
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_message(content: Any, lossy: list[str]) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") if block.get("input") is not None else {}).decode()
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {"name": str(block.get("name") or ""), "arguments": arguments},
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):
            lossy.append(f"an assistant content block of type '{kind}'")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if calls:
        message["tool_calls"] = calls
        if not texts:
            message["content"] = None
    return message


def _tools(tools: list[dict[str, Any]], lossy: list[str]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if tool.get("type") not in (None, "custom"):
            lossy.append(f"the server tool '{tool.get('name')}' ({tool.get('type')})")
            continue
        function: dict[str, Any] = {
            "name": tool.get("name"),
            "parameters": tool.get("input_schema") or {"type": "object"},
        }
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: dict[str, Any]) -> Any:
    kind = choice.get("type")
    if kind == "any":
        return "required"
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return kind  # auto, none


def _effort(thinking: dict[str, Any], output: dict[str, Any]) -> str | None:
    if thinking.get("type") == "disabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int):
        effort = output.get("effort")
        return {"max": "high"}.get(str(effort), str(effort)) if effort in ("low", "medium", "high", "max") else "medium"
    return "low" if budget <= 4096 else "medium" if budget <= 16384 else "high"


def _messages(data: dict[str, Any], lossy: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if data.get("system"):
        messages.append({"role": "system", "content": _text_of(data["system"])})
    for message in data["messages"]:
        if message["role"] == "user":
            messages.extend(_user_messages(message["content"], lossy))
        elif message["role"] == "system":
            messages.append({"role": "system", "content": _text_of(message["content"])})
        else:
            messages.append(_assistant_message(message["content"], lossy))
    return messages or [{"role": "user", "content": ""}]


def _tooling(data: dict[str, Any], body: dict[str, Any], lossy: list[str]) -> None:
    tools = _tools(data.get("tools") or [], lossy)
    choice = data.get("tool_choice")
    if tools:
        body["tools"] = tools
        if isinstance(choice, dict):
            body["tool_choice"] = _tool_choice(choice)
            if choice.get("disable_parallel_tool_use"):
                body["parallel_tool_calls"] = False


def _thinking_and_format(data: dict[str, Any], body: dict[str, Any]) -> None:
    thinking, output = data.get("thinking"), as_dict(data.get("output_config"))
    if isinstance(thinking, dict) and (effort := _effort(thinking, output)) is not None:
        body["reasoning_effort"] = effort
    output_format = as_dict(output.get("format"))
    if output_format.get("type") == "json_schema" and isinstance(output_format.get("schema"), dict):
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": output_format["schema"], "strict": True},
        }


def to_chat(data: dict[str, Any]) -> Translation:
    """The chat body of a validated Messages (or count_tokens) body."""
    lossy: list[str] = []
    body: dict[str, Any] = {"model": data["model"], "messages": _messages(data, lossy)}
    for name in ("max_tokens", "temperature", "top_p"):
        if data.get(name) is not None:
            body[name] = data[name]
    if data.get("stop_sequences"):
        body["stop"] = list(data["stop_sequences"])
    if data.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    user = as_dict(data.get("metadata")).get("user_id")
    if isinstance(user, str) and user:
        body["user"] = user
    _tooling(data, body, lossy)
    _thinking_and_format(data, body)
    lossy.extend(f"'{name}'" for name in NATIVE_ONLY_FIELDS if data.get(name) is not None)
    return Translation(body=body, lossy=lossy)
