"""What the mock model says: a pure function of the request, so tests can predict every byte."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

_PIECES = re.compile(r"\S+\s*|\s+")


@dataclass
class MockToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class MockChoice:
    pieces: list[str]
    finish_reason: str
    tool_calls: list[MockToolCall] = field(default_factory=list)
    function_call: MockToolCall | None = None

    @property
    def text(self) -> str | None:
        return "".join(self.pieces) if self.pieces or not (self.tool_calls or self.function_call) else None


@dataclass
class MockAnswer:
    choices: list[MockChoice]
    prompt_tokens: int

    @property
    def completion_tokens(self) -> int:
        total = 0
        for choice in self.choices:
            total += len(choice.pieces)
            for call in [*choice.tool_calls, *([choice.function_call] if choice.function_call else [])]:
                total += 1 + count_tokens(call.arguments)
        return total


def count_tokens(text: str) -> int:
    """A rough token count (about four characters a token), the same everywhere in the mock."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages", []):
        total += 4 + count_tokens(_text_of(message.get("content")))
        for call in message.get("tool_calls") or []:
            total += count_tokens(str(call.get("function", {}).get("arguments", "")))
    for tool in body.get("tools") or []:
        total += count_tokens(orjson.dumps(tool).decode())
    return total


def example_for_schema(schema: Any, name: str = "value", depth: int = 0) -> Any:
    """A small JSON value that satisfies common JSON Schemas (enough for structured-output demos)."""
    if not isinstance(schema, dict) or depth > 8:
        return name
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return example_for_schema((non_null or options)[0], name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required")
        keys = list(props) if required is None or schema.get("additionalProperties") is False else required
        return {key: example_for_schema(props.get(key, {}), key, depth + 1) for key in keys}
    if kind == "array":
        return [example_for_schema(schema.get("items", {}), name, depth + 1)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"mock {name}"


def _call_id(seed: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:24]


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _chosen_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The function tools the mock should call now, or [] to answer in text."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return []
    messages = body.get("messages", [])
    if messages and messages[-1].get("role") == "tool" and choice != "required":
        return []  # the tool already answered: now the model talks
    if isinstance(choice, dict) and choice.get("type") == "function":
        wanted = (choice.get("function") or {}).get("name")
        return [t for t in tools if t["function"].get("name") == wanted][:1]
    if body.get("parallel_tool_calls", True) is not False and len(tools) > 1 and "all tools" in _last_user_text(body):
        return tools
    return tools[:1]


def _chosen_function(body: dict[str, Any]) -> dict[str, Any] | None:
    functions = body.get("functions") or []
    choice = body.get("function_call", "auto")
    if not functions or choice == "none" or body.get("tools"):
        return None
    messages = body.get("messages", [])
    if messages and messages[-1].get("role") == "function" and not isinstance(choice, dict):
        return None
    if isinstance(choice, dict):
        return next((f for f in functions if f.get("name") == choice.get("name")), None)
    return dict(functions[0])


def _reply_text(body: dict[str, Any], fixed: str | None) -> str:
    if isinstance(body.get("mock_response"), str):
        return str(body["mock_response"])
    if fixed is not None:
        return fixed
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(example_for_schema(schema)).decode()
    if fmt.get("type") == "json_object":
        return orjson.dumps({"reply": "mock"}).decode()
    messages = body.get("messages", [])
    if messages and messages[-1].get("role") in ("tool", "function"):
        return "Thanks, I used the tool result: " + _text_of(messages[-1].get("content"))[:200]
    said = " ".join(_last_user_text(body).split())[:200]
    return f"This is a mock response from llm-gateway. You said: {said}" if said else "Hello from the mock model."


def _apply_stop(text: str, stop: Any) -> tuple[str, bool]:
    sequences = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    cut = min((text.find(s) for s in sequences if s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def answer(body: dict[str, Any], *, fixed_reply: str | None = None) -> MockAnswer:
    n = int(body.get("n") or 1)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    seed = orjson.dumps(body.get("messages", []), option=orjson.OPT_SORT_KEYS).decode()
    tools = _chosen_tools(body)
    function = _chosen_function(body)
    choices: list[MockChoice] = []
    for index in range(n):
        if tools:
            calls = [
                MockToolCall(
                    id=_call_id(seed, index * 100 + i),
                    name=t["function"]["name"],
                    arguments=orjson.dumps(
                        example_for_schema(t["function"].get("parameters") or {"type": "object"})
                    ).decode(),
                )
                for i, t in enumerate(tools)
            ]
            choices.append(MockChoice(pieces=[], finish_reason="tool_calls", tool_calls=calls))
            continue
        if function is not None:
            call = MockToolCall(
                id="",
                name=function["name"],
                arguments=orjson.dumps(example_for_schema(function.get("parameters") or {})).decode(),
            )
            choices.append(MockChoice(pieces=[], finish_reason="function_call", function_call=call))
            continue
        text = _reply_text(body, fixed_reply)
        if n > 1:
            text = f"{text} (choice {index + 1})"
        text, stopped = _apply_stop(text, body.get("stop"))
        pieces = _PIECES.findall(text)
        finish = "stop"
        if isinstance(limit, int) and len(pieces) > limit and not stopped:
            pieces, finish = pieces[:limit], "length"
        choices.append(MockChoice(pieces=pieces, finish_reason=finish))
    return MockAnswer(choices=choices, prompt_tokens=prompt_tokens(body))
