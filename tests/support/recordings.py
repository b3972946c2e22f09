"""The real provider recordings of ``../shared/reference/recordings`` as upstreams, and what they say.

:class:`RecordingUpstream` serves one recording at a time over real HTTP, framed as its provider frames
it (OpenAI-compatible and Gemini SSE, Anthropic named SSE events, Bedrock's binary event stream).
:func:`expected` reads, from the recording alone, what a client must end up with: text, reasoning, tool
calls, OpenAI's finish reason and token counts. It is written from the providers' documented formats,
independently of the gateway's mapping code, so the two check each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.fake_bedrock import encode_event
from tests.support.fake_http import FakeHTTPServer, FakeRequest, Responder

ROOT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "recordings"
BEDROCK_CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"


@dataclass(frozen=True)
class Recording:
    file: str
    family: str
    provider: str
    stream: bool
    request: dict[str, Any]

    @property
    def path(self) -> Path:
        return ROOT / self.file

    @property
    def name(self) -> str:
        return self.file.rsplit("/", 1)[-1].replace(".chunks.txt", "").replace(".json", "")

    @property
    def id(self) -> str:
        return f"{self.name}-{'stream' if self.stream else 'json'}"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def model(self) -> str:
        """The upstream model id the recording was made with (the gateway's mapping depends on it)."""
        if self.provider == "bedrock":
            return str(self.request.get("model") or BEDROCK_CLAUDE)
        first = self.events()[0] if self.stream else self.body()
        if self.provider == "anthropic":
            return str((first.get("message") or first).get("model"))
        if self.provider == "gemini":
            return str(first.get("modelVersion") or "gemini-2.5-flash")
        return str(first.get("model"))


def recordings() -> list[Recording]:
    manifest = json.loads((ROOT / "manifest.json").read_text())
    return [
        Recording(
            file=entry["file"],
            family=entry["family"],
            provider=entry["gateway_provider"],
            stream=entry["mode"] == "stream",
            request=entry.get("request") or {},
        )
        for entry in manifest["recordings"]
    ]


# --- serving ------------------------------------------------------------------------------------------


class RecordingUpstream(FakeHTTPServer):
    """Answers every request with the recording set in :attr:`serving`."""

    serving: Recording | None = None

    async def handle(self, request: FakeRequest, respond: Responder) -> None:
        recording = self.serving
        assert recording is not None, "no recording planned"
        headers = (
            {"x-amzn-requestid": "5d7c1f3e-9a2b-4c6d-8e0f-1a2b3c4d5e6f"} if recording.provider == "bedrock" else {}
        )
        if not recording.stream:
            await respond.send(200, recording.body(), headers=headers)
            return
        if recording.provider == "bedrock":
            await respond.start_stream(200, {"content-type": "application/vnd.amazon.eventstream", **headers})
            for event in recording.events():
                ((kind, payload),) = event.items()
                await respond.write(encode_event(kind, payload))
        else:
            await respond.start_stream(200)
            for event in recording.events():
                name = f"event: {event['type']}\n" if recording.provider == "anthropic" else ""
                await respond.write(f"{name}data: {json.dumps(event)}\n\n")
            if recording.provider == "openai":
                await respond.write("data: [DONE]\n\n")
        await respond.end()


# --- what the recording says ----------------------------------------------------------------------------


@dataclass
class Expected:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)
    """(id as the upstream sent it, or None when the upstream has none; name; parsed arguments)."""
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None


_ANTHROPIC_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
_BEDROCK_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}
_GEMINI_STOP = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}


