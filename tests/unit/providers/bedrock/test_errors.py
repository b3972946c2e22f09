"""botocore errors, as botocore really parses them, -> OpenAI-shaped gateway errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from llm_gateway.errors import GatewayError
from llm_gateway.providers.bedrock.errors import map_exception
from tests.support.fake_bedrock import Error, FakeBedrock, Raise, provider_call
from tests.support.openai_schema import assert_error


@pytest.fixture(scope="module")
def shared_fake() -> FakeBedrock:
    return FakeBedrock()


ERRORS: list[tuple[Any, int, str, bool]] = [
    (
        Error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        429,
        "rate_limit_exceeded",
        True,
    ),
    (Error(400, "ServiceQuotaExceededException", "Too many tokens per day."), 429, "insufficient_quota", False),
    (Error(503, "ServiceUnavailableException", "Service is unavailable."), 503, "service_unavailable", True),
    (Error(429, "ModelNotReadyException", "Model is not ready."), 503, "service_unavailable", True),
    (Error(408, "ModelTimeoutException", "Model timed out."), 504, "upstream_timeout", True),
    (
        Error(400, "ValidationException", "Input is too long for requested model."),
        400,
        "context_length_exceeded",
        False,
    ),
    (
        Error(
            400,
            "ValidationException",
            "The model returned the following errors: prompt is too long: 200049 tokens > 200000 maximum",
        ),
        400,
        "context_length_exceeded",
        False,
    ),
    (
        Error(400, "ValidationException", "A conversation must start with a user message."),
        400,
        "invalid_request",
        False,
    ),
    (
        Error(
            403,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/gw/AKIAABCDEFGHIJKLMNOP is not authorized",
        ),
        502,
        "upstream_auth_error",
        False,
    ),
    (
        Error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
        502,
        "upstream_auth_error",
        False,
    ),
    (Error(404, "ResourceNotFoundException", "Model not found."), 404, "model_not_found", False),
    (Error(500, "InternalServerException", "Internal error"), 502, "upstream_error", True),
    (Error(424, "ModelErrorException", "The model failed"), 502, "upstream_error", True),
    (
        Raise(EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")),
        502,
        "upstream_connection_error",
        True,
    ),
    (
        Raise(ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")),
        504,
        "upstream_timeout",
        True,
    ),
    (Raise(NoCredentialsError()), 502, "upstream_auth_error", False),
]


@pytest.mark.parametrize(("reply", "status", "code", "retryable"), ERRORS, ids=[repr(e[0])[:70] for e in ERRORS])
def test_error_mapping(shared_fake: FakeBedrock, reply: Any, status: int, code: str, retryable: bool) -> None:
    shared_fake.reset()
    fake = shared_fake.plan(reply)
    call = provider_call({"messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(Exception) as info:
        fake.client.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])
    error = map_exception(call, info.value)
    assert isinstance(error, GatewayError)
    assert error.status_code == status
    assert error.code == code
    assert getattr(error, "retryable", False) is retryable
    body = assert_error(error.to_dict())
    assert "123456789012" not in str(body)
    assert "AKIA" not in str(body)
    if code == "context_length_exceeded":
        assert body["error"]["param"] == "messages"


def test_stream_error_event_raised_by_botocore_is_mapped() -> None:
    from tests.support.fake_bedrock import Stream

    fake = FakeBedrock().plan(
        Stream(
            [("messageStart", {"role": "assistant"})],
            exception=("modelStreamErrorException", {"message": "boom", "originalStatusCode": 500}),
        )
    )
    stream = fake.client.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])["stream"]
    call = provider_call({"messages": [{"role": "user", "content": "x"}]})
    with pytest.raises(Exception) as info:
        list(stream)
    error = map_exception(call, info.value)
    assert error.status_code == 502
    assert "boom" in error.message
    asyncio.run(asyncio.sleep(0))
