"""Logs Insights commands run over events: fields, display, filter, parse, stats, sort, limit, dedup.

Events come from the log-event store newest first; each is an `Event`, a dict that knows
@timestamp, @message, @logStream, @log, @ingestionTime and @ptr, and discovers JSON fields (a.b,
a.0.b) from the message the first time one is asked for. Commands are compiled to Python closures
once per query; commands that need every event (stats, sort, dedup) gather them, the others stream,
so `fields ... | limit 20` stops reading after 20 matches. `prefilter` finds the string literals a
query's leading filters require, for the store to skip events in SQL (see `literal_prefilter`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from .insights_parse import AGGREGATES, Command

BASE_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime", "@ptr")
MISSING = None


class Timestamp(int):
    """Milliseconds since the epoch, shown as Insights shows times."""

    def __str__(self) -> str:
        return datetime.fromtimestamp(self / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class Event(dict):
    """One event's fields; JSON fields are found on first use."""

    __slots__ = ("_document",)

    def __missing__(self, name: str) -> Any:
        if name.startswith("@"):
            return None
        document = getattr(self, "_document", False)
        if document is False:
            document = None
            message = dict.get(self, "@message") or ""
            if message[:1] == "{":
                try:
                    document = json.loads(message)
                except ValueError:
                    pass
            self._document = document
        value = document
        for part in name.split("."):
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                value = None
                break
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":"))
        return value


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    x, y = number(a), number(b)
    if x is not None and y is not None and not (isinstance(a, str) and isinstance(b, str)):
        return x == y
    return show(a) == show(b)


