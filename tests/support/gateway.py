"""Build and run the real gateway app for tests: in-process app objects or a uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llm_gateway.api.app import create_app
from llm_gateway.api.slow_clients import SHIPPED_HTTP
from llm_gateway.config import GatewayConfig, parse_config
from llm_gateway.gateway import Gateway, GatewayOptions
from tests.support.servers import UvicornThread

MASTER_KEY = "sk-test-master-key-0123456789"


def make_gateway(config: dict[str, Any] | GatewayConfig, env: dict[str, str] | None = None, **options: Any) -> Gateway:
    """The gateway for ``config``. A dict config without a ``router`` section gets ``num_retries: 0``, so a
    test that scripts one upstream fault sees that fault; routing tests configure ``router`` themselves."""
    if isinstance(config, dict) and "router" not in config:
        config = {**config, "router": {"num_retries": 0}}
    parsed = config if isinstance(config, GatewayConfig) else parse_config(config)
    environment = {"LLM_GATEWAY_MASTER_KEY": MASTER_KEY, **(env or {})}
    return Gateway(GatewayOptions(config=parsed, env=environment, **options))


@contextmanager
def running_gateway(
    config: dict[str, Any] | GatewayConfig,
    env: dict[str, str] | None = None,
    *,
    uvloop: bool = False,
    **options: Any,
) -> Iterator[UvicornThread]:
    """The whole app under uvicorn (the gateway's ``--http`` protocol) on a free port; ``.base_url`` is
    what clients point at. ``uvloop``: on uvloop's event loop, as ``handlers/run.sh`` serves."""
    gateway = make_gateway(config, env, **options)
    server = UvicornThread(create_app(gateway), http=SHIPPED_HTTP, uvloop=uvloop).start()
    server.gateway = gateway  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


def openai_config(api_base: str, *, name: str = "gpt-test", model: str = "fake-model", **extra: Any) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": name,
                "provider": "openai",
                "model": model,
                "api_base": api_base,
                "api_key": "sk-upstream-secret-key-abcdef",
                **extra,
            }
        ]
    }
