"""Attempts: the calls the router makes, one per try of one deployment (retries and fallbacks are several
attempts of one request).

An :class:`AttemptHandler` takes a :class:`~llm_gateway.providers.base.ProviderCall` (the deployment, the
upstream body, the key, the time left) and answers like a provider. The innermost is
:class:`ProviderAttempts`, which hands the call to its deployment's provider; attempt layers wrap it the
way request layers wrap the router (see the composition root, :mod:`llm_gateway.gateway`). A failure
raised here is the attempt's: the router decides whether to retry, fall back or give up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from llm_gateway.errors import GatewayError, InvalidRequestError
from llm_gateway.providers.redact import call_secrets, sanitise

if TYPE_CHECKING:
    from llm_gateway.providers.base import ProviderCall
    from llm_gateway.providers.registry import ProviderPool


class AttemptHandler(ABC):
    @abstractmethod
    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        """A whole ``chat.completion`` dict."""

    @abstractmethod
    def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        """``chat.completion.chunk`` dicts; raises a ``GatewayError`` on failure, before or during the stream."""

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        """A ``CreateEmbeddingResponse`` dict (vectors as floats) for an embeddings call."""
        raise NotImplementedError(f"{type(self).__name__} does not serve embeddings")


class AttemptLayer(AttemptHandler):
    """A pass-through attempt layer; subclasses override what they need."""

    def __init__(self, inner: AttemptHandler) -> None:
        self.inner = inner

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        return await self.inner.complete(call)

    def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        return self.inner.stream(call)

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        return await self.inner.embed(call)


class ProviderAttempts(AttemptHandler):
    """The innermost attempt handler: the call goes to its deployment's provider. Every failure of every
    provider comes back through here, and leaves sanitised (:mod:`llm_gateway.providers.redact`): no
    credential in any field, no code the gateway does not know."""

    def __init__(self, providers: ProviderPool) -> None:
        self.providers = providers

    async def complete(self, call: ProviderCall) -> dict[str, Any]:
        provider = self.providers.get(call.deployment.provider)
        native = call.native  # a bridged endpoint this deployment serves itself: sent untouched
        if native is None:
            _refuse_the_chat_view(call)
        try:
            return await (provider.complete(call) if native is None else provider.complete_native(call, native))
        except GatewayError as exc:
            raise _sanitised(exc, call) from None

    async def stream(self, call: ProviderCall) -> AsyncIterator[dict[str, Any]]:
        provider = self.providers.get(call.deployment.provider)
        native = call.native
        if native is None:
            _refuse_the_chat_view(call)
        chunks = provider.stream(call) if native is None else provider.stream_native(call, native)
        try:
            async for chunk in chunks:
                yield chunk
        except GatewayError as exc:
            raise _sanitised(exc, call) from None
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def embed(self, call: ProviderCall) -> dict[str, Any]:
        try:
            return await self.providers.get(call.deployment.provider).embed(call)
        except GatewayError as exc:
            raise _sanitised(exc, call) from None


def _sanitised(error: GatewayError, call: ProviderCall) -> GatewayError:
    return sanitise(error, call_secrets(call))


def _refuse_the_chat_view(call: ProviderCall) -> None:
    """A bridged request whose chat view leaves something out may only be answered natively."""
    carried = getattr(call.request, "native", None)
    if carried is not None and carried.only_native:
        param = carried.only_native[0]
        raise InvalidRequestError(
            f"Unsupported value for '{param}': only a deployment that serves the {carried.endpoint} API natively "
            f"can take it, and deployment '{call.deployment.id}' of model '{call.deployment.group}' is bridged "
            "onto chat completions.",
            param=param,
            code="unsupported_feature",
        )
