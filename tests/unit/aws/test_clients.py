"""boto3 clients: built once per kind, and built anew everywhere after renew_all (a SnapStart restore)."""

from __future__ import annotations

import pytest

from llm_gateway.aws.clients import AwsClients, renew_all


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def test_a_client_is_built_once_and_whoever_kept_it_follows_a_renewal() -> None:
    aws = AwsClients()
    kept = aws("dynamodb")
    assert aws("dynamodb") is kept
    first = aws.current(kept._key)
    assert aws.current(kept._key) is first
    assert kept.meta.region_name == "us-east-1"
    renew_all()
    second = aws.current(kept._key)
    assert second is not first
    assert kept.meta is second.meta  # the kept handle now forwards to the new client


def test_injected_clients_are_handed_out_as_they_are() -> None:
    fake = object()
    aws = AwsClients(overrides={"ssm": fake})
    assert aws("ssm") is fake
    renew_all()
    assert aws("ssm") is fake


def test_a_renewal_builds_one_new_session_for_every_client() -> None:
    aws = AwsClients()
    table, ssm = aws("dynamodb"), aws("ssm")
    table.meta, ssm.meta  # noqa: B018 - build both clients
    assert aws.sessions == 1
    renew_all()
    table.meta, ssm.meta  # noqa: B018
    assert aws.sessions == 2
