"""IAM policy documents: IAM's validation (with its MalformedPolicyDocument messages) and its
single-account evaluation logic (explicit deny > allow > implicit deny).

Everything a request needs is compiled once, when a document is parsed: action sets and
regexes, ARN-aware resource patterns, condition values (numbers, dates, networks, globs).
Patterns holding policy variables (${aws:username}) are compiled per distinct substitution
and cached. Pure standard library.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import operator
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Iterable

# Size quotas, counted in characters with whitespace removed (IAM does not count whitespace).
MANAGED_POLICY_MAX_CHARS = 6144
USER_INLINE_POLICIES_MAX_CHARS = 2048  # all inline policies of one user together
GROUP_INLINE_POLICIES_MAX_CHARS = 5120
ROLE_INLINE_POLICIES_MAX_CHARS = 10240
TRUST_POLICY_MAX_CHARS = 2048  # ACLSizePerRole, the default quota

CURRENT_VERSION = "2012-10-17"
LEGACY_VERSION = "2008-10-17"  # policy variables are plain text under this version

IDENTITY, TRUST, RESOURCE = "identity", "trust", "resource"

SYNTAX_ERROR = "Syntax errors in policy."
LEGACY_ERROR = "The policy failed legacy parsing"
VERSION_ERROR = "Policy document must be version 2012-10-17 or greater."
PRINCIPAL_NOT_ALLOWED = "Policy document should not specify a principal."
TRUST_WITHOUT_PRINCIPAL = (
    "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
    "The passed in policy has a statement with no principals!"
)
RESOURCE_POLICY_WITHOUT_PRINCIPAL = "Missing required field Principal"
TRUST_ACTIONS_ONLY = "AssumeRole policy may only specify STS AssumeRole actions."

_TRUST_ACTIONS = frozenset(
    a.lower()
    for a in (
        "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity",
        "sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext",
    )
)
_PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "*"})
_IAM_RESOURCE_PREFIXES = (
    "user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
    "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
    "report/", "access-report/",
)
_FEDERATED_PROVIDERS = frozenset(
    {"cognito-identity.amazonaws.com", "accounts.google.com", "graph.facebook.com", "www.amazon.com"}
)
_VENDOR = re.compile(r"[A-Za-z0-9.\-]+")
_ACCOUNT_ID = re.compile(r"\d{12}")
_AWS_PRINCIPAL_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:(?:iam::(\d{12}):(?:root|(?:user|role)/[\w+=,.@/-]+)"
    r"|sts::(\d{12}):(?:assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+))"
)
_UNIQUE_ID = re.compile(r"A[A-Z0-9]{15,127}")  # what IAM shows once a named principal is deleted
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9.-]*\.(?:amazonaws\.com(?:\.cn)?|amazon\.com)")
_FEDERATED_ARN = re.compile(r"arn:aws(?:-cn|-us-gov)?:iam::\d{12}:(?:oidc-provider|saml-provider)/\S+")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^,\s]+)\s*(?:,\s*'([^']*)'\s*)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EPOCH = re.compile(r"-?\d+")
_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:[Tt](\d{1,2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


class MalformedPolicy(Exception):
    """A document IAM rejects with MalformedPolicyDocument; str() is IAM's message."""


class PolicyTooLarge(Exception):
    """A document over its size quota (IAM answers LimitExceeded); str() is IAM's message."""

    def __init__(self, size: int, limit: int, quota: str = "PolicySize"):
        super().__init__(f"Cannot exceed quota for {quota}: {limit}")
        self.size, self.limit = size, limit


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


def policy_size(document: str) -> int:
    """Characters IAM counts against the size quotas: everything but whitespace."""
    return sum(1 for ch in document if not ch.isspace())


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
        self._context = _normalise_context(self.context)


def _normalise_context(context: dict) -> dict[str, str | tuple[str, ...]]:
    normalised: dict[str, str | tuple[str, ...]] = {}
    for key, value in context.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            normalised[key.lower()] = tuple(_as_text(v) for v in value)
        elif value is not None:
            normalised[key.lower()] = _as_text(value)
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
            if isinstance(value, tuple):
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


