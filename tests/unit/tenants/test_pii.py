from __future__ import annotations

import pytest

from llm_gateway.guardrails.pii import PiiRedactor, luhn_valid

ALL = ["email", "phone", "card", "national_id", "aws_access_key", "aws_secret_key"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail a.b+tag@sub.example.co.uk now", "mail [REDACTED_EMAIL] now"),
        ("call (415) 555-0132 today", "call [REDACTED_PHONE] today"),
        ("call +44 20 7946 0958", "call [REDACTED_PHONE]"),
        ("call 415.555.0132", "call [REDACTED_PHONE]"),
        ("visa 4111-1111-1111-1111 ok", "visa [REDACTED_CARD] ok"),
        ("amex 378282246310005", "amex [REDACTED_CARD]"),
        ("ssn 123-45-6789", "ssn [REDACTED_SSN]"),
        ("nino AB 12 34 56 C", "nino [REDACTED_NATIONAL_ID]"),
        ("id AKIAIOSFODNN7EXAMPLE", "id [REDACTED_AWS_ACCESS_KEY]"),
        ("s=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "s=[REDACTED_AWS_SECRET_KEY]"),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    redacted, found = PiiRedactor(ALL).redact(text)
    assert redacted == expected
    assert sum(found.values()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 (fails Luhn)",
        "timestamp 1764000000123",
        "released 2025-11-24, version 1.2.3",
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "ssn-like 000-12-3456 and 666-12-3456",
        "price 1,299.00 for 3 units",
        "room 12 floor 3",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert PiiRedactor(ALL).redact(text) == (text, {})


def test_only_the_chosen_entities() -> None:
    redacted, found = PiiRedactor(["email"]).redact("jo@example.com 123-45-6789")
    assert redacted == "[REDACTED_EMAIL] 123-45-6789"
    assert found == {"EMAIL": 1}


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
