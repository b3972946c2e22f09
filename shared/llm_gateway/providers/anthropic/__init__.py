"""Anthropic's Messages API (``provider: anthropic``); see :mod:`.provider` and the README's table."""

from llm_gateway.providers.anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
