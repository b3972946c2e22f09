"""The guardrail interface and the text plumbing every guardrail shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from llm_gateway.errors import InvalidRequestError
from llm_gateway.tenants.tokens import content_texts

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext


class ContentPolicyViolation(InvalidRequestError):
    default_code = "content_policy_violation"


class Guardrail:
    """``check_input`` may rewrite the request body in place (it gets a private copy) and returns a short
    report (``redacted=2``, ``passed``) or raises a :class:`~llm_gateway.errors.GatewayError`.
    ``check_output`` does the same for a whole (non-stream) answer."""

    def __init__(self, name: str) -> None:
        self.name = name

    checks_output = False

    async def check_input(self, body: dict[str, Any], ctx: RequestContext) -> str:
        return "passed"

    async def check_output(self, response: dict[str, Any], ctx: RequestContext) -> str:
        return "passed"


def prompt_texts(body: dict[str, Any]) -> Iterator[str]:
    """Every piece of text in the messages (string contents and text parts), in order."""
    for message in body.get("messages") or []:
        yield from content_texts(message)


def rewrite_prompt(body: dict[str, Any], rewrite: Callable[[str], str]) -> None:
    """Apply ``rewrite`` to every text of the messages, in place."""
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            message["content"] = rewrite(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    part["text"] = rewrite(part["text"])


def answer_texts(response: dict[str, Any]) -> Iterator[str]:
    for choice in response.get("choices") or []:
        content = (choice.get("message") or {}).get("content")
        if isinstance(content, str):
            yield content
