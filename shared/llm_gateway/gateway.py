"""The per-process container: config, clients and services, built once, lazily, and injectable.

Nothing here does I/O at import. :meth:`Gateway.ensure_ready` builds everything on first use (or at
start-up under uvicorn, so a bad config fails before the first request). Tests pass their own config,
HTTP transport, clock, authenticator or secret loaders.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_gateway.api.auth import Authenticator
from llm_gateway.api.disconnect import watches_disconnects
from llm_gateway.config import CONFIG_ENV, ConfigError, GatewayConfig, load_config

SECRET_TTL_ENV = "LLM_GATEWAY_SECRET_TTL_SECONDS"  # noqa: S105 (a variable name, not a secret)

if TYPE_CHECKING:
    import httpx

    from llm_gateway.cache.response_cache import ResponseCache
    from llm_gateway.core.afterwards import Afterwards
    from llm_gateway.core.deployments import ModelGroups
    from llm_gateway.core.service import ChatService
    from llm_gateway.providers.fetch import MediaFetcher
    from llm_gateway.providers.registry import ProviderPool
    from llm_gateway.routing.router import Router
    from llm_gateway.secrets import SecretResolver
    from llm_gateway.tenants.services import TenantServices


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
    aws_clients: Callable[..., Any] | None = None
    media_fetcher: MediaFetcher | None = None
    master_key_source: Callable[[], Awaitable[str | None]] | None = None
    """Where the master key comes from (SSM / Secrets Manager in AWS); default: ``LLM_GATEWAY_MASTER_KEY``."""
    extras: dict[str, Any] = field(default_factory=dict)


class Gateway:
    def __init__(self, options: GatewayOptions | None = None) -> None:
        self.options = options or GatewayOptions()
        self.env: Mapping[str, str] = self.options.env if self.options.env is not None else os.environ
        self._ready = False
        self.started_at = int(self.options.clock())

    # Built by ensure_ready():
    config: GatewayConfig
    groups: ModelGroups
    providers: ProviderPool
    router: Router
    service: ChatService
    authenticator: Authenticator
    transport: httpx.AsyncBaseTransport
    secrets: SecretResolver
    aws: Callable[..., Any]
    cache: ResponseCache | None
    media_fetcher: MediaFetcher
    tenants: TenantServices
    afterwards: Afterwards

    def ensure_ready(self) -> Gateway:
        if not self._ready:
            self._build()
            self._ready = True
        return self

    def _build(self) -> None:
        from llm_gateway.aws.clients import AwsClients
        from llm_gateway.aws.secrets import register_aws_secret_loaders
        from llm_gateway.cache import build_response_cache
        from llm_gateway.core.afterwards import Afterwards, defers_bookkeeping
        from llm_gateway.core.deployments import ModelGroups, build_deployments, validate_deployments
        from llm_gateway.core.service import ChatService
        from llm_gateway.core.stack import build_stack
        from llm_gateway.providers.base import ProviderDeps
        from llm_gateway.providers.fetch import MediaFetcher
        from llm_gateway.routing.factory import build_router
        from llm_gateway.secrets import SecretResolver
        from llm_gateway.tenants.deployment_limits import provider_pool
        from llm_gateway.tenants.metrics import install_request_metrics
        from llm_gateway.tenants.services import build_authenticator, build_tenant_services
        from llm_gateway.transport.http import make_transport

        opts = self.options
        self.aws = opts.aws_clients or AwsClients(self.env)
        config = opts.config if opts.config is not None else self._load_config()
        problems = validate_deployments(config.models)
        if problems:
            raise ConfigError("invalid model config: " + "; ".join(problems))
        self.config = config
        self.afterwards = Afterwards(enabled=defers_bookkeeping(config.server, self.env))
        self.secrets = opts.secrets or SecretResolver(env=self.env, ttl=float(self.env.get(SECRET_TTL_ENV) or 300))
        register_aws_secret_loaders(self.secrets, self.aws)
        self.transport = opts.http_transport or make_transport(config.server, self.env)
        self.media_fetcher = opts.media_fetcher or MediaFetcher(config.media_fetch)
        deps = ProviderDeps(
            transport=self.transport,
            secrets=self.secrets,
            server=config.server,
            clock=opts.clock,
            aws_clients=opts.aws_clients,  # providers keep their own client settings unless injected
            media_fetcher=self.media_fetcher,
            extras=opts.extras,
        )
        deployments = build_deployments(config)
        self.groups = ModelGroups(deployments)
        install_request_metrics(config.tenants.telemetry, self.env, self.groups.names, opts.extras.get("metrics_sink"))
        self.tenants = build_tenant_services(self)
        self.providers = provider_pool(deps, self.tenants, deployments)
        self.router = build_router(self)
        self.cache = build_response_cache(self)
        self.service = ChatService(build_stack(self, self.router), config.server)
        self.watches_disconnects = watches_disconnects(config.server, self.env)
        self.authenticator = opts.authenticator or build_authenticator(self, self.tenants, opts.master_key_source)

    def _load_config(self) -> GatewayConfig:
        """``$LLM_GATEWAY_CONFIG``: a YAML file, ``ssm:/parameter/name``, or unset for the built-in default."""
        from llm_gateway.aws.config_source import is_ssm_source, load_ssm_config

        source = self.env.get(CONFIG_ENV)
        if is_ssm_source(source):
            return load_ssm_config(str(source), self.aws)
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
