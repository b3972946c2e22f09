"""OpenAI media parts -> Converse ``image`` / ``document`` / ``video`` blocks (Bedrock takes bytes or S3).

Data URLs are decoded; http(s) URLs are downloaded by the SSRF-safe fetcher; ``s3://`` URLs become
``s3Location`` sources. Formats come from the checked media type (magic bytes win over the label).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.fetch import IMAGE_TYPES, MediaFetcher, MediaFetchError, detect_media_type
from llm_gateway.providers.media import parse_data_url

MAX_IMAGE_BYTES = 3_750_000
MAX_DOCUMENT_BYTES = 4_500_000
MAX_VIDEO_BYTES = 25_000_000

DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_DOCUMENT_EXTENSIONS = {"htm": "html", "markdown": "md", "text": "txt"} | {f: f for f in DOCUMENT_FORMATS.values()}
VIDEO_FORMATS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/x-flv": "flv",
    "video/mpeg": "mpeg",
    "video/x-ms-wmv": "wmv",
    "video/3gpp": "three_gp",
}
_VIDEO_EXTENSIONS = {"mpg": "mpg", "3gp": "three_gp"} | {f: f for f in VIDEO_FORMATS.values() if f != "three_gp"}
_IMAGE_EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}
_NAME_DISALLOWED = re.compile(r"[^A-Za-z0-9\-()\[\] ]+")


@dataclass
class MediaContext:
    """Per-request state for media: the fetcher and the document names already used."""

    fetcher: MediaFetcher | None
    provider: str = "bedrock"
    document_names: set[str] = field(default_factory=set)

    def document_name(self, filename: str | None) -> str:
        """A name Bedrock accepts (letters, digits, single spaces, hyphens, brackets), unique per request."""
        stem = PurePosixPath(filename or "").stem
        base = " ".join(_NAME_DISALLOWED.sub(" ", stem).split())[:100] or "document"
        name, n = base, 1
        while name in self.document_names:
            n += 1
            name = f"{base} ({n})"
        self.document_names.add(name)
        return name


def _bad(message: str, param: str, code: str = "invalid_value") -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code=code)


def _decode(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("The content is not valid base64.", param) from None


def _check_size(data: bytes, limit: int, what: str, param: str) -> None:
    if len(data) > limit:
        raise _bad(f"The {what} is {len(data)} bytes; Bedrock accepts at most {limit}.", param, "media_too_large")


async def _download(ctx: MediaContext, url: str, types: Collection[str], limit: int, param: str) -> tuple[str, bytes]:
    if ctx.fetcher is None:
        raise MediaFetchError("This gateway does not fetch media URLs.", param=param, code="media_fetch_disabled")
    media = await ctx.fetcher.fetch(url, allowed_types=types, max_bytes=limit, param=param)
    return media.media_type, media.data


def _extension(path: str) -> str:
    return PurePosixPath(path.split("?", 1)[0]).suffix.lstrip(".").lower()


async def _load(ctx: MediaContext, url: str, types: Collection[str], limit: int, param: str) -> tuple[str, bytes]:
    """(media type, bytes) of a data URL or a fetched http(s) URL."""
    data_url = parse_data_url(url)
    if data_url is not None:
        return data_url.media_type, _decode(data_url.data, param)
    if url.startswith(("http://", "https://")):
        return await _download(ctx, url, types, limit, param)
    raise _bad("A media URL must be a base64 data URL, an http(s) URL or an s3:// URL.", param)


def _s3_block(kind: str, url: str, formats: dict[str, str], param: str) -> dict[str, Any]:
    fmt = formats.get(_extension(url))
    if fmt is None:
        known = ", ".join(sorted(formats))
        raise _bad(f"An s3:// {kind} URL must end in one of these extensions: {known}.", param)
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": url}}}}


async def image_block(ctx: MediaContext, url: str, param: str) -> dict[str, Any]:
    if url.startswith("s3://"):
        return _s3_block("image", url, _IMAGE_EXTENSIONS, param)
    declared, data = await _load(ctx, url, IMAGE_TYPES, MAX_IMAGE_BYTES, param)
    media_type = detect_media_type(declared, data, IMAGE_TYPES)
    if media_type is None:
        raise _bad("The image is not PNG, JPEG, GIF or WebP (checked against its bytes).", param, "invalid_image")
    _check_size(data, MAX_IMAGE_BYTES, "image", param)
    return {"image": {"format": media_type.split("/", 1)[1], "source": {"bytes": data}}}


def _document_format(media_type: str, filename: str | None, param: str) -> str:
    fmt = DOCUMENT_FORMATS.get(media_type) or _DOCUMENT_EXTENSIONS.get(_extension(filename or ""))
    if fmt is None:
        shown = media_type or _extension(filename or "") or "unknown"
        raise _bad(
            f"Bedrock takes pdf, csv, doc, docx, xls, xlsx, html, txt and md documents, not '{shown}'.",
            param,
            "unsupported_content",
        )
    return fmt


def _checked_document_type(declared: str, data: bytes, param: str) -> str:
    """The document's media type: the bytes' signature, else the declared type ("" when unknown)."""
    media_type = detect_media_type(declared, data, DOCUMENT_FORMATS)
    if media_type is not None:
        return media_type
    if declared in DOCUMENT_FORMATS:
        raise _bad(f"The file's content is not a valid '{declared}' document.", param, "invalid_file")
    return "" if declared in ("", "application/octet-stream") else declared


async def file_block(ctx: MediaContext, file: dict[str, Any], param: str) -> dict[str, Any]:
    """An OpenAI ``file`` part (``file_data`` as a data URL or bare base64 with a ``filename``)."""
    filename = file.get("filename") if isinstance(file.get("filename"), str) else None
    file_data = file.get("file_data")
    if not isinstance(file_data, str):
        raise _bad(
            "Bedrock needs the file's content: send 'file_data' (a base64 data URL); 'file_id' is not supported.",
            f"{param}.file.file_id",
            "unsupported_content",
        )
    data_url = parse_data_url(file_data)
    if data_url is not None:
        data, declared = _decode(data_url.data, param), data_url.media_type
    else:
        data, declared = _decode(file_data, param), ""
    fmt = _document_format(_checked_document_type(declared, data, param), filename, param)
    _check_size(data, MAX_DOCUMENT_BYTES, "document", param)
    return {"document": {"format": fmt, "name": ctx.document_name(filename), "source": {"bytes": data}}}


async def document_block(ctx: MediaContext, source: dict[str, Any] | None, param: str) -> dict[str, Any]:
    """A ``document`` part with an Anthropic-style ``source`` (base64, text or url)."""
    kind = (source or {}).get("type")
    if source is None or kind not in ("base64", "text", "url"):
        raise _bad("A document part needs a 'source' of type base64, text or url.", f"{param}.source")
    name = ctx.document_name(source.get("filename") if isinstance(source.get("filename"), str) else None)
    if kind == "text":
        return {"document": {"format": "txt", "name": name, "source": {"text": str(source.get("data", ""))}}}
    if kind == "url":
        media_type, data = await _download(
            ctx, str(source.get("url", "")), DOCUMENT_FORMATS, MAX_DOCUMENT_BYTES, f"{param}.source.url"
        )
    else:
        data = _decode(str(source.get("data", "")), f"{param}.source.data")
        media_type = _checked_document_type(str(source.get("media_type", "")), data, param)
    fmt = _document_format(media_type, None, param)
    _check_size(data, MAX_DOCUMENT_BYTES, "document", param)
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


async def video_block(ctx: MediaContext, url: str, param: str) -> dict[str, Any]:
    if url.startswith("s3://"):
        return _s3_block("video", url, _VIDEO_EXTENSIONS, param)
    media_type, data = await _load(ctx, url, VIDEO_FORMATS, MAX_VIDEO_BYTES, param)
    fmt = VIDEO_FORMATS.get(media_type)
    if fmt is None:
        raise _bad(f"Bedrock does not take video of type '{media_type}'.", param, "unsupported_content")
    _check_size(data, MAX_VIDEO_BYTES, "video", param)
    return {"video": {"format": fmt, "source": {"bytes": data}}}