# --------------------------------------------------------------------------- conditions

_FAMILIES: dict[str, tuple[str, bool]] = {
    "StringEquals": ("string", False), "StringNotEquals": ("string", True),
    "StringEqualsIgnoreCase": ("string_ic", False), "StringNotEqualsIgnoreCase": ("string_ic", True),
    "StringLike": ("like", False), "StringNotLike": ("like", True),
    "NumericEquals": ("numeric=", False), "NumericNotEquals": ("numeric=", True),
    "NumericLessThan": ("numeric<", False), "NumericLessThanEquals": ("numeric<=", False),
    "NumericGreaterThan": ("numeric>", False), "NumericGreaterThanEquals": ("numeric>=", False),
    "DateEquals": ("date=", False), "DateNotEquals": ("date=", True),
    "DateLessThan": ("date<", False), "DateLessThanEquals": ("date<=", False),
    "DateGreaterThan": ("date>", False), "DateGreaterThanEquals": ("date>=", False),
    "Bool": ("bool", False), "BinaryEquals": ("binary", False),
    "IpAddress": ("ip", False), "NotIpAddress": ("ip", True),
    "ArnEquals": ("arn", False), "ArnLike": ("arn", False),
    "ArnNotEquals": ("arn", True), "ArnNotLike": ("arn", True),
    "Null": ("null", False),
}
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_FOR_ANY, _FOR_ALL = "ForAnyValue:", "ForAllValues:"


class _LegacyParseError(Exception):
    pass


def _split_operator(name: str) -> tuple[str | None, str, bool] | None:
    """(set qualifier, family base name, IfExists) or None for an operator IAM doesn't know."""
    qualifier = None
    for prefix in (_FOR_ANY, _FOR_ALL):
        if name.startswith(prefix):
            qualifier, name = prefix, name[len(prefix):]
            break
    if_exists = name.endswith("IfExists") and name != "IfExists"
    if if_exists:
        name = name[: -len("IfExists")]
    if name not in _FAMILIES or (if_exists and name == "Null"):
        return None
    return qualifier, name, if_exists


def _parse_number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text.strip()) else None


