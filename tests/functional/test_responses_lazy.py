"""Chat completions never load the Responses modules: they load on the first ``/v1/responses`` request
(a fresh process, the app served in it, each request through the ASGI interface)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, json, sys
import httpx
from llm_gateway.api.app import create_app
from tests.support.gateway import MASTER_KEY, make_gateway

def loaded():
    return sorted(m for m in sys.modules if m.startswith("llm_gateway.responses"))

async def main():
    gateway = make_gateway({"models": [{"name": "mock", "provider": "mock", "model": "mock-1"}]})
    gateway.ensure_ready()
    transport = httpx.ASGITransport(app=create_app(gateway))
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    out = {"built": loaded()}
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        chat = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
        assert (await client.post("/v1/chat/completions", json=chat, headers=headers)).status_code == 200
        streamed = await client.post("/v1/chat/completions", json={**chat, "stream": True}, headers=headers)
        assert streamed.status_code == 200
        out["after_chat"] = loaded()
        answer = await client.post("/v1/responses", json={"model": "mock", "input": "hi"}, headers=headers)
        assert answer.status_code == 200, answer.text
        out["after_responses"] = loaded()
    print(json.dumps(out))

asyncio.run(main())
"""


def test_chat_completions_do_not_load_the_responses_modules() -> None:
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["built"] == [] and result["after_chat"] == []
    assert "llm_gateway.responses.service" in result["after_responses"]
