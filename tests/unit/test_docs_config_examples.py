"""Every config example in the README and docs/ is a config the gateway starts with.

A YAML block whose top-level keys are config sections is parsed by the gateway's own config models
(which forbid unknown fields) and the gateway is built from it, as at start-up. A block that shows one
section alone (``router:``, ``cache:``, ...) gets stand-in ``mock`` deployments for the model groups
the examples name, so that cross-references (fallbacks, per-model limits, prices) are checked too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_gateway.config import GatewayConfig
from tests.support.gateway import make_gateway

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SECTIONS = set(GatewayConfig.model_fields)
STAND_INS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "claude", "claude-sonnet"]

_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)


def config_examples() -> list[Any]:
    examples = []
    for page in PAGES:
        for number, match in enumerate(_BLOCK.finditer(page.read_text(encoding="utf-8")), 1):
            data = yaml.safe_load(match.group(1))
            if isinstance(data, dict) and set(data) <= SECTIONS:
                examples.append(pytest.param(data, id=f"{page.relative_to(ROOT)}#{number}"))
    return examples


EXAMPLES = config_examples()


def test_the_pages_have_config_examples() -> None:
    ids = [example.id for example in EXAMPLES]
    assert "README.md#1" in ids
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("example", EXAMPLES)
def test_config_example_starts_a_gateway(example: dict[str, Any]) -> None:
    config = dict(example)
    if "models" not in config:
        config["models"] = [{"name": name, "provider": "mock", "model": "mock-1"} for name in STAND_INS]
    make_gateway(config).ensure_ready()
