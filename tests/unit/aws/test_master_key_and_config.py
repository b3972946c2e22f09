"""The master key and the model config from SSM / Secrets Manager, through the whole app."""

from __future__ import annotations

import httpx
import pytest

from llm_gateway.api.app import create_app
from llm_gateway.aws.clients import AwsClients
from llm_gateway.config import ConfigError
from llm_gateway.gateway import Gateway, GatewayOptions
from tests.support.gateway import make_gateway
from tests.support.openai_schema import assert_completion, assert_error

pytestmark = pytest.mark.slow  # SSM and Secrets Manager in moto over HTTP

MOCK_CONFIG = {"models": [{"name": "mock", "provider": "mock", "model": "mock-1"}]}
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}


async def _post(gateway: Gateway, key: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.post("/v1/chat/completions", json=CHAT, headers=headers)


async def test_master_key_from_ssm_wins_over_the_environment(aws: AwsClients, prefix: str) -> None:
    aws("ssm").put_parameter(Name=f"{prefix}/master-key", Value="sk-from-ssm", Type="SecureString")
    env = {"LLM_GATEWAY_MASTER_KEY_REF": f"ssm:{prefix}/master-key", "LLM_GATEWAY_MASTER_KEY": "sk-from-env"}
    gateway = make_gateway(MOCK_CONFIG, env, aws_clients=aws)
    ok = await _post(gateway, "sk-from-ssm")
    assert ok.status_code == 200
    assert_completion(ok.json())
    refused = await _post(gateway, "sk-from-env")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


async def test_master_key_from_a_json_secret(aws: AwsClients, prefix: str) -> None:
    name = prefix.strip("/") + "/gateway"
    aws("secretsmanager").create_secret(Name=name, SecretString='{"master_key": "sk-from-secret"}')
    env = {"LLM_GATEWAY_MASTER_KEY_REF": f"secretsmanager:{name}#master_key"}
    gateway = make_gateway(MOCK_CONFIG, env, aws_clients=aws)
    assert (await _post(gateway, "sk-from-secret")).status_code == 200


async def test_missing_master_key_parameter_is_a_503_and_anonymous_calls_never_reach_ssm(
    aws: AwsClients, prefix: str
) -> None:
    env = {"LLM_GATEWAY_MASTER_KEY_REF": f"ssm:{prefix}/not-stored"}
    gateway = make_gateway(MOCK_CONFIG, env, aws_clients=aws)
    anonymous = await _post(gateway, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_api_key"
    broken = await _post(gateway, "sk-anything")
    assert broken.status_code == 503
    assert_error(broken.json())
    assert broken.json()["error"]["code"] == "master_key_unavailable"


def test_config_from_an_ssm_parameter(aws: AwsClients, prefix: str) -> None:
    yaml_text = "models:\n  - {name: from-ssm, provider: mock, model: mock-1}\n"
    aws("ssm").put_parameter(Name=f"{prefix}/config", Value=yaml_text, Type="String")
    gateway = Gateway(GatewayOptions(env={"LLM_GATEWAY_CONFIG": f"ssm:{prefix}/config"}, aws_clients=aws))
    assert gateway.ensure_ready().groups.names() == ["from-ssm"]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        (None, "SSM parameter '{name}' does not exist"),
        ("models: [", "config in SSM parameter {name} is not valid YAML"),
        ("models: []", "config in SSM parameter {name} is invalid: models: List should have at least 1 item"),
        ("models:\n  - {name: x, provider: nope, model: y}\n", "unknown provider 'nope'"),
    ],
)
def test_bad_config_parameter_fails_at_start_up_with_a_clear_message(
    aws: AwsClients, prefix: str, stored: str | None, message: str
) -> None:
    name = f"{prefix}/config-{abs(hash(message)) % 1000}"
    if stored is not None:
        aws("ssm").put_parameter(Name=name, Value=stored, Type="String", Overwrite=True)
    gateway = Gateway(GatewayOptions(env={"LLM_GATEWAY_CONFIG": f"ssm:{name}"}, aws_clients=aws))
    with pytest.raises(ConfigError) as error:
        gateway.ensure_ready()
    assert message.format(name=name) in str(error.value)
