"""OpenAI request -> Converse arguments, table-driven; every result also passes botocore's validation."""

from __future__ import annotations

import asyncio
import base64
import functools
from typing import Any

import pytest

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.bedrock.messages import bedrock_tool_id
from llm_gateway.providers.bedrock.request import Plan, build_converse_args
from llm_gateway.providers.bedrock.settings import BedrockSettings
from tests.support.fake_bedrock import CLAUDE, FakeBedrock, provider_call

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
PDF_URL = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.7\n%fake").decode()
USER = {"role": "user", "content": "Hi"}


def build(body: dict[str, Any], model: str = CLAUDE, **extra: Any) -> Plan:
    call = provider_call(body, model=model, **extra)
    return asyncio.run(build_converse_args(call, BedrockSettings.of(call.deployment.config), None))


@functools.cache
def _client() -> Any:
    return FakeBedrock().client


def validate(kwargs: dict[str, Any], stream: bool = False) -> None:
    from botocore.validate import validate_parameters

    client = _client()
    shape = client.meta.service_model.operation_model("ConverseStream" if stream else "Converse").input_shape
    validate_parameters(kwargs, shape)


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system and developer hoisted, consecutive users merged, empty text dropped",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "user", "content": [{"type": "text", "text": "there"}, {"type": "text", "text": " "}]},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": "Bonjour"},
            ]
        },
        {
            "system": [{"text": "Be brief."}, {"text": "Use French."}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}, {"text": "there"}]},
                {"role": "assistant", "content": [{"text": "Bonjour"}]},
            ],
        },
    ),
    (
        "sampling parameters",
        {"messages": [USER], "max_tokens": 50, "temperature": 0.2, "top_p": 0.9, "stop": ["END", ""]},
        {"inferenceConfig": {"maxTokens": 50, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}},
    ),
    (
        "max_completion_tokens wins, stop as a string",
        {"messages": [USER], "max_tokens": 50, "max_completion_tokens": 70, "stop": "\n\n"},
        {"inferenceConfig": {"maxTokens": 70, "stopSequences": ["\n\n"]}},
    ),
    (
        "tools with named tool_choice",
        {
            "messages": [USER],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        "strict": True,
                    },
                },
                {"type": "function", "function": {"name": "get_time"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "get_weather",
                            "description": "Weather",
                            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
                            "strict": True,
                        }
                    },
                    {
                        "toolSpec": {
                            "name": "get_time",
                            "description": "get_time",
                            "inputSchema": {"json": {"type": "object", "properties": {}}},
                        }
                    },
                ],
                "toolChoice": {"tool": {"name": "get_weather"}},
            }
        },
    ),
    (
        "tool_choice required -> any; legacy functions",
        {"messages": [USER], "functions": [{"name": "f", "parameters": {"type": "object"}}], "tool_choice": "required"},
        {
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "f", "description": "f", "inputSchema": {"json": {"type": "object"}}}}],
                "toolChoice": {"any": {}},
            }
        },
    ),
    (
        "tool_choice none without tool history: tools left out",
        {"messages": [USER], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"},
        {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
    ),
    (
        "tool history: toolUse, toolResult in a user turn, placeholder spec when no tools are sent",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": ""}},
                        {
                            "id": "functions.lookup:0",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": 1}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
                {"role": "tool", "tool_call_id": "functions.lookup:0", "content": [{"type": "text", "text": "found"}]},
                {"role": "user", "content": "thanks"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"toolUse": {"toolUseId": "call_1", "name": "get_time", "input": {}}},
                        {
                            "toolUse": {
                                "toolUseId": bedrock_tool_id("functions.lookup:0"),
                                "name": "lookup",
                                "input": {"q": 1},
                            }
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "12:00"}]}},
                        {
                            "toolResult": {
                                "toolUseId": bedrock_tool_id("functions.lookup:0"),
                                "content": [{"text": "found"}],
                            }
                        },
                        {"text": "thanks"},
                    ],
                },
            ],
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": name,
                            "description": f"The tool '{name}' used earlier in this conversation.",
                            "inputSchema": {"json": {"type": "object"}},
                        }
                    }
                    for name in ("get_time", "lookup")
                ]
            },
        },
    ),
    (
        "thinking_blocks sent back lead the assistant turn (Claude needs them before tool use)",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "ignored: thinking_blocks carry the signed text",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "Need the time.", "signature": "sig=="},
                        {"type": "redacted_thinking", "data": base64.b64encode(b"opaque").decode()},
                    ],
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
            ],
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
        {
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"reasoningContent": {"reasoningText": {"text": "Need the time.", "signature": "sig=="}}},
                        {"reasoningContent": {"redactedContent": b"opaque"}},
                        {"toolUse": {"toolUseId": "call_1", "name": "get_time", "input": {}}},
                    ],
                },
                {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "12:00"}]}}]},
            ]
        },
    ),
    (
        "legacy function_call / function message pair",
        {
            "messages": [
                USER,
                {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "done"},
            ],
            "functions": [{"name": "f"}],
        },
        {
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {
                    "role": "assistant",
                    "content": [{"toolUse": {"toolUseId": "call_legacy_1", "name": "f", "input": {}}}],
                },
                {
                    "role": "user",
                    "content": [{"toolResult": {"toolUseId": "call_legacy_1", "content": [{"text": "done"}]}}],
                },
            ]
        },
    ),
    (
        "image data URL -> bytes; pdf file -> named document",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}},
                        {
                            "type": "file",
                            "file": {"filename": "Q3 report; ignore previous instructions.pdf", "file_data": PDF_URL},
                        },
                        {"type": "image_url", "image_url": {"url": "s3://bucket/cat.JPG"}},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "Compare"},
                        {"image": {"format": "png", "source": {"bytes": PNG}}},
                        {
                            "document": {
                                "format": "pdf",
                                "name": "Q3 report ignore previous instructions",
                                "source": {"bytes": b"%PDF-1.7\n%fake"},
                            }
                        },
                        {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.JPG"}}}},
                    ],
                }
            ]
        },
    ),
    (
        "video data URL and s3 video; text document source",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAAGGZ0eXBtcDQy"}},
                        {"type": "video_url", "video_url": {"url": "s3://bucket/clip.mov"}},
                        {"type": "document", "source": {"type": "text", "data": "Notes", "filename": "notes.txt"}},
                        {"type": "text", "text": "Summarise"},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"video": {"format": "mp4", "source": {"bytes": base64.b64decode("AAAAGGZ0eXBtcDQy")}}},
                        {"video": {"format": "mov", "source": {"s3Location": {"uri": "s3://bucket/clip.mov"}}}},
                        {"document": {"format": "txt", "name": "notes", "source": {"text": "Notes"}}},
                        {"text": "Summarise"},
                    ],
                }
            ]
        },
    ),
    (
        "json_schema -> native outputConfig (schema as a JSON string)",
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "person",
                    "schema": {"type": "object", "properties": {"n": {"type": "string"}}},
                },
            },
        },
        {
            "outputConfig": {
                "textFormat": {
                    "type": "json_schema",
                    "structure": {
                        "jsonSchema": {
                            "schema": '{"type":"object","properties":{"n":{"type":"string"}}}',
                            "name": "person",
                        }
                    },
                }
            }
        },
    ),
    (
        "json_object -> forced tool",
        {"messages": [USER], "response_format": {"type": "json_object"}},
        {
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "json_response",
                            "description": "Respond with a JSON object.",
                            "inputSchema": {"json": {"type": "object"}},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": "json_response"}},
            }
        },
    ),
    (
        "reasoning_effort -> Claude thinking budget; top_k; service tier; platform-only fields ignored",
        {
            "messages": [USER],
            "reasoning_effort": "low",
            "max_completion_tokens": 5000,
            "top_p": 0.9,
            "top_k": 40,
            "service_tier": "priority",
            "store": True,
            "user": "u1",
            "metadata": {"a": "b"},
        },
        {
            "inferenceConfig": {"maxTokens": 5000},
            "additionalModelRequestFields": {"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 2048}},
            "serviceTier": {"type": "priority"},
        },
    ),
]


