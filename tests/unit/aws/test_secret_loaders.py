"""ssm: and secretsmanager: references, as the router and the master key resolve them."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from llm_gateway.aws.clients import AwsClients
from llm_gateway.aws.secrets import register_aws_secret_loaders
from llm_gateway.secrets import SecretError, SecretResolver


def resolver(aws: AwsClients, **kwargs: Any) -> SecretResolver:
    return register_aws_secret_loaders(SecretResolver(env={}, **kwargs), aws)


@pytest.mark.slow  # moto over HTTP
async def test_ssm_secure_string_is_decrypted(aws: AwsClients, prefix: str) -> None:
    aws("ssm").put_parameter(Name=f"{prefix}/openai", Value="sk-upstream-1", Type="SecureString")
    assert await resolver(aws).resolve(f"ssm:{prefix}/openai") == "sk-upstream-1"


@pytest.mark.slow  # moto over HTTP
async def test_secrets_manager_plain_and_json_field(aws: AwsClients, prefix: str) -> None:
    name = prefix.strip("/")
    aws("secretsmanager").create_secret(Name=f"{name}/plain", SecretString="sk-plain")
    aws("secretsmanager").create_secret(
        Name=f"{name}/providers", SecretString=json.dumps({"anthropic": "sk-ant", "port": 3})
    )
    secrets = resolver(aws)
    assert await secrets.resolve(f"secretsmanager:{name}/plain") == "sk-plain"
    assert await secrets.resolve(f"secretsmanager:{name}/providers#anthropic") == "sk-ant"
    with pytest.raises(SecretError, match="no text field 'port'"):
        await secrets.resolve(f"secretsmanager:{name}/providers#port")
    with pytest.raises(SecretError, match="not JSON"):
        await secrets.resolve(f"secretsmanager:{name}/plain#anthropic")


@pytest.mark.slow  # moto over HTTP
async def test_values_are_cached_for_the_ttl_then_refreshed(aws: AwsClients, prefix: str) -> None:
    now = [1000.0]
    secrets = resolver(aws, ttl=300, clock=lambda: now[0])
    name = f"{prefix}/rotating"
    aws("ssm").put_parameter(Name=name, Value="old", Type="SecureString")
    assert await secrets.resolve(f"ssm:{name}") == "old"
    aws("ssm").put_parameter(Name=name, Value="new", Type="SecureString", Overwrite=True)
    now[0] += 299
    assert await secrets.resolve(f"ssm:{name}") == "old"
    now[0] += 2
    assert await secrets.resolve(f"ssm:{name}") == "new"


@pytest.mark.slow  # moto over HTTP
async def test_missing_references_fail_clearly_without_values(aws: AwsClients, prefix: str) -> None:
    aws("ssm").put_parameter(Name=f"{prefix}/present", Value="sk-must-not-leak", Type="SecureString")
    secrets = resolver(aws)
    with pytest.raises(SecretError) as ssm_error:
        await secrets.resolve(f"ssm:{prefix}/absent")
    assert f"SSM parameter '{prefix}/absent' does not exist" in str(ssm_error.value)
    with pytest.raises(SecretError, match="does not exist"):
        await secrets.resolve("secretsmanager:llm-gateway/none/such")
    with pytest.raises(SecretError, match="needs a parameter name"):
        await secrets.resolve("ssm:")
    assert "sk-must-not-leak" not in str(ssm_error.value)


class SlowSsm:
    """boto3 blocks: this read returns only once the event loop has run something meanwhile (or after a
    minute, which only stops a hang), so a loader that blocked the loop would leave ``released`` False."""

    def __init__(self) -> None:
        self.calls = 0
        self.reading = threading.Event()
        self.loop_ran = threading.Event()
        self.released = False

    def get_parameter(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        self.reading.set()
        self.released = self.loop_ran.wait(60)
        return {"Parameter": {"Name": kwargs["Name"], "Value": "sk-slow"}}


async def test_loading_never_blocks_the_event_loop_and_runs_once_per_reference() -> None:
    slow = SlowSsm()
    secrets = resolver(AwsClients(overrides={"ssm": slow}))

    async def on_the_loop_meanwhile() -> None:
        while not slow.reading.is_set():
            await asyncio.sleep(0.005)
        slow.loop_ran.set()  # the loop runs this while the read is still blocked in its thread

    values, _ = await asyncio.gather(
        asyncio.gather(*(secrets.resolve("ssm:/llm-gateway/x/key") for _ in range(5))), on_the_loop_meanwhile()
    )
    assert values == ["sk-slow"] * 5
    assert slow.calls == 1
    assert slow.released, "the event loop stalled while SSM was being read"


class DeniedSsm:
    def get_parameter(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")


async def test_access_denied_names_the_reference() -> None:
    secrets = resolver(AwsClients(overrides={"ssm": DeniedSsm()}))
    with pytest.raises(SecretError, match=r"not allowed to read SSM parameter '/other/key' \(AccessDeniedException\)"):
        await secrets.resolve("ssm:/other/key")


@pytest.mark.slow  # moto over HTTP
def test_loaders_already_registered_are_kept(aws: AwsClients) -> None:
    async def custom(name: str) -> str:
        return "custom"

    secrets = SecretResolver(env={}, loaders={"ssm": custom})
    register_aws_secret_loaders(secrets, aws)
    assert secrets.loaders["ssm"] is custom
    assert "secretsmanager" in secrets.loaders
