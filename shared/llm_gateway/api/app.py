"""The FastAPI app factory."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from llm_gateway import __version__
from llm_gateway.api.context import request_id_for
from llm_gateway.api.direct import install_direct_routes
from llm_gateway.api.responses import error_response, json_response
from llm_gateway.api.routes import chat, embeddings, health, messages, models, responses, spend
from llm_gateway.api.services import ApiServices
from llm_gateway.api.slow_clients import STATE_KEY, ReceiveBounds
from llm_gateway.errors import GatewayError, InvalidRequestError, internal_error
from llm_gateway.gateway import Gateway, GatewayOptions
from llm_gateway.observability import request_ended

log = logging.getLogger("llm_gateway.api")


def _request_id(request: Request) -> str:
    ctx = getattr(request.state, "ctx", None)
    return ctx.request_id if ctx is not None else request_id_for(request)


def _gateway_error_handler(services: Callable[[], ApiServices]) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        ctx = getattr(request.state, "ctx", None)
        if ctx is not None:  # the request reached the chat route: the gateway is built
            ctx.note("error_code", exc.code)
            services().afterwards.run(request_ended(ctx, exc.status_code))
        if request.url.path.startswith("/v1/models") and "anthropic-version" in request.headers:
            return _anthropic_error(request, exc)  # an Anthropic SDK listing models: its error shape
        return error_response(exc, _request_id(request))

    return on_gateway_error


def _anthropic_error(request: Request, error: GatewayError) -> Response:
    from llm_gateway.messages.errors import error_body

    headers = {**error.response_headers(), "x-request-id": _request_id(request)}
    return json_response(error_body(error), status_code=error.status_code, headers=headers)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error = GatewayError(
            f"Invalid URL ({request.method} {request.url.path})", status_code=404, error_type="invalid_request_error"
        )
    elif exc.status_code == 405:
        error = GatewayError(
            f"Method not allowed ({request.method} {request.url.path})",
            status_code=405,
            error_type="invalid_request_error",
        )
    else:
        error = GatewayError(str(exc.detail), status_code=exc.status_code, error_type="invalid_request_error")
    if request.url.path.startswith("/v1/messages"):  # Anthropic's API: its error shape
        return _anthropic_error(request, error)
    return error_response(error, _request_id(request))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    return error_response(InvalidRequestError("Invalid request parameters."), _request_id(request))


def _unexpected_error_handler(
    services: Callable[[], ApiServices],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        ctx = getattr(request.state, "ctx", None)
        if ctx is not None:  # its access line and metrics (ServerErrors) too
            services().afterwards.run(request_ended(ctx, 500))
        return error_response(internal_error(), _request_id(request))

    return on_unexpected


def fastapi_telemetry(find_spec: Callable[[str], object | None] = importlib.util.find_spec) -> dict[str, Any]:
    """FastAPI's keyword arguments for its native OpenTelemetry (FastAPI 0.16x on), on only where it can
    report something.

    FastAPI checks on every request whether an OpenTelemetry provider has been configured. Only an
    OpenTelemetry SDK can configure one (the ADOT Lambda layer brings
    it), so without the SDK installed the checks are switched off; with it, FastAPI's defaults apply."""
    if find_spec("fastapi.telemetry") is None or find_spec("opentelemetry.sdk") is not None:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


DIRECT_ROUTES_ENV = "LLM_GATEWAY_DIRECT_ROUTES"
"""``0`` (or ``off``, ``false``): FastAPI routes chat completions like every other path."""


def direct_routes_on(env: Mapping[str, str]) -> bool:
    return (env.get(DIRECT_ROUTES_ENV) or "1").strip().lower() not in ("0", "off", "false", "no")


def create_app(
    gateway: Gateway | None = None, *, settle_heap: bool = False, direct_routes: bool | None = None
) -> FastAPI:
    """Build the ASGI app. With no ``gateway``, one is built from the environment on first use.

    ``settle_heap``: the process serves this app for life (see :mod:`llm_gateway.heap`).
    ``direct_routes``: chat completions skip FastAPI's per-request routing (:mod:`llm_gateway.api.direct`,
    docs/decisions/0003-direct-routes.md); off, FastAPI routes them like every other path. Default: on,
    unless the gateway's environment sets ``LLM_GATEWAY_DIRECT_ROUTES=0``."""
    gateway = gateway or Gateway(GatewayOptions())
    if direct_routes is None:
        direct_routes = direct_routes_on(gateway.env)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        gateway.ensure_ready()  # fail at start-up on a bad config, not on the first request
        if settle_heap:
            from llm_gateway.heap import settle_after_startup

            settle_after_startup()
        try:
            # the server's protocol reads its bounds on receiving requests here (api/slow_clients.py)
            yield {STATE_KEY: ReceiveBounds.of(gateway.config.server)}
        finally:
            await gateway.aclose()

    app = FastAPI(
        title="llm-gateway",
        version=__version__,
        description="An OpenAI-compatible LLM gateway.",
        lifespan=lifespan,
        **fastapi_telemetry(),
    )
    app.state.gateway = gateway  # for tests and diagnostics; routes get their own services below

    def services() -> ApiServices:
        return gateway.ensure_ready().api

    chat_router, chat_endpoint = chat.routes(lambda: services().chat)
    app.include_router(chat_router)
    app.include_router(embeddings.routes(lambda: services().embeddings))
    app.include_router(responses.routes(lambda: services().responses))
    app.include_router(messages.routes(lambda: services().messages))
    app.include_router(models.routes(lambda: services().models))
    app.include_router(health.router)
    app.include_router(spend.routes(lambda: services().spend))
    if gateway.env.get("LLM_GATEWAY_DEBUG_RUNTIME") == "1":
        from llm_gateway.api.routes import debug

        app.include_router(debug.routes(lambda: services().debug))
    app.add_exception_handler(GatewayError, _gateway_error_handler(services))
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _unexpected_error_handler(services))
    _install_openapi(app)
    app.state.direct_routes = {
        ("POST", "/v1/chat/completions"): chat_endpoint,
        ("POST", "/chat/completions"): chat_endpoint,
    }
    if direct_routes:
        install_direct_routes(app, app.state.direct_routes)
    return app


def _install_openapi(app: FastAPI) -> None:
    """Add the chat request schema to the OpenAPI document, built only when the document is asked for."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from llm_gateway.schemas.embeddings import EmbeddingsRequestModel
        from llm_gateway.schemas.request import ChatCompletionRequest

        schema = default_openapi()
        request_schema = ChatCompletionRequest.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request_schema.pop("$defs", {}))
        components["ChatCompletionRequest"] = request_schema
        embeddings_schema = EmbeddingsRequestModel.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        components.update(embeddings_schema.pop("$defs", {}))
        components["CreateEmbeddingRequest"] = embeddings_schema
        from llm_gateway.responses.request import CreateResponse

        responses_schema = CreateResponse.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        components.update(responses_schema.pop("$defs", {}))
        components["CreateResponse"] = responses_schema
        from llm_gateway.messages.schema import openapi_components

        components.update(openapi_components())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
