"""What a request allows the cache to do: its ``caching``/``cache`` fields and its ``Cache-Control`` header.

The header maps onto the same controls as the body's ``cache`` object (the body wins where both say
something): ``no-cache``, ``no-store``, ``max-age=N`` / ``s-maxage=N`` (accept only an entry younger
than N seconds), ``only-if-cached`` (answer from the cache or fail with a 504, as RFC 9111 says) and
the extensions ``ttl=N`` and ``namespace=NAME``. Unknown directives are ignored, as HTTP caches do; a
known directive with a bad value is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from llm_gateway.cache.config import CacheConfig
from llm_gateway.errors import InvalidRequestError
from llm_gateway.schemas.request import CacheControls
from llm_gateway.schemas.validation import ChatRequest

if TYPE_CHECKING:
    from llm_gateway.schemas.embeddings import EmbeddingRequest

_NUMERIC = {"max-age": "s-maxage", "s-maxage": "s-maxage", "ttl": "ttl"}
_FLAGS = ("no-cache", "no-store")
ONLY_IF_CACHED = "only-if-cached"


@dataclass(frozen=True)
class CachePolicy:
    """The cache's permissions for one request."""

    read: bool
    """Look the answer up (false for ``no-cache``)."""
    store: bool
    """Store a fresh answer (false for ``no-store`` or a ttl of 0)."""
    ttl: int
    max_age: int | None
    """Accept only an entry at most this old (``s-maxage``)."""
    namespace: str | None
    only_if_cached: bool = False
    """Never call upstream: a miss is a 504 (``Cache-Control: only-if-cached``)."""


def parse_cache_control(value: str) -> dict[str, Any]:
    """The ``Cache-Control`` directives the cache knows, as ``cache``-object fields (by alias)."""
    controls: dict[str, Any] = {}
    for raw in value.split(","):
        name, has_value, argument = raw.strip().partition("=")
        name = name.strip().lower()
        argument = argument.strip().strip('"')
        if name in _FLAGS or name == ONLY_IF_CACHED:
            controls[name] = True
        elif name in _NUMERIC:
            if not has_value or not argument.isdigit():
                raise InvalidRequestError(
                    f"Invalid Cache-Control header: '{name}' needs a whole number of seconds.",
                    code="invalid_cache_control",
                )
            controls[_NUMERIC[name]] = int(argument)
        elif name == "namespace" and has_value:
            controls["namespace"] = argument
    return controls


def _header_controls(headers: Mapping[str, str]) -> CacheControls | None:
    value = headers.get("cache-control")
    if not value:
        return None
    fields = parse_cache_control(value)
    fields.pop(ONLY_IF_CACHED, None)
    if not fields:
        return None
    try:
        return CacheControls.model_validate(fields)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise InvalidRequestError(
            f"Invalid Cache-Control header: '{where}' {problem['msg']}.", code="invalid_cache_control"
        ) from None


def _merged(header: CacheControls | None, body: CacheControls | None) -> CacheControls | None:
    if header is None or body is None:
        return body or header
    values = header.model_dump()
    values.update({name: getattr(body, name) for name in body.model_fields_set})
    return CacheControls.model_validate(values, by_name=True)


def resolve_policy(
    config: CacheConfig, request: ChatRequest | EmbeddingRequest, headers: Mapping[str, str]
) -> CachePolicy | None:
    """The request's cache policy, or ``None`` when the cache stays out of it (a bypass)."""
    caching = request.parsed.caching
    if caching is False or config.mode == "off":
        return None
    controls = _merged(_header_controls(headers), request.cache_controls)
    only_if_cached = ONLY_IF_CACHED in parse_cache_control(headers.get("cache-control") or "")
    if config.mode == "opt-in" and caching is not True and controls is None and not only_if_cached:
        return None
    controls = controls or CacheControls()
    ttl = min(controls.ttl if controls.ttl is not None else config.ttl, config.max_ttl)
    policy = CachePolicy(
        read=not controls.no_cache,
        store=not controls.no_store and ttl > 0,
        ttl=ttl,
        max_age=controls.s_maxage,
        namespace=controls.namespace,
        only_if_cached=only_if_cached,
    )
    if not policy.read and not policy.store and not only_if_cached:
        return None
    return policy
