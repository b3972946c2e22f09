"""``/v1/messages`` through the whole app: what loads when, and the chat pipeline's features on the way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow


def test_the_messages_modules_load_on_the_first_messages_request_not_for_chat() -> None:
    script = textwrap.dedent(
        """
        import sys
        from starlette.testclient import TestClient
        from llm_gateway.api.app import create_app
        from tests.support.gateway import MASTER_KEY, make_gateway

        app = create_app(make_gateway({"models": [{"name": "mock", "provider": "mock", "model": "mock-1"}]}))
        key = {"authorization": f"Bearer {MASTER_KEY}"}
        with TestClient(app) as client:
            chat = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/v1/chat/completions", json=chat, headers=key).status_code == 200
            print(sorted(m for m in sys.modules if m.startswith("llm_gateway.messages")))
            body = {"model": "mock", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/v1/messages", json=body, headers=key).status_code == 200
            print("llm_gateway.messages.service" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]
