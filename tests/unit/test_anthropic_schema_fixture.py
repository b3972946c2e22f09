from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.anthropic_schema import SCHEMA_PATH

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "anthropic-messages-schemas.json"


def test_fixture_is_the_reference_anthropic_schema() -> None:
    """tests/fixtures keeps a copy so a bare clone can run the suite; it must not drift from the reference."""
    if not REFERENCE.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(REFERENCE.read_text())
