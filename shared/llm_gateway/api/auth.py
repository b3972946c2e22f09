"""Who is calling: the bearer key becomes a :class:`Principal`, or the request gets a 401."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Protocol

from llm_gateway.core.context import Principal
from llm_gateway.errors import AuthenticationError

MASTER_KEY_ENV = "LLM_GATEWAY_MASTER_KEY"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    api_key = headers.get("api-key") or headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


class Authenticator(Protocol):
    async def authenticate(self, token: str | None) -> Principal: ...


class MasterKeyAuthenticator:
    """Accepts exactly one key, the master key. With none configured, every request is refused."""

    def __init__(self, master_key: str | None) -> None:
        self._key = master_key.encode() if master_key else None

    async def authenticate(self, token: str | None) -> Principal:
        if token is None:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                code="missing_api_key",
            )
        if self._key is None:
            raise AuthenticationError(
                f"The gateway has no master key configured ({MASTER_KEY_ENV}); it refuses every request."
            )
        if not hmac.compare_digest(token.encode(), self._key):
            raise AuthenticationError("Incorrect API key provided.")
        return Principal(key_id="master", owner="master")
