"""Claude's signed thinking blocks, kept by the gateway across a tool loop (see :mod:`.memory`)."""

from llm_gateway.providers.thinking.memory import THINKING_HEADER, ThinkingMemory
from llm_gateway.providers.thinking.store import (
    DynamoThinkingStore,
    MemoryThinkingStore,
    ThinkingStore,
    build_thinking_store,
)

__all__ = [
    "THINKING_HEADER",
    "DynamoThinkingStore",
    "MemoryThinkingStore",
    "ThinkingMemory",
    "ThinkingStore",
    "build_thinking_store",
]
