"""Watch the whole test run for secrets: the master key, the fake upstreams' keys (and the forms their
echo mode quotes back, :mod:`tests.support.echo`) and every virtual key the tests create, in

- every log record (any logger, any thread), checked as it is emitted (:class:`SecretScanner`);
- every response body and header of every gateway served over a socket (:func:`scan_responses`, which
  :class:`~tests.support.servers.UvicornThread` puts around every app it serves);
- every item of the DynamoDB tables a test used, at its end (:func:`scan_items`, from the
  ``dynamodb_tables`` fixture), compressed payloads opened.

Nothing is kept but the leaks; the session fails at its end if there is any."""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from tests.support.gateway import MASTER_KEY

KNOWN_SECRETS = {MASTER_KEY, "sk-upstream-secret-key-abcdef"}
LEAKS: list[str] = []
"""What the response and table scans found (the log scanner keeps its own)."""
_lock = threading.Lock()


def remember_secret(secret: str) -> None:
    with _lock:
        KNOWN_SECRETS.add(secret)


def secrets_in(text: str) -> list[str]:
    with _lock:
        return [s for s in KNOWN_SECRETS if s in text]


def _leak(where: str, found: list[str]) -> None:
    with _lock:
        LEAKS.append(f"{where}: secret {found[0][:8]}... ")


class Capture(logging.Handler):
    """Every record, formatted as the gateway's JSON log lines."""

    def __init__(self) -> None:
        from llm_gateway.observability import JsonFormatter

        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def access(self) -> list[dict[str, Any]]:
        """The access lines (one per request)."""
        return [json.loads(line) for line in self.lines if '"llm_gateway.access"' in line]


@contextmanager
def captured_logs(others: int = logging.DEBUG) -> Iterator[Capture]:
    """Every log record while the block runs: ``llm_gateway``'s at DEBUG, the root's and ``uvicorn``'s from
    ``others`` up (libraries' DEBUG output, botocore's request dumps included, is not the gateway's)."""
    handler = Capture()
    loggers = [logging.getLogger(), logging.getLogger("llm_gateway"), logging.getLogger("uvicorn")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if logger.name == "llm_gateway" else others)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


class SecretScanner(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage() + " " + str(getattr(record, "fields", ""))
            if record.exc_info and record.exc_info[1] is not None:
                text += " " + repr(record.exc_info[1])
        except Exception:  # a record that cannot be formatted is not ours to judge
            return
        found = secrets_in(text)
        if found:
            self.leaks.append(f"{record.name}: {record.levelname}: secret {found[0][:8]}... in a log record")


class scan_responses:
    """``app`` with every response it sends (status line headers and body, streamed or not) checked;
    anything else about the app (its ``state``, its middleware stack) is the app's own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        tail = ""
        path = scope.get("path", "")

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal tail
            if message.get("type") == "http.response.start":
                headers = " ".join(f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in message["headers"])
                found = secrets_in(headers)
                if found:
                    _leak(f"response headers of {path}", found)
            elif message.get("type") == "http.response.body":
                text = tail + bytes(message.get("body", b"")).decode("utf-8", "replace")
                found = secrets_in(text)
                if found:
                    _leak(f"response body of {path}", found)
                tail = text[-200:]  # a secret split across two writes
            await send(message)

        await self.app(scope, receive, watch)


def _texts(value: Any) -> Iterable[str]:
    value = getattr(value, "value", value)  # boto3's Binary holds its bytes in .value
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _texts(item)
    elif isinstance(value, list | set | tuple):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, bytes | bytearray):
        yield bytes(value).decode("utf-8", "replace")
        yield _decompressed(bytes(value))
    else:
        yield str(value)


def _decompressed(raw: bytes) -> str:
    try:
        return zlib.decompress(raw).decode("utf-8", "replace")
    except zlib.error:
        return ""


def _items(client: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every item of ``table`` (none if the test removed it)."""
    try:
        for page in client.get_paginator("scan").paginate(TableName=table):
            yield from page.get("Items", [])
    except client.exceptions.ResourceNotFoundException:
        return


def scan_items(client: Any, tables: Iterable[str]) -> int:
    """Every item of ``tables`` (boto3 DynamoDB client, typed attribute values), every field of it, for
    the known secrets; returns how many items were read."""
    from boto3.dynamodb.types import TypeDeserializer

    deserialise = TypeDeserializer().deserialize
    count = 0
    for table in tables:
        for item in _items(client, table):
            count += 1
            plain = {name: deserialise(value) for name, value in item.items()}
            found = secrets_in(" ".join(_texts(plain)))
            if found:
                _leak(f"table {table} item {plain.get('pk')!s:.60} / {plain.get('sk')!s:.40}", found)
    return count
