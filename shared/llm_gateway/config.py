"""The gateway's configuration: a YAML file named by ``LLM_GATEWAY_CONFIG``, or the built-in default.

The file's top level is a mapping with ``models`` (a list of deployments) and optional sections, each
described by a model below. Unknown top-level sections and unknown fields in a section are errors, so a
typo fails loudly at start-up instead of being ignored. Deployment entries accept provider-specific
fields (a provider validates its own); see the README's config reference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llm_gateway.cache.config import CacheConfig
from llm_gateway.guardrails.config import GuardrailsConfig
from llm_gateway.idempotency.config import IdempotencyConfig
from llm_gateway.providers.fetch.config import MediaFetchConfig
from llm_gateway.request_limits import RequestLimits
from llm_gateway.routing.config import RouterConfig
from llm_gateway.tenants.config import TenantsConfig

CONFIG_ENV = "LLM_GATEWAY_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Endpoint = Literal["chat", "responses", "messages", "embeddings"]
"""An API a deployment can serve: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/messages``, ``/v1/embeddings``."""

BRIDGED_ENDPOINTS: tuple[Endpoint, ...] = ("chat", "responses", "messages")
"""What a deployment serves unless it says: every API the gateway bridges onto a chat model."""


class DeploymentConfig(BaseModel):
    """One upstream deployment. Several with the same ``name`` form a model group."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, description="The model id clients send.")
    provider: str = Field(min_length=1, description="openai | mock | anthropic | bedrock | gemini")
    model: str = Field(min_length=1, description="The upstream model id.")
    api_base: str | None = None
    api_key: str | None = Field(default=None, repr=False)
    weight: float = Field(default=1.0, gt=0)
    id: str | None = Field(default=None, description="Deployment id; defaults to name/provider/model#n.")
    timeout: float | None = Field(default=None, gt=0, description="Per-attempt upstream timeout (s).")
    stream_usage: bool = Field(
        default=True,
        description="Ask the upstream for a usage chunk on every stream (stripped when the client did not ask).",
    )
    owned_by: str | None = None
    endpoints: tuple[Endpoint, ...] = Field(
        default=BRIDGED_ENDPOINTS,
        min_length=1,
        description="The APIs this deployment serves (an embedding model: [embeddings]).",
    )
    native: tuple[Literal["responses", "messages"], ...] = Field(
        default=(),
        description="Bridged APIs whose requests go to this upstream untouched (it serves them itself), "
        "instead of their chat translation: e.g. [responses] for an OpenAI-compatible server of the "
        "Responses API. Default: [messages] for Claude (the anthropic provider, and bedrock with a Claude model "
        "id) when it serves messages; [] turns that off.",
    )

    @model_validator(mode="before")
    @classmethod
    def _claude_takes_messages_natively(cls, data: Any) -> Any:
        """Claude serves Anthropic's Messages API itself: unless ``native`` says otherwise, a Messages
        request goes to it as it came (thinking, ``cache_control``, documents, server tools kept)."""
        if not isinstance(data, dict) or "native" in data:
            return data
        model, provider = str(data.get("model") or ""), data.get("provider")
        claude = provider == "anthropic" or (provider == "bedrock" and ("anthropic." in model or "claude" in model))
        if claude and "messages" in (data.get("endpoints") or BRIDGED_ENDPOINTS):
            return {**data, "native": ("messages",)}
        return data

    @property
    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ServerConfig(_Section):
    """Timeouts and transport limits for upstream calls."""

    request_timeout: float = Field(default=600.0, gt=0, description="Overall deadline for one request (s).")
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0, description="Longest silence from an upstream (s).")
    write_timeout: float = Field(default=30.0, gt=0)
    pool_timeout: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=200, ge=1)
    max_keepalive_connections: int = Field(default=50, ge=0)
    keepalive_expiry: float = Field(default=30.0, ge=0)
    upstream_http: Literal["pool", "httpx"] = Field(
        default="pool",
        description="The client for upstream calls: the gateway's own HTTP/1.1 pool, or httpx's client as "
        "it comes. With HTTPS_PROXY, HTTP_PROXY or ALL_PROXY set, httpx's client is used whatever this says: "
        "it honours them and NO_PROXY (docs/decisions/0001-upstream-pool.md).",
    )
    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024, description="Lambda's payload limit.")
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's head (request line and headers), from its "
        "first byte (a new connection: from its opening); then 408 and the connection is closed. Enforced by "
        "the gateway's uvicorn protocol (llm_gateway.api.slow_clients; docs/decisions/0008-slow-clients.md).",
    )
    body_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a client has to send a request's whole body, from the end of its head; then "
        "408 and the connection is closed (a 6 MiB body needs ~100 KiB/s).",
    )
    max_upstream_response_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    stream_heartbeat_seconds: float = Field(
        default=15.0, ge=0, description="SSE comment sent when an upstream is silent this long; 0 = off."
    )
    cancel_on_client_disconnect: bool | None = Field(
        default=None,
        description="Cancel a non-stream request (and its upstream call) when its client disconnects; "
        "default: on, except under Lambda, which does not pass a client's departure on. A stream is watched from "
        "its opening whatever this says.",
    )
    defer_bookkeeping: bool | None = Field(
        default=None,
        description="Write a request's access log line, usage record and metrics once the event loop is "
        "quiet (within 50 ms) instead of before answering; default: on, except under Lambda on demand, which "
        "may freeze the process as soon as the response is sent (Lambda Managed Instances never do).",
    )


