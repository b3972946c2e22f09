"""The providers' embeddings translation, in process: model families, bodies, batching."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_gateway.config import DeploymentConfig, parse_config
from llm_gateway.core.deployments import validate_deployments
from llm_gateway.errors import InvalidRequestError, UpstreamConnectionError
from llm_gateway.providers.base import Deployment, ProviderCall
from llm_gateway.providers.bedrock import embeddings as bedrock
from llm_gateway.providers.embeddings import check_dimensions, check_extra_fields, gather_bounded, texts_of
from llm_gateway.providers.gemini.embeddings import embed_request, read_embeddings
from llm_gateway.schemas.embeddings import validate_embedding_request


def call(body: dict[str, Any], provider: str = "bedrock", model: str = "amazon.titan-embed-text-v2:0") -> ProviderCall:
    request = validate_embedding_request({"model": "embed", **body})
    config = DeploymentConfig(name="embed", provider=provider, model=model, endpoints=("embeddings",))
    deployment = Deployment(id="embed#0", group="embed", provider=provider, model=model, config=config)
    return ProviderCall(deployment=deployment, request=request, body={**request.upstream_body(), "model": model})


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("amazon.titan-embed-text-v2:0", "titan-v2"),
        ("amazon.titan-embed-text-v1", "titan-v1"),
        ("amazon.titan-embed-g1-text-02", "titan-v1"),
        ("cohere.embed-english-v3", "cohere-v3"),
        ("cohere.embed-multilingual-v3", "cohere-v3"),
        ("cohere.embed-v4:0", "cohere-v4"),
        ("us.cohere.embed-v4:0", "cohere-v4"),
        ("global.cohere.embed-v4:0", "cohere-v4"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0", "titan-v2"),
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", None),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", None),
    ],
)
def test_the_embedding_family_comes_from_the_model_id(model: str, family: str | None) -> None:
    assert bedrock.family_of(model) == family


def test_a_deployment_that_cannot_embed_stops_start_up() -> None:
    config = parse_config(
        {
            "models": [
                {"name": "a", "provider": "anthropic", "model": "claude", "endpoints": ["embeddings"]},
                {
                    "name": "b",
                    "provider": "bedrock",
                    "model": "arn:aws:bedrock:us-east-1:1:application-inference-profile/x",
                    "endpoints": ["embeddings"],
                },
                {
                    "name": "c",
                    "provider": "bedrock",
                    "model": "arn:aws:bedrock:us-east-1:1:application-inference-profile/x",
                    "endpoints": ["embeddings"],
                    "embedding_family": "cohere-v4",
                },
                {"name": "d", "provider": "bedrock", "model": "cohere.embed-v4:0", "embedding_concurent": 2},
            ]
        }
    )
    problems = validate_deployments(config.models)
    assert any("(a)" in p and "does not serve embeddings" in p for p in problems)
    assert any("(b)" in p and "embedding_family" in p for p in problems)
    assert not any("(c)" in p for p in problems)
    assert any("(d)" in p and "embedding_concurent" in p for p in problems)


def test_bedrock_bodies() -> None:
    assert bedrock.titan_body("hi", dimensions=None, normalize=None) == {"inputText": "hi"}
    assert bedrock.titan_body("hi", dimensions=256, normalize=False) == {
        "inputText": "hi",
        "dimensions": 256,
        "normalize": False,
    }
    assert bedrock.cohere_body(["a"], dimensions=512, input_type="search_query", truncate="END") == {
        "texts": ["a"],
        "input_type": "search_query",
        "embedding_types": ["float"],
        "truncate": "END",
        "output_dimension": 512,
    }


def test_bedrock_answers_in_every_shape() -> None:
    assert bedrock.read_titan({"embedding": [0.5], "inputTextTokenCount": 3}, "g") == ([0.5], 3)
    assert bedrock.read_titan({"embeddingsByType": {"float": [0.5]}}, "g") == ([0.5], None)
    assert bedrock.read_cohere({"embeddings": [[1.0], [2.0]], "response_type": "embeddings_floats"}, 2, "g") == [
        [1.0],
        [2.0],
    ]
    assert bedrock.read_cohere({"embeddings": {"float": [[1.0]]}, "response_type": "embeddings_by_type"}, 1, "g") == [
        [1.0]
    ]
    with pytest.raises(UpstreamConnectionError, match="1 embeddings for 2 inputs"):
        bedrock.read_cohere({"embeddings": [[1.0]]}, 2, "g")
    assert bedrock.header_tokens({"x-amzn-bedrock-input-token-count": "12"}) == 12
    assert bedrock.header_tokens({}) is None


def test_gemini_requests_and_answers() -> None:
    one = embed_request(
        call({"input": "a"}, "gemini", "gemini-embedding-001"),
        "https://g/v1beta",
        {},
        ["a"],
        dimensions=8,
        task_type=None,
    )
    assert one.url == "https://g/v1beta/models/gemini-embedding-001:embedContent"
    assert one.json == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "a"}]},
        "outputDimensionality": 8,
    }
    many = embed_request(
        call({"input": ["a", "b"]}, "gemini", "models/text-embedding-004"),
        "https://g/v1beta",
        {},
        ["a", "b"],
        dimensions=None,
        task_type="RETRIEVAL_DOCUMENT",
    )
    assert many.url.endswith("/models/text-embedding-004:batchEmbedContents")
    assert [r["taskType"] for r in many.json["requests"]] == ["RETRIEVAL_DOCUMENT"] * 2
    gemini = call({"input": ["a", "b"]}, "gemini", "text-embedding-004")
    assert read_embeddings(gemini, {"embeddings": [{"values": [1]}, {"values": [2]}]}, 2) == [[1.0], [2.0]]
    with pytest.raises(UpstreamConnectionError):
        read_embeddings(gemini, {"embeddings": [{"values": [1]}]}, 2)


def test_what_translating_providers_refuse() -> None:
    with pytest.raises(InvalidRequestError) as tokens:
        texts_of(call({"input": [1, 2]}), "bedrock")
    assert tokens.value.param == "input"
    with pytest.raises(InvalidRequestError) as extra:
        check_extra_fields(call({"input": "a", "truncate": "END"}), "bedrock")
    assert extra.value.param == "truncate"
    check_extra_fields(call({"input": "a", "truncate": "END", "drop_params": True}), "bedrock")
    assert check_dimensions(call({"input": "a", "dimensions": 7}), "m", ()) == 7
    with pytest.raises(InvalidRequestError, match="takes 256, 512"):
        check_dimensions(call({"input": "a", "dimensions": 7}), "m", (512, 256))
    with pytest.raises(InvalidRequestError, match="cannot change"):
        check_dimensions(call({"input": "a", "dimensions": 7}), "m", None)


async def test_bounded_gather_keeps_order_and_bound_and_stops_at_a_failure() -> None:
    running, most, started = 0, 0, []

    def job(index: int, fail: bool = False) -> Any:
        async def run() -> int:
            nonlocal running, most
            started.append(index)
            running += 1
            most = max(most, running)
            await asyncio.sleep(0)
            running -= 1
            if fail:
                raise UpstreamConnectionError("no")
            return index

        return run

    assert await gather_bounded([job(i) for i in range(10)], 3) == list(range(10))
    assert most == 3
    started.clear()
    with pytest.raises(UpstreamConnectionError):
        await gather_bounded([job(0, fail=True), *(job(i) for i in range(1, 10))], 2)
    assert len(started) < 10  # the failure cancelled what had not started
