"""The guardrails layer (outermost): which guardrails run, in what order, and what they report.

A request gets, in this order and without repeats: the config's ``guardrails.defaults``, its key's
guardrails, then the names in the request's ``guardrails`` field. A request cannot switch a default
off. An unknown name is a 400 (``param: guardrails``). What each guardrail did is reported in the
``x-llm-gateway-guardrails`` response header, e.g. ``pii_redaction:redacted=2, deny_list:passed``, on
refusals too.

An embeddings request's texts go through the same input checks, each as one user message (a redaction
rewrites the text that is embedded). Token arrays cannot be read, so a request that selects a
guardrail must send text; there is no output to check.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from llm_gateway.core.pipeline import ChatHandler, Layer, OpenedStream
from llm_gateway.errors import GatewayError, InvalidRequestError
from llm_gateway.guardrails.base import Guardrail
from llm_gateway.guardrails.config import (
    BedrockSpec,
    DenyListSpec,
    GuardrailsConfig,
    GuardrailSpec,
    PiiSpec,
    PromptSizeSpec,
)
from llm_gateway.schemas.native import NATIVE_FIELD

if TYPE_CHECKING:
    from llm_gateway.aws.clients import AwsClientFactory
    from llm_gateway.core.context import RequestContext
    from llm_gateway.schemas.embeddings import EmbeddingRequest
    from llm_gateway.schemas.validation import ChatRequest

HEADER = "x-llm-gateway-guardrails"


def build_guardrail(name: str, spec: GuardrailSpec, aws_clients: AwsClientFactory) -> Guardrail:
    if isinstance(spec, PiiSpec):
        from llm_gateway.guardrails.pii import PiiRedaction

        return PiiRedaction(name, list(spec.entities))
    if isinstance(spec, DenyListSpec):
        from llm_gateway.guardrails.deny import DenyList

        return DenyList(name, spec.terms, spec.patterns, check_output=spec.check_output)
    if isinstance(spec, PromptSizeSpec):
        from llm_gateway.guardrails.size import PromptSize

        return PromptSize(name, spec)
    assert isinstance(spec, BedrockSpec)
    from llm_gateway.guardrails.bedrock import BedrockGuardrail

    return BedrockGuardrail(name, spec, aws_clients)


class GuardrailLayer(Layer):
    def __init__(self, inner: ChatHandler, config: GuardrailsConfig, aws_clients: AwsClientFactory) -> None:
        super().__init__(inner)
        self.config = config
        self.specs = config.specs()
        self.aws_clients = aws_clients
        self._built: dict[str, Guardrail] = {}

    def _get(self, name: str) -> Guardrail:
        guardrail = self._built.get(name)
        if guardrail is None:
            guardrail = build_guardrail(name, self.specs[name], self.aws_clients)
            self._built[name] = guardrail
        return guardrail

    def selected(self, request: ChatRequest | EmbeddingRequest, ctx: RequestContext) -> list[Guardrail]:
        names = [*self.config.defaults, *ctx.principal.guardrails, *(request.parsed.guardrails or [])]
        unknown = [n for n in dict.fromkeys(names) if n not in self.specs]
        if unknown:
            raise InvalidRequestError(
                f"Unknown guardrail {unknown[0]!r}. Available: {', '.join(sorted(self.specs))}.",
                param="guardrails",
                code="invalid_value",
            )
        return [self._get(name) for name in dict.fromkeys(names)]

    async def _check(
        self,
        guardrails: list[Guardrail],
        check: Callable[[Guardrail], Awaitable[str]],
        ctx: RequestContext,
        reports: list[str],
        stage: str = "",
    ) -> None:
        """Run ``check`` for each guardrail in turn, reporting what each did (a refusal included)."""
        for guardrail in guardrails:
            try:
                outcome = await check(guardrail)
            except GatewayError as refusal:
                reports.append(f"{guardrail.name}:{stage}refused")
                _report(ctx, reports, refusal)
                raise
            reports.append(f"{guardrail.name}:{stage}{outcome}")
        _report(ctx, reports)

    async def _before(
        self, request: ChatRequest, ctx: RequestContext, guardrails: list[Guardrail], reports: list[str]
    ) -> ChatRequest:
        body = copy.deepcopy(request.body)
        await self._check(guardrails, lambda guardrail: guardrail.check_input(body, ctx), ctx, reports)
        return request.with_body(body) if body != request.body else request

    async def complete(self, request: ChatRequest, ctx: RequestContext) -> dict[str, Any]:
        guardrails = self.selected(request, ctx)
        if not guardrails:
            return await self.inner.complete(request, ctx)
        reports: list[str] = []
        request = await self._before(request, ctx, guardrails, reports)
        response = await self.inner.complete(request, ctx)
        checking = [g for g in guardrails if g.checks_output]
        if checking:
            response = copy.deepcopy(response)  # never alter an object a cache layer below may keep
            choices = copy.deepcopy(response.get("choices"))
            await self._check(
                checking, lambda guardrail: guardrail.check_output(response, ctx), ctx, reports, "output:"
            )
            if response.get("choices") != choices:
                # a guardrail masked the answer: the upstream's native answer (unmasked) must not reach the
                # client, which gets the checked chat view translated instead
                response.pop(NATIVE_FIELD, None)
        return response

    async def open_stream(self, request: ChatRequest, ctx: RequestContext) -> OpenedStream:
        guardrails = self.selected(request, ctx)
        if not guardrails:
            return await self.inner.open_stream(request, ctx)
        reports: list[str] = []
        request = await self._before(request, ctx, guardrails, reports)
        return await self.inner.open_stream(request, ctx)

    async def embed(self, request: EmbeddingRequest, ctx: RequestContext) -> dict[str, Any]:
        guardrails = self.selected(request, ctx)
        if not guardrails:
            return await self.inner.embed(request, ctx)
        texts = request.input.texts
        if texts is None:
            raise InvalidRequestError(
                "This request's guardrails check text, and token-array input cannot be checked: send the input "
                "as a string or a list of strings.",
                param="input",
                code="unsupported_content",
            )
        # each text as a user message: every input guardrail reads (and may rewrite) it as it reads a prompt
        view: dict[str, Any] = {"model": request.model, "messages": [{"role": "user", "content": t} for t in texts]}
        try:
            await self._check(guardrails, lambda guardrail: guardrail.check_input(view, ctx), ctx, [])
        except GatewayError as refusal:
            if refusal.param == "messages":
                refusal.param = "input"
            raise
        checked = [str(message["content"]) for message in view["messages"]]
        if checked != list(texts):
            request = request.with_texts(checked)
        return await self.inner.embed(request, ctx)


def _report(ctx: RequestContext, reports: list[str], refusal: GatewayError | None = None) -> None:
    value = ", ".join(reports)
    ctx.set_header(HEADER, value)
    ctx.note("guardrails", value)
    if refusal is not None:
        refusal.headers[HEADER] = value


def guardrail_layer(inner: ChatHandler, config: GuardrailsConfig, aws_clients: AwsClientFactory) -> ChatHandler:
    """``aws_clients``: the process's boto3 client factory (Bedrock guardrails, built on first use)."""
    return GuardrailLayer(inner, config, aws_clients)
