"""An OpenAI chat request -> the keyword arguments of ``converse`` / ``converse_stream``.

Mapped: max_(completion_)tokens, temperature (0-1), top_p, stop -> ``inferenceConfig``; tools and
tool_choice (auto/required/named; ``none`` by leaving the tools out) and legacy functions ->
``toolConfig``; response_format json_schema -> ``outputConfig.textFormat`` (or a forced tool, see
:class:`Plan`), json_object -> a forced tool; reasoning_effort and top_k for Anthropic models ->
``additionalModelRequestFields``; ``parallel_tool_calls: false`` by keeping the answer's first call only;
service_tier -> ``serviceTier``; the deployment's guardrail ->
``guardrailConfig``. What Converse cannot express goes through the ``drop_params`` policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.bedrock.messages import Conversation, map_messages
from llm_gateway.providers.bedrock.settings import BedrockSettings
from llm_gateway.providers.fetch import MediaFetcher
from llm_gateway.providers.params import apply_unsupported

PROVIDER = "bedrock"
JSON_OBJECT_TOOL = "json_response"
_ALWAYS_UNSUPPORTED = (
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "top_logprobs",
    "audio",
    "prediction",
    "web_search_options",
)
# Platform-only fields with no effect on the answer: ignored, as every translating gateway does.
_IGNORED = ("store", "metadata", "user", "safety_identifier", "prompt_cache_key", "verbosity", "moderation")
_THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768, "max": 32768}
_SERVICE_TIERS = {"default": "default", "flex": "flex", "priority": "priority"}


@dataclass
class Plan:
    """The Converse arguments plus what the response mappers must know about the request."""

    kwargs: dict[str, Any]
    json_tool: str | None = None
    """Name of the tool that emulates response_format: its input is the answer's ``content``."""


def _unsupported(body: dict[str, Any], is_anthropic: bool) -> list[str]:
    names = [name for name in _ALWAYS_UNSUPPORTED if name in body]
    if (body.get("n") or 1) > 1:
        names.append("n")
    if body.get("logprobs"):
        names.append("logprobs")
    if any(m != "text" for m in body.get("modalities") or []):
        names.append("modalities")
    if not is_anthropic:
        names.extend(n for n in ("reasoning_effort", "top_k") if n in body and body[n] not in (None, "none"))
    return names


def is_anthropic_model(model: str) -> bool:
    return "anthropic." in model or "claude" in model.lower()


def _inference_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    if max_tokens is not None:
        config["maxTokens"] = int(max_tokens)
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > 1:
            raise InvalidRequestError(
                f"The bedrock provider takes 'temperature' between 0 and 1 (got {temperature}).",
                param="temperature",
                code="invalid_value",
            )
        config["temperature"] = float(temperature)
    if body.get("top_p") is not None:
        config["topP"] = float(body["top_p"])
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    stops = [s for s in stops if s]
    if stops:
        config["stopSequences"] = stops
    return config


def _tool_spec(function: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": function["name"],
        "description": function.get("description") or function["name"],
        "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
    }
    if function.get("strict") is not None:
        spec["strict"] = bool(function["strict"])
    return spec


def _functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    if tools:
        for i, tool in enumerate(tools):
            if tool.get("type") != "function":
                raise InvalidRequestError(
                    "Custom (grammar) tools are not supported by the bedrock provider.",
                    param=f"tools[{i}].type",
                    code="unsupported_parameter",
                )
        return [tool["function"] for tool in tools]
    return list(body.get("functions") or [])


def _tool_choice(body: dict[str, Any]) -> Any:
    choice = body.get("tool_choice")
    if choice is None and body.get("function_call") is not None:
        legacy = body["function_call"]
        return {"type": "function", "function": legacy} if isinstance(legacy, dict) else legacy
    return choice


def _converse_tool_choice(choice: Any, names: set[str]) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise InvalidRequestError(
                f"tool_choice names the function '{name}', which is not among the tools.",
                param="tool_choice",
                code="invalid_value",
            )
        return {"tool": {"name": name}}
    raise InvalidRequestError(
        "This tool_choice is not supported by the bedrock provider.", param="tool_choice", code="unsupported_parameter"
    )


def _placeholder_specs(names: list[str], defined: set[str]) -> list[dict[str, Any]]:
    # Converse refuses toolUse/toolResult history without a toolConfig naming the tools.
    return [
        {
            "toolSpec": {
                "name": name,
                "description": f"The tool '{name}' used earlier in this conversation.",
                "inputSchema": {"json": {"type": "object"}},
            }
        }
        for name in names
        if name not in defined
    ]


