"""The Logs Insights query language parsed into commands and expressions.

A query is commands joined by `|`: fields, display, filter, parse, stats, sort, limit, dedup
(docs: "CloudWatch Logs Insights language query syntax"). Expressions have literals ('x', "x", 3,
2.5), fields (@timestamp, user.username, `odd name`), function calls (ispresent(f), bin(5m), ...),
arithmetic, comparisons (=, !=, <, >, <=, >=), `like`/`=~` with /regex/ or a substring, `in [...]`,
and `and`/`or`/`not`. Errors are MalformedQueryException with a queryCompileError as AWS gives it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import AwsError

COMMANDS = ("fields", "display", "filter", "parse", "stats", "sort", "limit", "dedup")
KEYWORDS = {"and", "or", "not", "in", "like", "as", "by", "asc", "desc"}
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|sec|m|min|h|hr|d|w|mo|q|y)$")
DURATION_MS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "hr": 3_600_000,
               "d": 86_400_000, "w": 604_800_000}
TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)|(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<backtick>`[^`]*`)"""
    r"""|(?P<number>\d+(?:\.\d+)?(?:ms|sec|min|hr|mo|s|m|h|d|w|q|y)?(?![A-Za-z0-9_]))"""
    r"""|(?P<name>[@A-Za-z_][A-Za-z0-9_.@]*(?<!\.))|(?P<op>=~|!=|<=|>=|=|<|>|\||,|\(|\)|\[|\]|\+|-|\*|/|%)"""
)


class QueryError(ValueError):
    def __init__(self, message: str, start: int = 0, end: int = 0):
        super().__init__(message)
        self.start, self.end = start, end


def malformed(error: QueryError) -> AwsError:
    return AwsError("MalformedQueryException", str(error), extra_fields={
        "queryCompileError": {"location": {"startCharOffset": error.start, "endCharOffset": error.end}, "message": str(error)}})


@dataclass(frozen=True)
class Token:
    kind: str  # string, field, number, name, op, regex, end
    text: str
    start: int
    value: Any = None


@dataclass
class Command:
    name: str
    items: list = field(default_factory=list)  # per command, see Parser
    by: list = field(default_factory=list)
    source: Any = None
    value: Any = None


