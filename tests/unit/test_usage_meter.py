from __future__ import annotations

from llm_gateway.core.usage import StreamUsageMeter


def chunk(**delta: object) -> dict:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def test_reported_usage_wins() -> None:
    meter = StreamUsageMeter(lambda: 10)
    meter.observe(chunk(content="hello"))
    meter.observe({"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})
    assert meter.usage() == ({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}, False)


def test_estimate_counts_text_reasoning_and_tool_arguments() -> None:
    meter = StreamUsageMeter(lambda: 10)
    meter.observe(chunk(content="abcd"))
    meter.observe(chunk(reasoning_content="efgh"))
    meter.observe(chunk(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": "{}x"}}]))
    usage, estimated = meter.usage()
    assert estimated and usage == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    final = meter.usage_chunk()
    assert final["id"] == "c1" and final["choices"] == [] and final["usage"] == usage