def _args(text: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    parsed: dict[str, Any] = json.loads(text) if text and text.strip() else {}
    return parsed


def _parts_text(content: Any, kinds: tuple[str, ...]) -> str:
    if isinstance(content, str):
        return content if "text" in kinds else ""
    out = ""
    for part in content or []:
        kind = part.get("type")
        if kind in kinds:
            value = part.get(kind) if kind != "text" else part.get("text")
            out += value if isinstance(value, str) else "".join(v.get("text", "") for v in value or [])
    return out


def _openai(recording: Recording) -> Expected:
    out = Expected()
    calls: dict[Any, list[Any]] = {}
    usage: dict[str, Any] | None = None
    if recording.stream:
        for chunk in recording.events():
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                out.text += _parts_text(delta.get("content"), ("text",))
                out.reasoning += _parts_text(delta.get("content"), ("thinking",))
                out.reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
                for call in delta.get("tool_calls") or []:
                    slot = calls.setdefault(call.get("index", call.get("id")), [call.get("id"), "", ""])
                    function = call.get("function") or {}
                    slot[1] = slot[1] or function.get("name") or ""
                    slot[2] += function.get("arguments") or ""
                out.finish_reason = choice.get("finish_reason") or out.finish_reason
    else:
        body = recording.body()
        usage = body.get("usage")
        choice = body["choices"][0]
        message = choice["message"]
        out.text = _parts_text(message.get("content"), ("text",))
        out.reasoning = _parts_text(message.get("content"), ("thinking",)) + (message.get("reasoning_content") or "")
        for position, call in enumerate(message.get("tool_calls") or []):
            calls[position] = [call["id"], call["function"]["name"], call["function"]["arguments"]]
        out.finish_reason = choice["finish_reason"]
    out.tool_calls = [(i, name, _args(arguments)) for i, name, arguments in calls.values()]
    assert usage is not None, "every recording reports usage"
    out.prompt_tokens, out.completion_tokens = usage["prompt_tokens"], usage["completion_tokens"]
    out.total_tokens = usage["total_tokens"]
    details = usage.get("prompt_tokens_details") or {}
    out.cached_tokens = details.get("cached_tokens", usage.get("prompt_cache_hit_tokens"))
    return out


def _anthropic(recording: Recording) -> Expected:
    out = Expected()
    usage: dict[str, Any] = {}
    if recording.stream:
        blocks: dict[int, dict[str, Any]] = {}
        stop = None
        for event in recording.events():
            kind = event["type"]
            if kind == "message_start":
                usage.update(event["message"]["usage"])
            elif kind == "content_block_start":
                blocks[event["index"]] = {**event["content_block"], "json": ""}
            elif kind == "content_block_delta":
                block, delta = blocks[event["index"]], event["delta"]
                if delta["type"] == "text_delta":
                    block["text"] = block.get("text", "") + delta["text"]
                elif delta["type"] == "thinking_delta":
                    block["thinking"] = block.get("thinking", "") + delta["thinking"]
                elif delta["type"] == "input_json_delta":
                    block["json"] += delta["partial_json"]
            elif kind == "message_delta":
                usage.update({k: v for k, v in event.get("usage", {}).items() if v is not None})
                stop = event["delta"].get("stop_reason") or stop
        content = []
        for block in blocks.values():
            if block["type"] == "tool_use" and block["json"].strip():
                block["input"] = json.loads(block["json"])
            content.append(block)
    else:
        body = recording.body()
        content, stop = body["content"], body["stop_reason"]
        usage = body["usage"]
    for block in content:
        if block["type"] == "text":
            out.text += block["text"]
        elif block["type"] == "thinking":
            out.reasoning += block["thinking"]
        elif block["type"] == "tool_use":
            out.tool_calls.append((block["id"], block["name"], block.get("input") or {}))
    out.finish_reason = _ANTHROPIC_STOP[stop]
    return _claude_usage(
        out, usage, ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"), "output_tokens"
    )


def _gemini(recording: Recording) -> Expected:
    out = Expected()
    responses = recording.events() if recording.stream else [recording.body()]
    metadata: dict[str, Any] = {}
    reason = "STOP"
    for response in responses:
        metadata = response.get("usageMetadata") or metadata
        for candidate in response.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if "functionCall" in part:
                    call = part["functionCall"]
                    out.tool_calls.append((call.get("id"), call["name"], call.get("args") or {}))
                elif part.get("thought"):
                    out.reasoning += part.get("text", "")
                else:
                    out.text += part.get("text", "")
            reason = candidate.get("finishReason") or reason
    out.finish_reason = "tool_calls" if out.tool_calls and reason == "STOP" else _GEMINI_STOP[reason]
    out.prompt_tokens = metadata["promptTokenCount"] + metadata.get("toolUsePromptTokenCount", 0)
    out.completion_tokens = metadata.get("candidatesTokenCount", 0) + metadata.get("thoughtsTokenCount", 0)
    out.total_tokens = metadata["totalTokenCount"]
    out.cached_tokens = metadata.get("cachedContentTokenCount", 0)
    return out


def _bedrock(recording: Recording) -> Expected:
    out = Expected()
    usage: dict[str, Any] = {}
    if recording.stream:
        tools: dict[int, list[Any]] = {}
        for event in recording.events():
            ((kind, payload),) = event.items()
            if kind == "contentBlockStart" and "toolUse" in payload["start"]:
                tool = payload["start"]["toolUse"]
                tools[payload["contentBlockIndex"]] = [tool["toolUseId"], tool["name"], ""]
            elif kind == "contentBlockDelta":
                delta = payload["delta"]
                out.text += delta.get("text", "")
                out.reasoning += (delta.get("reasoningContent") or {}).get("text", "")
                if "toolUse" in delta:
                    tools[payload["contentBlockIndex"]][2] += delta["toolUse"]["input"]
            elif kind == "messageStop":
                out.finish_reason = _BEDROCK_STOP[payload["stopReason"]]
            elif kind == "metadata":
                usage = payload["usage"]
        out.tool_calls = [(i, name, _args(arguments)) for i, name, arguments in tools.values()]
    else:
        body = recording.body()
        for block in body["output"]["message"]["content"]:
            out.text += block.get("text", "")
            out.reasoning += ((block.get("reasoningContent") or {}).get("reasoningText") or {}).get("text", "")
            if "toolUse" in block:
                tool = block["toolUse"]
                out.tool_calls.append((tool["toolUseId"], tool["name"], tool.get("input") or {}))
        out.finish_reason = _BEDROCK_STOP[body["stopReason"]]
        usage = body["usage"]
    return _claude_usage(out, usage, ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"), "outputTokens")


def _claude_usage(out: Expected, usage: dict[str, Any], prompt: tuple[str, str, str], completion: str) -> Expected:
    """Claude's counters (Anthropic's names or Converse's): input excludes cache reads and writes, which
    OpenAI's prompt_tokens include."""
    uncached, read, written = (usage.get(key) or 0 for key in prompt)
    out.prompt_tokens = uncached + read + written
    out.completion_tokens = usage[completion]
    out.total_tokens = out.prompt_tokens + out.completion_tokens
    out.cached_tokens = read
    return out


def expected(recording: Recording) -> Expected:
    reader = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini, "bedrock": _bedrock}
    return reader[recording.provider](recording)


def deployment_for(recording: Recording, api_base: str) -> dict[str, Any]:
    """A deployment named after the recording whose upstream is ``api_base`` (a :class:`RecordingUpstream`)."""
    entry: dict[str, Any] = {
        "name": recording.id,
        "provider": recording.provider,
        "model": recording.model(),
        "api_key": "sk-recorded-upstream-0123456789",
    }
    if recording.provider == "bedrock":  # api_base is Bedrock's endpoint: the gateway's own boto3 client goes there
        entry.pop("api_key")
        entry["region"] = "us-east-1"
    entry["api_base"] = api_base + ("/v1" if recording.provider == "openai" else "")
    return entry


def request_for(recording: Recording, model: str) -> dict[str, Any]:
    """The request a client makes to get this answer: the tools the recording calls, the reasoning effort,
    response format and web search it asked for (``manifest.json``)."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Hello"}]}
    names = [name for _, name, _ in expected(recording).tool_calls]
    if names:
        body["tools"] = [
            {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
            for name in dict.fromkeys(names)
        ]
        if recording.provider == "anthropic" and names == ["json"]:
            body["tool_choice"] = "required"  # how the client forced its JSON tool
    asked = recording.request
    if "reasoning_effort" in asked:
        body["reasoning_effort"] = asked["reasoning_effort"]
    if "web_search_options" in asked:
        body["web_search_options"] = asked["web_search_options"]
    if str(asked.get("response_format", "")).startswith("json_schema (native"):
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object", "additionalProperties": True}},
        }
    return body
