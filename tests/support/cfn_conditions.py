"""What CloudFormation would deploy from a (translated) template for given parameter values.

Evaluates the template's Conditions (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``,
``Ref`` to parameters, ``Fn::Join`` of parameters), drops resources and outputs whose condition is false,
and resolves ``Fn::If`` (with ``AWS::NoValue``) everywhere else. Other intrinsics are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NO_VALUE = {"Ref": "AWS::NoValue"}
_DROP = object()


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each parameter's value: the override, else its default (lists split as CloudFormation does)."""
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        raw = overrides.get(name, spec.get("Default"))
        if raw is None:
            continue
        is_list = spec.get("Type") == "CommaDelimitedList" or str(spec.get("Type", "")).startswith("List<")
        values[name] = [part.strip() for part in str(raw).split(",")] if is_list else raw
    return values


class Conditions:
    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        self._definitions = template.get("Conditions", {})
        self._parameters = parameters
        self._values: dict[str, bool] = {}

    def __getitem__(self, name: str) -> bool:
        if name not in self._values:
            self._values[name] = bool(self._evaluate(self._definitions[name]))
        return self._values[name]

    def _evaluate(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (function, argument), *_ = node.items()
            if function == "Ref":
                return self._parameters[argument]
            if function == "Condition":
                return self[argument]
            if function == "Fn::Equals":
                left, right = (self._evaluate(part) for part in argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._evaluate(argument[0])
            if function == "Fn::And":
                return all(self._evaluate(part) for part in argument)
            if function == "Fn::Or":
                return any(self._evaluate(part) for part in argument)
            if function == "Fn::Join":
                separator, parts = argument
                parts = self._evaluate(parts)
                return separator.join(str(self._evaluate(part)) for part in parts)
        if isinstance(node, list):
            return [self._evaluate(part) for part in node]
        return node

    def resolve(self, node: Any) -> Any:
        """``node`` with every ``Fn::If`` decided and ``AWS::NoValue`` removed."""
        resolved = self._resolve(node)
        return None if resolved is _DROP else resolved

    def _resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and "Fn::If" in node:
                name, when_true, when_false = node["Fn::If"]
                return self._resolve(when_true if self[name] else when_false)
            if node == NO_VALUE:
                return _DROP
            out = {}
            for key, value in node.items():
                resolved = self._resolve(value)
                if resolved is not _DROP:
                    out[key] = resolved
            return out
        if isinstance(node, list):
            return [item for item in (self._resolve(value) for value in node) if item is not _DROP]
        return node


def deployed(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """The resources and outputs CloudFormation would create for ``overrides``, intrinsics decided."""
    conditions = Conditions(template, parameter_values(template, overrides))

    def kept(section: str) -> dict[str, Any]:
        entries = template.get(section, {})
        return {
            name: conditions.resolve({k: v for k, v in entry.items() if k != "Condition"})
            for name, entry in entries.items()
            if "Condition" not in entry or conditions[entry["Condition"]]
        }

    return {"Resources": kept("Resources"), "Outputs": kept("Outputs")}