class ResponsesConfig(_Section):
    """``/v1/responses``: how long stored responses are kept (OpenAI keeps them 30 days)."""

    store_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60, le=400 * 24 * 3600)


class GatewayConfig(_Section):
    models: list[DeploymentConfig] = Field(min_length=1)
    server: ServerConfig = Field(default_factory=ServerConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    idempotency: IdempotencyConfig = Field(default_factory=IdempotencyConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    media_fetch: MediaFetchConfig = Field(default_factory=MediaFetchConfig)
    tenants: TenantsConfig = Field(default_factory=TenantsConfig)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)
    request_limits: RequestLimits = Field(default_factory=RequestLimits)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)

    @model_validator(mode="after")
    def _unique_ids(self) -> GatewayConfig:
        seen: set[str] = set()
        for deployment in self.models:
            if deployment.id is not None:
                if deployment.id in seen:
                    raise ValueError(f"duplicate deployment id {deployment.id!r}")
                seen.add(deployment.id)
        return self

    @field_validator("models")
    @classmethod
    def _names_are_ids(cls, models: list[DeploymentConfig]) -> list[DeploymentConfig]:
        for deployment in models:
            if deployment.name != deployment.name.strip():
                raise ValueError(f"model name {deployment.name!r} has surrounding spaces")
        return models

    def group_names(self) -> list[str]:
        return list(dict.fromkeys(d.name for d in self.models))


DEFAULT_CONFIG: dict[str, Any] = {
    "models": [
        {"name": "mock", "provider": "mock", "model": "mock-1", "owned_by": "llm-gateway"},
        {
            "name": "mock-slow",
            "provider": "mock",
            "model": "mock-1",
            "owned_by": "llm-gateway",
            "chunk_delay_ms": 50,
        },
    ],
    "cache": {"mode": "opt-in"},
}


def parse_config(data: Any, *, source: str = "config") -> GatewayConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'models' list")
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source} is invalid: {problems}") from None


def load_config_text(text: str, *, source: str) -> GatewayConfig:
    import yaml  # deferred: only needed when a file is given

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    return parse_config(data, source=source)


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> GatewayConfig:
    """Load the config from ``path``, else from ``$LLM_GATEWAY_CONFIG``, else the built-in default."""
    environ = os.environ if env is None else env
    chosen = path if path is not None else environ.get(CONFIG_ENV)
    if not chosen:
        return parse_config(DEFAULT_CONFIG, source="built-in default config")
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    return load_config_text(text, source=str(file))
