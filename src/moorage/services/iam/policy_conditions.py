"""IAM condition operators (String*, Numeric*, Date*, Bool, Binary, IpAddress, Arn*, Null, with
IfExists and ForAnyValue/ForAllValues): each compiled once, when its document is parsed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
from datetime import datetime, timedelta, timezone
from typing import Callable

from .policy_language import _EPOCH, _ISO_DATE, _NUMBER
from .policy_matching import AMBIGUOUS, _Template

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
        if present is AMBIGUOUS:  # present, but no value of it can be told: only negations hold
            return self.family == "null" and "false" in self.null_values or (self.family != "null" and self.negated)
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
