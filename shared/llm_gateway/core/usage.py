"""Token usage of a stream: what the upstream reported, or an estimate when it reported nothing.

The gateway always asks upstreams for a usage chunk, but not every OpenAI-compatible server sends one
(llama.cpp's Python server ignores ``stream_options``), and a stream the client abandons never reaches
it. The meter watches the chunks going by so the gateway can still answer ``include_usage`` and charge
what was generated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_gateway.core.tokens import estimate_text_tokens


class StreamUsageMeter:
    def __init__(self, prompt_tokens: Callable[[], int]) -> None:
        self._prompt_tokens = prompt_tokens
        self.reported: dict[str, Any] | None = None
        self._chars = 0
        self._last: dict[str, Any] | None = None

    def observe(self, chunk: dict[str, Any]) -> None:
        self._last = chunk
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.reported = usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            for key in ("content", "reasoning_content", "refusal"):
                value = delta.get(key)
                if isinstance(value, str):
                    self._chars += len(value)
            for call in delta.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    self._chars += len(function.get("name") or "") + len(function.get("arguments") or "")

    def estimate(self) -> dict[str, Any]:
        prompt = self._prompt_tokens()
        completion = estimate_text_tokens(self._chars)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def usage(self) -> tuple[dict[str, Any], bool]:
        """(usage, estimated)."""
        if self.reported is not None:
            return self.reported, False
        return self.estimate(), True

    def usage_chunk(self) -> dict[str, Any]:
        """A final ``include_usage`` chunk built from the estimate, shaped like the stream's own chunks."""
        last = self._last or {}
        keys: tuple[str, ...] = ("id", "object", "created", "model", "system_fingerprint")
        chunk: dict[str, Any] = {key: last[key] for key in keys if key in last}
        chunk.update(choices=[], usage=self.estimate())
        return chunk
