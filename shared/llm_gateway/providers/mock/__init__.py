"""A deterministic, offline provider for the quickstart, demos and tests. Not for production."""

from llm_gateway.providers.mock.provider import MockProvider

__all__ = ["MockProvider"]
