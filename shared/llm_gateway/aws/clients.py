"""The process's boto3 clients: one session, and one client per service and settings, created on first
use and cached (boto3's import alone costs ~0.3 s, so nothing is imported before a client is needed).

Defaults are short timeouts and few botocore retries: the gateway decides what to retry, and a slow
table must never stall a request. A caller with other needs passes its own ``connect_timeout``,
``read_timeout`` or ``max_attempts`` (botocore's retries after the first attempt); :func:`preset` gives a
factory with other defaults over the same session. ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
(moto, local) are honoured by botocore itself.

What :class:`AwsClients` hands out is a stand-in that forwards every attribute to the current client of
its kind, so whoever keeps it (a table, a store) follows :func:`renew_all`: after a SnapStart restore the
session and every client of the process are built anew on their next use (fresh credentials, no pooled
connection from the snapshot). Injected ``overrides`` are handed out as they are.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping
from typing import Any

AwsClientFactory = Callable[..., Any]
"""``factory(service, *, region=None, endpoint_url=None, read_timeout=None, connect_timeout=None,
max_attempts=None)`` -> a boto3 client."""

ClientKey = tuple[str, str | None, str | None, float, float, int]
"""service, region, endpoint_url, connect_timeout, read_timeout, max_attempts"""

_generation = 0
"""Bumped by :func:`renew_all`; a session or client built in an earlier generation is not used again."""


def renew_all() -> None:
    """The session and every client of every :class:`AwsClients` in this process are built anew on next use."""
    global _generation
    _generation += 1


class CurrentClient:
    """Forwards attribute access to the current boto3 client for one key of an :class:`AwsClients`."""

    __slots__ = ("_key", "_owner")

    def __init__(self, owner: AwsClients, key: ClientKey) -> None:
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
        self._defaults = (connect_timeout, read_timeout, max_attempts)
        self._handles: dict[ClientKey, CurrentClient] = {}
        self._clients: dict[ClientKey, tuple[int, Any]] = {}
        self._overrides = dict(overrides or {})
        self._session: tuple[int, Any] | None = None
        self._lock = threading.Lock()
        self.sessions = 0
        """boto3 sessions created: one per generation (see :meth:`session` and :func:`renew_all`)."""
        self.calls: collections.Counter[str] = collections.Counter()
        """AWS calls made through this factory's clients, by ``service.Operation`` (botocore's
        ``before-call`` event: each attempt of a call counts once)."""

    def session(self) -> Any:
        """The process's one boto3 session (its credentials are resolved once, for every client)."""
        with self._lock:
            return self._session_locked()

    def _session_locked(self) -> Any:
        if self._session is None or self._session[0] != _generation:
            import boto3

            self._session = (_generation, boto3.session.Session())
            self.sessions += 1
        return self._session[1]

    def __call__(
        self,
        service: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
        max_attempts: int | None = None,
    ) -> Any:
        if service in self._overrides:
            return self._overrides[service]
        default_connect, default_read, default_attempts = self._defaults
        key: ClientKey = (
            service,
            region,
            endpoint_url,
            connect_timeout if connect_timeout is not None else default_connect,
            read_timeout or default_read,
            max_attempts if max_attempts is not None else default_attempts,
        )
        handle = self._handles.get(key)
        if handle is None:
            handle = self._handles.setdefault(key, CurrentClient(self, key))
        return handle

    def current(self, key: ClientKey) -> Any:
        """The boto3 client for ``key`` in this generation (built now if there is none)."""
        built = self._clients.get(key)
        if built is not None and built[0] == _generation:
            return built[1]
        with self._lock:
            built = self._clients.get(key)
            if built is None or built[0] != _generation:
                built = (_generation, self._build_locked(key))
                self._clients[key] = built
        return built[1]

    def _build_locked(self, key: ClientKey) -> Any:
        from botocore.config import Config

        service, region, endpoint_url, connect, read, attempts = key
        config = Config(
            connect_timeout=connect,
            read_timeout=read,
            retries={"max_attempts": attempts, "mode": "standard"},
            max_pool_connections=50,
        )
        session = self._session_locked()  # boto3 sessions are not thread-safe: clients are made under the lock
        client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
        client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.endpoint_prefix}.{model.name}"] += 1


def preset(factory: AwsClientFactory, **settings: Any) -> AwsClientFactory:
    """``factory`` with other default settings (a caller's own still win); same session, same cache."""

    def clients(service: str, **given: Any) -> Any:
        return factory(service, **{**settings, **{k: v for k, v in given.items() if v is not None}})

    return clients
