"""Every key the gateway builds from a tenant's identity, in one place, by one rule.

The cache scope, the idempotency record, the spend and usage partitions, the rate-limit counters and
the thinking store's entries all name whose they are. Each is built here from **parts**: the
separators (``#``, ``:``, ``/``) are literals written in this module, and every part that comes from
outside the code (a key id, a cache namespace, a model group, a deployment id) goes through
:func:`part`, which percent-escapes the separators, ``%`` itself, whitespace, control and non-ASCII
characters. So a part can never contain a separator, distinct parts stay distinct (:func:`unescape`
reverses :func:`part`), and no choice of id makes one tenant's key equal another's: ``A/ns:docs`` is
``A%2Fns%3Adocs``, not key ``A``'s namespace ``docs``.

An id made of the characters :func:`check_key_id` allows (all the gateway generates) escapes to
itself, so the stored formats are what they were before this module for every such id.

The gateway's own callers have reserved ids (:data:`RESERVED_KEY_IDS`): no virtual key may take one
(``keys create`` refuses it, and a stored key that has one is refused at authentication), so
``master`` in a scope is always the master key.
"""

from __future__ import annotations

import functools
import hashlib
import re
from urllib.parse import unquote

import orjson

RESERVED_KEY_IDS = frozenset({"master", "anonymous"})
"""The ids of the gateway's own principals (the master key, a caller not yet authenticated)."""

KEY_ID_RULE = (
    "a key id is 1 to 64 characters: letters, digits, '_', '-' and '.', starting with a letter or a digit, "
    f"and not one of the ids the gateway uses itself ({', '.join(sorted(RESERVED_KEY_IDS))})"
)
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_UNSAFE = re.compile(r"[^\x21-\x7e]|[#:/%]")


class InvalidKeyId(ValueError):
    """A key id outside :data:`KEY_ID_RULE`."""


def check_key_id(key_id: str) -> str:
    """``key_id`` if a new virtual key may have it, else :class:`InvalidKeyId` naming the rule."""
    if not _KEY_ID.fullmatch(key_id) or key_id.lower() in RESERVED_KEY_IDS:
        raise InvalidKeyId(f"key id {key_id!r} is not allowed: {KEY_ID_RULE}")
    return key_id


def reserved(key_id: str) -> bool:
    """True when a virtual key's id is one of the gateway's own (only a key stored before the rule had one)."""
    return key_id.lower() in RESERVED_KEY_IDS


@functools.lru_cache(maxsize=4096)
def part(value: str) -> str:
    """One part of a scope, with every separator (and anything unprintable) percent-escaped. Kept for
    the ids seen (a request builds several scopes from the same key id and model: bench/README.md)."""
    return _UNSAFE.sub(lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode()), value)


def unescape(value: str) -> str:
    """The part :func:`part` escaped, as it was."""
    return unquote(value)


# -- the scopes ------------------------------------------------------------------------------------


def cache_scope(key_id: str, namespace: str | None, shared_namespaces: frozenset[str]) -> str:
    """Whose cache entries these are: the caller's key identity, or a shared namespace named in config."""
    if namespace is not None and namespace in shared_namespaces:
        return f"shared:{part(namespace)}"
    if namespace is not None:
        return f"key:{part(key_id)}/ns:{part(namespace)}"
    return f"key:{part(key_id)}"


IDEMPOTENCY_PREFIX = "idem#"


def idempotency_pk(key_id: str, idempotency_key: str) -> str:
    """The record of one caller's ``Idempotency-Key`` (the client's key hashed: any bytes, fixed length)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return f"{IDEMPOTENCY_PREFIX}{part(key_id)}#{digest}"


SPEND_PREFIX = "spend#"


def spend_pk(key_id: str) -> str:
    """The partition of a key's running sums."""
    return SPEND_PREFIX + part(key_id)


def key_id_of_spend_pk(pk: str) -> str:
    """The key id a :func:`spend_pk` partition belongs to."""
    return unescape(pk.removeprefix(SPEND_PREFIX))


def usage_pk(key_id: str) -> str:
    """The partition of a key's usage records."""
    return f"usage#{part(key_id)}"


def response_pk(key_id: str) -> str:
    """The partition of a key's stored responses (``/v1/responses``)."""
    return f"resp#{part(key_id)}"


def key_limit_scope(key_id: str) -> str:
    """The rate-limit scope of a virtual key."""
    return f"key#{part(key_id)}"


def group_scope(group: str) -> str:
    """The rate-limit scope of a model group (``tenants.model_limits``)."""
    return f"model#{part(group)}"


def deployment_scope(deployment_id: str) -> str:
    """The rate-limit scope of one deployment."""
    return f"deployment#{part(deployment_id)}"


def counter_pk(scope: str) -> str:
    """The partition of a rate-limit scope's counters (``scope`` from one of the functions above)."""
    return f"rl#{scope}"


THINKING_PREFIX = "thinking#"


def thinking_key(caller: str, tool_call_id: str) -> str:
    """The thinking store's entry for one caller's tool call (a hash of a JSON array: parts stay apart)."""
    digest = hashlib.sha256(orjson.dumps(["v1", caller, tool_call_id])).hexdigest()
    return THINKING_PREFIX + digest
