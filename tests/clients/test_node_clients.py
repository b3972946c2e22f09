"""Node clients (openai-node 7 and 6 ``runTools``, the Vercel AI SDK) through a two-step tool loop with
reasoning on every Claude and Gemini deployment. Opt-in: ``make clients`` installs them (npm) and runs
this; without ``tests/clients/node/node_modules`` it is skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import REASONING
from tests.support.model_fakes import FINAL_TEXT

NODE_DIR = Path(__file__).resolve().parent / "node"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules").is_dir() or shutil.which("node") is None,
        reason="Node clients not installed (make clients)",
    ),
]


def test_node_clients_run_the_tool_loop_with_reasoning(base_url: str, api_key: str) -> None:
    env = {**os.environ, "GATEWAY_URL": base_url, "GATEWAY_KEY": api_key, "MODELS": ",".join(REASONING)}
    done = subprocess.run(
        ["node", "clients.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    print(done.stdout)  # one line per case, shown with -s or on failure
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failures = [r for r in results if not r["ok"] or r["text"] != FINAL_TEXT]
    assert len(results) == 3 * 2 * len(REASONING), done.stderr[-2000:]
    assert not failures, json.dumps(failures, indent=1)