def _tool_config(call: ProviderCall, body: dict[str, Any], conv: Conversation) -> dict[str, Any] | None:
    functions = _functions(body)
    choice = _tool_choice(body)
    if choice == "none":
        if conv.has_tool_blocks:
            body = apply_unsupported(call, PROVIDER, ["tool_choice"])
        functions = []
    specs = [{"toolSpec": _tool_spec(f)} for f in functions]
    names = {f["name"] for f in functions}
    specs += _placeholder_specs(conv.tool_names, names)
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    if functions:
        config["toolChoice"] = _converse_tool_choice(choice, names)
    return config


def _response_format(body: dict[str, Any], settings: BedrockSettings, kwargs: dict[str, Any]) -> str | None:
    """Apply response_format; returns the emulating tool's name when a forced tool is used."""
    fmt = body.get("response_format") or {}
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        if settings.structured_output == "native":
            definition = {"schema": orjson.dumps(schema).decode(), "name": spec["name"]}
            if spec.get("description"):
                definition["description"] = spec["description"]
            kwargs["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
            return None
        name, description = spec["name"], spec.get("description") or "Respond with JSON matching this schema."
    else:
        name, schema, description = JSON_OBJECT_TOOL, {"type": "object"}, "Respond with a JSON object."
    if "toolConfig" in kwargs:
        raise InvalidRequestError(
            "The bedrock provider emulates this response_format with a forced tool, which cannot be combined "
            "with your tools (use a json_schema response_format on a deployment with structured_output: native).",
            param="response_format",
            code="unsupported_parameter",
        )
    kwargs["toolConfig"] = {
        "tools": [{"toolSpec": {"name": name, "description": description, "inputSchema": {"json": schema}}}],
        "toolChoice": {"tool": {"name": name}},
    }
    return str(name)


def _additional_fields(body: dict[str, Any], settings: BedrockSettings, inference: dict[str, Any]) -> dict[str, Any]:
    fields = dict(settings.additional_model_request_fields)
    if body.get("top_k") is not None:
        fields["top_k"] = body["top_k"]
    effort = body.get("reasoning_effort")
    if effort and effort != "none":
        budget = _THINKING_BUDGETS.get(str(effort))
        if budget is None:
            raise InvalidRequestError(
                f"Unknown reasoning_effort '{effort}'.", param="reasoning_effort", code="invalid_value"
            )
        max_tokens = inference.get("maxTokens")
        if max_tokens is None:
            inference["maxTokens"] = budget + 4096
        elif max_tokens <= 1024:
            raise InvalidRequestError(
                "With reasoning_effort, max_completion_tokens must be above 1024 (thinking needs a budget).",
                param="max_completion_tokens",
                code="invalid_value",
            )
        else:
            budget = min(budget, max_tokens - 1)
        fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
        inference.pop("topP", None)  # Claude refuses top_p with thinking on
    return fields


async def build_converse_args(call: ProviderCall, settings: BedrockSettings, fetcher: MediaFetcher | None) -> Plan:
    from llm_gateway.providers.bedrock.media import MediaContext

    model = call.deployment.model
    body = apply_unsupported(call, PROVIDER, _unsupported(call.body, is_anthropic_model(model)))
    conv = await map_messages(body["messages"], MediaContext(fetcher=fetcher))
    if not conv.messages:
        raise InvalidRequestError(
            "The bedrock provider needs at least one user or assistant message with content.",
            param="messages",
            code="invalid_value",
        )
    kwargs: dict[str, Any] = {"modelId": model, "messages": conv.messages}
    if conv.system:
        kwargs["system"] = conv.system
    inference = _inference_config(body)
    extra = _additional_fields(body, settings, inference)
    if inference:
        kwargs["inferenceConfig"] = inference
    if extra:
        kwargs["additionalModelRequestFields"] = extra
    tool_config = _tool_config(call, body, conv)
    if tool_config:
        kwargs["toolConfig"] = tool_config
    json_tool = _response_format(body, settings, kwargs)
    tier = _SERVICE_TIERS.get(str(body.get("service_tier")))
    if tier:
        kwargs["serviceTier"] = {"type": tier}
    if settings.guardrail is not None:
        guardrail: dict[str, Any] = {
            "guardrailIdentifier": settings.guardrail.identifier,
            "guardrailVersion": settings.guardrail.version,
        }
        if settings.guardrail.trace:
            guardrail["trace"] = settings.guardrail.trace
        if call.stream and settings.guardrail.stream_processing_mode:
            guardrail["streamProcessingMode"] = settings.guardrail.stream_processing_mode
        kwargs["guardrailConfig"] = guardrail
    return Plan(kwargs=kwargs, json_tool=json_tool)
