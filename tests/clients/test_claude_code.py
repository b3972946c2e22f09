"""Claude Code itself (``claude -p``) against the gateway, on every provider of the client suite: its
first request (adaptive thinking, a mid-conversation system turn, its betas, ``?beta=true``), the tool
the fake model calls, Claude Code running it and sending the ``tool_result``, and the final answer.

Opt-in: ``make claude-code`` installs Claude Code (npm, tests/clients/claude_code) and runs this; without
it the test is skipped. The fakes answer every request: nothing leaves the machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.gateway import MASTER_KEY
from tests.support.model_fakes import FINAL_TEXT
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.slow

CLAUDE = Path(__file__).parent / "claude_code" / "node_modules" / ".bin" / "claude"


@pytest.mark.skipif(not CLAUDE.exists(), reason="Claude Code not installed (make claude-code)")
@pytest.mark.parametrize("model", ("mock", "claude", "claude-bedrock", "gemini", "gpt"))
def test_claude_code_runs_a_tool_loop_through_the_gateway(gateway: UvicornThread, model: str, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no login, no settings of the machine's user
        "ANTHROPIC_BASE_URL": gateway.base_url,
        "ANTHROPIC_API_KEY": MASTER_KEY,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    run = subprocess.run(
        [str(CLAUDE), "-p", "What is the weather in Paris?", "--output-format", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    result = json.loads(run.stdout)
    assert result["is_error"] is False, result.get("result")
    assert result["num_turns"] >= 2  # the fake called a tool, Claude Code answered with its result
    if model != "mock":
        assert result["result"] == FINAL_TEXT
