"""The Lambda entry points import fast and lazily, in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import gateway
app = gateway.app
t1 = time.perf_counter()
heavy = sorted(m for m in ("boto3", "botocore", "mangum", "yaml", "llm_gateway.providers.mock",
                           "llm_gateway.providers.openai_compat") if m in sys.modules)
print(json.dumps({"seconds": t1 - t0, "heavy": heavy, "routes": sorted(app.openapi()["paths"])}))
"""


def test_handler_module_imports_without_heavy_modules_or_io() -> None:
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True, cwd=ROOT / "handlers"
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"imported at cold start: {result['heavy']}"
    assert "/v1/chat/completions" in result["routes"] and "/health" in result["routes"]
    # the import time itself is measured by `make bench` (bytecode compiled, quiet machine), not asserted here


def test_handler_builds_without_a_config_or_key_and_fails_closed() -> None:
    probe = (
        "import gateway, json\n"
        "event = {'version': '2.0', 'routeKey': '$default', 'rawPath': '/v1/models', 'rawQueryString': '',\n"
        "         'headers': {'host': 'x'}, 'requestContext': {'http': {'method': 'GET', 'path': '/v1/models',\n"
        "         'sourceIp': '1.2.3.4', 'protocol': 'HTTP/1.1', 'userAgent': 't'}, 'requestId': 'r',\n"
        "         'stage': '$default'}, 'isBase64Encoded': False}\n"
        "print(json.dumps(gateway.handler(event, None)))\n"
    )
    env = {"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=ROOT / "handlers"
    )
    response = json.loads(out.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "missing_api_key"
