"""``ssm:`` and ``secretsmanager:`` secret references, fetched with boto3 off the event loop.

- ``ssm:/llm-gateway/prod/openai-api-key``: an SSM parameter (a SecureString is decrypted).
- ``secretsmanager:llm-gateway/prod/anthropic``: a secret's value (name or ARN).
- ``secretsmanager:llm-gateway/prod/providers#anthropic``: one field of a JSON secret.

The :class:`~llm_gateway.secrets.SecretResolver` caches what these loaders return for its TTL and lets
one request per reference fetch at a time; the loaders only fetch. boto3 is blocking, so each call runs
in a worker thread: a slow AWS answer never stalls other requests on the event loop. Error messages name
the reference and AWS's error code, never a value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from llm_gateway.secrets import SecretError, SecretLoader, SecretResolver

SSM_SCHEME = "ssm"
SECRETS_MANAGER_SCHEME = "secretsmanager"

AwsClientFactory = Callable[..., Any]


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _describe_failure(kind: str, name: str, exc: Exception) -> SecretError:
    code = _error_code(exc) or type(exc).__name__
    if code in ("ParameterNotFound", "ResourceNotFoundException", "ParameterVersionNotFound"):
        return SecretError(f"{kind} {name!r} does not exist")
    if code in ("AccessDeniedException", "AccessDenied", "KMSAccessDeniedException"):
        return SecretError(f"the gateway is not allowed to read {kind} {name!r} ({code})")
    return SecretError(f"cannot read {kind} {name!r} ({code})")


def read_ssm_parameter(clients: AwsClientFactory, name: str) -> str:
    """The value of an SSM parameter (blocking; SecureStrings are decrypted)."""
    if not name:
        raise SecretError("an 'ssm:' reference needs a parameter name")
    try:
        response = clients("ssm").get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:
        raise _describe_failure("SSM parameter", name, exc) from None
    value = response.get("Parameter", {}).get("Value")
    if not isinstance(value, str):
        raise SecretError(f"SSM parameter {name!r} has no value")
    return value


def read_secret(clients: AwsClientFactory, reference: str) -> str:
    """A Secrets Manager secret, or one field of a JSON secret with ``name#field`` (blocking)."""
    name, _, field = reference.partition("#")
    if not name:
        raise SecretError("a 'secretsmanager:' reference needs a secret name")
    try:
        response = clients("secretsmanager").get_secret_value(SecretId=name)
    except Exception as exc:
        raise _describe_failure("secret", name, exc) from None
    value = response.get("SecretString")
    if value is None and isinstance(response.get("SecretBinary"), bytes | bytearray):
        try:
            value = bytes(response["SecretBinary"]).decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(f"secret {name!r} is binary, not text") from None
    if not isinstance(value, str):
        raise SecretError(f"secret {name!r} has no value")
    if not field:
        return value
    try:
        document = json.loads(value)
    except ValueError:
        raise SecretError(f"secret {name!r} is not JSON, so it has no field {field!r}") from None
    picked = document.get(field) if isinstance(document, dict) else None
    if not isinstance(picked, str):
        raise SecretError(f"secret {name!r} has no text field {field!r}")
    return picked


def aws_secret_loaders(clients: AwsClientFactory) -> dict[str, SecretLoader]:
    async def load_ssm(name: str) -> str:
        return await asyncio.to_thread(read_ssm_parameter, clients, name)

    async def load_secret(reference: str) -> str:
        return await asyncio.to_thread(read_secret, clients, reference)

    return {SSM_SCHEME: load_ssm, SECRETS_MANAGER_SCHEME: load_secret}


def register_aws_secret_loaders(resolver: SecretResolver, clients: AwsClientFactory) -> SecretResolver:
    """Add the AWS loaders to ``resolver``, keeping any loader already registered for those schemes."""
    for scheme, loader in aws_secret_loaders(clients).items():
        resolver.loaders.setdefault(scheme, loader)
    return resolver
