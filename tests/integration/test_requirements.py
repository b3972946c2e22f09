"""The layer installs exactly the runtime dependencies pyproject.toml declares."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.lambda_runtime import ROOT


def _normalised(lines: list[str]) -> set[tuple[str, str, str]]:
    out = set()
    for line in lines:
        requirement = Requirement(line)
        out.add((canonicalize_name(requirement.name), str(requirement.specifier), str(requirement.marker or "")))
    return out


def test_layer_requirements_match_pyproject_runtime_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer_lines = [
        line.strip()
        for line in (ROOT / "shared" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert _normalised(layer_lines) == _normalised(declared)


def test_boto3_is_left_to_the_lambda_runtime() -> None:
    text = (ROOT / "shared" / "requirements.txt").read_text()
    assert "boto3" not in [Requirement(x).name for x in text.splitlines() if x.strip() and not x.startswith("#")]
