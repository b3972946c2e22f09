"""``/v1/embeddings`` through the same controls as chat, over a real socket: the response cache (keyed by
the normalised request, scoped by key), rate limits and budgets of virtual keys (DynamoDB on moto),
spend at the model's input price, retries and fallbacks across deployments and groups, and LangChain's
``OpenAIEmbeddings`` pointed at the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.embedding_schema import assert_embeddings, vectors_of
from tests.support.fake_embeddings import OPENAI_KEY, FakeBedrockEmbeddings, FakeOpenAIEmbeddings
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_error
from tests.support.servers import free_port
from tests.support.tenants import ManualClock, aws_clients, key_store, make_key, spend_store, usage_records

pytestmark = pytest.mark.slow

EMBEDDINGS = {"endpoints": ["embeddings"]}


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[FakeOpenAIEmbeddings]:
    fake = FakeOpenAIEmbeddings().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def bedrock_upstream() -> Iterator[FakeBedrockEmbeddings]:
    fake = FakeBedrockEmbeddings().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh(openai_upstream: FakeOpenAIEmbeddings, bedrock_upstream: FakeBedrockEmbeddings) -> None:
    openai_upstream.clear()
    bedrock_upstream.clear()


def openai_model(fake: FakeOpenAIEmbeddings, name: str = "embed", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "openai",
        "model": "text-embedding-3-small",
        "api_base": fake.v1,
        "api_key": OPENAI_KEY,
        **EMBEDDINGS,
        **extra,
    }


def post(base_url: str, body: dict[str, Any], key: str = MASTER_KEY, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/embeddings", json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=30
    )


def flush(server: Any) -> None:
    asyncio.run_coroutine_threadsafe(server.gateway.tenants.flush_usage(), server.loop).result(timeout=30)


# --- the response cache ------------------------------------------------------------------------------


def test_a_cached_embedding_costs_no_upstream_call(openai_upstream: FakeOpenAIEmbeddings) -> None:
    config = {"models": [openai_model(openai_upstream)], "cache": {"backend": "memory"}}
    with running_gateway(config) as gw:
        first = post(gw.base_url, {"model": "embed", "input": "cache me", "caching": True})
        assert first.headers["x-llm-gateway-cache"] == "miss"
        # the same request normalised: a list of one, base64 instead of floats, another end user
        again = post(
            gw.base_url,
            {"model": "embed", "input": ["cache me"], "encoding_format": "base64", "user": "u-2", "caching": True},
        )
        assert again.headers["x-llm-gateway-cache"] == "hit" and "age" in again.headers
        assert vectors_of(assert_embeddings(again.json())) == vectors_of(assert_embeddings(first.json()))
        assert isinstance(again.json()["data"][0]["embedding"], str)
        assert again.json()["usage"] == first.json()["usage"]
        assert len(openai_upstream.requests) == 1
        # what changes the vectors changes the key; the SDK's controls work as chat's do
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        shorter = client.embeddings.with_raw_response.create(
            model="embed", input="cache me", dimensions=8, extra_body={"caching": True}
        )
        assert shorter.headers["x-llm-gateway-cache"] == "miss" and len(openai_upstream.requests) == 2
        assert len(shorter.parse().data[0].embedding) == 8
        uncached = post(gw.base_url, {"model": "embed", "input": "cache me"})  # opt-in: no caching asked
        assert uncached.headers["x-llm-gateway-cache"] == "bypass" and len(openai_upstream.requests) == 3


def test_cache_entries_are_scoped_to_the_key(
    openai_upstream: FakeOpenAIEmbeddings, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock()
    keys = key_store(moto_endpoint, dynamodb_tables)
    alice, _ = make_key(keys, now=clock(), owner="alice")
    bob, _ = make_key(keys, now=clock(), owner="bob")
    config = {"models": [openai_model(openai_upstream)], "cache": {"backend": "memory"}}
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        body = {"model": "embed", "input": "shared text", "caching": True}
        assert post(gw.base_url, body, alice).headers["x-llm-gateway-cache"] == "miss"
        assert post(gw.base_url, body, alice).headers["x-llm-gateway-cache"] == "hit"
        assert post(gw.base_url, body, bob).headers["x-llm-gateway-cache"] == "miss"
    assert len(openai_upstream.requests) == 2


def test_an_idempotent_replay_is_the_same_answer(openai_upstream: FakeOpenAIEmbeddings) -> None:
    config = {"models": [openai_model(openai_upstream)], "idempotency": {"enabled": True}}
    with running_gateway(config) as gw:
        body = {"model": "embed", "input": ["once", "only"], "encoding_format": "base64"}
        first = post(gw.base_url, body, **{"idempotency-key": "embed-1"})
        again = post(gw.base_url, body, **{"idempotency-key": "embed-1"})
        changed = post(gw.base_url, {**body, "input": "other"}, **{"idempotency-key": "embed-1"})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and assert_embeddings(again.json())
    assert changed.status_code == 422
    assert len(openai_upstream.requests) == 1


# --- keys, limits, budgets and spend ---------------------------------------------------------------------


def test_rate_limits_budgets_and_spend_hold_for_embeddings(
    openai_upstream: FakeOpenAIEmbeddings, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock(now=1_764_000_000.0 + 5)
    keys = key_store(moto_endpoint, dynamodb_tables)
    limited, _ = make_key(keys, now=clock(), owner="limited", rpm=2)
    # the budget holds one request's worst case (79 bytes of input: at most 79 tokens, $0.0079), not two
    budgeted, budgeted_id = make_key(keys, now=clock(), owner="budgeted", budget_usd=0.008)
    config = {
        "models": [openai_model(openai_upstream)],
        "tenants": {"prices": {"embed": {"input": 100.0, "output": 0.0}}},  # USD per million input tokens
    }
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        assert [post(gw.base_url, {"model": "embed", "input": "x"}, limited).status_code for _ in range(2)] == [
            200,
            200,
        ]
        refused = post(gw.base_url, {"model": "embed", "input": "x"}, limited)
        assert refused.status_code == 429
        assert assert_error(refused.json())["error"]["code"] == "rate_limit_exceeded"
        assert refused.headers["x-ratelimit-limit-requests"] == "2" and "retry-after" in refused.headers

        text = " ".join(["word"] * 16)  # the fake counts 16 words + 79 chars // 16 = 20 tokens: $0.002
        spent = post(gw.base_url, {"model": "embed", "input": text, "user": "end-user-1"}, budgeted)
        assert spent.status_code == 200 and spent.json()["usage"]["prompt_tokens"] == 20
        flush(gw)
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=budgeted, max_retries=0)
        with pytest.raises(openai.RateLimitError) as over:
            client.embeddings.create(model="embed", input=text)  # $0.002 spent + $0.0079 at worst > $0.008
        assert over.value.code == "insufficient_quota"
    spend = spend_store(moto_endpoint, dynamodb_tables)
    [record] = usage_records(spend, budgeted_id, clock() - 60, clock() + 60)
    assert (record["prompt_tokens"], record["completion_tokens"]) == (20, 0)
    assert record["cost_usd"] == pytest.approx(20 * 100.0 / 1_000_000)
    assert (record["model"], record["user"], record["stream"]) == ("embed", "end-user-1", False)
    assert spend.current_spend(budgeted_id, "monthly", clock()) == pytest.approx(0.002)


def test_a_key_limited_to_other_models_cannot_embed(
    openai_upstream: FakeOpenAIEmbeddings, moto_endpoint: str, dynamodb_tables: dict[str, str]
) -> None:
    clock = ManualClock()
    secret, _ = make_key(key_store(moto_endpoint, dynamodb_tables), now=clock(), models=("other",))
    config = {"models": [openai_model(openai_upstream), openai_model(openai_upstream, name="other")]}
    options = {"aws_clients": aws_clients(moto_endpoint), "clock": clock}
    with running_gateway(config, env=dynamodb_tables, **options) as gw:
        refused = post(gw.base_url, {"model": "embed", "input": "x"}, secret)
        assert refused.status_code == 403 and assert_error(refused.json())["error"]["code"] == "model_not_allowed"
        assert post(gw.base_url, {"model": "embed", "input": "x"}, "sk-not-a-key").status_code == 401
    assert openai_upstream.requests == []


# --- retries and fallbacks ------------------------------------------------------------------------------


def test_a_failing_deployment_is_retried_on_another_of_its_group(
    openai_upstream: FakeOpenAIEmbeddings, bedrock_upstream: FakeBedrockEmbeddings
) -> None:
    titan = {
        "name": "embed",
        "provider": "bedrock",
        "model": "amazon.titan-embed-text-v2:0",
        "region": "us-east-1",
        "endpoint_url": bedrock_upstream.base_url,
        "id": "titan",
        **EMBEDDINGS,
    }
    config = {
        "models": [openai_model(openai_upstream, id="openai"), titan],
        "router": {"num_retries": 2, "backoff_base": 0},
    }
    # each deployment fails once: the retry goes to the one not tried yet, the third try succeeds
    openai_upstream.fail_next.append((503, {"error": {"message": "overloaded", "type": "server_error"}}))
    bedrock_upstream.fail_next.append((429, ("ThrottlingException", "Too many requests, please wait.")))
    with running_gateway(config) as gw:
        answer = post(gw.base_url, {"model": "embed", "input": "retry me"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-llm-gateway-attempts"] == "3"
    assert_embeddings(answer.json())
    assert len(openai_upstream.requests) >= 1 and len(bedrock_upstream.requests) >= 1
    assert len(openai_upstream.requests) + len(bedrock_upstream.requests) == 3
    answered_by = answer.headers["x-llm-gateway-deployment"]
    assert len(openai_upstream.answered if answered_by == "openai" else bedrock_upstream.answered) == 1


def test_a_group_that_fails_falls_back_to_the_next(openai_upstream: FakeOpenAIEmbeddings) -> None:
    unreachable = {
        "name": "primary",
        "provider": "openai",
        "model": "text-embedding-3-large",
        "api_base": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens: connection refused
        "api_key": "sk-nothing",
        **EMBEDDINGS,
    }
    config = {
        "models": [
            unreachable,
            openai_model(openai_upstream, name="backup"),
            {"name": "chat", "provider": "mock", "model": "m"},
        ],
        "router": {"num_retries": 0, "fallbacks": {"primary": ["chat", "backup"]}},
    }
    with running_gateway(config) as gw:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        raw = client.embeddings.with_raw_response.create(model="primary", input="fall back")
    assert raw.headers["x-llm-gateway-fallback"] == "fallback"
    assert raw.headers["x-llm-gateway-requested-model"] == "primary"
    assert raw.headers["x-llm-gateway-model-group"] == "backup"  # 'chat' serves no embeddings: skipped
    assert raw.parse().model == "text-embedding-3-small"
    assert len(openai_upstream.requests) == 1


# --- a framework through the gateway --------------------------------------------------------------------


def test_langchain_openai_embeddings(openai_upstream: FakeOpenAIEmbeddings) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    config = {"models": [openai_model(openai_upstream)]}
    with running_gateway(config) as gw:
        embeddings = langchain_openai.OpenAIEmbeddings(
            model="embed",
            base_url=gw.base_url + "/v1",
            api_key=MASTER_KEY,
            check_embedding_ctx_length=False,  # send strings (its tokenizer's files cannot be fetched here)
            max_retries=0,
        )
        documents = embeddings.embed_documents(["first document", "second document"])
        query = embeddings.embed_query("second document")
    assert len(documents) == 2 and len(documents[0]) == 1536
    assert query == documents[1]
    assert openai_upstream.answered[1] == documents[1]


def test_llama_index_openai_like_embeddings_on_bedrock(bedrock_upstream: FakeBedrockEmbeddings) -> None:
    openai_like = pytest.importorskip("llama_index.embeddings.openai_like")
    titan = {
        "name": "titan",
        "provider": "bedrock",
        "model": "amazon.titan-embed-text-v2:0",
        "region": "us-east-1",
        "endpoint_url": bedrock_upstream.base_url,
        **EMBEDDINGS,
    }
    with running_gateway({"models": [titan]}) as gw:
        embeddings = openai_like.OpenAILikeEmbedding(
            model_name="titan", api_base=gw.base_url + "/v1", api_key=MASTER_KEY, dimensions=256, max_retries=0
        )
        documents = embeddings.get_text_embedding_batch(["first passage", "second passage", "third"])
        query = embeddings.get_query_embedding("second passage")
    assert [len(vector) for vector in documents] == [256, 256, 256]
    assert query == documents[1]
    assert {body["inputText"] for body in bedrock_upstream.bodies()} == {"first passage", "second passage", "third"}
