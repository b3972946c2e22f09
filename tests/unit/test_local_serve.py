"""``python -m llm_gateway.local.serve``: arguments it refuses before starting anything."""

from __future__ import annotations

import pytest

from llm_gateway.local.serve import main


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_fewer_than_one_worker_is_refused(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--workers", workers])
    assert exited.value.code == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
