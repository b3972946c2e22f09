"""``POST /v1/embeddings`` over a real socket: the official ``openai`` SDK (and httpx for the raw JSON)
against mock, OpenAI-compatible, Bedrock (Titan v2, Cohere v4 and v3) and Gemini deployments on fake
upstreams that answer as the real APIs do. Every answer is validated against OpenAI's published schema
and its vectors compared with what the upstream sent (float32, so exactly equal once decoded).

(``../shared/reference/recordings`` holds no embeddings recording: the fakes follow the providers' API
references, and the Cohere v4 answer shape follows a real one, ``embeddings_by_type`` even unasked.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.embedding_schema import assert_embedding_request, assert_embeddings, decode_float32, vectors_of
from tests.support.fake_embeddings import (
    GEMINI_KEY,
    OPENAI_KEY,
    FakeBedrockEmbeddings,
    FakeGeminiEmbeddings,
    FakeOpenAIEmbeddings,
    fake_vector,
    shortened,
    word_tokens,
)
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_error, assert_model_list
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

TITAN, COHERE, COHERE_V3 = "amazon.titan-embed-text-v2:0", "us.cohere.embed-v4:0", "cohere.embed-english-v3"
UPSTREAM_GROUPS = ("openai-embed", "titan", "cohere", "gemini-embed")


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Any]]:
    fakes = {
        "openai": FakeOpenAIEmbeddings().start(),
        "bedrock": FakeBedrockEmbeddings().start(),
        "gemini": FakeGeminiEmbeddings().start(),
    }
    yield fakes
    for fake in fakes.values():
        fake.stop()


def embedding_models(up: dict[str, Any]) -> list[dict[str, Any]]:
    embeddings = {"endpoints": ["embeddings"]}
    bedrock = {"provider": "bedrock", "region": "us-east-1", "endpoint_url": up["bedrock"].base_url, **embeddings}
    openai_upstream = {"provider": "openai", "api_base": up["openai"].v1, "api_key": OPENAI_KEY, **embeddings}
    return [
        {"name": "mock-embed", "provider": "mock", "model": "mock-embed-1", "embedding_dimensions": 64, **embeddings},
        {"name": "openai-embed", "model": "text-embedding-3-small", **openai_upstream},
        {"name": "ada", "model": "text-embedding-ada-002", **openai_upstream},
        {"name": "floats-only", "model": "text-embedding-3-small", "embedding_encoding": "float", **openai_upstream},
        {"name": "titan", "model": TITAN, "embedding_concurrency": 3, **bedrock},
        {"name": "cohere", "model": COHERE, **bedrock},
        {"name": "cohere-v3", "model": COHERE_V3, "input_type": "search_query", **bedrock},
        {
            "name": "gemini-embed",
            "provider": "gemini",
            "model": "text-embedding-004",
            "api_base": up["gemini"].v1beta,
            "api_key": GEMINI_KEY,
            **embeddings,
        },
        {"name": "chat", "provider": "mock", "model": "mock-1"},
    ]


@pytest.fixture(scope="module")
def gateway(upstreams: dict[str, Any]) -> Iterator[UvicornThread]:
    config = {
        "models": embedding_models(upstreams),
        "guardrails": {"definitions": {"no-falcon": {"type": "deny_list", "terms": ["project falcon"]}}},
    }
    with running_gateway(config) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_upstreams(upstreams: dict[str, Any]) -> None:
    for fake in upstreams.values():
        fake.clear()


@pytest.fixture
def client(gateway: UvicornThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)


@pytest.fixture
def http(gateway: UvicornThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30) as c:
        yield c


def expected(group: str, text: str, dimensions: int | None = None) -> list[float]:
    """What the group's fake upstream answers for ``text`` (see tests/support/fake_embeddings.py)."""
    model, full = {
        "openai-embed": ("text-embedding-3-small", 1536),
        "titan": (TITAN, 1024),
        "cohere": (COHERE, 1536),
        "gemini-embed": ("models/text-embedding-004", 768),
    }[group]
    seeded = text + "search_document" if group == "cohere" else text
    return shortened(fake_vector(model, seeded, full), dimensions or full)


# --- the SDK on every provider ------------------------------------------------------------------------


