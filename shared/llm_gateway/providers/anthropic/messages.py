"""OpenAI ``messages`` -> Anthropic ``system`` + alternating ``messages``.

- ``system`` and ``developer`` messages are hoisted, in order, into the top-level ``system`` text blocks
  (Anthropic has no system role in ``messages``; a mid-conversation one loses its position).
- ``tool`` and legacy ``function`` messages become ``tool_result`` blocks in a user turn; consecutive
  results (and a user message right after them) share one turn, results first, as Anthropic requires.
- An assistant's ``tool_calls`` (and legacy ``function_call``) become ``tool_use`` blocks whose ``input``
  is the parsed ``arguments`` (``""`` -> ``{}``; invalid JSON or a non-object -> 400).
- Tool-call ids are made Anthropic-safe with :func:`~llm_gateway.providers.tool_ids.safe_tool_call_id`,
  applied to both sides of each pair.
- Consecutive messages of one role are merged (Anthropic requires alternation); empty text is dropped;
  the final assistant message (a prefill) loses trailing whitespace, which Anthropic rejects.
- ``name`` on messages has no equivalent and is ignored. ``thinking_blocks`` on an assistant message
  (the gateway's own response extension) are replayed first in that turn, as thinking with tools needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.anthropic.content import PROVIDER, Block, text_blocks, user_blocks
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.params import refuse
from llm_gateway.providers.tool_args import parse_tool_arguments
from llm_gateway.providers.tool_ids import safe_tool_call_id


@dataclass
class Conversation:
    system: list[Block] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_names: list[str] = field(default_factory=list)
    """Names of the tools the history calls (Anthropic wants every one of them defined)."""


class _Builder:
    def __init__(self, call: ProviderCall) -> None:
        self.call = call
        self.out = Conversation()
        self._pending_functions: list[tuple[str, str]] = []

    def add(self, role: str, blocks: list[Block]) -> None:
        if not blocks:
            return
        turns = self.out.messages
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    def note_tool(self, name: str) -> None:
        if name not in self.out.tool_names:
            self.out.tool_names.append(name)

    def assistant(self, message: dict[str, Any], index: int) -> None:
        param = f"messages[{index}]"
        if message.get("audio"):
            raise refuse(self.call, PROVIDER, f"{param}.audio", "A reference to earlier audio output")
        blocks: list[Block] = [dict(b) for b in message.get("thinking_blocks") or [] if isinstance(b, dict)]
        blocks += text_blocks(message.get("content"))
        if message.get("content") is None and isinstance(message.get("refusal"), str):
            blocks += text_blocks(message["refusal"])
        for position, tool_call in enumerate(message.get("tool_calls") or []):
            where = f"{param}.tool_calls[{position}]"
            if tool_call.get("type", "function") != "function" or not isinstance(tool_call.get("function"), dict):
                raise refuse(self.call, PROVIDER, where, "A custom tool call")
            function = tool_call["function"]
            self.note_tool(function["name"])
            blocks.append(
                {
                    "type": "tool_use",
                    "id": safe_tool_call_id(tool_call["id"]),
                    "name": function["name"],
                    "input": parse_tool_arguments(
                        function.get("arguments"), f"{where}.function.arguments", "anthropic"
                    ),
                }
            )
        legacy = message.get("function_call")
        if isinstance(legacy, dict):
            call_id = f"call_function_{index}"
            self._pending_functions.append((legacy["name"], call_id))
            self.note_tool(legacy["name"])
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": legacy["name"],
                    "input": parse_tool_arguments(
                        legacy.get("arguments"), f"{param}.function_call.arguments", "anthropic"
                    ),
                }
            )
        self.add("assistant", blocks)

    def tool_result(self, tool_use_id: str, content: Any) -> None:
        block: Block = {"type": "tool_result", "tool_use_id": tool_use_id}
        parts = text_blocks(content)
        if parts:
            block["content"] = parts
        self.add("user", [block])

    def function_result(self, message: dict[str, Any], index: int) -> None:
        name = message["name"]
        for position, (pending_name, call_id) in enumerate(self._pending_functions):
            if pending_name == name:
                del self._pending_functions[position]
                self.tool_result(call_id, message.get("content"))
                return
        raise InvalidRequestError(
            f"The function message for '{name}' does not answer an earlier assistant function_call.",
            param=f"messages[{index}]",
            code="invalid_value",
        )

    def finish(self) -> Conversation:
        for turn in self.out.messages:
            if turn["role"] == "user":
                # tool_result blocks must open the user turn that answers the tool calls
                turn["content"].sort(key=lambda block: block.get("type") != "tool_result")
        turns = self.out.messages
        if turns and turns[-1]["role"] == "assistant":
            content = turns[-1]["content"]
            if content and content[-1].get("type") == "text":
                stripped = content[-1]["text"].rstrip()
                if stripped:
                    content[-1] = {**content[-1], "text": stripped}
                else:
                    content.pop()
            if not content:
                turns.pop()
        if not turns:
            raise InvalidRequestError(
                "The conversation has no user or assistant content to send (only system messages or empty text).",
                param="messages",
                code="invalid_value",
            )
        return self.out


def build_conversation(call: ProviderCall, messages: list[dict[str, Any]]) -> Conversation:
    builder = _Builder(call)
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            builder.out.system.extend(text_blocks(message.get("content")))
        elif role == "user":
            builder.add("user", user_blocks(call, message.get("content"), f"messages[{index}].content"))
        elif role == "assistant":
            builder.assistant(message, index)
        elif role == "tool":
            builder.tool_result(safe_tool_call_id(message["tool_call_id"]), message.get("content"))
        elif role == "function":
            builder.function_result(message, index)
    return builder.finish()
