"""An OpenAI chat request -> the body of ``POST /v1/messages``.

Field by field (the README has the full table):

- ``max_completion_tokens`` / ``max_tokens`` -> ``max_tokens`` (required by Anthropic: the deployment's
  ``default_max_tokens`` when absent; with thinking, the thinking budget is added on top of the default).
- ``temperature``: Anthropic takes 0-1. Above 1 is refused, or clamped to 1 with ``drop_params``.
  Models from Claude 4.1 reject ``temperature`` together with ``top_p``: ``top_p: 1`` is dropped as the
  no-op it is, another ``top_p`` follows the ``drop_params`` policy. Thinking forbids sampling changes.
- ``stop`` -> ``stop_sequences``; whitespace-only sequences (which Anthropic rejects) follow the policy.
- ``user`` / ``safety_identifier`` -> ``metadata.user_id`` (hashed when it looks like an e-mail address or
  a phone number, which Anthropic asks never to send).
- ``reasoning_effort`` -> ``thinking``: a token budget (older models) or ``adaptive`` with
  ``output_config.effort`` (Claude 4.6+); ``none`` turns thinking off. A client may send Anthropic's own
  ``thinking`` object instead, and ``top_k``; both pass through.
- ``response_format`` ``json_schema`` -> ``output_config.format`` on models with structured outputs, else
  the tool emulation in :mod:`.tools`; ``json_object`` always uses the emulation.
- ``web_search_options`` -> Anthropic's server-side ``web_search`` tool (``search_context_size`` low /
  medium / high -> ``max_uses`` 1 / 3 / 5; ``user_location`` carried over); see :mod:`.tools`.
- ``service_tier`` ``auto`` -> ``auto``, ``default`` -> ``standard_only``; other tiers are ignored.
- OpenAI-platform-only fields (``store``, ``metadata``, ``prompt_cache_key``, ``verbosity``, ...) change
  nothing about the answer and are ignored. Fields Anthropic cannot honour (``n`` > 1, ``logprobs``,
  ``logit_bias``, ``seed``, penalties, audio output, ``prediction``, unknown fields) follow
  ``drop_params``: a 400 naming the parameter, or dropped and logged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.anthropic.messages import build_conversation
from llm_gateway.providers.anthropic.settings import AnthropicSettings
from llm_gateway.providers.anthropic.tools import map_tools
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.params import apply_unsupported, drop_params_enabled

log = logging.getLogger("llm_gateway.providers.anthropic")

PROVIDER = "Anthropic"

UNSUPPORTED = (
    "n",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "modalities",
    "audio",
    "prediction",
)
MAPPED = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "response_format",
        "user",
        "safety_identifier",
        "reasoning_effort",
        "thinking",
        "service_tier",
        "web_search_options",
    }
)
IGNORED = frozenset(
    {"metadata", "store", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "verbosity"}
    | {"moderation"}
)

THINKING_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}
ADAPTIVE_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}
MIN_THINKING_BUDGET = 1024
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def _is_no_op(name: str, value: Any) -> bool:
    """Values equal to OpenAI's defaults ask for nothing Anthropic lacks."""
    defaults: dict[str, Any] = {"n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0}
    if name in defaults:
        return bool(value == defaults[name])
    return name == "modalities" and value == ["text"]


def _unsupported(call: ProviderCall, body: dict[str, Any], name: str, reason: str) -> None:
    """A value Anthropic cannot take: 400 by default, dropped from ``body`` (and logged) with drop_params."""
    if not drop_params_enabled(call):
        raise InvalidRequestError(
            f"The parameter '{name}' is not supported by the {PROVIDER} provider (model "
            f"'{call.deployment.group}'): {reason}. Remove it, or send \"drop_params\": true to have the "
            "gateway drop it.",
            param=name,
            code="unsupported_parameter",
        )
    log.info(
        "dropped unsupported parameter",
        extra={"fields": {"provider": PROVIDER, "model": call.deployment.group, "dropped": [name]}},
    )
    body.pop(name, None)


def _user_id(value: str) -> str:
    if _EMAIL.search(value) or _PHONE.match(value) or len(value) > 256:
        return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()
    return value


def _stop_sequences(call: ProviderCall, body: dict[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    sequences = [stop] if isinstance(stop, str) else list(stop)
    if any(not s.strip() for s in sequences):
        _unsupported(call, body, "stop", "Anthropic rejects empty or whitespace-only stop sequences")
        sequences = [s for s in sequences if s.strip()]
    return sequences or None


@dataclasses.dataclass
class _Thinking:
    config: dict[str, Any] | None = None
    effort: str | None = None
    budget: int = 0

    @property
    def on(self) -> bool:
        return self.config is not None and self.config.get("type") in ("enabled", "adaptive")


def _thinking(call: ProviderCall, body: dict[str, Any], settings: AnthropicSettings) -> _Thinking:
    native = body.get("thinking")
    if isinstance(native, dict):
        budget = native.get("budget_tokens")
        return _Thinking(config=native, budget=budget if isinstance(budget, int) else 0)
    effort = body.get("reasoning_effort")
    if effort is None or effort == "none":
        return _Thinking()
    if not settings.thinking:
        _unsupported(call, body, "reasoning_effort", "this model has no extended thinking")
        return _Thinking()
    if effort not in THINKING_BUDGETS:
        raise InvalidRequestError(
            f"reasoning_effort must be one of: none, {', '.join(THINKING_BUDGETS)}.",
            param="reasoning_effort",
            code="invalid_value",
        )
    budget = THINKING_BUDGETS[effort]
    if settings.reasoning == "adaptive":
        return _Thinking(config={"type": "adaptive"}, effort=ADAPTIVE_EFFORTS[effort], budget=budget)
    return _Thinking(config={"type": "enabled", "budget_tokens": budget}, budget=budget)


def _max_tokens(body: dict[str, Any], settings: AnthropicSettings, thinking: _Thinking) -> int:
    requested = body.get("max_completion_tokens") or body.get("max_tokens")
    if requested is None:
        return settings.default_max_tokens + (thinking.budget if thinking.on else 0)
    if thinking.config is not None and thinking.config.get("type") == "enabled" and "reasoning_effort" in body:
        # OpenAI counts reasoning inside max_completion_tokens; Anthropic wants budget < max_tokens.
        if requested <= MIN_THINKING_BUDGET:
            raise InvalidRequestError(
                f"With reasoning_effort, max_completion_tokens must be above {MIN_THINKING_BUDGET} on "
                f"{PROVIDER} (its smallest thinking budget).",
                param="max_completion_tokens" if "max_completion_tokens" in body else "max_tokens",
                code="invalid_value",
            )
        thinking.config["budget_tokens"] = min(thinking.budget, requested - 1)
    return int(requested)


def _sampling(call: ProviderCall, body: dict[str, Any], settings: AnthropicSettings, thinking: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    if thinking:
        if temperature is not None and temperature != 1:
            _unsupported(call, body, "temperature", "extended thinking requires the default temperature")
        if top_p is not None and top_p < 0.95:
            _unsupported(call, body, "top_p", "extended thinking requires top_p between 0.95 and 1")
        if body.get("top_k") is not None:
            _unsupported(call, body, "top_k", "extended thinking does not allow top_k")
        return {k: body[k] for k in ("temperature", "top_p") if body.get(k) is not None}
    if temperature is not None and temperature > 1:
        _unsupported(call, body, "temperature", "Anthropic accepts temperature from 0 to 1")
        temperature = 1.0
    if temperature is not None:
        out["temperature"] = temperature
    if top_p is not None:
        if temperature is not None and settings.exclusive_sampling:
            if top_p != 1:
                _unsupported(call, body, "top_p", "this model does not accept temperature and top_p together")
        else:
            out["top_p"] = top_p
    if isinstance(body.get("top_k"), int):
        out["top_k"] = body["top_k"]
    return out


def _output_format(body: dict[str, Any], settings: AnthropicSettings) -> dict[str, Any] | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema" or settings.structured_outputs != "native":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
    return {"type": "json_schema", "schema": schema}


def build_messages_body(call: ProviderCall, settings: AnthropicSettings) -> dict[str, Any]:
    """The Anthropic request body for ``call`` (raises a 400 for what cannot be translated)."""
    body = {k: v for k, v in call.body.items() if not _is_no_op(k, v)}
    unknown = [k for k in body if k not in MAPPED and k not in IGNORED and k not in UNSUPPORTED]
    body = dict(apply_unsupported(dataclasses.replace(call, body=body), PROVIDER, [*UNSUPPORTED, *unknown]))

    thinking = _thinking(call, body, settings)
    conversation = build_conversation(call, body["messages"])
    out: dict[str, Any] = {"model": body["model"], "max_tokens": _max_tokens(body, settings, thinking)}
    if conversation.system:
        out["system"] = conversation.system
    out["messages"] = conversation.messages
    out.update(_sampling(call, body, settings, thinking.on))
    stop = _stop_sequences(call, body)
    if stop:
        out["stop_sequences"] = stop
    if thinking.config is not None:
        out["thinking"] = thinking.config
    output_config: dict[str, Any] = {}
    if thinking.effort:
        output_config["effort"] = thinking.effort
    output_format = _output_format(body, settings)
    if output_format:
        output_config["format"] = output_format
    if output_config:
        out["output_config"] = output_config
    out.update(map_tools(call, body, settings, conversation.tool_names, thinking.on))
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": _user_id(user)}
    tier = {"auto": "auto", "default": "standard_only"}.get(str(body.get("service_tier")))
    if tier:
        out["service_tier"] = tier
    if call.stream:
        out["stream"] = True
    return out
