"""What each route uses, typed: the composition root builds these once, and ``create_app`` hands each
route module a way to get its own (the gateway is built on first use, so routes ask at request time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_gateway.api.auth import Authenticator
    from llm_gateway.config import ServerConfig
    from llm_gateway.core.afterwards import Afterwards
    from llm_gateway.core.deployments import ModelGroups
    from llm_gateway.core.service import ChatService
    from llm_gateway.embeddings.service import EmbeddingsService
    from llm_gateway.providers.registry import ProviderPool
    from llm_gateway.request_limits import RequestLimits
    from llm_gateway.responses.service import ResponsesService
    from llm_gateway.routing.router import Router
    from llm_gateway.tables.base import Table
    from llm_gateway.tenants.keystore import KeyStore
    from llm_gateway.tenants.spend import SpendStore


@dataclass(frozen=True)
class ChatApi:
    """``POST /v1/chat/completions``."""

    authenticator: Authenticator
    service: ChatService
    afterwards: Afterwards
    server: ServerConfig
    request_limits: RequestLimits
    deadline_margin: float
    """Seconds kept back from a Lambda invocation's deadline (``router.deadline_margin``)."""
    watches_disconnects: bool
    clock: Callable[[], float]
    monotonic: Callable[[], float]


@dataclass(frozen=True)
class EmbeddingsApi:
    """``POST /v1/embeddings``."""

    shared: ChatApi
    """What it shares with chat completions: the authenticator, the body and request limits, deadlines,
    disconnect watching and the after-response work (its ``service`` is chat's, unused here)."""
    service: EmbeddingsService
    groups: ModelGroups
    """Which model groups serve embeddings (a request for one that does not is a 400)."""


@dataclass(frozen=True)
class ResponsesApi:
    """``POST /v1/responses``, ``GET`` / ``DELETE /v1/responses/{id}``, ``GET .../input_items``."""

    shared: ChatApi
    """What it shares with chat completions, its chat service included (the pipeline it bridges onto)."""
    groups: ModelGroups
    """Which model groups serve responses (a request for one that does not is a 400)."""
    table: Table | None
    """The ResponsesTable (``None``: stored responses are kept in memory)."""
    store_ttl_seconds: int
    _built: dict[str, ResponsesService] = field(default_factory=dict, repr=False, compare=False)

    def service(self) -> ResponsesService:
        """Built on the first ``/v1/responses`` request: chat's cold start never loads it."""
        built = self._built.get("service")
        if built is None:
            from llm_gateway.responses.service import ResponsesService
            from llm_gateway.responses.store import ResponseStore
            from llm_gateway.tables.memory import MemoryTable

            table = self.table if self.table is not None else MemoryTable(capped_prefix="resp#", cap=10_000)
            store = ResponseStore(table, ttl_seconds=self.store_ttl_seconds)
            built = self._built["service"] = ResponsesService(
                self.shared.service, store, self.shared.server, self.shared.clock, self.groups
            )
        return built


@dataclass(frozen=True)
class MessagesApi:
    """``POST /v1/messages`` and ``/v1/messages/count_tokens`` (bridged onto chat: ``shared.service``)."""

    shared: ChatApi
    groups: ModelGroups
    router: Router
    """Builds a count's upstream call (the deployment's credentials) as it builds an attempt's."""
    providers: ProviderPool
    """Where a count goes: the deployment's provider (its own count endpoint)."""


@dataclass(frozen=True)
class ModelsApi:
    """``GET /v1/models``."""

    authenticator: Authenticator
    groups: ModelGroups
    created: int
    """The ``created`` time of every model object: when this process started."""


@dataclass(frozen=True)
class SpendApi:
    """``GET /v1/spend``."""

    authenticator: Authenticator
    spend: SpendStore
    keys: KeyStore | None
    afterwards: Afterwards
    clock: Callable[[], float]
    flush_interval: float = 1.0
    """``tenants.usage.flush_interval``: how far behind other instances' spend may be."""


@dataclass(frozen=True)
class DebugApi:
    """``GET /debug/runtime`` (only when ``LLM_GATEWAY_DEBUG_RUNTIME=1``)."""

    authenticator: Authenticator
    transport: Any
    """The upstream transport (its pooled connections are reported)."""
    aws: Any = None
    """The AWS client factory (the calls its clients made are reported)."""


@dataclass(frozen=True)
class ApiServices:
    chat: ChatApi
    embeddings: EmbeddingsApi
    responses: ResponsesApi
    messages: MessagesApi
    models: ModelsApi
    spend: SpendApi
    debug: DebugApi
    afterwards: Afterwards
    """Where the error handler queues a failed request's log line."""