@pytest.mark.parametrize("group", UPSTREAM_GROUPS)
def test_the_sdk_gets_the_upstreams_vectors(group: str, client: openai.OpenAI, upstreams: dict[str, Any]) -> None:
    # the SDK asks for base64 unless told otherwise, and decodes it itself
    one = client.embeddings.with_raw_response.create(model=group, input="The quick brown fox")
    assert one.headers["x-llm-gateway-model-group"] == group
    assert one.parse().data[0].embedding == expected(group, "The quick brown fox")
    texts = ["first text", "second, longer text", "third"]
    many = client.embeddings.create(model=group, input=texts, encoding_format="float")
    assert [item.index for item in many.data] == [0, 1, 2]
    assert [item.embedding for item in many.data] == [expected(group, t) for t in texts]
    assert many.usage.prompt_tokens > 0 and many.usage.total_tokens == many.usage.prompt_tokens
    short = client.embeddings.create(model=group, input="a shorter vector", dimensions=256)
    assert short.data[0].embedding == expected(group, "a shorter vector", 256)
    # asked for explicitly, base64 reaches the caller as the string OpenAI sends
    base64 = client.embeddings.create(model=group, input=["x y", "z"], dimensions=512, encoding_format="base64")
    strings: list[Any] = [item.embedding for item in base64.data]
    assert [decode_float32(s) for s in strings] == [expected(group, t, 512) for t in ("x y", "z")]


@pytest.mark.parametrize("group", ("mock-embed", *UPSTREAM_GROUPS))
@pytest.mark.parametrize("encoding", ("float", "base64"))
def test_raw_answers_are_valid_and_encoded_as_asked(group: str, encoding: str, http: httpx.Client) -> None:
    answer = http.post("/v1/embeddings", json={"model": group, "input": ["alpha", "beta"], "encoding_format": encoding})
    assert answer.status_code == 200, answer.text
    body = assert_embeddings(answer.json())
    assert all(isinstance(item["embedding"], str if encoding == "base64" else list) for item in body["data"])
    same = http.post("/v1/embeddings", json={"model": group, "input": "beta", "encoding_format": "float"}).json()
    assert vectors_of(body)[1] == vectors_of(same)[0]  # base64 is the same float32 values


def test_the_mock_is_deterministic_per_input(http: httpx.Client) -> None:
    alone = http.post("/v1/embeddings", json={"model": "mock-embed", "input": "hello"}).json()
    batch = http.post("/v1/embeddings", json={"model": "mock-embed", "input": ["other", "hello"]}).json()
    tokens = http.post("/v1/embeddings", json={"model": "mock-embed", "input": [[15339, 1917], [15339]]}).json()
    assert vectors_of(alone)[0] == vectors_of(batch)[1] and len(vectors_of(alone)[0]) == 64
    assert sum(v * v for v in vectors_of(alone)[0]) == pytest.approx(1.0, abs=1e-5)
    assert assert_embeddings(tokens)["usage"]["prompt_tokens"] == 3
    short = http.post("/v1/embeddings", json={"model": "mock-embed", "input": "hello", "dimensions": 8}).json()
    assert len(vectors_of(short)[0]) == 8


# --- what each upstream was sent ----------------------------------------------------------------------


def test_openai_compatible_upstreams_get_the_body_as_sent(client: openai.OpenAI, upstreams: dict[str, Any]) -> None:
    fake = upstreams["openai"]
    client.embeddings.create(model="openai-embed", input=[[1, 2, 3], [4]], dimensions=64, user="u-7")
    sent = fake.bodies()[-1]
    assert sent == {
        "model": "text-embedding-3-small",
        "input": [[1, 2, 3], [4]],
        "dimensions": 64,
        "user": "u-7",
        "encoding_format": "base64",
    }
    assert_embedding_request(sent)
    # an upstream that refuses a parameter says so, and the client hears it
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="ada", input="x", dimensions=64)
    assert "does not support specifying dimensions" in refused.value.message


def test_an_upstream_without_base64_is_asked_for_floats(client: openai.OpenAI, upstreams: dict[str, Any]) -> None:
    answer = client.embeddings.create(model="floats-only", input="plain floats please")  # the SDK asks base64
    assert upstreams["openai"].bodies()[-1]["encoding_format"] == "float"
    assert answer.data[0].embedding == expected("openai-embed", "plain floats please")


