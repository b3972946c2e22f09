"""Vertex's streamed function-call arguments, put back together into whole calls.

With ``streamFunctionCallArguments`` Vertex sends one call over several parts: the first names the
function (``willContinue: true``), the next ones carry ``partialArgs`` (``{jsonPath: "$.city",
stringValue: "Par", willContinue: true}``: a string may itself arrive in pieces), and the part without
``willContinue`` ends the call. An OpenAI client must never see a tool call without a name or with half
its arguments, so the mapper holds the pieces here and emits the call once it is whole (as Gemini's own
calls always come).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_VALUE_KEYS = ("stringValue", "numberValue", "boolValue", "nullValue")


def _path(json_path: str) -> list[str | int]:
    """``$.a.b[0]['c d']`` -> ``["a", "b", 0, "c d"]`` (the subset of RFC 9535 the API uses)."""
    steps: list[str | int] = []
    rest = json_path[1:] if json_path.startswith("$") else json_path
    position = 0
    while position < len(rest):
        match = _STEP.match(rest, position)
        if match is None:
            raise ValueError(f"unsupported JSON path {json_path!r}")
        name, number, single, double = match.groups()
        steps.append(int(number) if number is not None else (name or single or double or ""))
        position = match.end()
    return steps


def _set(root: dict[str, Any], steps: list[str | int], value: Any, *, append: bool) -> None:
    node: Any = root
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if following is None:
            break
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            node[step] = node[step] if node[step] is not None else empty
            node = node[step]
        else:
            node = node.setdefault(step, empty)
    last = steps[-1] if steps else None
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = node[last] + value if append and isinstance(node[last], str) else value
    elif last is not None:
        node[last] = node[last] + value if append and isinstance(node.get(last), str) else value


@dataclass
class PartialCall:
    """One function call still arriving."""

    name: str = ""
    id: str | None = None
    signature: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    _continuing: set[str] = field(default_factory=set)
    """Paths whose string value said ``willContinue``: the next piece is appended."""

    def add(self, part: dict[str, Any]) -> None:
        call = part["functionCall"]
        if isinstance(call.get("name"), str) and call["name"] and not self.name:
            self.name = call["name"]
        if isinstance(call.get("id"), str) and call["id"]:
            self.id = self.id or call["id"]
        if isinstance(part.get("thoughtSignature"), str):
            self.signature = self.signature or part["thoughtSignature"]
        if isinstance(call.get("args"), dict):
            self.args.update(call["args"])
        for piece in call.get("partialArgs") or []:
            if isinstance(piece, dict) and isinstance(piece.get("jsonPath"), str):
                self._add_piece(piece)

    def _add_piece(self, piece: dict[str, Any]) -> None:
        path = piece["jsonPath"]
        key = next((k for k in _VALUE_KEYS if k in piece), None)
        if key is None:
            return
        value = None if key == "nullValue" else piece[key]
        _set(self.args, _path(path), value, append=key == "stringValue" and path in self._continuing)
        if key == "stringValue" and piece.get("willContinue"):
            self._continuing.add(path)
        else:
            self._continuing.discard(path)

    def as_part(self) -> dict[str, Any]:
        """The whole call, shaped as Gemini sends an unstreamed one."""
        call: dict[str, Any] = {"name": self.name, "args": self.args}
        if self.id:
            call["id"] = self.id
        part: dict[str, Any] = {"functionCall": call}
        if self.signature:
            part["thoughtSignature"] = self.signature
        return part


def is_streamed_piece(part: dict[str, Any]) -> bool:
    call = part.get("functionCall")
    return isinstance(call, dict) and (bool(call.get("willContinue")) or "partialArgs" in call)
