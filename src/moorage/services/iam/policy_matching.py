"""Matching a request against a policy's elements: the request (AuthRequest and its context),
ARN-aware glob patterns with policy variables (compiled per distinct substitution and cached),
action sets and principals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from .policy_language import _ACCOUNT_ID, _VARIABLE, _VARIABLE_BODY

# --------------------------------------------------------------------------- requests


@dataclass
class AuthRequest:
    """One authorisation question. Context keys are case-insensitive, as IAM treats them."""

    principal_arn: str
    action: str
    resource: str
    context: dict[str, str | list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._action = self.action.lower()
        context = self.context
        self._context = context if isinstance(context, NormalisedContext) else _normalise_context(context)


class NormalisedContext(dict):
    """A request context already normalised (lowercase key names, text values): built once with
    normalised() and extended per resource with extend(), so a call on several resources pays once."""

    def extend(self, extra: dict) -> "NormalisedContext":
        if not extra:
            return self
        merged = NormalisedContext(self)
        for key, value in _normalise_context(extra).items():
            if key in merged and merged[key] != value:
                value = AMBIGUOUS
            merged[key] = value
        return merged


def normalised(context: dict) -> NormalisedContext:
    return NormalisedContext(_normalise_context(context))


class _Ambiguous(tuple):
    """The value of a context key given twice with different values under names that differ only in
    case (an EC2 resource tagged both Env and env): IAM's condition key names are case-insensitive,
    and AWS says such a key matches "either TagKey1 or tagkey1, but not both". No operator finds a
    value in it, so only negated operators hold, and a policy variable naming it has no value."""

    __slots__ = ()


AMBIGUOUS = _Ambiguous()


def _normalise_context(context: dict) -> dict[str, str | tuple[str, ...]]:
    normalised: dict[str, str | tuple[str, ...]] = {}
    for key, value in context.items():
        kind = type(value)
        if kind is str:
            text: str | tuple[str, ...] = value
        elif kind is bool:
            text = "true" if value else "false"
        elif isinstance(value, _Ambiguous):
            normalised[key.lower()] = AMBIGUOUS
            continue
        elif isinstance(value, (list, tuple, set, frozenset)):
            text = tuple(_as_text(v) for v in value)
        elif value is not None:
            text = _as_text(value)
        else:
            continue
        name = key.lower()
        if name in normalised and normalised[name] != text:
            text = AMBIGUOUS
        normalised[name] = text
    return normalised


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- patterns


def _glob_regex(segments: Iterable[tuple[str, bool]], arn: bool) -> str:
    """Regex for (text, wildcards-active) segments. ARN-aware: * and ? stay inside one of the
    colon-separated fields, except in the last field the pattern has (at most the sixth)."""
    segments = list(segments)
    last_field = min(sum(text.count(":") for text, _ in segments), 5) if arn else 0
    colons, out = 0, []
    for text, wild in segments:
        for ch in text:
            if ch == ":":
                colons += 1
                out.append(":")
            elif wild and ch in "*?":
                within_field = arn and colons < last_field
                out.append(("[^:]" if within_field else ".") + ("*" if ch == "*" else ""))
            else:
                out.append(re.escape(ch))
    return "".join(out)


@lru_cache(maxsize=8192)
def _compile(segments: tuple[tuple[str, bool], ...], arn: bool, ignore_case: bool) -> re.Pattern:
    return re.compile(_glob_regex(segments, arn), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


class _Template:
    """A policy string, possibly holding ${...} variables resolved from the request context."""

    __slots__ = ("text", "parts", "regex", "arn", "ignore_case", "everything")

    def __init__(self, text: str, variables: bool, *, arn: bool = False, ignore_case: bool = False):
        self.text, self.arn, self.ignore_case = text, arn, ignore_case
        self.everything = text == "*"
        # parts: literal text (wildcards active) or (key, default) for a variable
        self.parts: list[str | tuple[str, str | None]] | None = None
        if variables and "${" in text:
            self.parts = _split_variables(text)
        self.regex = None if self.parts else _compile(((text, True),), arn, ignore_case)

    def resolve(self, context: dict) -> tuple[tuple[str, bool], ...] | None:
        """Segments with variables substituted (their values never act as wildcards);
        None when a variable has no value and no default."""
        if self.parts is None:
            return ((self.text, True),)
        segments = []
        for part in self.parts:
            if isinstance(part, str):
                segments.append((part, True))
                continue
            key, default = part
            if key in ("*", "?", "$"):
                segments.append((key, False))
                continue
            value = context.get(key.lower())
            if value is AMBIGUOUS:
                value = None
            elif isinstance(value, tuple):
                value = value[0] if len(value) == 1 else None
            if value is None:
                value = default
            if value is None:
                return None
            segments.append((value, False))
        return tuple(segments)

    def literal(self, context: dict) -> str | None:
        segments = self.resolve(context)
        return None if segments is None else "".join(text for text, _ in segments)

    def matches(self, value: str, context: dict) -> bool:
        if self.everything:
            return True
        regex = self.regex
        if regex is None:
            segments = self.resolve(context)
            if segments is None:
                return False
            regex = _compile(segments, self.arn, self.ignore_case)
        return regex.fullmatch(value) is not None


def _split_variables(text: str) -> list[str | tuple[str, str | None]]:
    parts: list[str | tuple[str, str | None]] = []
    position = 0
    for found in _VARIABLE.finditer(text):
        if found.start() > position:
            parts.append(text[position:found.start()])
        body = _VARIABLE_BODY.fullmatch(found.group(1))
        if body is None:  # not a variable IAM understands: keep it as text
            parts.append(found.group(0))
        else:
            parts.append((body.group(1), body.group(2)))
        position = found.end()
    if position < len(text):
        parts.append(text[position:])
    return parts


class _Actions:
    """Action names, case-insensitive: a set for plain names, one regex for the wildcards."""

    __slots__ = ("everything", "names", "regex")

    def __init__(self, patterns: list[str]):
        lowered = [p.lower() for p in patterns]
        self.everything = "*" in lowered
        self.names = frozenset(p for p in lowered if "*" not in p and "?" not in p)
        wild = [p for p in lowered if p not in self.names]
        self.regex = (
            re.compile("|".join(f"(?:{_glob_regex([(p, True)], arn=False)})" for p in wild), re.DOTALL)
            if wild else None
        )

    def __call__(self, action: str) -> bool:
        return (
            self.everything
            or action in self.names
            or (self.regex is not None and self.regex.fullmatch(action) is not None)
        )


# --------------------------------------------------------------------------- principals

_NO_MATCH, _ACCOUNT_MATCH, _DIRECT_MATCH = 0, 1, 2


@dataclass(frozen=True)
class _Caller:
    kind: str  # aws, service, federated, canonicaluser
    names: frozenset[str]
    account: str | None


class _Principals:
    __slots__ = ("everyone", "arns", "accounts", "services", "federated", "canonical")

    def __init__(self, element: Any):
        self.everyone = element == "*"
        self.arns: set[str] = set()
        self.accounts: set[str] = set()
        self.services: set[str] = set()
        self.federated: set[str] = set()
        self.canonical: set[str] = set()
        if self.everyone:
            return
        for kind, values in element.items():
            for value in [values] if isinstance(values, str) else values:
                if kind == "AWS":
                    if value == "*":
                        self.everyone = True
                    elif _ACCOUNT_ID.fullmatch(value):
                        self.accounts.add(value)
                    elif value.endswith(":root"):
                        self.accounts.add(value.split(":")[4])
                    else:
                        self.arns.add(value)
                elif kind == "Service":
                    self.services.add(value.lower())
                elif kind == "Federated":
                    self.federated.add(value)
                else:
                    self.canonical.add(value)

    def match(self, caller: _Caller) -> int:
        if self.everyone:
            return _DIRECT_MATCH
        if caller.kind == "aws":
            if not self.arns.isdisjoint(caller.names):
                return _DIRECT_MATCH
            return _ACCOUNT_MATCH if caller.account in self.accounts else _NO_MATCH
        pool = {"service": self.services, "federated": self.federated}.get(caller.kind, self.canonical)
        return _DIRECT_MATCH if not pool.isdisjoint(caller.names) else _NO_MATCH


def _aws_caller(arns: Iterable[str], context: dict) -> _Caller:
    names = frozenset(a for a in arns if a)
    account = context.get("aws:principalaccount")
    if not isinstance(account, str):
        account = next((a.split(":")[4] for a in names if a.count(":") >= 5), None)
    return _Caller("aws", names, account)


def _request_caller(request: AuthRequest) -> _Caller:
    arn = request.principal_arn
    if arn.startswith("arn:"):
        role_arn = request._context.get("aws:principalarn")
        return _aws_caller((arn, role_arn if isinstance(role_arn, str) else ""), request._context)
    return _Caller("service", frozenset({arn.lower()}), None)
