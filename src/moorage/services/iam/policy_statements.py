"""A compiled policy: its statements (effect, actions, resources, principals, conditions) ready
for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .policy_conditions import _Condition, _split_operator
from .policy_matching import _DIRECT_MATCH, _NO_MATCH, _Actions, _as_text, _Caller, _Principals, _Template

# --------------------------------------------------------------------------- statements and policies


class _Statement:
    __slots__ = (
        "sid", "deny", "actions", "not_action", "resources", "not_resource",
        "principals", "not_principal", "conditions",
    )

    def __init__(self, raw: dict, variables: bool):
        self.sid = raw.get("Sid")
        self.deny = raw["Effect"] == "Deny"
        self.not_action = "NotAction" in raw
        self.actions = _Actions(_as_list(raw.get("NotAction" if self.not_action else "Action")))
        self.not_resource = "NotResource" in raw
        resources = raw.get("NotResource" if self.not_resource else "Resource")
        self.resources = (
            None if resources is None
            else tuple(_Template(r, variables, arn=True) for r in _as_list(resources))
        )
        self.not_principal = "NotPrincipal" in raw
        principal = raw.get("NotPrincipal" if self.not_principal else "Principal")
        self.principals = None if principal is None else _Principals(principal)
        self.conditions = tuple(
            _Condition(op, key, [_as_text(v) for v in _as_list(values)], variables)
            for op, block in (raw.get("Condition") or {}).items()
            if _split_operator(op) is not None
            for key, values in block.items()
        )

    def principal_match(self, caller: _Caller) -> int:
        if self.principals is None:
            return _NO_MATCH
        level = self.principals.match(caller)
        if self.not_principal:
            return _DIRECT_MATCH if level == _NO_MATCH else _NO_MATCH
        return level

    def admits(self, action: str) -> bool:
        """Whether Action (or NotAction) lets this statement apply to the (lowercased) action."""
        return self.actions(action) != self.not_action

    def applies(self, action: str, resource: str, context: dict) -> bool:
        if self.actions(action) == self.not_action:
            return False
        return self.applies_to(resource, context)

    def applies_to(self, resource: str, context: dict) -> bool:
        """The Resource/NotResource and Condition test, for a statement that admits the action."""
        if self.resources is not None:
            hit = any(r.matches(resource, context) for r in self.resources)
            if hit == self.not_resource:
                return False
        for condition in self.conditions:
            if not condition.holds(context):
                return False
        return True


@dataclass(frozen=True, eq=False)
class Policy:
    """A validated, compiled policy document."""

    kind: str
    version: str
    document: dict
    statements: tuple[_Statement, ...]
    allows: tuple[_Statement, ...] = field(repr=False)
    denies: tuple[_Statement, ...] = field(repr=False)
    # (denies, allows) whose Action/NotAction admit an action, by lowercased action: which
    # statements can apply never depends on anything else, so it is worked out once per action.
    _by_action: dict = field(default_factory=dict, repr=False, compare=False)

    def candidates(self, action: str) -> tuple[tuple[_Statement, ...], tuple[_Statement, ...]]:
        found = self._by_action.get(action)
        if found is None:
            found = (
                tuple(s for s in self.denies if s.admits(action)),
                tuple(s for s in self.allows if s.admits(action)),
            )
            if len(self._by_action) < 1024:
                self._by_action[action] = found
        return found

    def principals(self) -> list[tuple[str, str]]:
        """(type, value) of every Principal/NotPrincipal entry, e.g. ("AWS", "arn:aws:iam::...")."""
        found: list[tuple[str, str]] = []
        for statement in _statements_of(self.document):
            for key in ("Principal", "NotPrincipal"):
                element = statement.get(key)
                if element == "*":
                    found.append(("AWS", "*"))
                elif isinstance(element, dict):
                    found.extend((kind, v) for kind, values in element.items() for v in _as_list(values))
        return found


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statements_of(document: dict) -> list:
    statement = document.get("Statement")
    return [statement] if isinstance(statement, dict) else list(statement or [])
