"""Cost of a request: its token usage times the price table (USD per one million tokens).

``tenants.prices`` is keyed by deployment id or model group; a deployment's own entry wins. Prompt
tokens the provider served from its prompt cache (``usage.prompt_tokens_details.cached_tokens``) are
billed at ``cached_input`` when given, else at ``input``. A model with no price costs 0 and the request
log says ``price: missing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llm_gateway.tenants.config import Price

PER = 1_000_000


@dataclass(frozen=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    cached: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @classmethod
    def from_usage(cls, usage: Mapping[str, Any] | None) -> Tokens:
        if not usage:
            return cls()
        details = usage.get("prompt_tokens_details") or {}
        return cls(
            prompt=_int(usage.get("prompt_tokens")),
            completion=_int(usage.get("completion_tokens")),
            cached=_int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0,
        )


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    def price_for(self, deployment_id: str | None, group: str | None) -> Price | None:
        for name in (deployment_id, group):
            if name is not None and name in self.prices:
                return self.prices[name]
        return None

    def cost(self, deployment_id: str | None, group: str | None, tokens: Tokens) -> float | None:
        """USD, or ``None`` when the model has no price."""
        price = self.price_for(deployment_id, group)
        if price is None:
            return None
        cached = min(tokens.cached, tokens.prompt)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        dollars = (
            (tokens.prompt - cached) * price.input + cached * cached_rate + tokens.completion * price.output
        ) / PER
        return round(dollars, 10)
