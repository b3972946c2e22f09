"""OpenAI request -> Gemini request, table-driven from tests/fixtures/gemini/requests/*.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_gateway.errors import InvalidRequestError
from llm_gateway.providers.gemini.request import build_body
from tests.support.openai_schema import assert_request
from tests.unit.providers.gemini.helpers import fixtures, load, make_call


@pytest.mark.parametrize("path", fixtures("requests"), ids=lambda p: p.stem)
def test_recorded_request_maps_exactly(path: Path) -> None:
    case = load(path)
    openai_body = {k: v for k, v in case["openai"].items() if k != "drop_params"}
    if not case.get("gateway_extensions"):
        assert_request(openai_body)  # the input is a valid OpenAI request
    call = make_call(case["openai"], case.get("config"))
    assert build_body(call) == case["gemini"]


def _user(text: str = "hi") -> dict[str, Any]:
    return {"role": "user", "content": text}


def _with_call(arguments: str) -> list[dict[str, Any]]:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    return [_user(), {"role": "assistant", "content": None, "tool_calls": [call]}]


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    ("logit_bias", {"logit_bias": {"50256": -100}}, "logit_bias", "unsupported_parameter"),
    ("audio_output", {"modalities": ["text", "audio"]}, "modalities", "unsupported_parameter"),
    ("prediction", {"prediction": {"type": "content", "content": "x"}}, "prediction", "unsupported_parameter"),
    (
        "web_search",
        {"web_search_options": {"search_context_size": "low"}},
        "web_search_options",
        "unsupported_parameter",
    ),
    ("flex_tier", {"service_tier": "flex"}, "service_tier", "unsupported_parameter"),
    ("bad_effort", {"reasoning_effort": "turbo"}, "reasoning_effort", "invalid_value"),
    (
        "custom_tool",
        {"tools": [{"type": "custom", "custom": {"name": "grammar"}}]},
        "tools[0].type",
        "unsupported_content",
    ),
    (
        "gemini_invalid_function_name",
        {"tools": [{"type": "function", "function": {"name": "1st-tool"}}]},
        "tools[0].function.name",
        "invalid_value",
    ),
    (
        "named_choice_not_in_tools",
        {
            "tools": [{"type": "function", "function": {"name": "a"}}],
            "tool_choice": {"type": "function", "function": {"name": "b"}},
        },
        "tool_choice.function.name",
        "invalid_value",
    ),
    (
        "named_choice_without_tools",
        {"tool_choice": {"type": "function", "function": {"name": "b"}}},
        "tool_choice",
        "invalid_value",
    ),
    (
        "arguments_not_json",
        {"messages": _with_call("{'city': 'Paris'}")},
        "messages[1].tool_calls[0].function.arguments",
        "invalid_tool_arguments",
    ),
    (
        "arguments_not_object",
        {"messages": _with_call("[1, 2]")},
        "messages[1].tool_calls[0].function.arguments",
        "invalid_tool_arguments",
    ),
    (
        "tool_result_for_unknown_call",
        {"messages": [_user(), {"role": "tool", "tool_call_id": "call_nope", "content": "42"}]},
        "messages[1].tool_call_id",
        "invalid_value",
    ),
    (
        "unsupported_file_reference",
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc123"}}]}]},
        "messages[0].content[0].file.file_id",
        "unsupported_content",
    ),
    (
        "ftp_image",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]},
        "messages[0].content[0].image_url.url",
        "invalid_value",
    ),
]


@pytest.mark.parametrize(("extra", "param", "code"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_what_gemini_cannot_take_is_a_400_naming_the_param(extra: dict[str, Any], param: str, code: str) -> None:
    body = {"model": "gem", "messages": [_user()], **extra}
    with pytest.raises(InvalidRequestError) as caught:
        build_body(make_call(body))
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.code == code
    if code == "unsupported_parameter":
        assert "gemini" in caught.value.message and param in caught.value.message


def test_drop_params_from_the_deployment_config_drops_instead() -> None:
    body = {
        "model": "gem",
        "messages": [_user()],
        "logit_bias": {"1": 1},
        "prediction": {"type": "content", "content": "x"},
    }
    out = build_body(make_call(body, {"drop_params": True}))
    assert out == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_request_drop_params_false_overrides_the_config() -> None:
    body = {"model": "gem", "messages": [_user()], "logit_bias": {"1": 1}, "drop_params": False}
    with pytest.raises(InvalidRequestError):
        build_body(make_call(body, {"drop_params": True}))


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-2.5-pro", "none", {"thinkingBudget": 128, "includeThoughts": False}),
        ("gemini-2.5-flash", "minimal", {"thinkingBudget": 512, "includeThoughts": True}),
        ("gemini-2.5-flash", "medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("gemini-2.5-pro", "xhigh", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-3-flash-preview", "minimal", {"thinkingLevel": "minimal", "includeThoughts": True}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "low", "includeThoughts": True}),
    ],
)
def test_reasoning_effort_table(model: str, effort: str, expected: dict[str, Any]) -> None:
    body = {"model": "gem", "messages": [_user()], "reasoning_effort": effort}
    assert build_body(make_call(body, {"model": model}))["generationConfig"]["thinkingConfig"] == expected


def test_signature_fallback_can_be_switched_off() -> None:
    body = {
        "model": "gem",
        "messages": [*_with_call("{}"), {"role": "tool", "tool_call_id": "call_1", "content": "ok"}],
    }
    out = build_body(make_call(body, {"model": "gemini-3-pro-preview", "thought_signature_fallback": False}))
    assert out["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {}}}]
    out = build_body(make_call(body, {"model": "gemini-2.5-flash"}))
    assert "thoughtSignature" not in out["contents"][1]["parts"][0]


def test_request_safety_settings_override_the_deployment() -> None:
    mine = [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
    body = {"model": "gem", "messages": [_user()], "safety_settings": mine}
    config = {"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]}
    assert build_body(make_call(body, config))["safetySettings"] == mine


@pytest.mark.parametrize(
    ("model", "stream", "path"),
    [
        ("gemini-2.5-flash", False, "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("models/gemini-2.5-pro", True, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"),
        ("tunedModels/my-model-7", False, "/v1beta/tunedModels/my-model-7:generateContent"),
    ],
)
def test_endpoint_and_key_header(model: str, stream: bool, path: str) -> None:
    from llm_gateway.providers.gemini import GeminiProvider

    call = make_call({"model": "gem", "messages": [_user()], "stream": stream}, {"model": model})
    upstream = GeminiProvider.__new__(GeminiProvider).build_request(call)
    assert upstream.url == "https://generativelanguage.googleapis.com" + path
    assert upstream.headers == {"x-goog-api-key": call.api_key}
    assert call.api_key is not None and call.api_key not in upstream.url


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"api_base": "ftp://x"}, "api_base"),
        ({"drop_params": "yes"}, "drop_params"),
        ({"safety_settings": {"category": "x"}}, "safety_settings"),
        ({"generation_config": [1]}, "generation_config"),
        ({"schema_dialect": "yaml"}, "schema_dialect"),
    ],
)
def test_bad_deployment_options_fail_at_start_up(extra: dict[str, Any], problem: str) -> None:
    from llm_gateway.config import DeploymentConfig
    from llm_gateway.providers.gemini import GeminiProvider

    entry = DeploymentConfig(name="g", provider="gemini", model="gemini-2.5-flash", **extra)
    with pytest.raises(ValueError, match=problem):
        GeminiProvider.validate_deployment(entry)


def test_a_schema_the_openapi_dialect_cannot_express_is_a_400() -> None:
    parameters = {"$defs": {"N": {"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
    body = {
        "model": "gem",
        "messages": [_user()],
        "tools": [{"type": "function", "function": {"name": "t", "parameters": parameters}}],
    }
    with pytest.raises(InvalidRequestError) as caught:
        build_body(make_call(body, {"schema_dialect": "openapi"}))
    assert caught.value.param == "tools[0].function.parameters"
    assert "parametersJsonSchema" in build_body(make_call(body))["tools"][0]["functionDeclarations"][0]


def test_parallel_tool_calls_false_is_honoured_not_dropped_and_each_dropped_name_is_logged_once() -> None:
    import logging

    class Collect(logging.Handler):
        records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    collect = Collect()
    logger = logging.getLogger("llm_gateway.providers")  # before any formatter further up can touch the record
    logger.addHandler(collect)
    level = logger.level
    logger.setLevel(logging.INFO)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = {"model": "gem", "messages": [_user()], "tools": tools, "parallel_tool_calls": False, "logit_bias": {"1": 1}}
    try:
        build_body(make_call(body, {"drop_params": True}))
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    # with Powertools' logging set up (by an earlier test), the fields are flattened onto the record
    dropped = [
        (getattr(r, "fields", None) or vars(r))["dropped"]
        for r in collect.records
        if r.getMessage() == "dropped unsupported parameters"
    ]
    assert dropped == [["logit_bias"]]
