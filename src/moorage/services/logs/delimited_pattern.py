"""Space-delimited filter patterns: `[ip, user, ..., status=4*, size>1000]`.

A message is split on spaces, except inside double quotes or square brackets (an Apache timestamp
`[10/Oct/2000:13:55:36 -0700]` is one field). Each pattern field names one message field; `...`
stands for any number of fields. A field may carry conditions: `=`/`!=` with a string (with `*`
wildcards) or a number, and `<`, `>`, `<=`, `>=` with a number, joined by `&&` and `||`. Without an
ellipsis the message must have exactly as many fields as the pattern.
"""

from __future__ import annotations

import re

from .filter_pattern import Pattern, PatternError, glob_regex, number

FIELD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\.\.\.)\s*(.*)$", re.S)
CONDITION = re.compile(r"\s*(!=|<=|>=|=|<|>)\s*(\"(?:[^\"\\]|\\.)*\"|[^\s&|]+)\s*")


def split_message(message: str) -> list[str]:
    fields, i, n = [], 0, len(message)
    while i < n:
        if message[i] == " ":
            i += 1
            continue
        closer = {'"': '"', "[": "]"}.get(message[i])
        if closer:
            j = message.find(closer, i + 1)
            if j < 0:
                j = n
            fields.append(message[i + 1:j])
            i = j + 1
        else:
            j = message.find(" ", i)
            j = n if j < 0 else j
            fields.append(message[i:j])
            i = j
    return fields


def split_pattern_fields(body: str) -> list[str]:
    parts, depth, current, quoted = [], 0, [], False
    for char in body:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_conditions(text: str, name: str = ""):
    """Conditions of one field as [[(op, value)...]...]: an OR of ANDs."""
    groups, current, i = [], [], 0
    while i < len(text):
        found = CONDITION.match(text, i)
        if not found:
            raise PatternError(f"Invalid condition {text[i:]}")
        op, raw = found.groups()
        value = raw[1:-1] if raw.startswith('"') else raw
        numeric = number(value) if not raw.startswith('"') else None
        if op in ("<", ">", "<=", ">=") and numeric is None:
            raise PatternError(f"Numeric comparison {op} needs a number")
        current.append((op, value, numeric))
        i = found.end()
        joined = text.startswith("&&", i) or text.startswith("||", i)
        if text.startswith("||", i):
            groups.append(current)
            current = []
        if joined:
            i += 2
            repeated = re.match(rf"\s*{re.escape(name)}(?=\s*[!=<>])", text[i:]) if name else None
            if repeated:  # `status=200 || status=404`: the field may be named again
                i += repeated.end()
        elif i < len(text):
            raise PatternError(f"Invalid condition {text[i:]}")
    groups.append(current)
    return groups


def test(value: str, op: str, expected: str, numeric: float | None) -> bool:
    if numeric is not None:
        got = number(value)
        if got is None:
            return op == "!="
        return {"=": got == numeric, "!=": got != numeric, "<": got < numeric, ">": got > numeric,
                "<=": got <= numeric, ">=": got >= numeric}[op]
    equal = bool(glob_regex(expected).fullmatch(value)) if "*" in expected else value == expected
    return equal if op == "=" else not equal


def parse_delimited_pattern(body: str, original: str) -> Pattern:
    if not body.strip():
        raise PatternError("Empty space-delimited filter pattern")
    fields = []
    for part in split_pattern_fields(body):
        found = FIELD.match(part)
        if not found or not part:
            raise PatternError(f"Invalid field {part!r}")
        name, rest = found.groups()
        if name == "..." and rest.strip():
            raise PatternError("An ellipsis takes no condition")
        fields.append((name, parse_conditions(rest, name) if rest.strip() else None))
    names = [n for n, _ in fields if n != "..."]
    if len(set(names)) != len(names):
        raise PatternError("Field names must be unique")

    def field_ok(value: str, conditions) -> bool:
        return conditions is None or any(all(test(value, *c) for c in group) for group in conditions)

    def match_from(values: list[str], vi: int, fi: int) -> bool:
        if fi == len(fields):
            return vi == len(values)
        name, conditions = fields[fi]
        if name == "...":
            return any(match_from(values, k, fi + 1) for k in range(vi, len(values) + 1))
        return vi < len(values) and field_ok(values[vi], conditions) and match_from(values, vi + 1, fi + 1)

    def matches(message: str) -> bool:
        return match_from(split_message(message), 0, 0)

    # Pre-filter: literal (wildcard-free, non-numeric) '=' values must occur in the message.
    literals = [v for _, c in fields if c and len(c) == 1 for op, v, num in c[0] if op == "=" and num is None and "*" not in v]
    sql = (" AND ".join("instr(message, ?) > 0" for _ in literals), tuple(literals))
    return Pattern(matches, sql, False, original)
