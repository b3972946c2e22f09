"""AWS Bedrock Guardrails through ``ApplyGuardrail``: the prompt before the call, the answer after it
(non-stream answers; a stream is checked on input only).

When Bedrock intervenes on the prompt, the request is refused with a 400 ``content_policy_violation``
carrying the guardrail's configured message, unless the guardrail only masked data (``ANONYMIZED``), in
which case the masked text replaces the prompt. When it intervenes on an answer, the answer's text is
replaced by the guardrail's output and ``finish_reason`` becomes ``content_filter``.
See https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ApplyGuardrail.html
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llm_gateway.errors import ServiceUnavailableError
from llm_gateway.guardrails.base import ContentPolicyViolation, Guardrail
from llm_gateway.guardrails.config import BedrockSpec

if TYPE_CHECKING:
    from llm_gateway.core.context import RequestContext

log = logging.getLogger("llm_gateway.guardrails")


def _blocked(result: dict[str, Any]) -> bool:
    """True when an assessment blocked (as opposed to only masking data)."""

    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            if value.get("action") == "BLOCKED":
                return True
            return any(walk(v) for v in value.values())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return False

    assessments = result.get("assessments") or []
    return walk(assessments) or not assessments


def _outputs(result: dict[str, Any]) -> list[str]:
    return [str(o.get("text", "")) for o in result.get("outputs") or [] if isinstance(o, dict)]


class BedrockGuardrail(Guardrail):
    def __init__(self, name: str, spec: BedrockSpec, aws_clients: Callable[..., Any]) -> None:
        super().__init__(name)
        self.spec = spec
        self.aws_clients = aws_clients
        self.checks_output = spec.output

    async def _apply(self, source: str, texts: list[str]) -> dict[str, Any]:
        client = self.aws_clients("bedrock-runtime", region=self.spec.region)
        try:
            result: dict[str, Any] = await asyncio.to_thread(
                client.apply_guardrail,
                guardrailIdentifier=self.spec.guardrail_id,
                guardrailVersion=self.spec.guardrail_version,
                source=source,
                content=[{"text": {"text": text}} for text in texts],
            )
        except Exception as exc:
            log.error("bedrock guardrail %s failed: %s", self.name, type(exc).__name__)
            raise ServiceUnavailableError(
                f"The guardrail '{self.name}' could not be applied. Try again shortly.",
                code="guardrail_unavailable",
                retry_after=1,
            ) from None
        return result

    async def check_input(self, body: dict[str, Any], ctx: RequestContext) -> str:
        if not self.spec.input:
            return "skipped"
        slots = _text_slots(body)
        if not slots:
            return "passed"
        result = await self._apply("INPUT", [slot.get() for slot in slots])
        if result.get("action") != "GUARDRAIL_INTERVENED":
            return "passed"
        outputs = _outputs(result)
        if not _blocked(result) and len(outputs) == len(slots):
            for slot, text in zip(slots, outputs, strict=True):
                slot.put(text)
            return "masked"
        message = outputs[0] if outputs and outputs[0] else "Your request was blocked by a guardrail."
        raise ContentPolicyViolation(message, param="messages")

    async def check_output(self, response: dict[str, Any], ctx: RequestContext) -> str:
        choices = [c for c in response.get("choices") or [] if isinstance((c.get("message") or {}).get("content"), str)]
        if not choices:
            return "passed"
        result = await self._apply("OUTPUT", [c["message"]["content"] for c in choices])
        if result.get("action") != "GUARDRAIL_INTERVENED":
            return "passed"
        outputs = _outputs(result)
        for index, choice in enumerate(choices):
            choice["message"]["content"] = outputs[index] if index < len(outputs) else (outputs[:1] or [""])[0]
            if _blocked(result):
                choice["finish_reason"] = "content_filter"
        return "blocked" if _blocked(result) else "masked"


class _Slot:
    """One text in the messages: where it lives, so masked text can be put back in place."""

    def __init__(self, holder: dict[str, Any], field: str) -> None:
        self.holder = holder
        self.field = field

    def get(self) -> str:
        return str(self.holder[self.field])

    def put(self, text: str) -> None:
        self.holder[self.field] = text


def _text_slots(body: dict[str, Any]) -> list[_Slot]:
    slots: list[_Slot] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str) and content:
            slots.append(_Slot(message, "content"))
        elif isinstance(content, list):
            slots.extend(
                _Slot(part, "text")
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]
            )
    return slots
