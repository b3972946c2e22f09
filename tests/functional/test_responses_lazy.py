"""Chat completions never load the Responses, Messages or Embeddings modules (so they add nothing to a
chat completion's cold start or request path): Responses load on the first ``/v1/responses`` request; of
the other two only the embeddings service the composition root builds (its helpers load on first use).
A fresh process, the app served in it, each request through the ASGI interface."""

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

PACKAGES = ("llm_gateway.responses", "llm_gateway.messages", "llm_gateway.embeddings")

def loaded():
    return sorted(m for m in sys.modules if m.startswith(PACKAGES))

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


def test_chat_completions_do_not_load_the_responses_messages_or_embeddings_modules() -> None:
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["built"] == ["llm_gateway.embeddings", "llm_gateway.embeddings.service"]
    assert result["after_chat"] == result["built"]
    assert "llm_gateway.responses.service" in result["after_responses"]
    assert not [m for m in result["after_responses"] if m.startswith("llm_gateway.messages")]