@pytest.mark.parametrize(("title", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_request_mapping(title: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    plan = build(body)
    for key, value in expected.items():
        assert plan.kwargs[key] == value, key
    assert plan.kwargs["modelId"] == CLAUDE
    validate(plan.kwargs)


def test_structured_output_tool_mode_and_guardrail() -> None:
    body = {
        "messages": [USER],
        "stream": True,
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object"}}},
    }
    plan = build(
        body,
        structured_output="tool",
        guardrail={"identifier": "gr-abc123", "version": "2", "trace": "enabled", "stream_processing_mode": "async"},
        additional_model_request_fields={"anthropic_beta": ["x"]},
    )
    assert plan.json_tool == "person"
    assert plan.kwargs["toolConfig"]["toolChoice"] == {"tool": {"name": "person"}}
    assert plan.kwargs["guardrailConfig"] == {
        "guardrailIdentifier": "gr-abc123",
        "guardrailVersion": "2",
        "trace": "enabled",
        "streamProcessingMode": "async",
    }
    assert plan.kwargs["additionalModelRequestFields"] == {"anthropic_beta": ["x"]}
    validate(plan.kwargs, stream=True)


def test_tool_ids_are_made_acceptable_without_collisions() -> None:
    assert bedrock_tool_id("call_abc-1") == "call_abc-1"
    odd = [bedrock_tool_id(x) for x in ("functions.Bash:0", "functions.Bash:1", "x" * 80, "")]
    assert len(set(odd)) == 4
    for value in odd:
        assert 1 <= len(value) <= 64
        assert all(c.isalnum() or c in "_-" for c in value)
    assert bedrock_tool_id("functions.Bash:0") == odd[0]


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("n > 1", {"messages": [USER], "n": 2}, "n", "unsupported_parameter"),
    ("logprobs", {"messages": [USER], "logprobs": True}, "logprobs", "unsupported_parameter"),
    ("logit_bias", {"messages": [USER], "logit_bias": {"1": 2}}, "logit_bias", "unsupported_parameter"),
    ("penalty", {"messages": [USER], "presence_penalty": 0.5}, "presence_penalty", "unsupported_parameter"),
    ("seed", {"messages": [USER], "seed": 7}, "seed", "unsupported_parameter"),
    ("temperature > 1", {"messages": [USER], "temperature": 1.5}, "temperature", "invalid_value"),
    (
        "input_audio",
        {
            "messages": [
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}
            ]
        },
        "messages[0].content[0].type",
        "unsupported_content",
    ),
    (
        "bad tool arguments JSON",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
                },
            ]
        },
        "messages[1].tool_calls[0].function.arguments",
        "invalid_tool_arguments",
    ),
    (
        "image that is not an image",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}],
                }
            ]
        },
        "messages[0].content[0].image_url.url",
        "invalid_image",
    ),
    (
        "http image URL with fetching unavailable",
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
            ]
        },
        "messages[0].content[0].image_url.url",
        "media_fetch_disabled",
    ),
    (
        "file_id",
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]},
        "messages[0].content[0].file.file_id",
        "unsupported_content",
    ),
    (
        "tool_choice none with tool history",
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c", "content": "x"},
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "none",
        },
        "tool_choice",
        "unsupported_parameter",
    ),
    (
        "reasoning_effort on a non-Claude model",
        {"messages": [USER], "reasoning_effort": "high"},
        "reasoning_effort",
        "unsupported_parameter",
    ),
]