def test_titan_gets_one_text_per_call_run_together_in_order(upstreams: dict[str, Any], http: httpx.Client) -> None:
    fake = upstreams["bedrock"]
    fake.hold_until_in_flight = 3  # the deployment's embedding_concurrency
    texts = [f"text number {i}" for i in range(7)]
    try:
        answer = http.post("/v1/embeddings", json={"model": "titan", "input": texts, "dimensions": 512})
    finally:
        fake.hold_until_in_flight = 0
    assert answer.status_code == 200, answer.text
    assert vectors_of(assert_embeddings(answer.json())) == [expected("titan", t, 512) for t in texts]
    assert sorted(body["inputText"] for body in fake.bodies()) == sorted(texts)
    assert all(body["dimensions"] == 512 for body in fake.bodies())
    assert fake.max_in_flight == 3
    assert answer.json()["usage"]["prompt_tokens"] == sum(word_tokens(t) for t in texts)  # Titan's own counts


def test_cohere_gets_batches_of_96_with_its_input_type(upstreams: dict[str, Any], http: httpx.Client) -> None:
    fake = upstreams["bedrock"]
    texts = [f"document {i}" for i in range(100)]
    answer = http.post("/v1/embeddings", json={"model": "cohere", "input": texts, "dimensions": 256})
    assert vectors_of(assert_embeddings(answer.json())) == [expected("cohere", t, 256) for t in texts]
    sent = fake.bodies()
    assert sorted(len(body["texts"]) for body in sent) == [4, 96]
    assert all(body["input_type"] == "search_document" and body["output_dimension"] == 256 for body in sent)
    assert all(body["embedding_types"] == ["float"] for body in sent)
    v3 = http.post("/v1/embeddings", json={"model": "cohere-v3", "input": "a query"})
    assert_embeddings(v3.json())
    assert fake.bodies()[-1] == {"texts": ["a query"], "input_type": "search_query", "embedding_types": ["float"]}


def test_gemini_gets_embed_content_then_batches_of_100(upstreams: dict[str, Any], http: httpx.Client) -> None:
    fake = upstreams["gemini"]
    http.post("/v1/embeddings", json={"model": "gemini-embed", "input": "one", "dimensions": 128})
    assert fake.requests[-1].path == "/v1beta/models/text-embedding-004:embedContent"
    assert fake.bodies()[-1] == {
        "model": "models/text-embedding-004",
        "content": {"parts": [{"text": "one"}]},
        "outputDimensionality": 128,
    }
    texts = [f"passage {i}" for i in range(150)]
    answer = http.post("/v1/embeddings", json={"model": "gemini-embed", "input": texts})
    assert answer.headers["x-llm-gateway-model-group"] == "gemini-embed"
    assert vectors_of(assert_embeddings(answer.json())) == [expected("gemini-embed", t) for t in texts]
    batches = [r for r in fake.requests if r.path.endswith(":batchEmbedContents")]
    assert sorted(len(r.json()["requests"]) for r in batches) == [50, 100]
    assert answer.json()["usage"]["prompt_tokens"] > 0  # Gemini counts none: the gateway's estimate


# --- what is refused, and how --------------------------------------------------------------------------


@pytest.mark.parametrize("group", ("titan", "cohere", "gemini-embed"))
def test_token_arrays_are_refused_where_the_upstream_reads_text(group: str, http: httpx.Client) -> None:
    refused = http.post("/v1/embeddings", json={"model": group, "input": [[1, 2, 3]]})
    assert refused.status_code == 400
    error = assert_error(refused.json())["error"]
    assert (error["param"], error["code"]) == ("input", "unsupported_content")
    assert "string" in error["message"]


@pytest.mark.parametrize(
    ("group", "dimensions", "says"),
    [
        ("titan", 300, "takes 256, 512, 1024"),
        ("cohere", 100, "takes 256, 512, 1024, 1536"),
        ("cohere-v3", 256, "cannot"),
    ],
)
def test_dimensions_a_model_cannot_make_are_a_clear_400(
    group: str, dimensions: int, says: str, http: httpx.Client, upstreams: dict[str, Any]
) -> None:
    refused = http.post("/v1/embeddings", json={"model": group, "input": "x", "dimensions": dimensions})
    assert refused.status_code == 400
    error = assert_error(refused.json())["error"]
    assert error["param"] == "dimensions" and says in error["message"]
    assert upstreams["bedrock"].requests == []


