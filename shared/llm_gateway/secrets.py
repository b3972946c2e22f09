"""Resolve secret references from the config (``api_key: env:OPENAI_API_KEY``) at first use.

A reference is ``scheme:rest``. Built in: ``env:VAR``. Other schemes (``ssm:``, ``secretsmanager:``)
are registered as loaders; their values are cached for ``ttl`` seconds. A value with no known scheme
is a literal. Resolved values are never logged and never appear in error messages.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

SecretLoader = Callable[[str], Awaitable[str]]


class SecretError(Exception):
    """A secret reference could not be resolved (the message names the reference, never a value)."""


@dataclass
class _Cached:
    value: str
    expires_at: float


@dataclass
class SecretResolver:
    loaders: dict[str, SecretLoader] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, _Cached] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False, repr=False)

    def register(self, scheme: str, loader: SecretLoader) -> None:
        self.loaders[scheme] = loader

    def clear(self) -> None:
        """Forget every cached value: the next use of each reference loads it again."""
        self._cache.clear()

    def scheme_of(self, reference: str) -> str | None:
        scheme, sep, _ = reference.partition(":")
        if sep and (scheme == "env" or scheme in self.loaders):
            return scheme
        return None

    async def resolve(self, reference: str | None) -> str | None:
        if reference is None:
            return None
        scheme = self.scheme_of(reference)
        if scheme is None:
            return reference
        name = reference.partition(":")[2]
        if scheme == "env":
            value = self.env.get(name)
            if value is None:
                raise SecretError(f"environment variable {name!r} named by an api_key reference is not set")
            return value
        cached = self._cache.get(reference)
        now = self.clock()
        if cached is not None and cached.expires_at > now:
            return cached.value
        lock = self._locks.setdefault(reference, asyncio.Lock())
        async with lock:
            cached = self._cache.get(reference)
            if cached is not None and cached.expires_at > self.clock():
                return cached.value
            try:
                value = await self.loaders[scheme](name)
            except SecretError:
                raise
            except Exception as exc:  # the loader's own error type is not ours to leak
                raise SecretError(f"cannot load secret {reference!r}: {type(exc).__name__}") from None
            self._cache[reference] = _Cached(value, self.clock() + self.ttl)
            return value
