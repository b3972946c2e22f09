"""Provider name -> implementation. Entries are import paths, so a provider's code (and its SDK) is
imported only when a deployment uses it: cold start pays only for what the config names.

Adding a provider: create its folder under ``providers/`` and add one line here. Nothing else changes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_gateway.providers.base import ChatProvider, ProviderDeps

PROVIDERS: dict[str, str] = {
    "openai": "llm_gateway.providers.openai_compat:OpenAICompatProvider",
    "mock": "llm_gateway.providers.mock:MockProvider",
    "anthropic": "llm_gateway.providers.anthropic:AnthropicProvider",
    "bedrock": "llm_gateway.providers.bedrock:BedrockProvider",
    "gemini": "llm_gateway.providers.gemini:GeminiProvider",
}


class UnknownProviderError(ValueError):
    pass


def provider_class(name: str) -> type[ChatProvider]:
    try:
        target = PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownProviderError(f"unknown provider {name!r} (known: {known})") from None
    module_name, _, attr = target.partition(":")
    cls: type[ChatProvider] = getattr(importlib.import_module(module_name), attr)
    return cls


class ProviderPool:
    """One provider instance per provider name, built on first use and shared by its deployments."""

    def __init__(self, deps: ProviderDeps, registry: dict[str, str] | None = None) -> None:
        self.deps = deps
        self._instances: dict[str, ChatProvider] = {}
        self._registry = PROVIDERS if registry is None else registry

    def get(self, name: str) -> ChatProvider:
        provider = self._instances.get(name)
        if provider is None:
            provider = provider_class(name)(self.deps)
            self._instances[name] = provider
        return provider

    async def aclose(self) -> None:
        for provider in self._instances.values():
            await provider.aclose()
        self._instances.clear()
