"""A ``CreateResponse`` (with the conversation before it) as the chat request the pipeline runs.

=============================  =================================================================
Responses                      Chat completions
=============================  =================================================================
``instructions``               a ``system`` message first (never carried over from a previous response)
``input`` string               one ``user`` message
message item                   a message of its role; ``input_text`` / ``output_text`` -> text,
                               ``input_image`` -> ``image_url``, ``input_file`` -> ``file``,
                               ``refusal`` -> a refusal part
``function_call`` items        one ``assistant`` message's ``tool_calls`` (consecutive calls together)
``function_call_output``       a ``tool`` message
``reasoning`` items            left out (chat has no input for them; Claude's signed thinking is kept by
                               the gateway itself)
``item_reference``             the item of that id from the previous responses
``tools`` (function)           ``tools`` ``{type: function, function: {...}}``
``tool_choice``                ``tool_choice`` (a function by name, ``allowed_tools``)
``text.format``                ``response_format`` (``json_schema`` / ``json_object``; ``text``: none)
``reasoning.effort``           ``reasoning_effort``
``max_output_tokens``          ``max_completion_tokens``
``temperature``, ``top_p``, ``parallel_tool_calls``, ``metadata``, ``user``, ``safety_identifier``,
``prompt_cache_key``, ``service_tier``, ``top_logprobs`` (with ``logprobs``): the same names
=============================  =================================================================

``store`` is the gateway's (chat's ``store`` would ask the upstream to keep it): never forwarded.

What only an upstream serving the Responses API itself can take (hosted tools, a ``tool_choice`` naming
one, items of hosted tools) is a 400 naming the field, unless the caller collects it (``native_only``):
then the chat view leaves it out, and only a native deployment may answer (:mod:`.service`).
"""

from __future__ import annotations

from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.responses.request import HOSTED_TOOLS, CreateResponse
from llm_gateway.schemas.request import GATEWAY_EXTENSION_FIELDS

_SAME_NAME = ("temperature", "top_p", "parallel_tool_calls", "metadata", "user", "safety_identifier")
_PASSED_ON = ("prompt_cache_key", "service_tier")


def _bad(param: str, message: str, code: str = "invalid_value") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


NativeOnly = list[InvalidRequestError] | None
"""Where what only a native upstream can serve is collected (``None``: refused at once)."""


def _native_only(collected: NativeOnly, error: InvalidRequestError) -> None:
    if collected is None:
        raise error
    collected.append(error)


def hosted_tool_error(param: str, kind: Any) -> InvalidRequestError:
    return _bad(
        param,
        f"Unsupported value for '{param}': '{kind}' is a tool the upstream runs itself, which the gateway "
        "cannot bridge onto chat completions; use function tools, or a model whose deployments serve the "
        "Responses API natively (native: [responses]).",
        "unsupported_tool",
    )


