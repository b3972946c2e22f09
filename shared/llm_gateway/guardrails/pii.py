"""PII redaction: personal data and credentials are replaced by ``[REDACTED_<KIND>]`` before the call.

Detected: email addresses; phone numbers (with separators or a ``+`` country code, 9 to 15 digits);
payment card numbers (13 to 19 digits, spaces or dashes allowed, that pass the Luhn check, so order
numbers and timestamps are left alone); national ids (US SSN ``123-45-6789`` with the invalid ranges
excluded, UK National Insurance numbers); AWS access key ids (``AKIA``/``ASIA``... plus 16 characters)
and AWS secret access keys (40 base64 characters mixing cases and digits). Only message text is
rewritten (string contents and text parts of every role); tool-call arguments and images are not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llm_gateway.guardrails.base import Guardrail, rewrite_prompt

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
NINO = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.IGNORECASE
)
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])")
AWS_ACCESS_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[A-Z0-9]{16}(?![A-Z0-9])")
AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_phone(match: re.Match[str]) -> bool:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if SSN_SHAPE.fullmatch(text):  # the SSN layout (valid ones are caught as national ids first)
        return False
    return 9 <= len(digits) <= 15 and (text.startswith(("+", "(")) or bool(re.search(r"[ .-]", text)))


def _is_secret_key(match: re.Match[str]) -> bool:
    text = match.group()
    return any(c.islower() for c in text) and any(c.isupper() for c in text) and any(c.isdigit() for c in text)


Detector = tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None]

# order matters: credentials and cards before phones, so a phone pattern never eats part of them
DETECTORS: dict[str, list[Detector]] = {
    "aws_access_key": [("AWS_ACCESS_KEY", AWS_ACCESS_KEY, None)],
    "aws_secret_key": [("AWS_SECRET_KEY", AWS_SECRET_KEY, _is_secret_key)],
    "email": [("EMAIL", EMAIL, None)],
    "card": [("CARD", CARD, _is_card)],
    "national_id": [("SSN", SSN, None), ("NATIONAL_ID", NINO, None)],
    "phone": [("PHONE", PHONE, _is_phone)],
}


class PiiRedactor:
    def __init__(self, entities: list[str]) -> None:
        self.detectors = [d for entity, detectors in DETECTORS.items() if entity in entities for d in detectors]

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        found: dict[str, int] = {}
        for label, pattern, accept in self.detectors:

            def replace(match: re.Match[str], label: str = label, accept: Any = accept) -> str:
                if accept is not None and not accept(match):
                    return match.group()
                found[label] = found.get(label, 0) + 1
                return f"[REDACTED_{label}]"

            text = pattern.sub(replace, text)
        return text, found


class PiiRedaction(Guardrail):
    def __init__(self, name: str, entities: list[str]) -> None:
        super().__init__(name)
        self.redactor = PiiRedactor(entities)

    async def check_input(self, body: dict[str, Any], ctx: RequestContext) -> str:
        total: dict[str, int] = {}

        def rewrite(text: str) -> str:
            redacted, found = self.redactor.redact(text)
            for label, count in found.items():
                total[label] = total.get(label, 0) + count
            return redacted

        rewrite_prompt(body, rewrite)
        count = sum(total.values())
        if count:
            ctx.note("pii_redacted", dict(sorted(total.items())))
        return f"redacted={count}" if count else "passed"
