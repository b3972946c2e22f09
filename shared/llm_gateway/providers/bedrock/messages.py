"""OpenAI ``messages`` -> Converse ``system`` blocks and alternating ``messages``.

- system/developer messages (anywhere) become ``system`` text blocks, in order;
- user parts become text/image/document/video blocks; ``input_audio`` is refused; a ``cache_control``
  marker on a text part (user or system) becomes a ``cachePoint`` block after it;
- assistant ``thinking_blocks`` (extension), text and ``tool_calls`` become ``reasoningContent``, text and
  ``toolUse`` blocks (arguments JSON -> object);
- tool (and legacy function) messages become ``toolResult`` blocks in a user turn;
- consecutive same-role turns are merged (Converse requires alternation); empty text is dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.bedrock.media import (
    MediaContext,
    document_block,
    file_block,
    image_block,
    video_block,
)
from llm_gateway.providers.bedrock.thinking import reasoning_blocks
from llm_gateway.providers.tool_args import parse_tool_arguments

_TOOL_ID_DISALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_TOOL_ID_MAX = 64


def bedrock_tool_id(openai_id: str) -> str:
    """A toolUseId Bedrock accepts (``[a-zA-Z0-9_-]{1,64}``), the same for the same input.

    Ids that already fit pass unchanged; others are cleaned and suffixed with a hash of the original, so
    two different ids never collide and ``tool_calls[].id`` / ``tool_call_id`` still pair up.
    """
    if openai_id and len(openai_id) <= _TOOL_ID_MAX and not _TOOL_ID_DISALLOWED.search(openai_id):
        return openai_id
    digest = hashlib.sha256(openai_id.encode()).hexdigest()[:12]
    cleaned = _TOOL_ID_DISALLOWED.sub("_", openai_id)[: _TOOL_ID_MAX - len(digest) - 1]
    return f"{cleaned}_{digest}" if cleaned else f"call_{digest}"


@dataclass
class Conversation:
    system: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_names: list[str] = field(default_factory=list)
    """Names of tools used in the history (Converse needs a toolConfig naming them)."""

    def add(self, role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if self.messages and self.messages[-1]["role"] == role:
            self.messages[-1]["content"].extend(blocks)
        else:
            self.messages.append({"role": role, "content": blocks})

    def note_tool(self, name: str) -> None:
        if name not in self.tool_names:
            self.tool_names.append(name)

    @property
    def has_tool_blocks(self) -> bool:
        return any("toolUse" in b or "toolResult" in b for m in self.messages for b in m["content"])


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"text": text}] if text.strip() else []


CACHE_POINT = {"cachePoint": {"type": "default"}}


def _cache_point(part: Any) -> list[dict[str, Any]]:
    """A ``cache_control`` marker on a content part (Anthropic's prompt-caching extension, which clients
    put on the part that ends a cacheable prefix) -> Converse's ``cachePoint`` block right after it."""
    return [dict(CACHE_POINT)] if isinstance(part, dict) and isinstance(part.get("cache_control"), dict) else []


def _system_blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_blocks(_text_of(content))
    blocks: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            blocks += _text_blocks(str(part.get("text", ""))) + _cache_point(part)
    return blocks


async def _user_blocks(media: MediaContext, content: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_blocks(_text_of(content))
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        kind = part.get("type")
        if kind == "text":
            blocks.extend(_text_blocks(part.get("text", "")))
            blocks.extend(_cache_point(part))
        elif kind == "image_url":
            blocks.append(await image_block(media, part["image_url"]["url"], f"{where}.image_url.url"))
        elif kind == "file":
            blocks.append(await file_block(media, part["file"], where))
        elif kind == "document":
            blocks.append(await document_block(media, part.get("source"), where))
        elif kind == "video_url":
            blocks.append(await video_block(media, part["video_url"]["url"], f"{where}.video_url.url"))
        else:
            raise InvalidRequestError(
                f"Content parts of type '{kind}' are not supported by the bedrock provider.",
                param=f"{where}.type",
                code="unsupported_content",
            )
    return blocks


def _tool_use(call: dict[str, Any], param: str) -> dict[str, Any]:
    function = call.get("function") or {}
    if call.get("type", "function") != "function" or not function:
        raise InvalidRequestError(
            "Only function tool calls can be sent to the bedrock provider.", param=param, code="unsupported_content"
        )
    return {
        "toolUse": {
            "toolUseId": bedrock_tool_id(str(call.get("id", ""))),
            "name": function.get("name", ""),
            "input": parse_tool_arguments(function.get("arguments"), f"{param}.function.arguments", "bedrock"),
        }
    }


def _tool_result(tool_use_id: str, content: Any) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": tool_use_id, "content": [{"text": _text_of(content)}]}}


async def map_messages(messages: list[dict[str, Any]], media: MediaContext) -> Conversation:
    conv = Conversation()
    legacy_ids: dict[str, list[str]] = {}
    for i, message in enumerate(messages):
        role = message.get("role")
        param = f"messages[{i}]"
        content = message.get("content")
        if role in ("system", "developer"):
            conv.system.extend(_system_blocks(content))
        elif role == "user":
            conv.add("user", await _user_blocks(media, content, f"{param}.content"))
        elif role == "assistant":
            blocks = reasoning_blocks(message.get("thinking_blocks"), f"{param}.thinking_blocks")
            blocks += _text_blocks(_text_of(content) or "") + _text_blocks(message.get("refusal") or "")
            for k, tool_call in enumerate(message.get("tool_calls") or []):
                block = _tool_use(tool_call, f"{param}.tool_calls[{k}]")
                conv.note_tool(block["toolUse"]["name"])
                blocks.append(block)
            legacy = message.get("function_call")
            if isinstance(legacy, dict):
                legacy_id = f"call_legacy_{i}"
                legacy_ids.setdefault(str(legacy.get("name")), []).append(legacy_id)
                block = _tool_use({"id": legacy_id, "function": legacy}, f"{param}.function_call")
                conv.note_tool(block["toolUse"]["name"])
                blocks.append(block)
            conv.add("assistant", blocks)
        elif role == "tool":
            conv.add("user", [_tool_result(bedrock_tool_id(str(message.get("tool_call_id", ""))), content)])
        elif role == "function":
            pending = legacy_ids.get(str(message.get("name")))
            if not pending:
                raise InvalidRequestError(
                    "A 'function' message must follow an assistant 'function_call' of the same name.",
                    param=f"{param}.name",
                    code="invalid_value",
                )
            conv.add("user", [_tool_result(pending.pop(0), content)])
    return conv
