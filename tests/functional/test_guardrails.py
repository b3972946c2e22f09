"""Guardrails through the whole app: PII redacted before the upstream, deny list, size, unknown names,
AWS Bedrock ApplyGuardrail (a real bedrock-runtime client under botocore's Stubber)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from llm_gateway.aws.clients import AwsClients
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.gateway import MASTER_KEY, openai_config, running_gateway
from tests.support.openai_schema import assert_completion, assert_error
from tests.support.sse import check_stream, parse_sse_text

pytestmark = pytest.mark.slow

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}

PII_PROMPT = (
    "Mail jane.doe@example.com or call +1 415-555-0132. Card 4111 1111 1111 1111, SSN 123-45-6789, "
    "key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY. Order 1234567890123 ships."
)


def _post(base_url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def _config(fake: FakeOpenAI, **guardrails: Any) -> dict[str, Any]:
    return {**openai_config(fake.v1), "guardrails": guardrails}


def test_pii_reaches_the_upstream_redacted(fake_openai: FakeOpenAI) -> None:
    with running_gateway(_config(fake_openai)) as gw:
        answer = _post(
            gw.base_url,
            {
                "model": "gpt-test",
                "guardrails": ["pii_redaction"],
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": PII_PROMPT}]},
                ],
            },
        )
        assert answer.status_code == 200, answer.text
        assert_completion(answer.json())
        assert answer.headers["x-llm-gateway-guardrails"] == "pii_redaction:redacted=6"
    sent = fake_openai.chat_requests()[-1].json()
    text = sent["messages"][1]["content"][0]["text"]
    assert text == (
        "Mail [REDACTED_EMAIL] or call [REDACTED_PHONE]. Card [REDACTED_CARD], SSN [REDACTED_SSN], "
        "key [REDACTED_AWS_ACCESS_KEY] secret [REDACTED_AWS_SECRET_KEY]. Order 1234567890123 ships."
    )
    assert "guardrails" not in sent  # a gateway extension, never forwarded


def test_default_guardrails_apply_to_streams_too(fake_openai: FakeOpenAI) -> None:
    with running_gateway(_config(fake_openai, defaults=["pii_redaction"])) as gw:
        answer = _post(
            gw.base_url,
            {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "I am bob@corp.io"}]},
        )
        _, error = check_stream(parse_sse_text(answer.text))
        assert error is None
        assert answer.headers["x-llm-gateway-guardrails"] == "pii_redaction:redacted=1"
    assert fake_openai.chat_requests()[-1].json()["messages"][0]["content"] == "I am [REDACTED_EMAIL]"


def test_deny_list_refuses_with_content_policy_violation(fake_openai: FakeOpenAI) -> None:
    deny = {"type": "deny_list", "terms": ["Project Falcon"], "patterns": [r"(?i)internal[- ]only"]}
    with running_gateway(_config(fake_openai, definitions={"deny_list": deny}, defaults=["deny_list"])) as gw:
        for prompt in ("Tell me about project falcon plans", "this doc is INTERNAL-ONLY"):
            refused = _post(gw.base_url, {"model": "gpt-test", "messages": [{"role": "user", "content": prompt}]})
            assert refused.status_code == 400
            error = assert_error(refused.json())["error"]
            assert error["code"] == "content_policy_violation"
            assert error["type"] == "invalid_request_error"
            assert "falcon" not in error["message"].lower()
            assert refused.headers["x-llm-gateway-guardrails"] == "deny_list:refused"
        ok = _post(gw.base_url, {"model": "gpt-test", "messages": [{"role": "user", "content": "falconry tips"}]})
        assert ok.status_code == 200
        assert ok.headers["x-llm-gateway-guardrails"] == "deny_list:passed"
    assert len(fake_openai.chat_requests()) == 1


def test_prompt_size_and_unknown_guardrail(fake_openai: FakeOpenAI) -> None:
    size = {"type": "prompt_size", "max_chars": 20}
    with running_gateway(_config(fake_openai, definitions={"short": size})) as gw:
        long = _post(
            gw.base_url,
            {"model": "gpt-test", "guardrails": ["short"], "messages": [{"role": "user", "content": "x" * 21}]},
        )
        assert long.status_code == 400
        assert long.json()["error"]["code"] == "prompt_too_large"
        unknown = _post(
            gw.base_url, {"model": "gpt-test", "guardrails": ["nope"], "messages": [{"role": "user", "content": "hi"}]}
        )
        assert unknown.status_code == 400
        error = assert_error(unknown.json())["error"]
        assert error["param"] == "guardrails"
        assert "nope" in error["message"]
    assert fake_openai.chat_requests() == []


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


USAGE = {
    "topicPolicyUnits": 1,
    "contentPolicyUnits": 1,
    "wordPolicyUnits": 1,
    "sensitiveInformationPolicyUnits": 1,
    "sensitiveInformationPolicyFreeUnits": 0,
    "contextualGroundingPolicyUnits": 0,
}


def _verdict(action: str, outputs: list[str], assessments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "usage": USAGE,
        "action": action,
        "outputs": [{"text": t} for t in outputs],
        "assessments": assessments or [],
    }


BLOCKED = [{"contentPolicy": {"filters": [{"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED"}]}}]
ANONYMIZED = [
    {
        "sensitiveInformationPolicy": {
            "piiEntities": [{"match": "Ann", "type": "NAME", "action": "ANONYMIZED"}],
            "regexes": [],
        }
    }
]


def _bedrock_config(fake: FakeOpenAI) -> dict[str, Any]:
    spec = {"type": "bedrock", "guardrail_id": "gr123", "guardrail_version": "2", "region": "us-east-1"}
    return _config(fake, definitions={"corp": spec})


def _expect(stubber: Stubber, source: str, texts: list[str], response: dict[str, Any]) -> None:
    stubber.add_response(
        "apply_guardrail",
        response,
        {
            "guardrailIdentifier": "gr123",
            "guardrailVersion": "2",
            "source": source,
            "content": [{"text": {"text": t}} for t in texts],
        },
    )


def test_bedrock_guardrail_checks_input_and_output(fake_openai: FakeOpenAI, bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    fake_openai.plan(Reply(text="Here is the answer."), Reply(text="Something harmful."))
    _expect(stubber, "INPUT", ["hello"], _verdict("NONE", []))
    _expect(stubber, "OUTPUT", ["Here is the answer."], _verdict("NONE", []))
    _expect(
        stubber, "INPUT", ["Tell me about Ann"], _verdict("GUARDRAIL_INTERVENED", ["Tell me about {NAME}"], ANONYMIZED)
    )
    _expect(stubber, "OUTPUT", ["Something harmful."], _verdict("GUARDRAIL_INTERVENED", ["Sorry, I can't."], BLOCKED))
    _expect(stubber, "INPUT", ["how to hurt"], _verdict("GUARDRAIL_INTERVENED", ["Blocked by policy."], BLOCKED))
    aws = AwsClients(overrides={"bedrock-runtime": client})
    with running_gateway(_bedrock_config(fake_openai), aws_clients=aws) as gw:
        body = {"model": "gpt-test", "guardrails": ["corp"]}
        ok = _post(gw.base_url, {**body, "messages": [{"role": "user", "content": "hello"}]})
        assert ok.status_code == 200
        assert ok.json()["choices"][0]["message"]["content"] == "Here is the answer."
        assert ok.headers["x-llm-gateway-guardrails"] == "corp:passed, corp:output:passed"

        masked = _post(gw.base_url, {**body, "messages": [{"role": "user", "content": "Tell me about Ann"}]})
        assert masked.status_code == 200
        assert_completion(masked.json())
        assert fake_openai.chat_requests()[-1].json()["messages"][0]["content"] == "Tell me about {NAME}"
        choice = masked.json()["choices"][0]
        assert (choice["message"]["content"], choice["finish_reason"]) == ("Sorry, I can't.", "content_filter")
        assert masked.headers["x-llm-gateway-guardrails"] == "corp:masked, corp:output:blocked"

        blocked = _post(gw.base_url, {**body, "messages": [{"role": "user", "content": "how to hurt"}]})
        assert blocked.status_code == 400
        error = assert_error(blocked.json())["error"]
        assert (error["code"], error["message"]) == ("content_policy_violation", "Blocked by policy.")
    assert len(fake_openai.chat_requests()) == 2


def test_bedrock_guardrail_failure_is_a_503(fake_openai: FakeOpenAI, bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    stubber.add_client_error("apply_guardrail", "ThrottlingException", "slow down", 429)
    aws = AwsClients(overrides={"bedrock-runtime": client})
    with running_gateway(_bedrock_config(fake_openai), aws_clients=aws) as gw:
        answer = _post(
            gw.base_url, {"model": "gpt-test", "guardrails": ["corp"], "messages": [{"role": "user", "content": "hi"}]}
        )
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "guardrail_unavailable"
