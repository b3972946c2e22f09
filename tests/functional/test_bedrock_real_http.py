"""Nothing injected: the gateway builds its own boto3 client (endpoint_url -> a local fake Bedrock over real
HTTP), signs, sends, parses the binary event stream and closes the connection when the client leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from tests.support.fake_bedrock import CLAUDE, Error, FakeBedrockHTTP, Reply, Stream, load_fixture, stream_until
from tests.support.gateway import MASTER_KEY, running_gateway
from tests.support.openai_schema import assert_chunk, assert_completion, assert_error
from tests.support.sse import assemble

pytestmark = pytest.mark.slow

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeBedrockHTTP]:
    fake = FakeBedrockHTTP().start()
    yield fake
    fake.stop()


def config(endpoint: str) -> dict[str, object]:
    return {
        "models": [
            {"name": "claude", "provider": "bedrock", "model": CLAUDE, "region": "eu-west-1", "endpoint_url": endpoint}
        ]
    }


def test_completion_stream_and_error_over_real_http(upstream: FakeBedrockHTTP) -> None:
    upstream.plan(
        Reply(load_fixture("converse_text.json")),
        Stream([(k, p) for k, p in load_fixture("stream_parallel_tools.json")]),
        Error(429, "ThrottlingException", "Too many requests"),
    )
    with running_gateway(config(upstream.base_url)) as gw:
        sdk = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=MASTER_KEY, max_retries=0)
        result = sdk.chat.completions.create(model="claude", messages=USER)
        assert_completion(result.model_dump(exclude_unset=True))
        assert result.choices[0].message.content == "Paris is the capital of France."
        chunks = [
            assert_chunk(c.model_dump(exclude_unset=True))
            for c in sdk.chat.completions.create(
                model="claude", messages=USER, stream=True, stream_options={"include_usage": True}
            )
        ]
        assert len(assemble(chunks)[0]["tool_calls"]) == 3
        with pytest.raises(openai.RateLimitError) as info:
            sdk.chat.completions.create(model="claude", messages=USER)
        assert_error(info.value.response.json())
    sent = upstream.requests[0]
    assert sent.path == f"/model/{CLAUDE.replace(':', '%3A')}/converse"
    assert "AWS4-HMAC-SHA256" in sent.headers["authorization"]
    assert "/eu-west-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert upstream.requests[1].path.endswith("/converse-stream")


def test_client_leaving_releases_the_upstream_connection(upstream: FakeBedrockHTTP) -> None:
    events = [(k, p) for k, p in load_fixture("stream_text.json")]
    upstream.plan(Stream(events[:2] * 100, delay=0.05))
    with running_gateway(config(upstream.base_url)) as gw:
        stream_until(gw.base_url, {"model": "claude", "messages": USER, "stream": True}, MASTER_KEY, "Hello")
        request = upstream.requests[-1]
        deadline = time.monotonic() + 5
        while request.outcome == "pending" and request.client_gone_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request.client_gone_at is not None or request.outcome == "client_gone"
