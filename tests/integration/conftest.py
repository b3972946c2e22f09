"""Integration fixtures: the SAM build, done once per session (make skips it when its inputs are unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.lambda_runtime import BUILD_DIR, HOST_BUILD_DIR, make


@pytest.fixture(scope="session")
def sam_build() -> Path:
    """The deployable arm64 artifact (.aws-sam/build)."""
    make("build")
    return BUILD_DIR


@pytest.fixture(scope="session")
def host_build() -> Path:
    """The same stack built for this machine's architecture, importable here (.aws-sam/build-host)."""
    make("build-host")
    return HOST_BUILD_DIR
