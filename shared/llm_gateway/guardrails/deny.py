"""Deny list: refuse a prompt (and optionally an answer) that contains a listed term or pattern.

Terms match whole words, case-insensitively. The refusal is a 400 ``content_policy_violation`` that does
not repeat what matched.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from llm_gateway.guardrails.base import ContentPolicyViolation, Guardrail, answer_texts, prompt_texts

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext


class DenyList(Guardrail):
    def __init__(self, name: str, terms: list[str], patterns: list[str], *, check_output: bool = False) -> None:
        super().__init__(name)
        alternatives = [rf"(?<!\w){re.escape(term)}(?!\w)" for term in terms]
        self.term_pattern = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None
        self.patterns = [re.compile(p) for p in patterns]
        self.checks_output = check_output

    def matches(self, text: str) -> bool:
        if self.term_pattern is not None and self.term_pattern.search(text):
            return True
        return any(p.search(text) for p in self.patterns)

    async def check_input(self, body: dict[str, Any], ctx: RequestContext) -> str:
        if any(self.matches(text) for text in prompt_texts(body)):
            raise ContentPolicyViolation(
                f"Your request was rejected by the gateway's content policy ({self.name}).", param="messages"
            )
        return "passed"

    async def check_output(self, response: dict[str, Any], ctx: RequestContext) -> str:
        if any(self.matches(text) for text in answer_texts(response)):
            raise ContentPolicyViolation(
                f"The answer was withheld by the gateway's content policy ({self.name}).", status_code=400
            )
        return "passed"
