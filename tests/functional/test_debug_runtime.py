"""GET /debug/runtime exists only when LLM_GATEWAY_DEBUG_RUNTIME=1, and then only for the master key."""

from __future__ import annotations

import os

import httpx

from llm_gateway.api.app import create_app
from tests.support.gateway import MASTER_KEY, make_gateway

CONFIG = {"models": [{"name": "mock", "provider": "mock", "model": "mock-1"}]}


async def _get(env: dict[str, str], key: str | None) -> httpx.Response:
    app = create_app(make_gateway(CONFIG, env))
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        return await client.get("/debug/runtime", headers=headers)


async def test_off_by_default() -> None:
    assert (await _get({}, MASTER_KEY)).status_code == 404


async def test_on_for_the_master_key_only() -> None:
    env = {"LLM_GATEWAY_DEBUG_RUNTIME": "1"}
    response = await _get(env, MASTER_KEY)
    assert response.status_code == 200
    figures = response.json()
    assert figures["pid"] == os.getpid()
    assert figures["asyncio_tasks"] >= 0 and figures["open_fds"] > 0 and figures["rss_bytes"] > 0
    assert figures["upstream_connections"] >= figures["upstream_idle_connections"] >= 0  # the pool's figures
    assert (await _get(env, None)).status_code == 401
    assert (await _get(env, "sk-wrong")).status_code == 401