def test_requests_the_gateway_cannot_serve(http: httpx.Client, upstreams: dict[str, Any]) -> None:
    cases = [
        ({"model": "chat", "input": "x"}, 400, "model", "model_not_supported"),
        ({"model": "nope", "input": "x"}, 404, "model", "model_not_found"),
        ({"model": "titan", "input": ""}, 400, "input", "invalid_value"),
        ({"model": "titan", "input": ["a", 1]}, 400, "input[1]", "invalid_value"),
        ({"model": "titan", "input": []}, 400, "input", "invalid_value"),
        ({"model": "titan", "input": "x", "encoding_format": "int8"}, 400, "encoding_format", "invalid_value"),
        ({"model": "titan", "input": "x", "dimensions": 0}, 400, "dimensions", "invalid_value"),
        ({"model": "titan", "input": "x", "input_type": "search_query"}, 400, "input_type", "unsupported_parameter"),
        ({"model": "titan"}, 400, "input", "missing_required_parameter"),
        ({"model": "titan", "input": "x", "fallbacks": ["chat"]}, 400, "fallbacks[0]", "model_not_supported"),
    ]
    for body, status, param, code in cases:
        answer = http.post("/v1/embeddings", json=body)
        assert answer.status_code == status, (body, answer.text)
        error = assert_error(answer.json())["error"]
        assert (error["param"], error["code"]) == (param, code), body
    assert upstreams["bedrock"].requests == []
    dropped = http.post("/v1/embeddings", json={"model": "titan", "input": "x", "input_type": "q", "drop_params": True})
    assert dropped.status_code == 200
    assert upstreams["bedrock"].bodies() == [{"inputText": "x"}]


def test_upstream_errors_reach_the_client_in_openai_shape(http: httpx.Client, upstreams: dict[str, Any]) -> None:
    upstreams["bedrock"].fail_next.append((400, ("ValidationException", "Input is too long for requested model.")))
    too_long = http.post("/v1/embeddings", json={"model": "titan", "input": "a very long text"})
    assert too_long.status_code == 400
    assert assert_error(too_long.json())["error"]["code"] == "context_length_exceeded"
    assert too_long.json()["error"]["param"] == "input"
    upstreams["gemini"].fail_next.append(
        (429, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}})
    )
    limited = http.post("/v1/embeddings", json={"model": "gemini-embed", "input": "x"})
    assert limited.status_code == 429 and assert_error(limited.json())["error"]["type"] == "rate_limit_error"


def test_guardrails_check_the_input_text(http: httpx.Client, upstreams: dict[str, Any]) -> None:
    refused = http.post(
        "/v1/embeddings",
        json={"model": "openai-embed", "input": ["fine", "about Project Falcon"], "guardrails": ["no-falcon"]},
    )
    assert refused.status_code == 400
    assert assert_error(refused.json())["error"]["param"] == "input"
    assert refused.headers["x-llm-gateway-guardrails"] == "no-falcon:refused"
    redacted = http.post(
        "/v1/embeddings",
        json={"model": "openai-embed", "input": "mail bob@example.com", "guardrails": ["pii_redaction"]},
    )
    assert redacted.status_code == 200
    assert "bob@example.com" not in upstreams["openai"].requests[-1].body.decode()
    tokens = http.post("/v1/embeddings", json={"model": "openai-embed", "input": [[1, 2]], "guardrails": ["no-falcon"]})
    assert tokens.status_code == 400 and tokens.json()["error"]["code"] == "unsupported_content"


def test_models_list_says_which_groups_embed(http: httpx.Client) -> None:
    listed = {m["id"]: m for m in assert_model_list(http.get("/v1/models").json())["data"]}
    assert listed["titan"]["endpoints"] == ["embeddings"]
    assert "embeddings" not in listed["chat"]["endpoints"]


def test_the_schema_is_in_the_openapi_document(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    operation = document["paths"]["/v1/embeddings"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CreateEmbeddingRequest")
    assert {"model", "input", "encoding_format", "dimensions", "user"} <= set(
        document["components"]["schemas"]["CreateEmbeddingRequest"]["properties"]
    )
