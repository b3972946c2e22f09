"""The composition root: the one place where the gateway is put together.

:class:`Gateway` builds, once per process and on first use (at start-up under uvicorn, so a bad config
fails before the first request), the :class:`~llm_gateway.runtime.Runtime` (clock, randomness, sleep,
environment, the one AWS client factory, the tables), then every component from its own config section
and the parts it uses, then the pipeline in the order written in :meth:`Gateway._request_layers` and
:meth:`Gateway._attempt_layers`, and last what each route uses (:class:`~llm_gateway.api.services.ApiServices`).
See ``docs/architecture.md``.
No component sees this object: only ``api/``, ``local/`` and ``cli/`` (and tests) do.

Nothing here does I/O at import. Tests pass their own config, HTTP transport, clock, tables,
authenticator, secret resolver or AWS client factory through :class:`GatewayOptions`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from llm_gateway.api.auth import Authenticator
from llm_gateway.aws.clients import AwsClientFactory
from llm_gateway.config import CONFIG_ENV, ConfigError, GatewayConfig, load_config
from llm_gateway.core.attempts import AttemptHandler
from llm_gateway.core.pipeline import ChatHandler

if TYPE_CHECKING:
    import httpx

    from llm_gateway.api.services import ApiServices
    from llm_gateway.cache.response_cache import ResponseCache
    from llm_gateway.core.afterwards import Afterwards
    from llm_gateway.core.deployments import ModelGroups
    from llm_gateway.core.service import ChatService
    from llm_gateway.embeddings.service import EmbeddingsService
    from llm_gateway.providers.base import Deployment
    from llm_gateway.providers.fetch import MediaFetcher
    from llm_gateway.providers.registry import ProviderPool
    from llm_gateway.routing.router import Router
    from llm_gateway.runtime import Runtime
    from llm_gateway.schemas.embeddings import EmbeddingRequest
    from llm_gateway.schemas.validation import ChatRequest
    from llm_gateway.secrets import SecretResolver
    from llm_gateway.tables.base import Table, Tables
    from llm_gateway.telemetry.metrics import MetricsSink
    from llm_gateway.tenants.services import TenantServices

SECRET_TTL_ENV = "LLM_GATEWAY_SECRET_TTL_SECONDS"  # noqa: S105 (a variable name, not a secret)

H = TypeVar("H", ChatHandler, AttemptHandler)
LayerFactory = Callable[[H], H | None]
"""Wraps the handler below it, or returns ``None`` (the layer is off by config)."""


@dataclass
class GatewayOptions:
    """What may be injected; everything left ``None`` is built from the environment."""

    config: GatewayConfig | None = None
    env: Mapping[str, str] | None = None
    http_transport: httpx.AsyncBaseTransport | None = None
    authenticator: Authenticator | None = None
    secrets: SecretResolver | None = None
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    rng: random.Random | None = None
    sleep: Callable[[float], Awaitable[None]] | None = None
    """``asyncio.sleep`` unless injected (retry backoff waits through it)."""
    aws_clients: AwsClientFactory | None = None
    """The boto3 client factory (default: :class:`~llm_gateway.aws.clients.AwsClients`, one session)."""
    tables: Tables | None = None
    """The deployment's tables (default: DynamoDB, as ``LLM_GATEWAY_*_TABLE`` name them)."""
    media_fetcher: MediaFetcher | None = None
    master_key_source: Callable[[], Awaitable[str | None]] | None = None
    """Where the master key comes from (SSM / Secrets Manager in AWS); default: ``LLM_GATEWAY_MASTER_KEY``."""
    metrics_sink: MetricsSink | None = None
    """Where EMF documents go (default: stdout, when metrics are on); given, metrics are on."""


def _stack(innermost: H, layers: list[tuple[str, LayerFactory[H]]]) -> tuple[H, list[str]]:
    """``innermost`` wrapped in ``layers`` (listed outermost first); the names of those that are on."""
    handler, built = innermost, []
    for name, factory in reversed(layers):
        wrapped = factory(handler)
        if wrapped is not None:
            handler = wrapped
            built.append(name)
    return handler, built[::-1]