def _parse_date(text: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 date/time or an epoch number, as IAM reads them."""
    text = text.strip()
    if _EPOCH.fullmatch(text):
        value = int(text)
        return float(value) if -(2**63) <= value < 2**63 else None
    found = _ISO_DATE.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        offset = timedelta(0)
        if zone and zone not in "Zz":
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            if zone[0] == "-":
                offset = -offset
        moment = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
            int(second or 0), int((fraction or "0")[:6].ljust(6, "0")), tzinfo=timezone(offset),
        )
    except ValueError:
        return None
    return moment.timestamp()


def _decode_binary(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


_ValueTest = Callable[[str, dict], bool]


def _value_test(family: str, raw: str, variables: bool) -> _ValueTest:
    """A test of one request value against one policy value; bad policy values fail legacy parsing."""
    if family == "string":
        template = _Template(raw, variables)
        if template.parts is None:
            return lambda value, context: value == raw
        return lambda value, context: value == template.literal(context)
    if family == "string_ic":
        template = _Template(raw, variables)
        folded = raw.casefold()
        if template.parts is None:
            return lambda value, context: value.casefold() == folded
        return lambda value, context: value.casefold() == (template.literal(context) or "\0").casefold()
    if family in ("like", "arn"):
        template = _Template(raw, variables, arn=family == "arn")
        return lambda value, context: template.matches(value, context)
    if family.startswith("numeric"):
        expected, compare = _parse_number(raw), _COMPARISONS[family[len("numeric"):]]
        if expected is None:
            raise _LegacyParseError(raw)

        def numeric(value: str, context: dict) -> bool:
            actual = _parse_number(value)
            return actual is not None and compare(actual, expected)

        return numeric
    if family.startswith("date"):
        expected, compare = _parse_date(raw), _COMPARISONS[family[len("date"):]]
        if expected is None:
            raise _LegacyParseError(raw)

        def date(value: str, context: dict) -> bool:
            actual = _parse_date(value)
            return actual is not None and compare(actual, expected)

        return date
    if family == "bool":
        expected_text = raw.lower()
        return lambda value, context: value.lower() == expected_text
    if family == "binary":
        expected_bytes = _decode_binary(raw)
        return lambda value, context: _decode_binary(value) == expected_bytes
    if family == "ip":
        try:
            network = ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError:
            raise _LegacyParseError(raw) from None

        def address(value: str, context: dict) -> bool:
            try:
                return ipaddress.ip_address(value.strip()) in network
            except ValueError:
                return False

        return address
    raise AssertionError(family)


class _Condition:
    """One key under one operator: policy values ORed; conditions of a statement are ANDed."""

    __slots__ = ("key", "family", "negated", "qualifier", "if_exists", "tests", "null_values")

    def __init__(self, operator_name: str, key: str, values: list[str], variables: bool):
        qualifier, base, self.if_exists = _split_operator(operator_name)  # type: ignore[misc]
        self.qualifier = qualifier
        self.family, self.negated = _FAMILIES[base]
        self.key = key.lower()
        self.null_values = tuple(v.lower() for v in values) if self.family == "null" else ()
        self.tests = () if self.family == "null" else tuple(_value_test(self.family, v, variables) for v in values)

    def holds(self, context: dict) -> bool:
        present = context.get(self.key)
        values = () if present is None else (present,) if isinstance(present, str) else present
        if self.family == "null":
            return any((expected == "true") == (not values) for expected in self.null_values)
        if not values:
            if self.qualifier == _FOR_ALL or self.if_exists:
                return True
            # a missing key never matches, so only a negated operator holds
            return self.negated and self.qualifier is None
        tests = self.tests
        if self.qualifier is None:
            matched = any(test(value, context) for value in values for test in tests)
            return matched != self.negated
        one = (lambda v: any(test(v, context) for test in tests) != self.negated)
        if self.qualifier == _FOR_ALL:
            return all(one(v) for v in values)
        return any(one(v) for v in values)


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

    def applies(self, action: str, resource: str, context: dict) -> bool:
        if self.actions(action) == self.not_action:
            return False
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


# --------------------------------------------------------------------------- validation


def parse_policy(
    document: str | dict, kind: str = IDENTITY, *, managed: bool = False, max_size: int | None = None
) -> Policy:
    """Validate a policy document as IAM does and compile it for evaluate().

    kind: "identity" (no Principal), "trust" (a role's trust policy) or "resource".
    managed: a managed policy (Version 2012-10-17 required, 6,144-character quota).
    max_size: the quota to enforce; defaults to the managed or trust policy quota, none otherwise
    (inline quotas count all of one identity's inline policies: see policy_size()).
    Raises MalformedPolicy or PolicyTooLarge.
    """
    if kind not in (IDENTITY, TRUST, RESOURCE):
        raise ValueError(f"unknown policy kind {kind!r}")
    if max_size is None:
        max_size = MANAGED_POLICY_MAX_CHARS if managed else TRUST_POLICY_MAX_CHARS if kind == TRUST else None
    text = document if isinstance(document, str) else json.dumps(document)
    if max_size is not None:
        size = policy_size(text)
        if size > max_size:
            raise PolicyTooLarge(size, max_size, "ACLSizePerRole" if kind == TRUST else "PolicySize")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise MalformedPolicy(SYNTAX_ERROR) from None
    statements = _check_syntax(document, kind)
    version = document.get("Version", LEGACY_VERSION)
    if managed and version != CURRENT_VERSION:
        raise MalformedPolicy(VERSION_ERROR)
    variables = version == CURRENT_VERSION
    resource_error = _check_legacy_parsing(statements)
    _check_statement_ids(statements)
    _check_required_elements(statements, kind)
    if resource_error:
        raise MalformedPolicy(resource_error)
    for statement in statements:
        for action in _as_list(statement.get("Action")) + _as_list(statement.get("NotAction")):
            _check_action(action)
    if kind != IDENTITY:
        _check_principals(statements, kind)
    try:
        compiled = tuple(_Statement(s, variables) for s in statements)
    except _LegacyParseError:
        raise MalformedPolicy(LEGACY_ERROR) from None
    return Policy(
        kind, version, document, compiled,
        allows=tuple(s for s in compiled if not s.deny),
        denies=tuple(s for s in compiled if s.deny),
    )


def _is_text_or_texts(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float))


def _check_syntax(document: Any, kind: str) -> list[dict]:
    def fail() -> MalformedPolicy:
        return MalformedPolicy(SYNTAX_ERROR)

    if not isinstance(document, dict) or not set(document) <= {"Version", "Id", "Statement"}:
        raise fail()
    if "Version" in document and document["Version"] not in (CURRENT_VERSION, LEGACY_VERSION):
        raise fail()
    if "Id" in document and not isinstance(document["Id"], str):
        raise fail()
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements or not all(isinstance(s, dict) for s in statements):
        raise fail()
    if kind == IDENTITY and any("Principal" in s or "NotPrincipal" in s for s in statements):
        raise MalformedPolicy(PRINCIPAL_NOT_ALLOWED)
    allowed = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
    if kind != IDENTITY:
        allowed |= {"Principal", "NotPrincipal"}
    for statement in statements:
        if kind == TRUST:
            for prohibited in ("Resource", "NotResource"):
                if prohibited in statement:
                    raise MalformedPolicy(f"Has prohibited field {prohibited}")
        if not set(statement) <= allowed:
            raise fail()
        for first, second in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
            if first in statement and second in statement:
                raise fail()
        effect = statement.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise fail()
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in statement and not _is_text_or_texts(statement[key]):
                raise fail()
        if "Sid" in statement and not isinstance(statement["Sid"], str):
            raise fail()
        for key in ("Principal", "NotPrincipal"):
            if key in statement and not _principal_shape_ok(statement[key]):
                raise fail()
        condition = statement.get("Condition", {})
        if not isinstance(condition, dict):
            raise fail()
        for operator_name, block in condition.items():
            if not isinstance(block, dict):
                raise fail()
            for values in block.values():
                if not (_is_scalar(values) or (isinstance(values, list) and all(_is_scalar(v) for v in values))):
                    raise fail()
            if block and _split_operator(operator_name) is None:
                raise fail()
    return statements


def _principal_shape_ok(element: Any) -> bool:
    if element == "*":
        return True
    return (
        isinstance(element, dict)
        and bool(element)
        and set(element) <= {"AWS", "Service", "Federated", "CanonicalUser"}
        and all(_is_text_or_texts(v) for v in element.values())
    )


def _check_legacy_parsing(statements: list[dict]) -> str | None:
    """Raise for what fails IAM's legacy parser; return the first resource format message."""
    first_resource_error = None
    for statement in statements:
        if statement["Effect"] not in ("Allow", "Deny"):  # the legacy parser is case-sensitive
            raise MalformedPolicy(LEGACY_ERROR)
        for operator_name, block in (statement.get("Condition") or {}).items():
            split = _split_operator(operator_name)
            if split is None:
                continue
            family = _FAMILIES[split[1]][0]
            if family.startswith(("date", "numeric")) or family == "ip":
                for values in block.values():
                    for value in _as_list(values):
                        try:
                            _value_test(family, _as_text(value), variables=False)
                        except _LegacyParseError:
                            raise MalformedPolicy(LEGACY_ERROR) from None
        for key in ("Resource", "NotResource"):
            for resource in _as_list(statement.get(key)):
                legacy_failure, message = _check_resource(resource)
                if legacy_failure:
                    raise MalformedPolicy(LEGACY_ERROR)
                first_resource_error = first_resource_error or message
    return first_resource_error


def _check_resource(resource: str) -> tuple[bool, str | None]:
    """(fails legacy parsing, resource format message) for one Resource entry."""
    if resource == "*":
        return False, None
    if ":" not in resource:
        return False, f'Resource {resource} must be in ARN format or "*".'
    fields = resource.split(":")
    partition = fields[1]
    if partition not in _PARTITIONS:
        rest = fields[2:]
        shown = [
            rest[0] if rest and (rest[0] or len(rest) > 1) else "*",
            rest[1] if len(rest) > 1 else "*",
            rest[2] if len(rest) > 2 else "*",
            ":".join(rest[3:]) if len(rest) > 3 else "*",
        ]
        return False, f'Partition "{partition}" is not valid for resource "arn:{partition}:{":".join(shown)}".'
    if len(fields) == 2:
        return False, "Resource vendor must be fully qualified and cannot contain regexes."
    if len(fields) in (4, 5):
        return True, None
    if len(fields) == 3:
        return False, None
    service, region, path = fields[2], fields[3], ":".join(fields[5:])
    if not service:
        return True, None
    if service == "iam" and region:
        return False, f"IAM resource {resource} cannot contain region information."
    if service == "s3" and region:
        return False, f"Resource {resource} can not contain region information."
    if service == "iam" and path != "*" and not path.startswith(_IAM_RESOURCE_PREFIXES):
        return False, 'IAM resource path must either be "*" or start with ' + ", ".join(_IAM_RESOURCE_PREFIXES) + "."
    return False, None


def _check_statement_ids(statements: list[dict]) -> None:
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid:
            if sid in seen:
                raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
            seen.add(sid)


def _check_required_elements(statements: list[dict], kind: str) -> None:
    def present(statement: dict, key: str) -> bool:  # "" is present (and then malformed); [] is not
        return key in statement and statement[key] != []

    for statement in statements:
        if not (present(statement, "Action") or present(statement, "NotAction")):
            raise MalformedPolicy("Policy statement must contain actions.")
    if kind == TRUST:
        return
    for statement in statements:
        if not (present(statement, "Resource") or present(statement, "NotResource")):
            raise MalformedPolicy("Policy statement must contain resources.")


def _check_action(action: str) -> None:
    if action == "*":
        return
    fields = action.split(":")
    if len(fields) == 1:
        raise MalformedPolicy("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if len(fields) > 2:
        raise MalformedPolicy("Actions/Condition can contain only one colon.")
    vendor = fields[0]
    if vendor != "*" and not _VENDOR.fullmatch(vendor):
        raise MalformedPolicy(f"Vendor {vendor} is not valid")


def _check_principals(statements: list[dict], kind: str) -> None:
    for statement in statements:
        element = statement.get("Principal", statement.get("NotPrincipal"))
        if element is None:
            raise MalformedPolicy(TRUST_WITHOUT_PRINCIPAL if kind == TRUST else RESOURCE_POLICY_WITHOUT_PRINCIPAL)
        if kind == TRUST:
            for action in _as_list(statement.get("Action")) + _as_list(statement.get("NotAction")):
                if not _is_trust_action(action.lower()):
                    raise MalformedPolicy(TRUST_ACTIONS_ONLY)
        if element == "*":
            continue
        for principal_type, values in element.items():
            for value in _as_list(values):
                if not _principal_value_ok(principal_type, value):
                    raise MalformedPolicy(f'Invalid principal in policy: "{principal_type.upper()}":"{value}"')


def _is_trust_action(action: str) -> bool:
    if action in _TRUST_ACTIONS:
        return True
    if "*" in action or "?" in action:  # sts:AssumeRole*, sts:*, *
        regex = _compile(((action, True),), False, False)
        return any(regex.fullmatch(a) for a in _TRUST_ACTIONS)
    return False


def _principal_value_ok(principal_type: str, value: str) -> bool:
    if principal_type == "AWS":
        return (
            value == "*"
            or _ACCOUNT_ID.fullmatch(value) is not None
            or _AWS_PRINCIPAL_ARN.fullmatch(value) is not None
            or _UNIQUE_ID.fullmatch(value) is not None
        )
    if principal_type == "Service":
        return _SERVICE_PRINCIPAL.fullmatch(value) is not None
    if principal_type == "Federated":
        return value in _FEDERATED_PROVIDERS or _FEDERATED_ARN.fullmatch(value) is not None
    return bool(value)  # CanonicalUser ids are opaque


# --------------------------------------------------------------------------- evaluation


def evaluate(request: AuthRequest, identity_policies: list[Policy], resource_policy: Policy | None = None) -> Decision:
    """IAM's single-account decision: an explicit deny in any policy wins, then an allow from
    an identity-based policy or from a resource-based policy naming the principal, else an
    implicit deny. A resource policy naming only the account delegates to identity policies."""
    return explain(request, identity_policies, resource_policy)[0]


def explain(
    request: AuthRequest, identity_policies: list[Policy], resource_policy: Policy | None = None
) -> tuple[Decision, str]:
    """evaluate() plus which kind of policy decided a denial ("identity-based" or
    "resource-based"), for denial_message()."""
    action, resource, context = request._action, request.resource, request._context
    for policy in identity_policies:
        for statement in policy.denies:
            if statement.applies(action, resource, context):
                return Decision.EXPLICIT_DENY, "identity-based"
    caller = _request_caller(request) if resource_policy is not None else None
    if resource_policy is not None:
        for statement in resource_policy.denies:
            if statement.principal_match(caller) and statement.applies(action, resource, context):
                return Decision.EXPLICIT_DENY, "resource-based"
    for policy in identity_policies:
        for statement in policy.allows:
            if statement.applies(action, resource, context):
                return Decision.ALLOW, ""
    if resource_policy is not None:
        for statement in resource_policy.allows:
            if statement.principal_match(caller) == _DIRECT_MATCH and statement.applies(action, resource, context):
                return Decision.ALLOW, ""
    return Decision.IMPLICIT_DENY, "identity-based"


def trust_allows(trust: Policy, principal: dict, action: str, context: dict) -> bool:
    """Whether a role's trust policy lets `principal` ({"AWS": arn} / {"Service": name} /
    {"Federated": provider arn}) perform `action` (sts:AssumeRole...). An account id or
    arn:aws:iam::<account>:root in the policy admits every principal of that account: whether
    that principal may call sts:AssumeRole at all is the identity-side check, the caller's job.
    For a role session, pass the role's ARN as aws:PrincipalArn in the context."""
    context = _normalise_context(context)
    (principal_type, value), = principal.items()
    kind = principal_type.lower()
    if kind == "aws":
        role_arn = context.get("aws:principalarn")
        caller = _aws_caller((value, role_arn if isinstance(role_arn, str) else ""), context)
    else:
        caller = _Caller(kind, frozenset({value.lower() if kind == "service" else value}), None)
    action = action.lower()
    allowed = False
    for statement in trust.statements:
        if statement.principal_match(caller) and statement.applies(action, "*", context):
            if statement.deny:
                return False
            allowed = True
    return allowed


def denial_message(request: AuthRequest, decision: Decision, policy_type: str = "identity-based") -> str:
    """AccessDeniedException's message, as AWS words it."""
    head = (
        f"User: {request.principal_arn} is not authorized to perform: {request.action} "
        f"on resource: {request.resource}"
    )
    article = "an" if policy_type[:1] in "aeiou" else "a"
    if decision is Decision.EXPLICIT_DENY:
        return f"{head} with an explicit deny in {article} {policy_type} policy"
    if decision is Decision.IMPLICIT_DENY:
        return f"{head} because no {policy_type} policy allows the {request.action} action"
    raise ValueError("an allowed request has no denial message")
