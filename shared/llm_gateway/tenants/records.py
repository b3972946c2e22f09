"""Virtual keys: how they are made, hashed and described. The key itself is never stored.

A key is ``sk-lg-`` followed by 40 random URL-safe characters (240 bits). Only its SHA-256 is stored:
with that much entropy a fast hash is safe (no dictionary to try), and it keeps authentication to one
hash and one lookup. A short display prefix (``sk-lg-AbCd``) lets people recognise a key in listings.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llm_gateway.scopes import check_key_id, reserved

KEY_PREFIX = "sk-lg-"
DISPLAY_CHARS = 4
BudgetPeriod = Literal["daily", "weekly", "monthly", "total"]
BUDGET_PERIODS: tuple[BudgetPeriod, ...] = ("daily", "weekly", "monthly", "total")


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + DISPLAY_CHARS]


@dataclass(frozen=True)
class KeyRecord:
    """A virtual key's settings. ``key_hash`` identifies the secret; ``key_id`` is the stable identity
    (kept across rotations: spend, limits and logs use it)."""

    key_id: str
    key_hash: str
    prefix: str
    owner: str
    created_at: float
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: BudgetPeriod = "monthly"
    expires_at: float | None = None
    """Epoch seconds after which the key is refused (rotation grace periods use it too)."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    guardrails: tuple[str, ...] = ()
    revoked_at: float | None = None
    replaced_by: str | None = None
    """The hash of the key that replaced this one in a rotation."""

    def refusal(self, now: float) -> str | None:
        """Why this key may not be used at ``now``, or ``None``."""
        if reserved(self.key_id):
            # only a key stored before ids were checked: it would share the gateway's own scopes
            return (
                f"This API key's id {self.key_id!r} is reserved for the gateway. "
                "The operator must create a new key with another id."
            )
        if self.revoked_at is not None and self.revoked_at <= now:
            return "This API key has been revoked."
        if self.expires_at is not None and self.expires_at <= now:
            return "This API key has expired."
        return None

    def revoked(self, now: float) -> KeyRecord:
        return replace(self, revoked_at=now)

    def to_public(self) -> dict[str, Any]:
        """What listings show: everything but the hash."""
        return {
            "key_id": self.key_id,
            "prefix": self.prefix,
            "owner": self.owner,
            "created_at": self.created_at,
            "models": list(self.models) if self.models is not None else None,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_usd": self.budget_usd,
            "budget_period": self.budget_period,
            "expires_at": self.expires_at,
            "metadata": dict(self.metadata),
            "guardrails": list(self.guardrails),
            "revoked_at": self.revoked_at,
            "rotated": self.replaced_by is not None,
        }


def new_key(
    *,
    owner: str,
    now: float,
    key_id: str | None = None,
    models: tuple[str, ...] | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    budget_usd: float | None = None,
    budget_period: BudgetPeriod = "monthly",
    expires_at: float | None = None,
    metadata: Mapping[str, str] | None = None,
    guardrails: tuple[str, ...] = (),
) -> tuple[str, KeyRecord]:
    """A fresh secret and its record. The secret is returned once and never kept."""
    secret = new_secret()
    record = KeyRecord(
        key_id=new_key_id() if key_id is None else check_key_id(key_id),
        key_hash=hash_key(secret),
        prefix=display_prefix(secret),
        owner=owner,
        created_at=now,
        models=models,
        rpm=rpm,
        tpm=tpm,
        budget_usd=budget_usd,
        budget_period=budget_period,
        expires_at=expires_at,
        metadata=dict(metadata or {}),
        guardrails=guardrails,
    )
    return secret, record


def successor(record: KeyRecord, *, now: float, grace_seconds: float) -> tuple[str, KeyRecord, KeyRecord]:
    """Rotation: a new secret with the same id and settings; the old one stays valid ``grace_seconds``."""
    secret = new_secret()
    fresh = replace(record, key_hash=hash_key(secret), prefix=display_prefix(secret), created_at=now, replaced_by=None)
    old_expiry = now + max(0.0, grace_seconds)
    if record.expires_at is not None:
        old_expiry = min(old_expiry, record.expires_at)
    retired = replace(record, expires_at=old_expiry, replaced_by=fresh.key_hash)
    return secret, fresh, retired