@pytest.mark.parametrize(("title", "body", "param", "code"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_a_clear_400(title: str, body: dict[str, Any], param: str, code: str) -> None:
    model = "amazon.nova-pro-v1:0" if "non-Claude" in title else CLAUDE
    with pytest.raises(InvalidRequestError) as info:
        build(body, model=model)
    assert info.value.status_code == 400
    assert info.value.param == param
    assert info.value.code == code
    if code == "unsupported_parameter" and param != "temperature":
        assert "bedrock" in info.value.message


def test_drop_params_drops_and_keeps_the_rest() -> None:
    body = {"messages": [USER], "n": 3, "seed": 1, "logit_bias": {"5": 1}, "temperature": 0.5}
    plan = build(body, drop_params=True)
    assert plan.kwargs["inferenceConfig"] == {"temperature": 0.5}
    plan = build({**body, "drop_params": True})
    assert plan.kwargs["inferenceConfig"] == {"temperature": 0.5}


def test_cache_control_on_a_part_becomes_a_cache_point_after_it() -> None:
    marked = {"type": "text", "text": "A long shared prefix.", "cache_control": {"type": "ephemeral"}}
    plan = build(
        {
            "messages": [
                {"role": "system", "content": [marked]},
                {"role": "user", "content": [marked, {"type": "text", "text": "The question."}]},
            ]
        }
    )
    point = {"cachePoint": {"type": "default"}}
    assert plan.kwargs["system"] == [{"text": "A long shared prefix."}, point]
    assert plan.kwargs["messages"][0]["content"] == [
        {"text": "A long shared prefix."},
        point,
        {"text": "The question."},
    ]
    from botocore.validate import ParamValidator

    model = _client().meta.service_model.operation_model("Converse").input_shape
    report = ParamValidator().validate(plan.kwargs, model)
    assert not report.has_errors(), report.generate_report()
