"""Every file in events/ through the handler template.yaml names for it: `sam local invoke`, without Docker.

The expected status and body of each event are the table in events/README.md (the documented contract).
Tables come from template.yaml (moto), the environment from env.json, as `sam local invoke --env-vars`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.embedding_schema import assert_embeddings, vectors_of
from tests.support.lambda_runtime import EVENTS, FakeLambdaContext, function_spec, import_handler, local_env
from tests.support.openai_schema import assert_completion, assert_error, assert_model_list
from tests.support.responses_schema import assert_response
from tests.support.sse import assemble, check_stream, parse_sse_text

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class EventCase:
    file: str
    function: str
    status: int
    body: str


def documented_events() -> list[EventCase]:
    cases = []
    for line in (EVENTS / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].endswith(".json"):
            cases.append(EventCase(cells[0], cells[1], int(cells[2]), cells[3]))
    return cases


def test_every_event_file_is_documented() -> None:
    assert {case.file for case in documented_events()} == {path.name for path in EVENTS.glob("*.json")}


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, dynamodb_tables: dict[str, str], moto_endpoint: str, isolated_observability: None
) -> Iterator[Any]:
    def apply(function: str) -> None:
        spec = function_spec(function)
        for name, value in {**local_env(function, spec.code_dir), **dynamodb_tables}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)

    yield apply


def _check_body(case: EventCase, response: dict[str, Any]) -> None:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    body = response["body"]
    if case.body == "chat.completion.chunk stream":
        assert headers["content-type"].startswith("text/event-stream")
        chunks, error = check_stream(parse_sse_text(body))
        assert error is None
        assert assemble(chunks)[0]["content"], "the buffered stream carries the whole answer"
        assert any(chunk.get("usage") for chunk in chunks), "stream_options.include_usage was honoured"
        return
    assert headers["content-type"].startswith("application/json")
    payload = json.loads(body)
    if case.body == "chat.completion":
        assert_completion(payload)
        assert payload["choices"][0]["message"]["content"]
    elif case.body == "model list":
        assert_model_list(payload)
        assert payload["data"]
    elif case.body == "response":
        assert_response(payload)
        assert payload["status"] == "completed" and payload["output"][0]["content"][0]["text"]
    elif case.body == "embedding list":
        assert [len(vector) for vector in vectors_of(assert_embeddings(payload))] == [256, 256]
    elif case.body.startswith("error"):
        assert_error(payload)
        code = case.body.removeprefix("error").strip()
        if code:
            assert payload["error"]["code"] == code
    elif case.body == "health":
        assert payload["status"] == "ok"
    else:
        raise AssertionError(f"events/README.md names an unknown body kind {case.body!r}")


@pytest.mark.parametrize("case", documented_events(), ids=lambda case: case.file)
def test_event_through_the_templates_handler(case: EventCase, lambda_env: Any) -> None:
    lambda_env(case.function)
    handler, _ = import_handler(function_spec(case.function))
    event = json.loads((EVENTS / case.file).read_text())
    response = handler(event, FakeLambdaContext(function_name=case.function))
    assert response["statusCode"] == case.status, response["body"][:500]
    assert response.get("isBase64Encoded") in (False, None)
    _check_body(case, response)
