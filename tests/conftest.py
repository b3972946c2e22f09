"""Shared fixtures: fake upstreams, a moto DynamoDB endpoint, the gateway under uvicorn, SDK clients."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import MASTER_KEY
from tests.support.log_scan import SecretScanner

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

SLOW_HINT = (
    "a test that talks over a socket (a server, moto, a fake upstream) or starts a process carries the slow "
    "marker (pytestmark = pytest.mark.slow in its module), so that `make test-fast` stays in process"
)


@contextmanager
def _in_process_only(nodeid: str) -> Iterator[None]:
    """While a test without the ``slow`` marker runs (its fixtures included), opening a connection,
    listening on a socket or starting a process fails it: the marker cannot fall out of step with what
    the test does. (An event loop's own socket pair is neither.)"""
    saved = socket.socket.connect, socket.socket.listen, subprocess.Popen.__init__

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError(f"{nodeid}: {SLOW_HINT}")

    socket.socket.connect = socket.socket.listen = refuse  # type: ignore[method-assign]
    subprocess.Popen.__init__ = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.listen, subprocess.Popen.__init__ = saved  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if item.get_closest_marker("slow"):
        yield
        return
    with _in_process_only(item.nodeid):
        yield


@pytest.fixture(scope="session", autouse=True)
def no_secrets_in_logs() -> Iterator[None]:
    """Every log record of the run (any logger, any thread), every response of every gateway served over a
    socket and every DynamoDB item a test wrote are checked for the tests' keys (:mod:`tests.support.log_scan`)."""
    import logging

    from tests.support.log_scan import LEAKS

    scanner = SecretScanner()
    loggers = [logging.getLogger(), logging.getLogger("llm_gateway")]  # llm_gateway may stop propagating
    for logger in loggers:
        logger.addHandler(scanner)
    yield
    for logger in loggers:
        logger.removeHandler(scanner)
    assert not scanner.leaks, "\n".join(scanner.leaks[:20])
    assert not LEAKS, "\n".join(LEAKS[:20])


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto DynamoDB HTTP endpoint (boto3 really serialises requests), applying one call at a time
    as DynamoDB does (conditional writes are atomic)."""
    from llm_gateway.local.moto_server import MotoServer

    server = MotoServer().start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def dynamodb_tables(moto_endpoint: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Fresh tables (named per test) created from template.yaml; returns the env vars naming them. At the
    end of the test every item of every table is checked for the tests' keys."""
    import re

    import boto3

    from llm_gateway.aws.tables import create_tables
    from tests.support.log_scan import scan_items

    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    prefix = "t-" + re.sub(r"[^A-Za-z0-9]", "-", request.node.name)[:60]
    tables = create_tables(client, TEMPLATE, prefix=prefix)
    yield tables
    scan_items(client, tables.values())


@pytest.fixture
def master_key() -> str:
    return MASTER_KEY


@pytest.fixture
def isolated_observability() -> Iterator[None]:
    """Undo what a Lambda entry point does to process-wide logging and request sinks (Powertools)."""
    import logging

    from llm_gateway import observability
    from llm_gateway.aws import powertools

    root = logging.getLogger("llm_gateway")
    saved = [(handler, handler.formatter, list(handler.filters)) for handler in root.handlers]
    sinks = list(observability._request_sinks)
    try:
        yield
    finally:
        for handler, formatter, filters in saved:
            handler.setFormatter(formatter)
            handler.filters[:] = filters
        observability._request_sinks[:] = sinks
        powertools._installed_sink = None
