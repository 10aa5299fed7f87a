"""JSON filter patterns: `{ $.a.b = "x*" && ($.n > 3 || $.flag IS TRUE) }`.

Selectors are `$.key`, `$.key[0]`, `$.a.b.c`; comparisons are = and != (strings, with `*` wildcards,
or numbers) and <, >, <=, >= (numbers); `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`; `&&`
binds tighter than `||`; parentheses group. Messages that are not JSON objects never match. The
same expression is compiled to SQLite's JSON functions (json_type/json_extract) as the store's
pre-filter, so a scan of a million events runs in C; Python then confirms each match.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from .filter_pattern import Pattern, PatternError, glob_regex

TOKEN = re.compile(r"""\s*(?:(?P<selector>\$(?:\.[A-Za-z0-9_@\-]+|\[\d+\])+)|(?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))"""
                   r"""|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()=!<>&|"]+))""")
KEYWORDS = {("IS", "NULL"), ("IS", "TRUE"), ("IS", "FALSE"), ("NOT", "EXISTS")}
MISSING = object()


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        found = TOKEN.match(text, i)
        if not found:
            raise PatternError(f"Unexpected character at {text[i:].strip()[:20]}")
        kind = found.lastgroup
        tokens.append((kind, found.group(kind)))
        i = found.end()
    return tokens


def path_parts(selector: str) -> list[str | int]:
    return [int(p[1:-1]) if p.startswith("[") else p[1:] for p in re.findall(r"\.[^.\[]+|\[\d+\]", selector[1:])]


def sql_path(parts: list[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else '."' + p + '"' for p in parts)


def lookup(document: Any, parts: list[str | int]) -> Any:
    for part in parts:
        if isinstance(part, int):
            if not isinstance(document, list) or part >= len(document):
                return MISSING
            document = document[part]
        else:
            if not isinstance(document, dict) or part not in document:
                return MISSING
            document = document[part]
    return document


class Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("Unexpected end of the filter pattern")
        self.i += 1
        return token

    def expression(self):  # or-expression
        left = self.conjunction()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.conjunction()
            left = ("or", left, right)
        return left

    def conjunction(self):
        left = self.primary()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.primary()
            left = ("and", left, right)
        return left

    def primary(self):
        kind, text = self.take()
        if (kind, text) == ("op", "("):
            inner = self.expression()
            if self.take() != ("op", ")"):
                raise PatternError("Missing ')'")
            return inner
        if kind != "selector":
            raise PatternError(f"Expected a selector such as $.field, found {text}")
        parts = path_parts(text)
        kind, op = self.take()
        if kind == "word" and op.upper() in ("IS", "NOT"):
            _, second = self.take()
            keyword = (op.upper(), second.upper())
            if keyword not in KEYWORDS:
                raise PatternError(f"Unknown keyword {op} {second}")
            return ("is", parts, keyword)
        if kind != "op" or op in ("&&", "||", "(", ")"):
            raise PatternError(f"Expected a comparison after {text}")
        kind, value = self.take()
        if kind == "string":
            if op not in ("=", "!="):
                raise PatternError(f"Numeric comparison {op} needs a number")
            return ("cmp", parts, op, "string", json.loads(value))
        if kind != "word":
            raise PatternError(f"Expected a value after {op}")
        try:
            return ("cmp", parts, op, "number", float(value))
        except ValueError:
            pass
        if op not in ("=", "!="):
            raise PatternError(f"Numeric comparison {op} needs a number")
        return ("cmp", parts, op, "string", value)


def evaluate(node, document: Any) -> bool:
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], document) and evaluate(node[2], document)
    if kind == "or":
        return evaluate(node[1], document) or evaluate(node[2], document)
    value = lookup(document, node[1])
    if kind == "is":
        keyword = node[2]
        if keyword == ("NOT", "EXISTS"):
            return value is MISSING
        if keyword == ("IS", "NULL"):
            return value is None
        return value is (keyword[1] == "TRUE")
    _, _, op, value_kind, expected = node
    if value_kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return {"=": value == expected, "!=": value != expected, "<": value < expected, ">": value > expected,
                "<=": value <= expected, ">=": value >= expected}[op]
    if not isinstance(value, str):
        return False
    equal = bool(glob_regex(expected).fullmatch(value)) if "*" in expected else value == expected
    return equal if op == "=" else not equal


def to_sql(node, args: list) -> str:
    kind = node[0]
    if kind in ("and", "or"):
        return f"({to_sql(node[1], args)} {kind.upper()} {to_sql(node[2], args)})"
    path = sql_path(node[1])
    if kind == "is":
        args.append(path)
        return {("NOT", "EXISTS"): "json_type(message, ?) IS NULL", ("IS", "NULL"): "json_type(message, ?) = 'null'",
                ("IS", "TRUE"): "json_type(message, ?) = 'true'", ("IS", "FALSE"): "json_type(message, ?) = 'false'"}[node[2]]
    _, _, op, value_kind, expected = node
    if value_kind == "number":
        args += [path, path, expected]
        return f"(json_type(message, ?) IN ('integer','real') AND json_extract(message, ?) {op} ?)"
    if "*" in expected:
        glob = re.sub(r"([?\[\]])", r"[\1]", expected)
        args += [path, path, glob]
        test = "json_extract(message, ?) GLOB ?"
    else:
        args += [path, path, expected]
        test = "json_extract(message, ?) = ?"
    return f"(json_type(message, ?) = 'text' AND {'' if op == '=' else 'NOT '}{test})"


def parse_json_pattern(body: str, original: str) -> Pattern:
    parser = Parser(tokenize(body))
    if not parser.tokens:
        raise PatternError("Empty JSON filter pattern")
    tree = parser.expression()
    if parser.peek() is not None:
        raise PatternError(f"Unexpected {parser.peek()[1]}")

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return isinstance(document, dict) and evaluate(tree, document)

    args: list = []
    condition = to_sql(tree, args)
    return Pattern(matches, (f"json_valid(message) AND {condition}", tuple(args)), False, original)


Evaluator = Callable[[str], bool]