def lex(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        previous = tokens[-1] if tokens else None
        if query[i] == "/" and previous is not None and (
            (previous.kind == "name" and previous.text.lower() in ("like", "parse"))
            or (previous.kind == "op" and previous.text in ("=~", "(", ","))
            or (len(tokens) >= 2 and tokens[-2].kind == "name" and tokens[-2].text.lower() == "parse")
        ):
            j = i + 1
            while j < n and query[j] != "/":
                j += 2 if query[j] == "\\" else 1
            if j >= n:
                raise QueryError(f"Unterminated regular expression at position {i}", i, n)
            tokens.append(Token("regex", query[i:j + 1], i, query[i + 1:j]))
            i = j + 1
            continue
        found = TOKEN.match(query, i)
        if not found:
            raise QueryError(f"unexpected symbol found {query[i]} at line 1 and position {i}", i, i + 1)
        kind, text = found.lastgroup, found.group()
        if kind == "string":
            tokens.append(Token("string", text, i, re.sub(r"\\(.)", r"\1", text[1:-1])))
        elif kind == "backtick":
            tokens.append(Token("field", text, i, text[1:-1]))
        elif kind == "number":
            tokens.append(Token("number", text, i, number_value(text)))
        elif kind != "space":
            tokens.append(Token(kind, text, i))
        i = found.end()
    tokens.append(Token("end", "", n))
    return tokens


def number_value(text: str) -> float | int | tuple:
    unit = DURATION.match(text)
    if unit:
        amount = float(unit.group(1))
        if unit.group(2) not in DURATION_MS:
            raise QueryError(f"Unsupported time unit in {text}")
        return ("duration", int(amount * DURATION_MS[unit.group(2)]))
    return float(text) if "." in text else int(text)


class Parser:
    """Recursive descent over the tokens; expressions become tuples ('field', name), ('lit', v),
    ('call', name, args), ('op', op, left, right), ('not', e), ('in', e, [values]), ('regex', e, re)."""

    def __init__(self, query: str):
        self.query = query
        self.tokens = lex(query)
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.i += 1
        return token

    def error(self, token: Token, message: str | None = None) -> QueryError:
        what = token.text or "end of query"
        return QueryError(message or f"unexpected symbol found {what} at line 1 and position {token.start}",
                          token.start, token.start + max(len(token.text), 1))

    def word(self, token: Token) -> str:
        return token.text.lower() if token.kind == "name" else ""

    def expect_op(self, text: str) -> Token:
        token = self.take()
        if token.kind != "op" or token.text != text:
            raise self.error(token)
        return token

    def parse(self) -> list[Command]:
        commands = []
        while True:
            token = self.take()
            name = self.word(token)
            if name not in COMMANDS:
                raise self.error(token, f"unexpected symbol found {token.text or 'end of query'} at line 1 and "
                                        f"position {token.start}; expected a command such as fields, filter or stats")
            commands.append(getattr(self, f"_{name}")())
            token = self.take()
            if token.kind == "end":
                return commands
            if token.text != "|":
                raise self.error(token)

    # Commands

    def _projections(self, allow_alias: bool = True) -> list[tuple[Any, str]]:
        items = []
        while True:
            start = self.peek().start
            expr = self.expression()
            alias = self.query[start:self.peek().start].strip()
            if expr[0] == "field":
                alias = expr[1]
            if allow_alias and self.word(self.peek()) == "as":
                self.take()
                alias = self.field_name()
            items.append((expr, alias))
            if self.peek().text != ",":
                return items
            self.take()

    def field_name(self) -> str:
        token = self.take()
        if token.kind in ("name", "field") and (token.kind == "field" or token.text.lower() not in KEYWORDS):
            return token.value if token.kind == "field" else token.text
        raise self.error(token)

    def _fields(self) -> Command:
        return Command("fields", self._projections())

    def _display(self) -> Command:
        return Command("display", self._projections(allow_alias=False))

    def _filter(self) -> Command:
        return Command("filter", value=self.expression())

    def _stats(self) -> Command:
        items = self._projections()
        for expr, _ in items:
            if expr[0] != "call" or expr[1] not in AGGREGATES:
                raise QueryError("stats expects aggregate functions such as count(), avg(), pct()", 0, len(self.query))
        by = []
        if self.word(self.peek()) == "by":
            self.take()
            by = self._projections()
        return Command("stats", items, by)

    def _sort(self) -> Command:
        keys = []
        while True:
            expr = self.expression()
            descending = False
            if self.word(self.peek()) in ("asc", "desc"):
                descending = self.take().text.lower() == "desc"
            keys.append((expr, descending))
            if self.peek().text != ",":
                return Command("sort", keys)
            self.take()

    def _limit(self) -> Command:
        token = self.take()
        if token.kind != "number" or not isinstance(token.value, int) or not 0 < token.value <= 10000:
            raise self.error(token, f"limit expects a number from 1 to 10000, found {token.text or 'nothing'}")
        return Command("limit", value=token.value)

    def _dedup(self) -> Command:
        names = [self.field_name()]
        while self.peek().text == ",":
            self.take()
            names.append(self.field_name())
        return Command("dedup", names)

    def _parse(self) -> Command:
        source = self.expression_primary()
        token = self.take()
        if token.kind == "regex":
            pattern = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", token.value)
            try:
                compiled = re.compile(pattern)
            except re.error as error:
                raise self.error(token, f"Invalid regular expression {token.text}: {error}") from None
            if not compiled.groupindex:
                raise self.error(token, "parse with a regular expression needs named groups, e.g. (?<name>...)")
            return Command("parse", list(compiled.groupindex), source=source, value=compiled)
        if token.kind != "string" or "*" not in token.value:
            raise self.error(token, "parse expects a pattern with * wildcards or a regular expression")
        if self.word(self.take()) != "as":
            raise self.error(self.tokens[self.i - 1])
        names = [self.field_name()]
        while self.peek().text == ",":
            self.take()
            names.append(self.field_name())
        pieces = token.value.split("*")
        if len(pieces) - 1 != len(names):
            raise self.error(token, f"parse pattern has {len(pieces) - 1} wildcards but {len(names)} fields")
        # Each * takes as little as it can, except a trailing one, which takes the rest of the value.
        regex = "".join(re.escape(p) + ("" if k == len(names) else "(.*)" if k == len(names) - 1 and not pieces[-1] else "(.*?)")
                        for k, p in enumerate(pieces))
        return Command("parse", names, source=source, value=re.compile(regex, re.S))

    # Expressions, lowest precedence first

    def expression(self):
        left = self.conjunction()
        while self.word(self.peek()) == "or":
            self.take()
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self):
        left = self.negation()
        while self.word(self.peek()) == "and":
            self.take()
            left = ("and", left, self.negation())
        return left

    def negation(self):
        if self.word(self.peek()) == "not":
            self.take()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self):
        left = self.additive()
        token = self.peek()
        if token.kind == "op" and token.text in ("=", "!=", "<", ">", "<=", ">="):
            self.take()
            return ("op", token.text, left, self.additive())
        negated = False
        if self.word(token) == "not" and self.word(self.peek(1)) in ("in", "like"):
            self.take()
            negated, token = True, self.peek()
        if self.word(token) == "like" or token.text == "=~":
            self.take()
            target = self.take()
            if target.kind == "regex":
                try:
                    expr = ("regex", left, re.compile(target.value))
                except re.error as error:
                    raise self.error(target, f"Invalid regular expression {target.text}: {error}") from None
            elif target.kind == "string":
                expr = ("regex", left, re.compile(re.escape(target.value)))
            else:
                raise self.error(target)
            return ("not", expr) if negated else expr
        if self.word(token) == "in":
            self.take()
            self.expect_op("[")
            values = [self.additive()]
            while self.peek().text == ",":
                self.take()
                values.append(self.additive())
            self.expect_op("]")
            return ("not", ("in", left, values)) if negated else ("in", left, values)
        return left

    def additive(self):
        left = self.multiplicative()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.take().text
            left = ("op", op, left, self.multiplicative())
        return left

    def multiplicative(self):
        left = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("*", "/", "%"):
            op = self.take().text
            left = ("op", op, left, self.unary())
        return left

    def unary(self):
        if self.peek().text == "-":
            self.take()
            return ("op", "-", ("lit", 0), self.unary())
        return self.expression_primary()

    def expression_primary(self):
        token = self.take()
        if token.kind == "string":
            return ("lit", token.value)
        if token.kind == "number":
            return ("lit", token.value)
        if token.kind == "field":
            return ("field", token.value)
        if token.text == "(":
            inner = self.expression()
            self.expect_op(")")
            return inner
        if token.kind == "name" and token.text.lower() not in KEYWORDS:
            if self.peek().text == "(":
                self.take()
                name = token.text.lower() if token.text.lower() in FUNCTION_NAMES else token.text
                if name not in FUNCTION_NAMES:
                    raise self.error(token, f"Unknown function {token.text}")
                args = []
                if name in ("count", "count_distinct") and self.peek().text == "*":
                    self.take()
                    args.append(("lit", "*"))
                elif self.peek().text != ")":
                    args.append(self.expression())
                    while self.peek().text == ",":
                        self.take()
                        args.append(self.expression())
                self.expect_op(")")
                return ("call", name, args)
            return ("field", token.text)
        raise self.error(token)


AGGREGATES = {"count", "count_distinct", "sum", "avg", "min", "max", "pct", "stddev", "earliest", "latest"}
SCALAR_FUNCTIONS = {
    "ispresent", "isempty", "isblank", "strlen", "toupper", "tolower", "trim", "ltrim", "rtrim", "concat", "substr",
    "replace", "strcontains", "abs", "ceil", "floor", "round", "sqrt", "log", "greatest", "least", "coalesce", "bin",
    "datefloor", "dateceil", "frommillis", "tomillis",
}
FUNCTION_NAMES = AGGREGATES | SCALAR_FUNCTIONS


def parse_query(query: str) -> list[Command]:
    """The commands of a query, or the MalformedQueryException AWS raises for it."""
    try:
        if not query.strip():
            raise QueryError("Query string cannot be empty", 0, 0)
        return Parser(query).parse()
    except QueryError as error:
        raise malformed(error) from None
