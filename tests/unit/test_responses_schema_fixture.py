from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.responses_schema import SCHEMA_PATH

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "openai-responses-schemas.json"


def test_fixture_holds_the_reference_responses_schemas() -> None:
    """tests/fixtures keeps the Responses part so a bare clone can run the suite; it must not drift."""
    if not REFERENCE.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    reference, fixture = json.loads(REFERENCE.read_text()), json.loads(SCHEMA_PATH.read_text())
    assert fixture["$schema"] == reference["$schema"]
    assert {"Response", "ResponseStreamEvent", "CreateResponse", "ErrorResponse"} <= set(fixture["$defs"])
    for name, schema in fixture["$defs"].items():
        assert schema == reference["$defs"][name], name
