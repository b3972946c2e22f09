"""Claude's thinking across a tool loop, whatever the client.

With thinking on, Anthropic (and Claude on Bedrock) requires the assistant turn that called tools to come
back starting with its signed thinking block, or it answers 400 ("a final assistant message must start
with a thinking block"). OpenAI's messages have no slot for it, and real clients (openai-node's
``runTools``, the Vercel AI SDK, pydantic-ai, LangChain...) rebuild that assistant message from
``content`` and ``tool_calls`` only. So the gateway keeps the blocks itself:

- an answer that thinks and calls tools: its thinking blocks are kept, under the caller's key and the
  answer's first tool-call id, for ``ttl`` seconds (before a stream's finish chunk is sent, so the next
  request of the loop always finds them);
- a request whose last assistant message has ``tool_calls`` but no ``thinking_blocks``, with thinking on:
  the kept blocks go back in front of that turn;
- none kept (expired, made elsewhere, too large): thinking is turned off for that one request, which
  Anthropic accepts, and the response says so in ``x-llm-gateway-thinking: off`` and the log.

A client that sends ``thinking_blocks`` itself (LiteLLM's extension) is taken at its word.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.thinking.store import Blocks, ThinkingStore
from llm_gateway.scopes import thinking_key

log = logging.getLogger("llm_gateway.providers.thinking")

THINKING_HEADER = "x-llm-gateway-thinking"
DEFAULT_TTL = 24 * 3600.0
"""A tool may run for long (a human approving it, a slow job); a day is generous and still bounded."""

BodyFn = Callable[[dict[str, Any]], dict[str, Any]]


def _last_assistant(messages: list[Any]) -> int | None:
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if isinstance(message, dict) and message.get("role") == "assistant":
            return position
    return None


def _first_call_id(message: dict[str, Any]) -> str | None:
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict):
        return None
    call_id = calls[0].get("id")
    return call_id if isinstance(call_id, str) and call_id else None


def _blocks(entries: list[Any]) -> Blocks:
    """Thinking blocks as the request side takes them (the stream's ``index`` dropped)."""
    return [{k: v for k, v in entry.items() if k != "index"} for entry in entries if isinstance(entry, dict)]


class ThinkingMemory:
    def __init__(self, store: ThinkingStore, clock: Callable[[], float], ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl

    async def prepare(self, call: ProviderCall, *, thinking_on: bool, thinking_off: BodyFn) -> ProviderCall:
        """``call`` with its tool turn's thinking put back, or with thinking off when none was kept."""
        messages = call.body.get("messages")
        if not thinking_on or not isinstance(messages, list):
            return call
        position = _last_assistant(messages)
        if position is None:
            return call
        message = messages[position]
        call_id = _first_call_id(message)
        if call_id is None or message.get("thinking_blocks"):
            return call
        blocks = await self.store.get(thinking_key(call.caller, call_id), now=self.clock())
        if blocks:
            restored = list(messages)
            restored[position] = {**message, "thinking_blocks": blocks}
            return dataclasses.replace(call, body={**call.body, "messages": restored})
        call.response_headers[THINKING_HEADER] = "off"
        log.info(
            "thinking turned off for a tool turn whose thinking blocks were not kept",
            extra={"fields": {"model": call.deployment.group, "tool_call_id": call_id}},
        )
        return dataclasses.replace(call, body=thinking_off(call.body))

    async def remember(self, call: ProviderCall, message: dict[str, Any]) -> None:
        """Keep an answer's thinking blocks when it called tools."""
        blocks = message.get("thinking_blocks")
        call_id = _first_call_id(message)
        if call_id is not None and isinstance(blocks, list) and blocks:
            await self.keep(call, call_id, _blocks(blocks))

    async def keep(self, call: ProviderCall, call_id: str, blocks: Blocks) -> None:
        await self.store.put(thinking_key(call.caller, call_id), blocks, expires_at=self.clock() + self.ttl)

    def recorder(self, call: ProviderCall) -> StreamRecorder:
        return StreamRecorder(self, call)


class StreamRecorder:
    """Watches a stream's chunks; :meth:`save` before the finish chunk goes out."""

    def __init__(self, memory: ThinkingMemory, call: ProviderCall) -> None:
        self.memory = memory
        self.call = call
        self.blocks: Blocks = []
        self.first_call_id: str | None = None

    def observe(self, chunk: dict[str, Any]) -> bool:
        """Note what ``chunk`` carries; True when it is the finish chunk (save first, then send)."""
        finished = False
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            self.blocks += _blocks(delta.get("thinking_blocks") or [])
            for tool_call in delta.get("tool_calls") or ():
                if self.first_call_id is None and tool_call.get("id"):
                    self.first_call_id = str(tool_call["id"])
            finished = finished or choice.get("finish_reason") is not None
        return finished

    async def save(self) -> None:
        if self.first_call_id is not None and self.blocks:
            await self.memory.keep(self.call, self.first_call_id, self.blocks)
            self.blocks = []