def _part(part: Any, param: str, role: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise _bad(param, f"Invalid '{param}': expected a content part object.", "invalid_type")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        if not isinstance(part.get("text"), str):
            raise _bad(f"{param}.text", f"Invalid '{param}.text': expected a string.", "invalid_type")
        return {"type": "text", "text": part["text"]}
    if kind == "refusal" and role == "assistant":
        return {"type": "refusal", "refusal": str(part.get("refusal") or "")}
    if kind == "input_image" and role == "user":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise _bad(
                f"{param}.image_url",
                f"Invalid '{param}': the gateway needs 'image_url' (an http(s) or data URL); uploaded file ids "
                "cannot be bridged.",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("auto", "low", "high"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and role == "user":
        file = {k: part[k] for k in ("filename", "file_data", "file_id") if isinstance(part.get(k), str)}
        if "file_data" not in file and "file_id" not in file:
            raise _bad(f"{param}.file_data", f"Invalid '{param}': 'file_data' or 'file_id' is required.")
        return {"type": "file", "file": file}
    raise _bad(
        f"{param}.type", f"Invalid value for '{param}.type': {kind!r} is not a content part of a {role} message."
    )


def _content(content: Any, param: str, role: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(param, f"Invalid '{param}': expected a string or an array of content parts.", "invalid_type")
    parts = [_part(part, f"{param}[{i}]", role) for i, part in enumerate(content)]
    if role in ("system", "developer", "assistant") and all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)  # text-only roles: one string, as every provider takes it
    return parts


class _Messages:
    """Chat messages built item by item; consecutive function calls join one assistant turn."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def add(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def add_call(self, call: dict[str, Any]) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.get("role") == "assistant":  # the text and the calls of one turn
            last.setdefault("tool_calls", []).append(call)
            return
        self.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise _bad(
            f"{param}.role",
            f"Invalid value for '{param}.role': expected one of user, assistant, system, developer (got {role!r}).",
        )
    if "content" not in item:
        raise _bad(f"{param}.content", f"Missing required parameter: '{param}.content'.", "missing_required_parameter")
    content = _content(item["content"], f"{param}.content", role)
    if role == "assistant" and isinstance(content, list):
        refusal = "".join(p.get("refusal", "") for p in content if p["type"] == "refusal")
        text = "".join(p.get("text", "") for p in content if p["type"] == "text")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if refusal:
            message["refusal"] = refusal
        return message
    return {"role": role, "content": content}


def messages_from_items(
    items: list[Any], *, param: str = "input", known: dict[str, dict[str, Any]], native_only: NativeOnly = None
) -> list[dict[str, Any]]:
    """Chat messages for ``items`` (``known``: earlier items by id, for ``item_reference``)."""
    out = _Messages()
    for index, given in enumerate(items):
        where, item = f"{param}[{index}]", given
        if not isinstance(item, dict):
            raise _bad(where, f"Invalid '{where}': expected an input item object.", "invalid_type")
        kind = item.get("type")
        if kind == "item_reference":
            ref = item.get("id")
            if not isinstance(ref, str) or ref not in known:
                raise _bad(f"{where}.id", f"Invalid '{where}.id': no item {ref!r} in the previous responses.")
            item, kind = known[ref], known[ref].get("type")
        if kind in (None, "message"):
            out.add(_message(item, where))
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                if not isinstance(item.get(name), str):
                    raise _bad(f"{where}.{name}", f"Invalid '{where}.{name}': expected a string.", "invalid_type")
            out.add_call(
                {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                }
            )
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise _bad(f"{where}.call_id", f"Invalid '{where}.call_id': expected a string.", "invalid_type")
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(
                    str(p.get("text", "")) for p in output if isinstance(p, dict) and p.get("type") == "input_text"
                )
            if not isinstance(output, str):
                raise _bad(f"{where}.output", f"Invalid '{where}.output': expected a string.", "invalid_type")
            out.add({"role": "tool", "tool_call_id": item["call_id"], "content": output})
        elif kind == "reasoning":
            continue
        else:
            message = (
                f"Unsupported value for '{where}.type': {kind!r} items cannot be bridged onto chat completions "
                "(messages, function_call, function_call_output, reasoning and item_reference can); a model whose "
                "deployments serve the Responses API natively (native: [responses]) takes them."
            )
            _native_only(native_only, _bad(f"{where}.type", message, "unsupported_value"))
    return out.messages


def _tools(tools: list[dict[str, Any]], native_only: NativeOnly) -> list[dict[str, Any]]:
    out = []
    for index, tool in enumerate(tools):
        if tool.get("type") in HOSTED_TOOLS:
            _native_only(native_only, hosted_tool_error(f"tools[{index}].type", tool.get("type")))
            continue
        function: dict[str, Any] = {"name": tool["name"]}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: str | dict[str, Any], native_only: NativeOnly) -> Any:
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise _bad("tool_choice", f"Invalid value for 'tool_choice': {choice!r}.")
        return choice
    kind = choice.get("type")
    if kind == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools" and isinstance(choice.get("tools"), list):
        names = [t.get("name") for t in choice["tools"] if isinstance(t, dict) and t.get("type") == "function"]
        return {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": choice.get("mode", "auto"),
                "tools": [{"type": "function", "function": {"name": n}} for n in names],
            },
        }
    if kind in HOSTED_TOOLS:
        _native_only(native_only, hosted_tool_error("tool_choice.type", kind))
        return None
    raise _bad("tool_choice", "Invalid value for 'tool_choice': expected none, auto, required or a function by name.")


def _response_format(request: CreateResponse) -> dict[str, Any] | None:
    fmt = request.text.format if request.text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
    if fmt.description is not None:
        schema["description"] = fmt.description
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


def _instructions(request: CreateResponse) -> dict[str, Any] | None:
    instructions = request.instructions
    if instructions is None or instructions == "":
        return None
    if isinstance(instructions, str):
        return {"role": "system", "content": instructions}
    messages = messages_from_items(instructions, param="instructions", known={})
    return {"role": "system", "content": "\n\n".join(str(m.get("content") or "") for m in messages)}


def chat_body(
    request: CreateResponse,
    data: dict[str, Any],
    conversation: list[dict[str, Any]],
    known: dict[str, dict[str, Any]],
    native_only: NativeOnly = None,
) -> dict[str, Any]:
    """The chat request body for ``request`` over the whole ``conversation`` (earlier items, then this input);
    with ``native_only``, what only a native upstream serves is collected there and left out."""
    messages = messages_from_items(conversation, known=known, native_only=native_only)
    system = _instructions(request)
    if system is not None:
        messages.insert(0, system)
    if not messages:
        if native_only:
            raise native_only[0]  # nothing of the input is left for the chat view
        raise _bad("input", "Invalid 'input': there is nothing to answer (no message).")
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    tools = _tools(request.tools or [], native_only)
    if tools:
        body["tools"] = tools
    choice = _tool_choice(request.tool_choice, native_only) if request.tool_choice is not None else None
    if choice is not None and (tools or choice == "none"):
        body["tool_choice"] = choice
    response_format = _response_format(request)
    if response_format is not None:
        body["response_format"] = response_format
    if request.reasoning is not None and request.reasoning.effort is not None:
        body["reasoning_effort"] = request.reasoning.effort
    if request.max_output_tokens is not None:
        body["max_completion_tokens"] = request.max_output_tokens
    if request.top_logprobs:
        body["logprobs"], body["top_logprobs"] = True, request.top_logprobs
    for name in (*_SAME_NAME, *_PASSED_ON):
        if data.get(name) is not None:
            body[name] = data[name]
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    for name in GATEWAY_EXTENSION_FIELDS:
        if name in data:
            body[name] = data[name]
    return body