class Gateway:
    def __init__(self, options: GatewayOptions | None = None) -> None:
        self.options = options or GatewayOptions()
        self.env: Mapping[str, str] = self.options.env if self.options.env is not None else os.environ
        self._ready = False
        self.started_at = int(self.options.clock())

    # Built by ensure_ready():
    runtime: Runtime
    config: GatewayConfig
    aws: AwsClientFactory
    groups: ModelGroups
    providers: ProviderPool
    router: Router
    service: ChatService
    embeddings: EmbeddingsService
    """``/v1/embeddings`` over the same pipeline (its layers' ``embed``)."""
    authenticator: Authenticator
    transport: httpx.AsyncBaseTransport
    secrets: SecretResolver
    cache: ResponseCache | None
    media_fetcher: MediaFetcher
    tenants: TenantServices
    afterwards: Afterwards
    watches_disconnects: bool
    layers: list[str]
    """The pipeline as built, outermost first (layers that are off by config left out)."""
    api: ApiServices

    def ensure_ready(self) -> Gateway:
        if not self._ready:
            self._build()
            self._ready = True
        return self

    # -- the pipeline ---------------------------------------------------------------------------------

    def _request_layers(self, routing_state: Table | None) -> list[tuple[str, LayerFactory[ChatHandler]]]:
        """The layers around the router, outermost first. This list is the one place their order is written."""
        from llm_gateway.cache.factory import cache_layer
        from llm_gateway.guardrails.layer import guardrail_layer
        from llm_gateway.idempotency.layer import idempotency_layer
        from llm_gateway.tenants.layer import tenant_layer

        config, runtime, groups = self.config, self.runtime, self.groups
        return [
            # before any other layer (or the cache key) sees the prompt
            ("guardrails", lambda inner: guardrail_layer(inner, config.guardrails, runtime.aws)),
            # model access, budget, rate limits, then the accounting; outside idempotency: a replay is
            # still a request of its key
            ("limits_and_spend", lambda inner: tenant_layer(inner, self.tenants, groups, self._reachable)),
            # outside the response cache: a replay never reaches it
            (
                "idempotency",
                lambda inner: idempotency_layer(
                    inner,
                    config.idempotency,
                    table=routing_state,
                    request_timeout=config.server.request_timeout,
                    fallback_seconds=config.router.state_retry_after,
                    clock=runtime.clock,
                    monotonic=runtime.monotonic,
                ),
            ),
            ("cache", lambda inner: cache_layer(inner, self.cache, model_known=groups.__contains__)),
        ]

    def _attempt_layers(self, deployments: list[Deployment]) -> list[tuple[str, LayerFactory[AttemptHandler]]]:
        """The layers between the router and the providers (once per attempt), outermost first."""
        from llm_gateway.tenants.model_limits import model_limits_layer

        return [
            # every attempt counts against its deployment's and its group's rpm/tpm, whichever group was asked
            # for: a deployment over its limit answers like an upstream 429 (the router tries another), a group
            # over its limit is skipped (the router moves on to the next fallback)
            ("model_limits", lambda inner: model_limits_layer(inner, self.tenants, deployments)),
        ]

    def _reachable(self, request: ChatRequest | EmbeddingRequest) -> list[str]:
        """The model groups that may answer ``request``: the one asked for, its fallbacks (the request's,
        else the config's) and the context-window fallbacks (a budget reservation prices the request at
        the most expensive of them)."""
        from llm_gateway.schemas.validation import ChatRequest

        router, parsed = self.config.router, request.parsed
        fallbacks = parsed.fallbacks if parsed.fallbacks is not None else router.fallbacks.get(request.model, [])
        if not isinstance(request, ChatRequest):
            return list(dict.fromkeys([request.model, *fallbacks]))  # an embedding has no context window to outgrow
        windows = [
            *router.context_window_fallbacks.values(),
            *(request.parsed.context_window_fallback_dict or {}).values(),
        ]
        return list(dict.fromkeys([request.model, *fallbacks, *windows]))

    # -- building -------------------------------------------------------------------------------------

    def _build(self) -> None:
        from llm_gateway.aws.clients import AwsClients
        from llm_gateway.core.afterwards import Afterwards, defers_bookkeeping
        from llm_gateway.core.deployments import ModelGroups, build_deployments, validate_deployments
        from llm_gateway.telemetry.metrics import install_request_metrics

        opts = self.options
        aws: AwsClientFactory = opts.aws_clients or AwsClients(self.env)
        config = opts.config if opts.config is not None else self._load_config(aws)
        problems = validate_deployments(config.models)
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))
        self.config, self.aws = config, aws
        self.runtime = self._runtime(aws)
        tables = self.runtime.tables
        shared = tables.keys or tables.state or tables.usage  # one client serves the three
        if shared is not None:
            shared.warm_up()  # boto3 loads off the start-up path (the cache warms its own client)
        self.afterwards = Afterwards(enabled=defers_bookkeeping(config.server, self.env))
        self._build_clients()
        deployments = build_deployments(config)
        self.groups = ModelGroups(deployments)
        # Powertools' Metrics writes each request's EMF document, from the request sink it registers
        install_request_metrics(config.tenants.telemetry, self.env, self.groups.names, opts.metrics_sink)
        self._build_services()
        self._build_pipeline(deployments)
        self.api = self._api()

    def _runtime(self, aws: AwsClientFactory) -> Runtime:
        from llm_gateway.aws.tables import open_tables
        from llm_gateway.runtime import Runtime

        opts = self.options
        return Runtime(
            env=self.env,
            clock=opts.clock,
            monotonic=opts.monotonic,
            rng=opts.rng or random.Random(),  # noqa: S311 - load balancing and jitter, not security
            sleep=opts.sleep or asyncio.sleep,
            aws=aws,
            tables=opts.tables if opts.tables is not None else open_tables(self.env, aws),
        )

    def _build_clients(self) -> None:
        """Secrets, the upstream transport, the media fetcher, the providers."""
        from llm_gateway.aws.clients import preset
        from llm_gateway.aws.secrets import register_aws_secret_loaders
        from llm_gateway.providers.base import ProviderDeps
        from llm_gateway.providers.fetch import MediaFetcher
        from llm_gateway.providers.registry import ProviderPool
        from llm_gateway.providers.thinking.store import build_thinking_store
        from llm_gateway.secrets import SecretResolver
        from llm_gateway.transport.http import make_transport

        opts, config, runtime = self.options, self.config, self.runtime
        state = runtime.tables.state
        # Claude's thinking kept across tool loops, in the StateTable (bounded as routing's calls are)
        thinking_table = state.tuned(timeout=config.router.state_timeout) if state is not None else None
        self.secrets = opts.secrets or SecretResolver(env=self.env, ttl=float(self.env.get(SECRET_TTL_ENV) or 300))
        register_aws_secret_loaders(self.secrets, runtime.aws)
        self.transport = opts.http_transport or make_transport(config.server, runtime.env)
        self.media_fetcher = opts.media_fetcher or MediaFetcher(config.media_fetch)
        deps = ProviderDeps(
            transport=self.transport,
            secrets=self.secrets,
            server=config.server,
            clock=runtime.clock,
            # no botocore retries for upstream calls (the router decides what to retry)
            aws_clients=preset(runtime.aws, connect_timeout=config.server.connect_timeout, max_attempts=0),
            media_fetcher=self.media_fetcher,
            thinking=build_thinking_store(thinking_table),
        )
        self.providers = ProviderPool(deps)

    def _build_services(self) -> None:
        """Tenants (keys, limits, spend), the response cache and the authenticator."""
        from llm_gateway.aws.environment import frozen_between_requests, on_lambda
        from llm_gateway.cache.factory import build_response_cache
        from llm_gateway.tenants.services import build_authenticator, build_tenant_services

        opts, config, runtime = self.options, self.config, self.runtime
        self.tenants = build_tenant_services(
            config.tenants,
            runtime.tables,
            clock=runtime.clock,
            afterwards=self.afterwards,
            # Lambda on demand may freeze the process once an answer is sent: each request's writes go first
            per_request=frozen_between_requests(self.env),
            request_timeout=config.server.request_timeout,
        )
        self.cache = build_response_cache(
            config.cache,
            table=runtime.tables.cache,
            on_lambda=on_lambda(self.env),
            clock=runtime.clock,
            monotonic=runtime.monotonic,
        )
        self.authenticator = opts.authenticator or build_authenticator(
            self.tenants,
            env=self.env,
            secrets=self.secrets,
            clock=runtime.clock,
            monotonic=runtime.monotonic,
            master=opts.master_key_source,
        )

    def _build_pipeline(self, deployments: list[Deployment]) -> None:
        from llm_gateway.api.disconnect import watches_disconnects
        from llm_gateway.core.attempts import ProviderAttempts
        from llm_gateway.core.service import ChatService
        from llm_gateway.embeddings.service import EmbeddingsService
        from llm_gateway.routing.factory import build_router

        config, runtime = self.config, self.runtime
        # StateTable as routing and idempotency use it: each call bounded by router.state_timeout
        state = runtime.tables.state
        routing_state = state.tuned(timeout=config.router.state_timeout) if state is not None else None
        attempts, attempt_layers = _stack(ProviderAttempts(self.providers), self._attempt_layers(deployments))
        self.router = build_router(
            config.router,
            self.groups,
            attempts,
            self.secrets,
            state=routing_state,
            rng=runtime.rng,
            sleep=runtime.sleep,
            clock=runtime.clock,
            monotonic=runtime.monotonic,
        )
        pipeline, request_layers = _stack(self.router, self._request_layers(routing_state))
        self.layers = [*request_layers, "router", *attempt_layers, "provider"]
        self.service = ChatService(pipeline, config.server)
        self.embeddings = EmbeddingsService(pipeline)
        self.watches_disconnects = watches_disconnects(config.server, self.env)

    def _api(self) -> ApiServices:
        from llm_gateway.api.services import (
            ApiServices,
            ChatApi,
            DebugApi,
            EmbeddingsApi,
            MessagesApi,
            ModelsApi,
            ResponsesApi,
            SpendApi,
        )

        config, runtime, authenticator = self.config, self.runtime, self.authenticator
        chat = ChatApi(
            authenticator=authenticator,
            service=self.service,
            afterwards=self.afterwards,
            server=config.server,
            request_limits=config.request_limits,
            deadline_margin=config.router.deadline_margin,
            watches_disconnects=self.watches_disconnects,
            clock=runtime.clock,
            monotonic=runtime.monotonic,
        )
        return ApiServices(
            chat=chat,
            embeddings=EmbeddingsApi(shared=chat, service=self.embeddings, groups=self.groups),
            responses=ResponsesApi(
                shared=chat,
                groups=self.groups,
                table=runtime.tables.responses,
                store_ttl_seconds=config.responses.store_ttl_seconds,
            ),
            messages=MessagesApi(shared=chat, groups=self.groups, router=self.router, providers=self.providers),
            models=ModelsApi(authenticator=authenticator, groups=self.groups, created=self.started_at),
            spend=SpendApi(
                authenticator=authenticator,
                spend=self.tenants.spend,
                flush_interval=config.tenants.usage.flush_interval,
                keys=self.tenants.keys,
                afterwards=self.afterwards,
                clock=runtime.clock,
            ),
            debug=DebugApi(authenticator=authenticator, transport=self.transport, aws=runtime.aws),
            afterwards=self.afterwards,
        )

    def _load_config(self, aws: AwsClientFactory) -> GatewayConfig:
        """``$LLM_GATEWAY_CONFIG``: a YAML file, ``ssm:/parameter/name``, or unset for the built-in default."""
        from llm_gateway.aws.config_source import is_ssm_source, load_ssm_config

        source = self.env.get(CONFIG_ENV)
        if is_ssm_source(source):
            return load_ssm_config(str(source), aws)
        return load_config(env=dict(self.env))

    async def aclose(self) -> None:
        if self._ready:
            self.afterwards.flush()  # log lines, usage records and metrics of the last requests
            await self.tenants.aclose()  # flush usage records still being written
            await self.providers.aclose()
            await self.transport.aclose()
            await self.media_fetcher.aclose()
            if self.cache is not None:
                await self.cache.aclose()
            self._ready = False
