"""A deployment's Anthropic options (its ``models:`` entry) and what the model id says about the model.

Config fields (besides ``model``, ``api_key`` and ``api_base``):

``anthropic_version``   the ``anthropic-version`` header (default ``2023-06-01``)
``anthropic_beta``      a string or list of strings, sent as ``anthropic-beta``
``default_max_tokens``  ``max_tokens`` when the client sends none (Anthropic requires it)
``structured_outputs``  ``auto`` | ``native`` | ``tool``: how ``response_format`` is honoured
``reasoning``           ``auto`` | ``budget`` | ``adaptive``: how ``reasoning_effort`` becomes thinking
``headers``             extra headers for every upstream request (e.g. for a proxy in front of Anthropic)
``drop_params``         drop unsupported OpenAI parameters instead of answering 400

``auto`` decides from the model id: Claude 4.5 and later have native structured outputs
(``output_config.format``); Claude 4.6 and later think adaptively (``thinking: {type: adaptive}`` with
``output_config.effort``), older models take a token budget. An operator overrides either when a new
or unusual model id defeats the guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from llm_gateway.config import DeploymentConfig
from llm_gateway.providers.options import ProviderOptions, read_options

DEFAULT_API_BASE = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

StructuredOutputs = Literal["native", "tool"]
ReasoningStyle = Literal["budget", "adaptive"]

# "claude-sonnet-4-5-20250929", "claude-opus-4-1", "claude-3-7-sonnet-latest", "claude-haiku-4-5@20251001",
# "anthropic.claude-sonnet-4-5-v1:0": a major, then an optional single-digit minor (a date is not a minor).
_MODERN = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:[-.](\d{1,2})(?!\d))?")
_LEGACY = re.compile(r"claude-(\d+)(?:[-.](\d)(?!\d))?-(?:opus|sonnet|haiku)")


def model_version(model: str) -> tuple[int, int] | None:
    """``(major, minor)`` from a Claude model id, or None when the id does not say."""
    lowered = model.lower()
    for pattern in (_MODERN, _LEGACY):
        match = pattern.search(lowered)
        if match:
            return int(match.group(1)), int(match.group(2) or 0)
    return None


@dataclass(frozen=True)
class AnthropicSettings:
    api_base: str
    version: str
    betas: tuple[str, ...]
    default_max_tokens: int
    structured_outputs: StructuredOutputs
    reasoning: ReasoningStyle
    exclusive_sampling: bool
    """Newer models reject ``temperature`` and ``top_p`` in one request."""
    strict_tools: bool
    """The model takes ``strict: true`` on tool definitions (same models as structured outputs)."""
    headers: tuple[tuple[str, str], ...] = ()
    thinking: bool = True
    """The model can think (Claude 3.7 and later; unknown ids are given the benefit of the doubt)."""

    @property
    def messages_url(self) -> str:
        return f"{self.api_base.rstrip('/')}/v1/messages"


def _choice(extra: dict[str, object], key: str, allowed: tuple[str, ...]) -> str:
    value = extra.get(key, "auto")
    if value not in (*allowed, "auto"):
        raise ValueError(f"{key} must be one of: auto, {', '.join(allowed)} (got {value!r})")
    return str(value)


def _betas(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise ValueError("anthropic_beta must be a string or a list of non-empty strings")
    return tuple(part.strip() for item in items for part in item.split(",") if part.strip())


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("headers must be a mapping of header names to string values")
    return tuple((k.lower(), v) for k, v in value.items())


class AnthropicOptions(ProviderOptions):
    """The fields of a ``provider: anthropic`` entry (values are checked by :func:`settings_for`)."""

    anthropic_version: Any = DEFAULT_VERSION
    anthropic_beta: Any = None
    default_max_tokens: Any = DEFAULT_MAX_TOKENS
    structured_outputs: Any = "auto"
    reasoning: Any = "auto"
    headers: Any = None
    drop_params: Any = False


def settings_for(config: DeploymentConfig) -> AnthropicSettings:
    """Read and check a deployment's options; raises ``ValueError`` naming the bad field."""
    read_options(AnthropicOptions, config, "anthropic")
    extra = config.extra_fields
    base = config.api_base or DEFAULT_API_BASE
    if not base.startswith(("https://", "http://")):
        raise ValueError(f"api_base {base!r} must start with https:// or http://")
    version = extra.get("anthropic_version", DEFAULT_VERSION)
    if not isinstance(version, str) or not version.strip():
        raise ValueError("anthropic_version must be a non-empty string")
    max_tokens = extra.get("default_max_tokens", DEFAULT_MAX_TOKENS)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError("default_max_tokens must be a positive integer")
    drop = extra.get("drop_params", False)
    if not isinstance(drop, bool):
        raise ValueError("drop_params must be true or false")

    version_of_model = model_version(config.model)
    modern = version_of_model is not None and version_of_model >= (4, 5)
    structured = _choice(extra, "structured_outputs", ("native", "tool"))
    reasoning = _choice(extra, "reasoning", ("budget", "adaptive"))
    if structured == "auto":
        structured = "native" if modern else "tool"
    if reasoning == "auto":
        reasoning = "adaptive" if version_of_model is not None and version_of_model >= (4, 6) else "budget"
    return AnthropicSettings(
        api_base=base,
        version=version.strip(),
        betas=_betas(extra.get("anthropic_beta")),
        default_max_tokens=max_tokens,
        structured_outputs="native" if structured == "native" else "tool",
        reasoning="adaptive" if reasoning == "adaptive" else "budget",
        exclusive_sampling=version_of_model is not None and version_of_model >= (4, 1),
        strict_tools=modern,
        headers=_headers(extra.get("headers")),
        thinking=version_of_model is None or version_of_model >= (3, 7),
    )
