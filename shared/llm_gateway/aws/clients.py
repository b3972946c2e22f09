"""The process's boto3 clients: one session, and one client per service and settings, created on first
use and cached (boto3's import alone costs ~0.3 s, so nothing is imported before a client is needed).

Defaults are short timeouts and few botocore retries: the gateway decides what to retry, and a slow
table must never stall a request. A caller with other needs passes its own ``connect_timeout``,
``read_timeout`` or ``max_attempts`` (botocore's retries after the first attempt); :func:`preset` gives a
factory with other defaults over the same session. ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
(moto, local) are honoured by botocore itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

AwsClientFactory = Callable[..., Any]
"""``factory(service, *, region=None, endpoint_url=None, read_timeout=None, connect_timeout=None,
max_attempts=None)`` -> a boto3 client."""


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
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._overrides = dict(overrides or {})
        self._session: Any = None
        self._lock = threading.Lock()
        self.sessions = 0
        """boto3 sessions created (one at most: see :meth:`session`)."""

    def session(self) -> Any:
        """The process's one boto3 session (its credentials are resolved once, for every client)."""
        with self._lock:
            return self._session_locked()

    def _session_locked(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
            self.sessions += 1
        return self._session

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
        settings = (
            connect_timeout if connect_timeout is not None else default_connect,
            read_timeout or default_read,
            max_attempts if max_attempts is not None else default_attempts,
        )
        key = (service, region, endpoint_url, *settings)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                from botocore.config import Config

                connect, read, attempts = settings
                config = Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    retries={"max_attempts": attempts, "mode": "standard"},
                    max_pool_connections=50,
                )
                session = self._session_locked()  # boto3 sessions are not thread-safe: clients are made under the lock
                client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
                self._clients[key] = client
        return client


def preset(factory: AwsClientFactory, **settings: Any) -> AwsClientFactory:
    """``factory`` with other default settings (a caller's own still win); same session, same cache."""

    def clients(service: str, **given: Any) -> Any:
        return factory(service, **{**settings, **{k: v for k, v in given.items() if v is not None}})

    return clients
