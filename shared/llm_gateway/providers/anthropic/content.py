"""OpenAI content parts -> Anthropic content blocks.

Images: a base64 data URL becomes a ``base64`` source; an http(s) URL becomes a ``url`` source, which
Anthropic fetches itself (the gateway never downloads it). PDFs (as ``file`` parts, or as data URLs in an
``image_url`` part) become ``document`` blocks; plain text files become text documents. Audio and video
have no Anthropic equivalent: a clear 400. Empty text is skipped (Anthropic rejects empty text blocks).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.base import ProviderCall
from llm_gateway.providers.media import parse_data_url
from llm_gateway.providers.params import refuse

PROVIDER = "Anthropic"

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PDF = "application/pdf"
TEXT_DOCUMENT_TYPES = frozenset({"text/plain", "text/markdown", "text/csv", "text/html"})

Block = dict[str, Any]


def text_block(text: str) -> Block | None:
    return {"type": "text", "text": text} if text else None


def part_block(part: dict[str, Any]) -> Block | None:
    """A ``text`` (or assistant ``refusal``) part -> a text block, keeping a ``cache_control`` marker."""
    text = part.get("text") if part.get("type") == "text" else part.get("refusal")
    block = text_block(text) if isinstance(text, str) else None
    if block is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def text_blocks(content: Any) -> list[Block]:
    """A string or a list of text parts -> text blocks (empty ones skipped)."""
    if content is None:
        return []
    if isinstance(content, str):
        block = text_block(content)
        return [block] if block else []
    return [block for block in map(part_block, content) if block is not None]


def _normalise_media_type(media_type: str) -> str:
    return "image/jpeg" if media_type == "image/jpg" else media_type


def image_block(call: ProviderCall, part: dict[str, Any], param: str) -> Block:
    url = str(part["image_url"]["url"])
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    data_url = parse_data_url(url)
    if data_url is None:
        raise InvalidRequestError(
            "An image_url must be an http(s) URL or a base64 data URL (data:image/png;base64,...).",
            param=param,
            code="invalid_image_url",
        )
    media_type = _normalise_media_type(data_url.media_type)
    if media_type == PDF:
        return {"type": "document", "source": {"type": "base64", "media_type": PDF, "data": data_url.data}}
    if media_type not in IMAGE_TYPES:
        raise refuse(call, PROVIDER, param, f"An image of type '{media_type}' (use JPEG, PNG, GIF or WebP)")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data_url.data}}


def _guess_file_type(filename: str | None) -> str:
    lowered = (filename or "").lower()
    for suffix, media_type in ((".txt", "text/plain"), (".md", "text/markdown"), (".csv", "text/csv")):
        if lowered.endswith(suffix):
            return media_type
    for suffix, media_type in ((".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg")):
        if lowered.endswith(suffix):
            return media_type
    for suffix, media_type in ((".gif", "image/gif"), (".webp", "image/webp")):
        if lowered.endswith(suffix):
            return media_type
    return PDF


def file_block(call: ProviderCall, part: dict[str, Any], param: str) -> Block:
    file = part["file"]
    filename = file.get("filename")
    data = file.get("file_data")
    if data is None:
        raise refuse(
            call,
            PROVIDER,
            f"{param}.file.file_id",
            "A file_id (an OpenAI Files API reference; send the bytes as file_data instead)",
        )
    data_url = parse_data_url(data)
    if data_url is not None:
        media_type, payload = _normalise_media_type(data_url.media_type), data_url.data
    else:
        media_type, payload = _guess_file_type(filename), data
    block: Block
    if media_type == PDF:
        block = {"type": "document", "source": {"type": "base64", "media_type": PDF, "data": payload}}
    elif media_type in TEXT_DOCUMENT_TYPES:
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                "file_data must be base64-encoded UTF-8 text for a text file.",
                param=f"{param}.file.file_data",
                code="invalid_file_data",
            ) from None
        block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    elif media_type in IMAGE_TYPES:
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": payload}}
    else:
        raise refuse(call, PROVIDER, f"{param}.file", f"A file of type '{media_type}' (use PDF or plain text)")
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def document_block(part: dict[str, Any], param: str) -> Block:
    """An Anthropic-style ``document`` part passes through as is (the client speaks Anthropic's shape)."""
    source = part.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("type"), str):
        raise InvalidRequestError(
            "A document part needs a 'source' object with a 'type'.", param=f"{param}.source", code="invalid_value"
        )
    return dict(part)


def user_blocks(call: ProviderCall, content: Any, param: str) -> list[Block]:
    """A user message's content -> blocks, refusing what Anthropic cannot take."""
    if isinstance(content, str):
        return text_blocks(content)
    blocks: list[Block] = []
    for position, part in enumerate(content):
        where = f"{param}[{position}]"
        kind = part.get("type")
        if kind == "text":
            block = part_block(part)
            if block is not None:
                blocks.append(block)
        elif kind == "image_url":
            blocks.append(image_block(call, part, f"{where}.image_url.url"))
        elif kind == "file":
            blocks.append(file_block(call, part, where))
        elif kind == "document":
            blocks.append(document_block(part, where))
        elif kind == "input_audio":
            raise refuse(call, PROVIDER, where, "Audio input (input_audio)")
        elif kind == "video_url":
            raise refuse(call, PROVIDER, where, "Video input (video_url)")
        else:
            raise refuse(call, PROVIDER, where, f"A content part of type '{kind}'")
    return blocks
