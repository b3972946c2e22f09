from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.openai_schema import assert_error, assert_model, assert_model_list

pytestmark = pytest.mark.slow


def test_list_models(client: openai.OpenAI) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert ids == ["gpt-test", "gpt-fast-timeout", "mock", "mock-stream"]
    assert_model_list({"object": "list", "data": [m.model_dump() for m in page.data]})


def test_retrieve_model_and_unknown_model(client: openai.OpenAI) -> None:
    assert_model(client.models.retrieve("mock").model_dump())
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_health_needs_no_key(gateway: object) -> None:
    response = httpx.get(gateway.base_url + "/health")  # type: ignore[attr-defined]
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_models_need_a_key(gateway: object) -> None:
    response = httpx.get(gateway.base_url + "/v1/models")  # type: ignore[attr-defined]
    assert response.status_code == 401 and assert_error(response.json())


def test_openapi_document_describes_the_chat_request(gateway: object) -> None:
    doc = httpx.get(gateway.base_url + "/openapi.json").json()  # type: ignore[attr-defined]
    operation = doc["paths"]["/v1/chat/completions"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ChatCompletionRequest")
    assert "messages" in doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    assert httpx.get(gateway.base_url + "/docs").status_code == 200  # type: ignore[attr-defined]
