"""An embedded DynamoDB for local runs: moto's server in a process of its own (so its CPU is not the
gateway's), one call at a time as DynamoDB applies them (:mod:`.moto_server`), tables from
``template.yaml``. It stops with the process that started it, even when that one is killed.

:func:`local_dynamodb_env` is the one entry point for any local runner: it returns the environment
variables that point the gateway's DynamoDB users (cache, routing state, keys, usage) at a table set,
starting an embedded one unless the environment already names an endpoint or deployed tables.
Needs the dev extra (``moto[server]``).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_gateway.aws.tables import TABLE_ENV, create_tables

log = logging.getLogger("llm_gateway.local")
TEMPLATE_ENV = "LLM_GATEWAY_TEMPLATE"
EMBEDDED_ENV = "LLM_GATEWAY_EMBEDDED_DYNAMODB"
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
LOCAL_REGION = "us-east-1"


@dataclass
class EmbeddedDynamoDB:
    endpoint: str
    env: dict[str, str]
    """``AWS_ENDPOINT_URL_DYNAMODB`` and the ``LLM_GATEWAY_*_TABLE`` names."""
    _process: subprocess.Popen[bytes] | None = field(repr=False, default=None)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None


def default_template(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    given = environ.get(TEMPLATE_ENV)
    return Path(given) if given else Path(__file__).resolve().parents[3] / "template.yaml"


def _client(endpoint: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2}),
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
    )


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: the child gets SIGTERM when the process that started it ends, however it ends."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wait_until_serving(process: subprocess.Popen[bytes], host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded DynamoDB exited at start-up (status {process.returncode})")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the embedded DynamoDB did not start in time") from None
            time.sleep(0.05)


def start_embedded_dynamodb(
    template: str | Path | None = None,
    *,
    prefix: str = "llm-gateway-local",
    host: str = "127.0.0.1",
    port: int = 0,
    region: str = LOCAL_REGION,
    timeout: float = 30.0,
) -> EmbeddedDynamoDB:
    """Start moto's DynamoDB in a process of its own on ``host:port`` (0 = a free port) and create every
    table of the template."""
    port = port or _free_port(host)
    process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
        [sys.executable, "-m", "llm_gateway.local.moto_server", "--host", host, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
    )
    endpoint = f"http://{host}:{port}"
    embedded = EmbeddedDynamoDB(endpoint=endpoint, env={ENDPOINT_ENVS[0]: endpoint}, _process=process)
    try:
        _wait_until_serving(process, host, port, timeout)
        embedded.env.update(create_tables(_client(endpoint, region), template or default_template(), prefix=prefix))
    except BaseException:
        embedded.stop()
        raise
    return embedded


def _has_credentials(env: Mapping[str, str]) -> bool:
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE"):
        return True
    return (Path.home() / ".aws" / "credentials").exists()


def local_dynamodb_env(
    env: Mapping[str, str] | None = None, *, template: str | Path | None = None
) -> tuple[dict[str, str], EmbeddedDynamoDB | None]:
    """Environment additions for a local run, and the embedded server to stop afterwards (if started).

    - Table names already set (``LLM_GATEWAY_*_TABLE``: deployed tables) or
      ``LLM_GATEWAY_EMBEDDED_DYNAMODB=0``: nothing to do.
    - An endpoint set (``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL``, e.g. DynamoDB Local):
      create the tables there.
    - Otherwise: start the embedded DynamoDB.
    """
    environ = os.environ if env is None else env
    if environ.get(EMBEDDED_ENV, "").lower() in ("0", "false", "no", "off"):
        return {}, None
    if any(environ.get(name) for name in TABLE_ENV.values()):
        return {}, None
    additions: dict[str, str] = {}
    if not (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_PROFILE")):
        additions["AWS_DEFAULT_REGION"] = LOCAL_REGION
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION
    endpoint = next((environ[name] for name in ENDPOINT_ENVS if environ.get(name)), None)
    if endpoint is not None:
        try:
            additions.update(create_tables(_client(endpoint, region), template or default_template(environ)))
        except Exception as exc:  # an unreachable endpoint must not stop a local run
            log.warning("cannot create the tables at %s (%s): running without DynamoDB tables", endpoint, exc)
        return additions, None
    if not _has_credentials(environ):
        # moto accepts anything, botocore still wants some credentials to sign with
        additions["AWS_ACCESS_KEY_ID"] = "local"
        additions["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105
    embedded = start_embedded_dynamodb(template or default_template(environ), region=region)
    additions.update(embedded.env)
    return additions, embedded
