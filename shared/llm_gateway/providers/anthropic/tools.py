"""Tools, ``tool_choice``, ``parallel_tool_calls``, legacy ``functions`` and JSON-mode emulation.

``tool_choice``: ``auto`` -> ``{type: auto}``, ``none`` -> ``{type: none}``, ``required`` -> ``{type: any}``,
a named function -> ``{type: tool, name}``, ``allowed_tools`` -> the listed tools only, with auto/any.
``parallel_tool_calls: false`` -> ``disable_parallel_tool_use: true``. Legacy ``functions`` (OpenAI's
``function_call`` answer holds one call) also disable parallel calls.

JSON-mode emulation (``response_format`` ``json_object``, or ``json_schema`` on a model without native
structured outputs): one extra tool whose ``input_schema`` is the requested schema, which the model is
made to call; the response mapping turns that call back into the message ``content`` (a JSON string)
with ``finish_reason: stop``. A schema whose top level is not an object is wrapped as
``{"values": <schema>}`` and unwrapped on the way back. With the client's own tools present the model
must call *some* tool (``any``), so it either uses a client tool or answers in JSON. With thinking on,
Anthropic refuses forced tool use, so the choice relaxes to ``auto``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.anthropic.content import PROVIDER
from llm_gateway.providers.anthropic.settings import AnthropicSettings
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.params import refuse

JSON_TOOL_NAME = "json_output"
WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search"}
_SEARCH_USES = {"low": 1, "medium": 3, "high": 5}
_JSON_TOOL_DESCRIPTION = (
    "Give your final answer by calling this tool. Its input is the JSON answer, following the schema exactly."
)
_ANY_OBJECT = {"type": "object", "additionalProperties": True, "properties": {}}


@dataclass(frozen=True)
class JsonMode:
    tool_name: str
    wrapped: bool
    """The schema was wrapped as ``{"values": schema}``; the answer is ``input["values"]``."""


def _client_tool_names(body: dict[str, Any]) -> set[str]:
    names = {t["function"]["name"] for t in body.get("tools") or [] if isinstance(t.get("function"), dict)}
    return names | {f["name"] for f in body.get("functions") or []}


def plan_json_mode(body: dict[str, Any], settings: AnthropicSettings) -> JsonMode | None:
    """Whether (and how) this request emulates JSON output with a tool; pure, so both the request and the
    response mapping can ask."""
    response_format = body.get("response_format") or {}
    kind = response_format.get("type")
    if kind == "json_schema" and settings.structured_outputs == "native":
        return None
    if kind not in ("json_object", "json_schema"):
        return None
    taken = _client_tool_names(body)
    name, suffix = JSON_TOOL_NAME, 1
    while name in taken:
        suffix += 1
        name = f"{JSON_TOOL_NAME}_{suffix}"
    schema = (response_format.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
    wrapped = isinstance(schema, dict) and schema.get("type") != "object"
    return JsonMode(tool_name=name, wrapped=wrapped)


@dataclass(frozen=True)
class ResponsePlan:
    """What the response mapping must know about the request."""

    json_mode: JsonMode | None = None
    legacy_functions: bool = False
    """The client used ``functions`` (not ``tools``): answer with ``function_call``, one call at most."""


def uses_legacy_functions(body: dict[str, Any]) -> bool:
    return bool(body.get("functions")) and not body.get("tools")


def plan_response(body: dict[str, Any], settings: AnthropicSettings) -> ResponsePlan:
    return ResponsePlan(json_mode=plan_json_mode(body, settings), legacy_functions=uses_legacy_functions(body))


def _json_tool(body: dict[str, Any], mode: JsonMode) -> dict[str, Any]:
    response_format = body["response_format"]
    details = response_format.get("json_schema") or {}
    schema = details.get("schema") if response_format.get("type") == "json_schema" else None
    if not isinstance(schema, dict) or not schema:
        schema = _ANY_OBJECT
    if mode.wrapped:
        schema = {"type": "object", "properties": {"values": schema}, "required": ["values"]}
    description = details.get("description") or _JSON_TOOL_DESCRIPTION
    return {"name": mode.tool_name, "description": description, "input_schema": schema}


def _definition(function: dict[str, Any], param: str, settings: AnthropicSettings) -> dict[str, Any]:
    schema = function.get("parameters")
    if schema is None or schema == {}:
        schema = {"type": "object", "properties": {}}
    elif "type" not in schema:
        schema = {"type": "object", **schema}
    elif schema.get("type") != "object":
        raise InvalidRequestError(
            "A tool's parameters must be a JSON schema of type 'object'.",
            param=f"{param}.parameters",
            code="invalid_value",
        )
    definition: dict[str, Any] = {"name": function["name"], "input_schema": schema}
    if function.get("description"):
        definition["description"] = function["description"]
    if function.get("strict") and settings.strict_tools:
        definition["strict"] = True
    return definition


def _definitions(call: ProviderCall, body: dict[str, Any], settings: AnthropicSettings) -> list[dict[str, Any]]:
    definitions = []
    for position, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function":
            raise refuse(call, PROVIDER, f"tools[{position}]", "A custom (free-form or grammar) tool")
        definitions.append(_definition(tool["function"], f"tools[{position}].function", settings))
    for position, function in enumerate(body.get("functions") or []):
        definitions.append(_definition(function, f"functions[{position}]", settings))
    return definitions


def web_search_tool(call: ProviderCall, body: dict[str, Any], definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """``web_search_options`` -> Anthropic's server-side web search tool (Anthropic runs the searches)."""
    options = body.get("web_search_options")
    if not isinstance(options, dict):
        raise InvalidRequestError(
            "web_search_options must be an object.", param="web_search_options", code="invalid_value"
        )
    if any(d.get("name") == WEB_SEARCH_TOOL["name"] for d in definitions):
        raise refuse(call, PROVIDER, "web_search_options", "web_search_options together with a tool named 'web_search'")
    tool: dict[str, Any] = dict(WEB_SEARCH_TOOL)
    uses = _SEARCH_USES.get(str(options.get("search_context_size")))
    if uses:
        tool["max_uses"] = uses
    location = options.get("user_location")
    approximate = location.get("approximate") if isinstance(location, dict) else None
    if isinstance(approximate, dict):
        fields = {k: v for k, v in approximate.items() if k in ("city", "region", "country", "timezone") and v}
        tool["user_location"] = {"type": "approximate", **fields}
    return tool


