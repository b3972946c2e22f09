"""boto3 clients, created on first use and cached per process (boto3's import alone costs ~0.3 s).

Timeouts are short and botocore's own retries are few: the gateway decides what to retry, and a slow
table must never stall a request. ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (moto, local)
are honoured by botocore itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any


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
        self._clients: dict[tuple[str, str | None, str | None, float | None], Any] = {}
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
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=self._connect_timeout,
                    read_timeout=read_timeout or self._read_timeout,
                    retries={"max_attempts": self._max_attempts, "mode": "standard"},
                    max_pool_connections=50,
                )
                session: Any = boto3.session.Session()
                client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
                self._clients[key] = client
        return client