def ordered(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    x, y = number(a), number(b)
    if x is None or y is None:
        x, y = show(a), show(b)
    return {"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]


def arithmetic(op: str, a: Any, b: Any) -> Any:
    x, y = number(a), number(b)
    if x is None or y is None:
        return None
    if op in ("/", "%") and y == 0:
        return None
    result = {"+": x + y, "-": x - y, "*": x * y, "/": x / y, "%": x % y}[op]
    return Timestamp(result) if isinstance(a, Timestamp) and op in "+-" and isinstance(result, int) else result


def _bin(ts: Any, period: Any) -> Any:
    size = period[1] if isinstance(period, tuple) else number(period)
    if ts is None or not size:
        return None
    return Timestamp(int(ts) // int(size) * int(size))


SCALARS: dict[str, Callable[..., Any]] = {
    "ispresent": lambda v: v is not None,
    "isempty": lambda v: v is None or v == "",
    "isblank": lambda v: v is None or str(v).strip() == "",
    "strlen": lambda v: len(show(v)) if v is not None else None,
    "toupper": lambda v: show(v).upper() if v is not None else None,
    "tolower": lambda v: show(v).lower() if v is not None else None,
    "trim": lambda v: show(v).strip() if v is not None else None,
    "ltrim": lambda v: show(v).lstrip() if v is not None else None,
    "rtrim": lambda v: show(v).rstrip() if v is not None else None,
    "concat": lambda *vs: "".join(show(v) for v in vs if v is not None),
    "substr": lambda v, start, length=None: (show(v)[int(start):] if length is None else show(v)[int(start):int(start) + int(length)]) if v is not None else None,
    "replace": lambda v, old, new: show(v).replace(show(old), show(new)) if v is not None else None,
    "strcontains": lambda v, part: v is not None and show(part) in show(v),
    "abs": lambda v: abs(number(v)) if number(v) is not None else None,
    "ceil": lambda v: math.ceil(number(v)) if number(v) is not None else None,
    "floor": lambda v: math.floor(number(v)) if number(v) is not None else None,
    "round": lambda v, digits=0: round(number(v), int(digits)) if number(v) is not None else None,
    "sqrt": lambda v: math.sqrt(number(v)) if (number(v) or -1) >= 0 else None,
    "log": lambda v: math.log(number(v)) if (number(v) or 0) > 0 else None,
    "greatest": lambda *vs: max((number(v) for v in vs if number(v) is not None), default=None),
    "least": lambda *vs: min((number(v) for v in vs if number(v) is not None), default=None),
    "coalesce": lambda *vs: next((v for v in vs if v is not None), None),
    "bin": lambda period, ts=None: _bin(ts, period),
    "datefloor": lambda ts, period: _bin(ts, period),
    "dateceil": lambda ts, period: None if _bin(ts, period) is None else Timestamp(
        _bin(ts, period) + (0 if _bin(ts, period) == ts else (period[1] if isinstance(period, tuple) else int(period)))),
    "frommillis": lambda v: Timestamp(int(number(v))) if number(v) is not None else None,
    "tomillis": lambda v: int(v) if v is not None else None,
}


def compile_expression(node) -> Callable[[dict], Any]:
    kind = node[0]
    if kind == "lit":
        value = node[1]
        return lambda e: value
    if kind == "field":
        name = node[1]
        return lambda e: e[name]
    if kind == "and":
        a, b = compile_expression(node[1]), compile_expression(node[2])
        return lambda e: bool(a(e)) and bool(b(e))
    if kind == "or":
        a, b = compile_expression(node[1]), compile_expression(node[2])
        return lambda e: bool(a(e)) or bool(b(e))
    if kind == "not" and node[1][0] == "in":  # `not in`: only events that have the field
        a, inner = compile_expression(node[1][1]), compile_expression(node[1])
        return lambda e: a(e) is not None and not inner(e)
    if kind == "not":
        a = compile_expression(node[1])
        return lambda e: not a(e)
    if kind == "regex":
        a, regex = compile_expression(node[1]), node[2]
        return lambda e: (lambda v: v is not None and regex.search(show(v)) is not None)(a(e))
    if kind == "in":
        a, options = compile_expression(node[1]), [compile_expression(v) for v in node[2]]
        return lambda e: (lambda v: any(equal(v, o(e)) for o in options))(a(e))
    if kind == "op":
        op, a, b = node[1], compile_expression(node[2]), compile_expression(node[3])
        if op == "=":
            return lambda e: equal(a(e), b(e))
        if op == "!=":
            return lambda e: (lambda x, y: x is not None and y is not None and not equal(x, y))(a(e), b(e))
        if op in ("<", ">", "<=", ">="):
            return lambda e: ordered(op, a(e), b(e))
        return lambda e: arithmetic(op, a(e), b(e))
    if kind == "call":
        name, args = node[1], [compile_expression(arg) for arg in node[2]]
        if name in AGGREGATES:
            raise ValueError(f"{name}() is an aggregate function: use it in stats")
        function = SCALARS[name]
        if name == "bin" and len(args) == 1:
            period = args[0]
            return lambda e: _bin(e["@timestamp"], period(e))
        return lambda e: function(*(arg(e) for arg in args))
    raise ValueError(f"unknown expression {kind}")


class Aggregate:
    def __init__(self, name: str, args: list):
        self.name = name
        self.star = bool(args) and args[0] == ("lit", "*")
        self.value = compile_expression(args[0]) if args and not self.star else (lambda e: None)
        self.percent = None
        if name == "pct":
            if len(args) != 2 or args[1][0] != "lit" or number(args[1][1]) is None:
                raise ValueError("pct() takes a field and a percentile, e.g. pct(latency, 95)")
            self.percent = float(args[1][1])

    def reduce(self, events: list[dict]) -> Any:
        name = self.name
        if name == "count" and (self.star or self.value is None):
            return len(events)
        values = [v for v in map(self.value, events) if v is not None]
        if name == "count":
            return len(values)
        if name == "count_distinct":
            return len({show(v) for v in values})
        if name in ("earliest", "latest"):
            timed = [(e["@timestamp"] or 0, v) for e in events if (v := self.value(e)) is not None]
            return (min if name == "earliest" else max)(timed, key=lambda t: t[0])[1] if timed else None
        numbers = [n for n in map(number, values) if n is not None]
        if not numbers:
            return None
        if name == "sum":
            return sum(numbers)
        if name == "avg":
            return sum(numbers) / len(numbers)
        if name == "min":
            return Timestamp(min(numbers)) if isinstance(values[0], Timestamp) else min(numbers)
        if name == "max":
            return Timestamp(max(numbers)) if isinstance(values[0], Timestamp) else max(numbers)
        if name == "stddev":
            return statistics.pstdev(numbers) if len(numbers) > 1 else 0.0
        numbers.sort()  # pct: nearest rank
        rank = max(1, math.ceil(self.percent / 100 * len(numbers)))
        return numbers[min(rank, len(numbers)) - 1]


def sort_key(value: Any, descending: bool) -> tuple:
    if value is None:
        return (1, 0)  # missing values last, either way
    n = number(value)
    if n is not None and not isinstance(value, str):
        return (0, -n if descending else n)
    text = show(value)
    return (0, tuple(-ord(c) for c in text) + (1,)) if descending else (0, text)


def check(commands: list[Command]) -> None:
    """Compile every expression once, so a query that cannot run fails at StartQuery (ValueError)."""
    for command in commands:
        if command.name == "stats":
            for expr, _ in command.items:
                Aggregate(expr[1], expr[2])
            for expr, _ in command.by:
                compile_expression(expr)
        elif command.name in ("fields", "display", "sort"):
            for expr, _ in command.items:
                compile_expression(expr)
        elif command.name == "filter":
            compile_expression(command.value)
        elif command.name == "parse":
            compile_expression(command.source)


class Run:
    """One query's commands over a stream of events; `columns` are the fields results show."""

    def __init__(self, commands: list[Command]):
        self.commands = commands
        self.columns: list[str] = []
        self.aggregated = False
        self.matched = 0

    def execute(self, events: Iterable[Event], limit: int) -> list[dict]:
        rows: Iterator[dict] = iter(events)
        explicit_columns = False
        for command in self.commands:
            rows, explicit = self._apply(command, rows)
            explicit_columns = explicit_columns or explicit
        if not explicit_columns and not self.aggregated:
            self.columns = ["@timestamp", "@message", "@logStream", "@log"]
        return list(itertools.islice(self._count(rows), limit))

    def _count(self, rows: Iterator[dict]) -> Iterator[dict]:
        for row in rows:
            if not self.aggregated:
                self.matched += 1
            yield row

    def _apply(self, command: Command, rows: Iterator[dict]) -> tuple[Iterator[dict], bool]:
        name = command.name
        if name == "filter":
            predicate = compile_expression(command.value)
            return (r for r in rows if predicate(r)), False
        if name == "fields":
            compiled = [(compile_expression(expr), alias) for expr, alias in command.items]
            self._add_columns([alias for _, alias in command.items])
            return (self._set(r, compiled) for r in rows), True
        if name == "display":
            compiled = [(compile_expression(expr), alias) for expr, alias in command.items]
            self.columns = [alias for _, alias in command.items]
            return (self._set(r, compiled) for r in rows), True
        if name == "parse":
            source, regex, names = compile_expression(command.source), command.value, command.items
            return (self._parse(r, source, regex, names) for r in rows), False
        if name == "limit":
            return itertools.islice(rows, command.value), False
        if name == "sort":
            keys = [(compile_expression(expr), descending) for expr, descending in command.items]
            return iter(sorted(rows, key=lambda r: tuple(sort_key(k(r), d) for k, d in keys))), False
        if name == "dedup":
            return self._dedup(rows, command.items), False
        if name == "stats":
            return self._stats(rows, command), True
        raise ValueError(name)

    def _add_columns(self, names: list[str]) -> None:
        for column in names:
            if column not in self.columns:
                self.columns.append(column)

    @staticmethod
    def _set(row: dict, compiled) -> dict:
        for expr, alias in compiled:
            row[alias] = expr(row)
        return row

    @staticmethod
    def _parse(row: dict, source, regex: re.Pattern, names: list[str]) -> dict:
        value = source(row)
        found = regex.search(show(value)) if value is not None else None
        if found:
            groups = found.groups() if names and names[0] not in regex.groupindex else [found.group(n) for n in names]
            for field_name, captured in zip(names, groups):
                row[field_name] = captured
        return row

    @staticmethod
    def _dedup(rows: Iterator[dict], names: list[str]) -> Iterator[dict]:
        seen = set()
        for row in rows:
            key = tuple(show(row[n]) if row[n] is not None else None for n in names)
            if None in key:
                yield row  # dedup ignores events where a field is missing
            elif key not in seen:
                seen.add(key)
                yield row

    def _stats(self, rows: Iterator[dict], command: Command) -> Iterator[dict]:
        aggregates = [(Aggregate(expr[1], expr[2]), alias) for expr, alias in command.items]
        by = [(compile_expression(expr), alias) for expr, alias in command.by]
        groups: dict[tuple, list[dict]] = {}
        firsts: dict[tuple, tuple] = {}
        for row in rows:
            self.matched += 1
            values = tuple(b(row) for b, _ in by)
            key = tuple(show(v) if v is not None else None for v in values)
            bucket = groups.get(key)
            if bucket is None:
                groups[key] = bucket = []
                firsts[key] = values
            bucket.append(row)
        self.aggregated = True
        self.columns = [alias for _, alias in command.by] + [alias for _, alias in aggregates]
        if not by and not groups:
            groups[()] = []
            firsts[()] = ()
        out = []
        for key, bucket in groups.items():
            row = Event(zip([alias for _, alias in by], firsts[key]))
            for aggregate, alias in aggregates:
                row[alias] = aggregate.reduce(bucket)
            out.append(row)
        if any(isinstance(v, Timestamp) for v in (firsts[next(iter(firsts))] if firsts else ())):
            out.sort(key=lambda r: tuple(sort_key(r[a], False) for _, a in by))
        return iter(out)


def results(run: Run, rows: list[dict]) -> list[list[dict]]:
    """Rows as GetQueryResults returns them: [{field, value}] with values as strings, @ptr last."""
    out = []
    for row in rows:
        cells = [{"field": c, "value": show(row[c])} for c in run.columns if row[c] is not None]
        if not run.aggregated and row.get("@ptr") is not None:
            cells.append({"field": "@ptr", "value": show(row["@ptr"])})
        out.append(cells)
    return out


def literal_prefilter(commands: list[Command]) -> list[str]:
    """String literals every matching event's message must contain: from the `field = "literal"`
    conjuncts of the filters before any command that makes new fields (JSON fields only, since the
    message holds them as written)."""
    literals: list[str] = []
    for command in commands:
        if command.name != "filter":
            break
        stack = [command.value]
        while stack:
            node = stack.pop()
            if node[0] == "and":
                stack += [node[1], node[2]]
            elif node[0] == "op" and node[1] == "=" and node[2][0] == "field" and node[3][0] == "lit":
                name, value = node[2][1], node[3][1]
                if not name.startswith("@") and isinstance(value, str) and value and re.fullmatch(r"[A-Za-z0-9 _.:\-]+", value):
                    literals.append(value)
    return literals