def _choice(call: ProviderCall, body: dict[str, Any], definitions: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = body.get("tool_choice")
    param = "tool_choice"
    if choice is None and body.get("function_call") is not None:
        choice, param = body["function_call"], "function_call"
        if isinstance(choice, dict):
            choice = {"type": "function", "function": choice}
    if choice is None:
        return None
    if isinstance(choice, str):
        return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}
    kind = choice.get("type")
    if kind == "function":
        return {"type": "tool", "name": choice["function"]["name"]}
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {t.get("function", {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)}
        definitions[:] = [d for d in definitions if d["name"] in names]
        return {"type": "any" if allowed.get("mode") == "required" else "auto"}
    raise refuse(call, PROVIDER, param, f"A tool_choice of type '{kind}'")


def map_tools(
    call: ProviderCall,
    body: dict[str, Any],
    settings: AnthropicSettings,
    history_tools: list[str],
    thinking: bool,
) -> dict[str, Any]:
    """The ``tools`` and ``tool_choice`` fields of the Anthropic request (possibly empty)."""
    definitions = _definitions(call, body, settings)
    choice = _choice(call, body, definitions)
    has_client_tools = bool(definitions)
    if choice is not None and choice["type"] in ("any", "tool") and thinking:
        raise InvalidRequestError(
            "Anthropic cannot force a tool call while extended thinking is on. Use tool_choice 'auto' or "
            "'none', or drop reasoning_effort.",
            param="tool_choice",
            code="unsupported_parameter",
        )

    mode = plan_json_mode(body, settings)
    if mode is not None:
        definitions.append(_json_tool(body, mode))
        if thinking:
            choice = {"type": "auto"}
        elif not has_client_tools or (choice is not None and choice["type"] == "none"):
            choice = {"type": "tool", "name": mode.tool_name}
        elif choice is None or choice["type"] == "auto":
            choice = {"type": "any"}

    if body.get("web_search_options") is not None:
        definitions.append(web_search_tool(call, body, definitions))

    if not definitions and history_tools:
        # Anthropic wants every tool used in the history defined; the client offers none now, so define
        # them as placeholders and tell the model not to call any.
        definitions = [
            {"name": name, "description": "(not offered in this request)", "input_schema": {"type": "object"}}
            for name in history_tools
        ]
        choice = {"type": "none"}

    single_call = body.get("parallel_tool_calls") is False or uses_legacy_functions(body)
    if single_call and definitions:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice = {**choice, "disable_parallel_tool_use": True}

    out: dict[str, Any] = {}
    if definitions:
        out["tools"] = definitions
    if choice is not None and definitions:
        out["tool_choice"] = choice
    return out
