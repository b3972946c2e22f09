"""The embeddings request: what ``input`` may be, what is forwarded, what the gateway reads."""

from __future__ import annotations

from typing import Any

import pytest

from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.embeddings import EmbeddingInput, validate_embedding_request


def request(**body: Any) -> Any:
    return validate_embedding_request({"model": "embed", **body})


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("hello", EmbeddingInput(texts=("hello",))),
        (["a", "b"], EmbeddingInput(texts=("a", "b"))),
        ([1, 2, 3], EmbeddingInput(tokens=((1, 2, 3),))),
        ([[1, 2], [3]], EmbeddingInput(tokens=((1, 2), (3,)))),
    ],
)
def test_every_form_of_input_is_read(value: Any, parsed: EmbeddingInput) -> None:
    assert request(input=value).input == parsed


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["a", ""]}, "input[1]"),
        ({"input": ["a", 2]}, "input[1]"),
        ({"input": [[1], "a"]}, "input[1]"),
        ({"input": [[1], []]}, "input[1]"),
        ({"input": [1, -2]}, "input[1]"),
        ({"input": [[1, True]]}, "input[0][1]"),
        ({"input": [True]}, "input[0]"),
        ({"input": {"text": "a"}}, "input"),
        ({"input": None}, "input"),
        ({"input": ["a"] * 2049}, "input"),
        ({"input": list(range(2049))}, "input"),
        ({}, "input"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "dimensions": "256"}, "dimensions"),
        ({"input": "a", "user": 7}, "user"),
        ({"input": "a", "caching": "yes"}, "caching"),
        ({"input": "a", "context_window_fallback_dict": {"a": "b"}}, "context_window_fallback_dict"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_parameter(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        request(**body)
    assert refused.value.param == param
    assert refused.value.status_code == 400


def test_the_body_must_be_an_object_with_a_model() -> None:
    with pytest.raises(InvalidRequestError):
        validate_embedding_request(["a"])
    with pytest.raises(InvalidRequestError) as refused:
        validate_embedding_request({"input": "a"})
    assert refused.value.param == "model"


def test_gateway_fields_are_never_forwarded_and_unknown_ones_are() -> None:
    parsed = request(
        input="a",
        dimensions=8,
        caching=True,
        cache={"ttl": 5},
        fallbacks=["b"],
        num_retries=1,
        guardrails=["g"],
        drop_params=True,
        metadata={"team": "x"},
        input_type="search_query",
    )
    assert parsed.upstream_body() == {"model": "embed", "input": "a", "dimensions": 8, "input_type": "search_query"}
    assert parsed.extra_fields() == ["input_type"]
    assert (parsed.encoding_format, parsed.dimensions, parsed.cache_controls and parsed.cache_controls.ttl) == (
        "float",
        8,
        5,
    )


def test_rewritten_texts_keep_the_clients_form() -> None:
    single = request(input="mail bob@example.com").with_texts(["mail [EMAIL]"])
    assert single.body["input"] == "mail [EMAIL]" and single.input.texts == ("mail [EMAIL]",)
    listed = request(input=["a", "b"]).with_texts(["A", "b"])
    assert listed.body["input"] == ["A", "b"]


def test_the_token_estimate() -> None:
    assert request(input=["abcd", "abcde"]).input.estimated_tokens() == 1 + 2
    assert request(input=[[1, 2, 3], [4]]).input.estimated_tokens() == 4
    assert len(request(input=[[1, 2, 3], [4]]).input) == 2
