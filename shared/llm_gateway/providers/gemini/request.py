"""OpenAI request body -> Gemini ``GenerateContentRequest`` (camelCase REST JSON).

Mapped: temperature, top_p, (top_k), max_completion_tokens / max_tokens, stop, n, seed, presence_penalty,
frequency_penalty, logprobs / top_logprobs, response_format, reasoning_effort, tools / functions,
tool_choice / function_call, (safety_settings), parallel_tool_calls (false: only the first call of
the answer is kept, since Gemini cannot be told). Ignored because they have no effect on the answer:
store, metadata, user, safety_identifier, prompt_cache_key, stream_options (usage is always read),
service_tier auto/default, modalities ["text"]. Everything else present in the
body goes through the ``drop_params`` policy: a 400 naming it, or dropped and logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.gemini.messages import PROVIDER, map_messages
from llm_gateway.providers.gemini.schema import to_gemini_schema, to_openapi_schema
from llm_gateway.providers.params import apply_unsupported, refuse

log = logging.getLogger("llm_gateway.providers.gemini")

SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"
"""Google's documented placeholder for replayed Gemini 3 function calls that carry no signature."""

_IGNORED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "store",
        "metadata",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
_MAPPED = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "response_format",
        "reasoning_effort",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "safety_settings",
        "parallel_tool_calls",  # false: the response keeps only the first call (see .response, .stream)
    }
)
_SIMPLE = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$")
_LEVELS = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_LEVELS |= {"xhigh": "high", "max": "high"}
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}


def unsupported_fields(body: dict[str, Any]) -> list[str]:
    """Fields present in ``body`` that the Gemini API cannot honour."""
    out = [key for key in body if key not in _IGNORED and key not in _MAPPED]
    if body.get("service_tier") in (None, "auto", "default") and "service_tier" in out:
        out.remove("service_tier")
    if body.get("modalities") in (None, ["text"]) and "modalities" in out:
        out.remove("modalities")
    return out


def build_body(call: ProviderCall) -> dict[str, Any]:
    body = apply_unsupported(call, PROVIDER, unsupported_fields(call.body))
    options = call.deployment.config.extra_fields
    fallback = None
    if options.get("thought_signature_fallback", True) and "gemini-3" in call.deployment.model:
        fallback = SKIP_THOUGHT_SIGNATURE
    mapped = map_messages(body["messages"], signature_fallback=fallback)
    contents = mapped.contents
    system = mapped.system_parts
    if not contents and system:
        # Only system text: Gemini needs at least one turn, so the instructions become the user turn.
        contents, system = [{"role": "user", "parts": system}], []
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    generation = generation_config(call, body)
    if generation:
        out["generationConfig"] = generation
    tools, tool_config = tool_fields(call, body)
    if tools:
        out["tools"] = tools
    if tool_config:
        out["toolConfig"] = tool_config
    safety = body.get("safety_settings", options.get("safety_settings"))
    if safety:
        out["safetySettings"] = safety
    return out


def generation_config(call: ProviderCall, body: dict[str, Any]) -> dict[str, Any]:
    defaults = call.deployment.config.extra_fields.get("generation_config")
    config: dict[str, Any] = dict(defaults) if isinstance(defaults, dict) else {}
    for key, target in _SIMPLE.items():
        if body.get(key) is not None:
            config[target] = body[key]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs"):
            config["logprobs"] = body["top_logprobs"]
    _response_format(call, body.get("response_format"), config)
    thinking = _thinking(call, body.get("reasoning_effort"))
    if thinking:
        config["thinkingConfig"] = {**config.get("thinkingConfig", {}), **thinking}
    return config


def _openapi_dialect(call: ProviderCall) -> bool:
    return call.deployment.config.extra_fields.get("schema_dialect") == "openapi"


def _response_format(call: ProviderCall, response_format: Any, config: dict[str, Any]) -> None:
    if not isinstance(response_format, dict) or response_format.get("type") in (None, "text"):
        return
    config["responseMimeType"] = "application/json"
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            key = "responseSchema" if _openapi_dialect(call) else "responseJsonSchema"
            config[key] = _schema(call, schema, "response_format.json_schema.schema")


