"""The CloudWatch Logs filter-pattern language (FilterLogEvents, and later metric and subscription
filters): what a pattern means for one message, and a SQL pre-filter the log-event store runs in C.

Three forms, chosen by the first character (docs: "Filter pattern syntax for metric filters,
subscription filters, filter log events, and Live Tail"):
- terms: `ERROR "disk full" ?WARN ?FATAL -DEBUG` (case-sensitive; plain terms AND, `?` terms OR,
  `-` terms excluded; a term with punctuation must be quoted);
- JSON, `{ ... }`: `$.a.b = "x*" && ($.n > 3 || $.ok IS TRUE)`, `$.x IS NULL`, `$.x NOT EXISTS`
  (json_pattern.py);
- space-delimited, `[ ... ]`: `[ip, user, ..., status=4*, size>1000]` (delimited_pattern.py).
Malformed patterns are InvalidParameterException "Invalid filter pattern", as FilterLogEvents says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ...core.errors import AwsError

# What an unquoted term may hold; anything else must be inside double quotes.
TERM_CHARACTERS = re.compile(r"[A-Za-z0-9_\-.:/]+")


class PatternError(ValueError):
    pass


def invalid_pattern(detail: str = "") -> AwsError:
    return AwsError("InvalidParameterException", "Invalid filter pattern" + (f": {detail}" if detail else ""))


@dataclass
class Pattern:
    """A compiled pattern: `matches(message)` is the meaning; `sql` a condition on the column `message`
    that every matching message meets (the store's pre-filter); `exact` when sql alone decides."""

    matches: Callable[[str], bool]
    sql: tuple[str, tuple] = ("", ())
    exact: bool = False
    text: str = field(default="")


def compile_pattern(text: str) -> Pattern:
    """Compile a filter pattern, raising the AwsError FilterLogEvents raises for a malformed one."""
    try:
        return parse(text)
    except PatternError as error:
        raise invalid_pattern(str(error)) from None


def parse(text: str) -> Pattern:
    stripped = text.strip()
    if not stripped:
        return Pattern(lambda message: True, ("", ()), True, text)
    if stripped == '""':
        raise PatternError("Invalid character(s) in term '\"\"'")
    if stripped.startswith("{"):
        from .json_pattern import parse_json_pattern

        if not stripped.endswith("}"):
            raise PatternError("If a filter pattern starts with '{' it must end with '}'")
        return parse_json_pattern(stripped[1:-1], text)
    if stripped.startswith("["):
        from .delimited_pattern import parse_delimited_pattern

        if not stripped.endswith("]"):
            raise PatternError("If a filter pattern starts with '[' it must end with ']'")
        return parse_delimited_pattern(stripped[1:-1], text)
    return parse_terms(stripped, text)


def split_terms(text: str) -> list[tuple[str, str, bool]]:
    """(operator '', '?' or '-', term, quoted) for each whitespace-separated term."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        operator = ""
        if text[i] in "?-" and i + 1 < n and not text[i + 1].isspace():
            operator = text[i]
            i += 1
        if text[i] == '"':
            j = i + 1
            chars = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise PatternError(f"Unterminated quoted term {text[i:]}")
            if not chars:
                raise PatternError("Invalid character(s) in term '\"\"'")
            out.append((operator, "".join(chars), True))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            term = text[i:j]
            if not TERM_CHARACTERS.fullmatch(term):
                raise PatternError(f"Invalid character(s) in term '{operator}{term}'")
            out.append((operator, term, False))
            i = j
    return out


def parse_terms(text: str, original: str) -> Pattern:
    terms = split_terms(text)
    required = [t for op, t, _ in terms if op == ""]
    optional = [t for op, t, _ in terms if op == "?"]
    excluded = [t for op, t, _ in terms if op == "-"]

    def matches(message: str) -> bool:
        return (all(t in message for t in required) and not any(t in message for t in excluded)
                and (not optional or any(t in message for t in optional)))

    conditions = [f"instr(message, ?) > 0" for _ in required] + [f"instr(message, ?) = 0" for _ in excluded]
    args = [*required, *excluded]
    if optional:
        conditions.append("(" + " OR ".join("instr(message, ?) > 0" for _ in optional) + ")")
        args += optional
    return Pattern(matches, (" AND ".join(conditions), tuple(args)), True, original)


def glob_regex(value: str) -> re.Pattern:
    """A pattern value with `*` wildcards as a regex matching the whole value."""
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", value)), re.S)


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
