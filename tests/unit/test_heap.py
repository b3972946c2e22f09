"""The entry points settle the heap once the app is ready (see llm_gateway.heap); library users are untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import gateway
from starlette.testclient import TestClient
before = gc.get_freeze_count(), gc.get_threshold()[0]
with TestClient(gateway.app) as client:
    assert client.get("/health").status_code == 200
    during = gc.get_freeze_count(), gc.get_threshold()[0]
print(json.dumps({"before": before, "during": during}))
"""


def _run(probe: str) -> str:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'handlers'}", "LLM_GATEWAY_MASTER_KEY": "k"}
    env.pop("LLM_GATEWAY_CONFIG", None)
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True, cwd=ROOT / "handlers"
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_served_app_freezes_start_up_objects_and_collects_less_often() -> None:
    figures = json.loads(_run(PROBE))
    assert figures["before"][0] == 0
    assert figures["during"][0] > 10_000  # the app, its routes and the config are in the permanent generation
    assert figures["during"][1] >= 10_000


LIBRARY_PROBE = """
import gc, json
from starlette.testclient import TestClient
from llm_gateway.api.app import create_app
threshold = gc.get_threshold()
with TestClient(create_app()) as client:
    client.get("/health")
print(json.dumps([gc.get_freeze_count(), gc.get_threshold() == threshold]))
"""


def test_create_app_alone_leaves_the_collector_alone() -> None:
    """An embedding application (or a test process) keeps its own collector settings."""
    assert json.loads(_run(LIBRARY_PROBE)) == [0, True]
