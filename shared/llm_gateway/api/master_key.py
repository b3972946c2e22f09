"""The master key from a secret store: ``LLM_GATEWAY_MASTER_KEY_REF=ssm:/llm-gateway/prod/master-key``.

In AWS the key never sits in the function's environment: the reference (``ssm:``, ``secretsmanager:``,
``env:``) is resolved through the gateway's :class:`~llm_gateway.secrets.SecretResolver`, so it is cached
for the resolver's TTL and a rotated key takes effect within that time. A request without a key is refused
before any lookup, so anonymous traffic never reaches SSM. Locally, ``LLM_GATEWAY_MASTER_KEY`` still works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from llm_gateway.api.auth import MASTER_KEY_ENV, Authenticator, MasterKeyAuthenticator
from llm_gateway.core.context import Principal
from llm_gateway.errors import ServiceUnavailableError
from llm_gateway.secrets import SecretError, SecretResolver

MASTER_KEY_REF_ENV = "LLM_GATEWAY_MASTER_KEY_REF"

log = logging.getLogger("llm_gateway.auth")


class ResolvedMasterKeyAuthenticator:
    def __init__(self, reference: str, secrets: SecretResolver) -> None:
        self._reference = reference
        self._secrets = secrets
        self._current: tuple[str, MasterKeyAuthenticator] | None = None

    async def _authenticator(self) -> MasterKeyAuthenticator:
        try:
            key = await self._secrets.resolve(self._reference)
        except SecretError as exc:
            log.error("cannot load the master key: %s", exc)
            raise ServiceUnavailableError(
                "The gateway cannot load its master key; try again later.", code="master_key_unavailable"
            ) from None
        if not key:
            return MasterKeyAuthenticator(None)
        if self._current is None or self._current[0] != key:
            self._current = (key, MasterKeyAuthenticator(key))
        return self._current[1]

    async def authenticate(self, token: str | None) -> Principal:
        if token is None:
            return await MasterKeyAuthenticator(None).authenticate(None)
        authenticator = await self._authenticator()
        return await authenticator.authenticate(token)


def master_key_authenticator(env: Mapping[str, str], secrets: SecretResolver) -> Authenticator:
    """``LLM_GATEWAY_MASTER_KEY_REF`` when set (a reference, or for local use the key itself), else the env key."""
    reference = (env.get(MASTER_KEY_REF_ENV) or "").strip()
    if reference:
        return ResolvedMasterKeyAuthenticator(reference, secrets)
    return MasterKeyAuthenticator(env.get(MASTER_KEY_ENV))
