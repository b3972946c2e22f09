"""boto3 clients, created on first use and cached per process (boto3's import alone costs ~0.3 s).

Timeouts are short and botocore's own retries are few: the gateway decides what to retry, and a slow
table must never stall a request. ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (moto, local)
are honoured by botocore itself.

What :class:`AwsClients` hands out is a stand-in that forwards every attribute to the current client of
its kind, so whoever keeps it (a table, a store) follows :func:`renew_all`: after a SnapStart restore every
client of the process is built anew on its next use, from a new session (fresh credentials, no pooled
connection from the snapshot). Injected ``overrides`` are handed out as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

_ClientKey = tuple[str, str | None, str | None, float | None]

_generation = 0
"""Bumped by :func:`renew_all`; a client built in an earlier generation is not used again."""


def renew_all() -> None:
    """Every client of every :class:`AwsClients` in this process is built anew on its next use."""
    global _generation
    _generation += 1


class CurrentClient:
    """Forwards attribute access to the current boto3 client for one key of an :class:`AwsClients`."""

    __slots__ = ("_key", "_owner")

    def __init__(self, owner: AwsClients, key: _ClientKey) -> None:
        self._owner = owner
        self._key = key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner.current(self._key), name)

    def __repr__(self) -> str:
        return f"<current {self._key[0]} client>"


class AwsClients:
    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        max_attempts: int = 2,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._env = env
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_attempts = max_attempts
        self._handles: dict[_ClientKey, CurrentClient] = {}
        self._clients: dict[_ClientKey, tuple[int, Any]] = {}
        self._overrides = dict(overrides or {})
        self._lock = threading.Lock()

    def __call__(
        self,
        service: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        read_timeout: float | None = None,
    ) -> Any:
        if service in self._overrides:
            return self._overrides[service]
        key = (service, region, endpoint_url, read_timeout)
        handle = self._handles.get(key)
        if handle is None:
            handle = self._handles.setdefault(key, CurrentClient(self, key))
        return handle

    def current(self, key: _ClientKey) -> Any:
        """The boto3 client for ``key`` in this generation (built now if there is none)."""
        built = self._clients.get(key)
        if built is not None and built[0] == _generation:
            return built[1]
        with self._lock:
            built = self._clients.get(key)
            if built is None or built[0] != _generation:
                built = (_generation, self._build(key))
                self._clients[key] = built
        return built[1]

    def _build(self, key: _ClientKey) -> Any:
        import boto3
        from botocore.config import Config

        service, region, endpoint_url, read_timeout = key
        config = Config(
            connect_timeout=self._connect_timeout,
            read_timeout=read_timeout or self._read_timeout,
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            max_pool_connections=50,
        )
        session: Any = boto3.session.Session()
        return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