def _schema(call: ProviderCall, schema: dict[str, Any], param: str) -> Any:
    convert = to_openapi_schema if _openapi_dialect(call) else to_gemini_schema
    try:
        converted, dropped = convert(schema)
    except ValueError as exc:
        raise InvalidRequestError(f"Invalid '{param}': {exc}.", param=param, code="invalid_value") from None
    if dropped:
        log.info(
            "dropped JSON Schema keywords Gemini does not support",
            extra={"fields": {"param": param, "dropped": sorted(dropped)}},
        )
    return converted


def _thinking(call: ProviderCall, effort: Any) -> dict[str, Any]:
    options = call.deployment.config.extra_fields
    include = options.get("include_thoughts")
    out: dict[str, Any] = {}
    if effort is not None:
        if effort not in _BUDGETS:
            raise InvalidRequestError(
                f"Invalid 'reasoning_effort': {str(effort)[:40]!r}. Use one of: " + ", ".join(_BUDGETS) + ".",
                param="reasoning_effort",
                code="invalid_value",
            )
        model = call.deployment.model
        if "gemini-3" in model:
            out["thinkingLevel"] = _LEVELS[effort]
        else:
            budget = _BUDGETS[effort]
            out["thinkingBudget"] = 128 if budget == 0 and "pro" in model else budget
        out["includeThoughts"] = effort != "none" if include is None else bool(include)
    elif include:
        out["includeThoughts"] = True
    return out


def tool_fields(call: ProviderCall, body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    declarations = _declarations(call, body)
    choice = body.get("tool_choice")
    if choice is None and body.get("function_call") is not None:
        legacy = body["function_call"]
        choice = legacy if isinstance(legacy, str) else {"type": "function", "function": legacy}
    if not declarations:
        if isinstance(choice, dict):
            raise InvalidRequestError(
                "'tool_choice' names a tool, but the request has no 'tools'.", param="tool_choice", code="invalid_value"
            )
        return [], None
    config = _calling_config(call, choice, declarations)
    allowed = config.pop("_only", None)
    if allowed is not None:
        declarations = [d for d in declarations if d["name"] in allowed]
    tools = [{"functionDeclarations": declarations}]
    return tools, ({"functionCallingConfig": config} if config else None)


def _declarations(call: ProviderCall, body: dict[str, Any]) -> list[dict[str, Any]]:
    functions: list[tuple[dict[str, Any], str]] = []
    for index, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function":
            raise refuse(call, PROVIDER, f"tools[{index}].type", "Custom (grammar) tools")
        functions.append((tool["function"], f"tools[{index}].function"))
    functions += [(fn, f"functions[{i}]") for i, fn in enumerate(body.get("functions") or [])]
    out = []
    for function, param in functions:
        name = function.get("name", "")
        if not _FUNCTION_NAME.match(name):
            raise InvalidRequestError(
                f"The function name {name[:64]!r} is not valid for Gemini: it must start with a letter or an "
                "underscore and contain only letters, digits, '_', '.', ':' and '-' (at most 128).",
                param=f"{param}.name",
                code="invalid_value",
            )
        declaration: dict[str, Any] = {"name": name}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        if isinstance(parameters, dict) and parameters:
            key = "parameters" if _openapi_dialect(call) else "parametersJsonSchema"
            declaration[key] = _schema(call, parameters, f"{param}.parameters")
        out.append(declaration)
    return out


def _calling_config(call: ProviderCall, choice: Any, declarations: list[dict[str, Any]]) -> dict[str, Any]:
    names = {d["name"] for d in declarations}
    if choice is None or choice == "auto":
        return {}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    kind = choice.get("type")
    if kind == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise InvalidRequestError(
                f"'tool_choice' names the function {str(name)[:64]!r}, which is not in 'tools'.",
                param="tool_choice.function.name",
                code="invalid_value",
            )
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        picked = [
            (t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if t.get("type") == "function"
        ]
        unknown = [n for n in picked if n not in names]
        if unknown or not picked:
            raise InvalidRequestError(
                "'tool_choice.allowed_tools.tools' must list functions that are in 'tools'.",
                param="tool_choice.allowed_tools.tools",
                code="invalid_value",
            )
        if allowed.get("mode") == "required":
            return {"mode": "ANY", "allowedFunctionNames": picked}
        return {"mode": "AUTO", "_only": set(picked)}
    raise refuse(call, PROVIDER, "tool_choice", "A custom tool choice")
