"""What OpenAI's own streams and bodies always look like, beyond what its JSON Schema can say.

The schema allows extra fields and says nothing about order, so a chunk can be schema-valid and still
break the openai SDKs' stream accumulators. These checks are the rules those accumulators rely on.
"""

from __future__ import annotations

from typing import Any

from tests.support.openai_schema import assert_chunk, assert_completion


def check_stream_shape(chunks: list[dict[str, Any]], *, include_usage: bool) -> None:
    """Every chunk schema-valid, one identity, usage only in OpenAI's place, roles and tool-call deltas as
    OpenAI sends them."""
    assert chunks, "no chunks"
    for chunk in chunks:
        assert_chunk(chunk)
        assert chunk["object"] == "chat.completion.chunk"
        assert (chunk["id"], chunk["created"], chunk["model"]) == (
            chunks[0]["id"],
            chunks[0]["created"],
            chunks[0]["model"],
        ), "every chunk of a stream has the same id, created and model"
        assert chunk["id"] and chunk["created"] > 0 and chunk["model"]
    if include_usage:
        *body, last = chunks
        assert last["choices"] == [] and isinstance(last["usage"], dict), "the last chunk carries the usage"
        for chunk in body:
            assert chunk["choices"], "only the usage chunk has empty choices"
            assert "usage" in chunk and chunk["usage"] is None, "usage is null on every other chunk"
    else:
        body = chunks
        for chunk in chunks:
            assert chunk["choices"] and "usage" not in chunk, "no usage unless the client asked"
    roles: set[int] = set()
    finished: dict[int, int] = {}
    calls: dict[int, dict[int, dict[str, Any]]] = {}
    for chunk in body:
        for choice in chunk["choices"]:
            index, delta = choice["index"], choice["delta"]
            if index not in roles:
                assert delta.get("role") == "assistant", "a choice's first delta has role: assistant"
                roles.add(index)
            else:
                assert "role" not in delta, "role only on a choice's first delta"
            assert not isinstance(delta.get("content"), list), "content is a string"
            seen = calls.setdefault(index, {})
            for call in delta.get("tool_calls") or []:
                position = call["index"]
                if position not in seen:
                    assert position == len(seen), f"tool calls are numbered 0, 1, 2...: got {position} after {seen}"
                    assert call.get("id") and call.get("type") == "function", "a call's first delta: id and type"
                    assert (call.get("function") or {}).get("name"), "a call's first delta names the function"
                    seen[position] = call
                else:
                    assert "id" not in call and "type" not in call, "id and type only on a call's first delta"
                    assert "name" not in (call.get("function") or {}), "the name only on a call's first delta"
            if choice["finish_reason"] is not None:
                finished[index] = finished.get(index, 0) + 1
    assert all(count == 1 for count in finished.values()) and set(finished) == roles, "one finish per choice"


def check_completion_shape(body: dict[str, Any]) -> None:
    assert_completion(body)
    assert body["object"] == "chat.completion" and body["id"] and body["created"] > 0
    assert isinstance(body.get("usage"), dict), "a completion carries its usage"
    for choice in body["choices"]:
        message = choice["message"]
        assert message["role"] == "assistant"
        assert message["content"] is None or isinstance(message["content"], str)
        for call in message.get("tool_calls") or []:
            assert call["id"] and call["type"] == "function" and call["function"]["name"]
