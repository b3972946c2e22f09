"""Claude on Bedrock with a Messages request as it came: InvokeModel / InvokeModelWithResponseStream with
Anthropic's own request body (``anthropic_version: bedrock-2023-05-31``, the client's ``anthropic-beta``
values as ``anthropic_beta``; the model is the deployment's, in the URL). The answers are Anthropic's own
(a message; ``chunk.bytes`` holding one stream event each) and are read as the anthropic provider reads
its own (:mod:`llm_gateway.providers.anthropic.native`)."""

from __future__ import annotations

from typing import Any

import orjson

from llm_gateway.errors import UpstreamConnectionError
from llm_gateway.providers.anthropic.native import betas, native_body
from llm_gateway.providers.base import ProviderCall
from llm_gateway.schemas.native import NativeRequest

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"


def invoke_args(call: ProviderCall, native: NativeRequest) -> dict[str, Any]:
    """InvokeModel's (and InvokeModelWithResponseStream's) arguments."""
    body = native_body(native, model=None, stream=False)
    body["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    if beta := betas(native):
        body["anthropic_beta"] = beta
    return {
        "modelId": call.deployment.model,
        "body": orjson.dumps(body),
        "contentType": "application/json",
        "accept": "application/json",
    }


def decoded(call: ProviderCall, raw: Any) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamConnectionError(
            f"Bedrock sent an answer that is not JSON for model '{call.deployment.group}'.",
            code="upstream_bad_response",
        ) from None


def stream_payload(call: ProviderCall, event: Any) -> dict[str, Any] | None:
    """The Anthropic event in one InvokeModelWithResponseStream event (``None``: not a chunk)."""
    chunk = event.get("chunk") if isinstance(event, dict) else None
    if not isinstance(chunk, dict) or "bytes" not in chunk:
        return None
    payload = decoded(call, chunk["bytes"])
    return payload if isinstance(payload, dict) else None
