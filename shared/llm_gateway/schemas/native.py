"""The inbound request of a bridged endpoint, riding along with its chat translation.

``/v1/responses`` and ``/v1/messages`` are bridged onto chat: every layer (guardrails, limits, the cache,
the router) sees the chat translation. A deployment whose upstream serves the inbound API itself
(``native`` in its config) gets this body instead, untouched but for ``model``, with the forwarded
headers; its provider answers with the native body beside the chat translation of it (see
:meth:`llm_gateway.providers.base.ChatProvider.complete_native`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

NativeEndpoint = Literal["responses", "messages"]

NATIVE_FIELD = "native"
"""Where a natively answered ``chat.completion`` (or chunk) carries the upstream's own answer (or events)."""


@dataclass(frozen=True)
class NativeRequest:
    endpoint: NativeEndpoint
    body: dict[str, Any] = field(repr=False)
    """The client's body, as it came (the gateway's extension fields removed)."""
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    """Headers to forward to a native upstream (e.g. ``anthropic-beta``); never credentials."""
    only_native: tuple[str, ...] = ()
    """Fields of the body the chat view leaves out (hosted tools...): a deployment that would answer the chat
    view instead (a fallback that does not pass the endpoint through) refuses the request with a 400."""
