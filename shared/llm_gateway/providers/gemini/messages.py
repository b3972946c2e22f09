"""OpenAI ``messages`` -> Gemini ``systemInstruction`` + ``contents``.

- ``system`` / ``developer`` messages are hoisted into ``systemInstruction`` in order (Gemini has no
  system turn; a system message in the middle of a conversation loses its position).
- ``assistant`` becomes role ``model``; ``tool`` and legacy ``function`` results become
  ``functionResponse`` parts of a ``user`` turn. Consecutive turns of the same role are merged, so all the
  results of one parallel call turn land in one Content, as Gemini requires.
- A tool result needs the function's name: it is recovered from the earlier assistant ``tool_calls`` with
  the same id. Its ``response`` must be an object: a JSON object is sent as is, anything else is wrapped
  as ``{"output": ...}`` (Google's convention).
- Assistant ``tool_calls`` become ``functionCall`` parts (arguments parsed; not a JSON object -> 400),
  with the ``thoughtSignature`` recovered from the tool-call id (see :mod:`.toolids`).
- Media: data URLs -> ``inlineData``; ``https://``, ``http://`` and ``gs://`` URLs -> ``fileData`` (Google
  fetches them: Files API URIs, public web URLs and YouTube links on current models, ``gs://`` where the
  project may read the bucket). The gateway never fetches a URL for Gemini.
- Empty text parts are dropped (Gemini rejects them); message ``name`` fields have no Gemini slot and are
  ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.gemini.toolids import decode_tool_call_id
from llm_gateway.providers.media import parse_data_url
from llm_gateway.providers.tool_args import parse_tool_arguments

PROVIDER = "gemini"
_REMOTE_SCHEMES = ("https://", "http://", "gs://")
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3", "mpeg": "audio/mpeg", "flac": "audio/flac"}
_AUDIO_TYPES |= {"ogg": "audio/ogg", "aac": "audio/aac", "aiff": "audio/aiff", "pcm16": "audio/l16"}
# The media types Gemini takes, by extension: a fixed table, so the answer does not depend on the host's
# /etc/mime.types (which differs between a laptop and Lambda).
_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/md",
    "csv": "text/csv",
    "html": "text/html",
    "xml": "text/xml",
    "json": "application/json",
    "mp3": "audio/mp3",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "mov": "video/mov",
    "avi": "video/avi",
    "webm": "video/webm",
    "wmv": "video/wmv",
    "flv": "video/x-flv",
    "3gp": "video/3gpp",
}


@dataclass
class _KnownCall:
    name: str
    gemini_id: str | None


@dataclass
class MappedMessages:
    contents: list[dict[str, Any]] = field(default_factory=list)
    system_parts: list[dict[str, Any]] = field(default_factory=list)


def map_messages(messages: list[dict[str, Any]], *, signature_fallback: str | None = None) -> MappedMessages:
    out = MappedMessages()
    calls: dict[str, _KnownCall] = {}
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            out.system_parts.extend(_text_parts(message.get("content")))
        elif role == "user":
            _append(out.contents, "user", _user_parts(message.get("content"), index))
        elif role == "assistant":
            parts = _assistant_parts(message, index, calls)
            if signature_fallback:
                _ensure_signature(parts, signature_fallback)
            _append(out.contents, "model", parts)
        elif role == "tool":
            _append(out.contents, "user", [_tool_result(message, index, calls)])
        elif role == "function":
            name = str(message.get("name") or "")
            response = _response_object(message.get("content"))
            _append(out.contents, "user", [{"functionResponse": {"name": name, "response": response}}])
    return out


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": list(parts)})


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for part in content or []:
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, str) and text:
            parts.append({"text": text})
    return parts


def _joined_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text")


def _user_parts(content: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for position, part in enumerate(content or []):
        param = f"messages[{index}].content[{position}]"
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_media_from_url(part["image_url"]["url"], f"{param}.image_url.url", default_type=None))
        elif kind == "video_url":
            parts.append(_media_from_url(part["video_url"]["url"], f"{param}.video_url.url", default_type=None))
        elif kind == "input_audio":
            audio = part["input_audio"]
            fmt = str(audio.get("format", "")).lower()
            mime = _AUDIO_TYPES.get(fmt, f"audio/{fmt}")
            parts.append({"inlineData": {"mimeType": mime, "data": _plain_base64(audio.get("data"), param)}})
        elif kind == "file":
            parts.append(_file_part(part["file"], f"{param}.file"))
        elif kind == "document":
            parts.append(_document_part(part.get("source") or {}, f"{param}.source"))
        else:
            raise InvalidRequestError(
                f"Content parts of type '{kind}' are not supported by the {PROVIDER} provider.",
                param=f"{param}.type",
                code="unsupported_content",
            )
    return parts


def _media_from_url(url: str, param: str, *, default_type: str | None) -> dict[str, Any]:
    data_url = parse_data_url(url) if url.startswith("data:") else None
    if data_url is not None:
        return {"inlineData": {"mimeType": data_url.media_type, "data": data_url.data}}
    if url.startswith("data:"):
        raise InvalidRequestError(
            "This data URL is not valid: expected 'data:<media type>;base64,<data>'.", param=param, code="invalid_value"
        )
    if url.lower().startswith(_REMOTE_SCHEMES):
        return {"fileData": _file_data(url, default_type)}
    raise InvalidRequestError(
        "Media URLs must be data URLs or https://, http:// or gs:// URLs for the gemini provider.",
        param=param,
        code="invalid_value",
    )


def _file_data(uri: str, default_type: str | None) -> dict[str, Any]:
    mime = _guess_type(uri.split("?", 1)[0].split("#", 1)[0]) or default_type
    return {"mimeType": mime, "fileUri": uri} if mime else {"fileUri": uri}


def _guess_type(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _BY_EXTENSION.get(name.rsplit(".", 1)[-1].lower())


def _plain_base64(data: Any, param: str) -> str:
    if not isinstance(data, str) or not data:
        raise InvalidRequestError("Expected base64 data.", param=param, code="invalid_value")
    return data


def _file_part(file: dict[str, Any], param: str) -> dict[str, Any]:
    file_data = file.get("file_data")
    filename = file.get("filename")
    if isinstance(file_data, str) and file_data:
        if file_data.startswith("data:"):
            return _media_from_url(file_data, f"{param}.file_data", default_type=None)
        guessed = _guess_type(filename) if filename else None
        return {"inlineData": {"mimeType": guessed or "application/pdf", "data": file_data}}
    file_id = file.get("file_id")
    if isinstance(file_id, str) and (file_id.startswith("files/") or file_id.lower().startswith(_REMOTE_SCHEMES)):
        guessed = _guess_type(filename or file_id)
        return {"fileData": {"mimeType": guessed, "fileUri": file_id} if guessed else {"fileUri": file_id}}
    raise InvalidRequestError(
        "The gemini provider takes files as 'file_data' (base64 or a data URL) or as a 'file_id' that is a "
        "Gemini Files API name ('files/...') or URI.",
        param=f"{param}.file_id",
        code="unsupported_content",
    )


def _document_part(source: dict[str, Any], param: str) -> dict[str, Any]:
    kind = source.get("type")
    if kind == "base64":
        mime = str(source.get("media_type") or "application/pdf")
        return {"inlineData": {"mimeType": mime, "data": _plain_base64(source.get("data"), f"{param}.data")}}
    if kind == "url" and isinstance(source.get("url"), str):
        return _media_from_url(source["url"], f"{param}.url", default_type="application/pdf")
    if kind == "text" and isinstance(source.get("data"), str):
        return {"text": source["data"]}
    raise InvalidRequestError(
        "A document part needs a 'source' of type 'base64', 'url' or 'text'.", param=param, code="invalid_value"
    )


def _assistant_parts(message: dict[str, Any], index: int, calls: dict[str, _KnownCall]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str):
        if content:
            parts.append({"text": content})
    elif isinstance(content, list):
        for part in content:
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if isinstance(text, str) and text:
                parts.append({"text": text})
    if not content and isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"text": message["refusal"]})
    for position, call in enumerate(message.get("tool_calls") or []):
        param = f"messages[{index}].tool_calls[{position}]"
        if call.get("type", "function") != "function" or not isinstance(call.get("function"), dict):
            raise InvalidRequestError(
                f"Custom tool calls are not supported by the {PROVIDER} provider.",
                param=param,
                code="unsupported_content",
            )
        function = call["function"]
        decoded = decode_tool_call_id(str(call.get("id", "")))
        calls[str(call.get("id", ""))] = _KnownCall(name=function["name"], gemini_id=decoded.gemini_id)
        function_call: dict[str, Any] = {"name": function["name"], "args": _arguments(function, param)}
        if decoded.gemini_id:
            function_call["id"] = decoded.gemini_id
        call_part: dict[str, Any] = {"functionCall": function_call}
        if decoded.thought_signature:
            call_part["thoughtSignature"] = decoded.thought_signature
        parts.append(call_part)
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and not message.get("tool_calls"):
        parts.append({"functionCall": {"name": legacy["name"], "args": _arguments(legacy, f"messages[{index}]")}})
    return parts


def _arguments(function: dict[str, Any], param: str) -> dict[str, Any]:
    return parse_tool_arguments(function.get("arguments"), f"{param}.function.arguments", "gemini")


def _ensure_signature(parts: list[dict[str, Any]], fallback: str) -> None:
    """Gemini 3 wants the first function call of a model turn signed; history from elsewhere is not."""
    first_call = next((p for p in parts if "functionCall" in p), None)
    if first_call is not None and not any("thoughtSignature" in p for p in parts if "functionCall" in p):
        first_call["thoughtSignature"] = fallback


def _tool_result(message: dict[str, Any], index: int, calls: dict[str, _KnownCall]) -> dict[str, Any]:
    tool_call_id = str(message.get("tool_call_id", ""))
    known = calls.get(tool_call_id)
    if known is None:
        raise InvalidRequestError(
            f"The tool message answers tool call '{tool_call_id[:80]}', but no earlier assistant message made "
            "that call. Gemini needs the function name, which comes from that call.",
            param=f"messages[{index}].tool_call_id",
            code="invalid_value",
        )
    response: dict[str, Any] = {"name": known.name, "response": _response_object(message.get("content"))}
    if known.gemini_id:
        response["id"] = known.gemini_id
    return {"functionResponse": response}


def _response_object(content: Any) -> dict[str, Any]:
    text = _joined_text(content)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}
