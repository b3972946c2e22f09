"""Write conditions that both tables understand: DynamoDB renders them as a ``ConditionExpression``,
the in-memory table evaluates them on the item it holds.

Built from a few functions and combined with ``&`` and ``|``::

    absent() | at_most("expires_at", now)      # free, or its claim has run out
    equals("owner", owner)                     # still ours
    absent("window_start") | at_most("window_start", floor)

As in DynamoDB, a comparison with an attribute the item does not have is false, and ``absent()`` (no
name) means that there is no item at all.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]


class Placeholders:
    """The ``ExpressionAttributeNames`` and ``ExpressionAttributeValues`` an expression refers to."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        for placeholder, known in self.names.items():
            if known == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder


class Condition(ABC):
    @abstractmethod
    def holds(self, item: Item | None) -> bool:
        """Whether the condition is true of ``item`` (``None``: no item)."""

    @abstractmethod
    def render(self, placeholders: Placeholders) -> str:
        """The condition as a DynamoDB ``ConditionExpression``."""

    def __and__(self, other: Condition) -> Condition:
        return _Combined(self, other, both=True)

    def __or__(self, other: Condition) -> Condition:
        return _Combined(self, other, both=False)


@dataclass(frozen=True)
class _Absent(Condition):
    attribute: str

    def holds(self, item: Item | None) -> bool:
        return item is None or self.attribute not in item

    def render(self, placeholders: Placeholders) -> str:
        return f"attribute_not_exists({placeholders.name(self.attribute)})"


@dataclass(frozen=True)
class _Present(Condition):
    attribute: str

    def holds(self, item: Item | None) -> bool:
        return item is not None and self.attribute in item

    def render(self, placeholders: Placeholders) -> str:
        return f"attribute_exists({placeholders.name(self.attribute)})"


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
}


@dataclass(frozen=True)
class _Compare(Condition):
    attribute: str
    operator: str
    value: Any

    def holds(self, item: Item | None) -> bool:
        if item is None or self.attribute not in item:
            return False
        return _OPERATORS[self.operator](item[self.attribute], self.value)

    def render(self, placeholders: Placeholders) -> str:
        return f"{placeholders.name(self.attribute)} {self.operator} {placeholders.value(self.value)}"


@dataclass(frozen=True)
class _Combined(Condition):
    left: Condition
    right: Condition
    both: bool
    """``True``: AND; ``False``: OR."""

    def holds(self, item: Item | None) -> bool:
        if self.both:
            return self.left.holds(item) and self.right.holds(item)
        return self.left.holds(item) or self.right.holds(item)

    def render(self, placeholders: Placeholders) -> str:
        joint = "AND" if self.both else "OR"
        return f"({self.left.render(placeholders)}) {joint} ({self.right.render(placeholders)})"


def absent(attribute: str = "pk") -> Condition:
    """The item lacks ``attribute``; with the default, there is no item at all."""
    return _Absent(attribute)


def present(attribute: str) -> Condition:
    """The item exists and has ``attribute``."""
    return _Present(attribute)


def equals(attribute: str, value: Any) -> Condition:
    return _Compare(attribute, "=", value)


def below(attribute: str, value: Any) -> Condition:
    return _Compare(attribute, "<", value)


def at_most(attribute: str, value: Any) -> Condition:
    return _Compare(attribute, "<=", value)


def above(attribute: str, value: Any) -> Condition:
    return _Compare(attribute, ">", value)


def all_of(conditions: list[Condition]) -> Condition | None:
    """Every condition at once (``None`` for none)."""
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined
