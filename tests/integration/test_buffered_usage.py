"""The buffered (Mangum) handler finishes its usage writes before returning: Mangum runs the event loop
only during a request, and Lambda may freeze or reclaim the instance right after."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, json, gateway
body = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "hi"}]})
event = {"version": "2.0", "routeKey": "$default", "rawPath": "/v1/chat/completions", "rawQueryString": "",
         "headers": {"host": "x", "authorization": "Bearer sk-probe", "content-type": "application/json"},
         "requestContext": {"http": {"method": "POST", "path": "/v1/chat/completions", "sourceIp": "1.2.3.4",
         "protocol": "HTTP/1.1", "userAgent": "t"}, "requestId": "r", "stage": "$default"},
         "body": body, "isBase64Encoded": False}
response = gateway.handler(event, None)
tenants = gateway.app.state.gateway.tenants
rows = asyncio.run(tenants.spend.report(None, "1970-01-01", "9999-12-31"))
print(json.dumps({"status": response["statusCode"], "pending": tenants.ledger.pending, "rows": rows}))
"""


def test_usage_is_written_before_the_buffered_handler_returns() -> None:
    env = {
        "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}",
        "PATH": "/usr/bin:/bin",
        "LLM_GATEWAY_MASTER_KEY": "sk-probe",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True, cwd=ROOT / "handlers"
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    assert result["pending"] is False
    assert [(row["key_id"], row["model"], row["requests"]) for row in result["rows"]] == [("master", "mock", 1)]
