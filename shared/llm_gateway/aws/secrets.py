"""``ssm:`` and ``secretsmanager:`` secret references, read through Powertools' parameters, off the event loop.

- ``ssm:/llm-gateway/prod/openai-api-key``: an SSM parameter (a SecureString is decrypted).
- ``secretsmanager:llm-gateway/prod/anthropic``: a secret's value (name or ARN).
- ``secretsmanager:llm-gateway/prod/providers#anthropic``: one field of a JSON secret.

Powertools' ``SSMProvider`` and ``SecretsProvider`` make the calls (on the gateway's boto3 clients). Their
API is blocking, so each call runs in a worker thread, and their cache cannot be asked without the
risk of blocking: the :class:`~llm_gateway.secrets.SecretResolver` keeps each value for its TTL on the
event loop and lets one request per reference fetch at a time, and the providers keep nothing (two caches
with one TTL each would let a rotated value live twice as long). Error messages name the reference and
AWS's error code, never a value.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llm_gateway.secrets import SecretError, SecretLoader, SecretResolver

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

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


def _cause(exc: Exception) -> Exception:
    """The AWS error behind one of Powertools' ``GetParameterError`` (raised while handling it)."""
    inner = exc.__cause__ or exc.__context__
    return inner if isinstance(inner, Exception) else exc


def ssm_provider(clients: AwsClientFactory) -> SSMProvider:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=clients("ssm"))


def secrets_provider(clients: AwsClientFactory) -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=clients("secretsmanager"))


def read_ssm_parameter(ssm: SSMProvider, name: str) -> str:
    """The value of an SSM parameter (blocking; SecureStrings are decrypted). Nothing is kept: the caller
    (:class:`~llm_gateway.secrets.SecretResolver`) caches."""
    if not name:
        raise SecretError("an 'ssm:' reference needs a parameter name")
    try:
        value = ssm.get(name, decrypt=True, max_age=0)
    except Exception as exc:
        raise _describe_failure("SSM parameter", name, _cause(exc)) from None
    if not isinstance(value, str):
        raise SecretError(f"SSM parameter {name!r} has no value")
    return value


def read_secret(secrets: SecretsProvider, reference: str) -> str:
    """A Secrets Manager secret, or one field of a JSON secret with ``name#field`` (blocking; nothing is
    kept, as for SSM)."""
    name, _, field = reference.partition("#")
    if not name:
        raise SecretError("a 'secretsmanager:' reference needs a secret name")
    try:
        value = secrets.get(name, max_age=0)
    except Exception as exc:
        raise _describe_failure("secret", name, _cause(exc)) from None
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
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
    """The loaders; each builds its provider (and boto3 client) on first use, once."""
    ssm = functools.cache(lambda: ssm_provider(clients))
    secrets = functools.cache(lambda: secrets_provider(clients))

    async def load_ssm(name: str) -> str:
        return await asyncio.to_thread(lambda: read_ssm_parameter(ssm(), name))

    async def load_secret(reference: str) -> str:
        return await asyncio.to_thread(lambda: read_secret(secrets(), reference))

    return {SSM_SCHEME: load_ssm, SECRETS_MANAGER_SCHEME: load_secret}


def register_aws_secret_loaders(resolver: SecretResolver, clients: AwsClientFactory) -> SecretResolver:
    """Add the AWS loaders to ``resolver``, keeping any loader already registered for those schemes."""
    for scheme, loader in aws_secret_loaders(clients).items():
        resolver.loaders.setdefault(scheme, loader)
    return resolver
