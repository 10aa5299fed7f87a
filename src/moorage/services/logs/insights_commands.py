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
    """One event's fields. Built from a store row (id, stream uid, ts, ingested, message); the @
    fields are made on first use and JSON fields found on first use."""

    __slots__ = ("_row", "_source", "_document")

    @classmethod
    def of(cls, row: tuple, source: "EventSource") -> "Event":
        event = cls()
        event._row = row
        event._source = source
        return event

    def __missing__(self, name: str) -> Any:
        row = getattr(self, "_row", None)
        if name[:1] == "@":
            if row is None:
                return None
            if name == "@timestamp":
                value = Timestamp(row[2])
            elif name == "@message":
                value = row[4]
            elif name == "@logStream":
                value = self._source.streams.get(row[1], "")
            elif name == "@log":
                value = self._source.log
            elif name == "@ingestionTime":
                value = Timestamp(row[3])
            elif name == "@ptr":
                value = f"{self._source.group_uid}/{row[0]}"
            else:
                return None
            self[name] = value
            return value
        document = getattr(self, "_document", False)
        if document is False:
            document = None
            message = row[4] if row is not None else dict.get(self, "@message") or ""
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


class EventSource:
    """What the events of one log group share: its streams' names, its @log and its uid."""

    def __init__(self, group_uid: int, streams: dict[int, str], log: str):
        self.group_uid, self.streams, self.log = group_uid, streams, log


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
    """One aggregate function of stats, kept per group as a small running state."""

    def __init__(self, name: str, args: list):
        self.name = name
        self.star = not args or args[0] == ("lit", "*")
        self.value = compile_expression(args[0]) if not self.star else None
        self.percent = None
        if name in ("count", "count_distinct") and len(args) > 1 or name not in ("count", "pct") and len(args) != 1:
            raise ValueError(f"{name}() takes one field")
        if name == "pct":
            if len(args) != 2 or args[1][0] != "lit" or number(args[1][1]) is None:
                raise ValueError("pct() takes a field and a percentile, e.g. pct(latency, 95)")
            self.percent = float(args[1][1])
        if self.star and name != "count":
            raise ValueError(f"{name}() needs a field")

    def new(self) -> list:
        return [0] if self.name == "count" else []

    def add(self, state: list, event: dict) -> None:
        if self.star:
            state[0] += 1
            return
        value = self.value(event)
        if value is None:
            return
        if self.name == "count":
            state[0] += 1
        elif self.name in ("earliest", "latest"):
            state.append((event["@timestamp"] or 0, value))
        else:
            state.append(value)

    def result(self, state: list) -> Any:
        name = self.name
        if name == "count":
            return state[0]
        if name == "count_distinct":
            return len({show(v) for v in state})
        if name in ("earliest", "latest"):
            return (min if name == "earliest" else max)(state, key=lambda t: t[0])[1] if state else None
        numbers = [n for n in map(number, state) if n is not None]
        if not numbers:
            return None
        if name == "sum":
            return sum(numbers)
        if name == "avg":
            return sum(numbers) / len(numbers)
        if name in ("min", "max"):
            found = (min if name == "min" else max)(numbers)
            return Timestamp(found) if isinstance(state[0], Timestamp) else found
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
        self.newest_first = True  # the store gives events newest first until a command reorders them

    def execute(self, events: Iterable[Event], limit: int, first: int = 0) -> list[dict]:
        """Run the commands from the first-th on (the earlier ones done by the caller) and keep `limit` rows."""
        rows: Iterator[dict] = iter(events)
        explicit_columns = self.aggregated
        for command in self.commands[first:]:
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
        if name == "sort" and self.newest_first and [(e, d) for e, d in command.items] == [(("field", "@timestamp"), True)]:
            return rows, False  # events already come newest first: nothing to sort, and `limit` can stop early
        if name in ("sort", "stats"):
            self.newest_first = False
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
        groups: dict[tuple, list] = {}
        for row in rows:
            self.matched += 1
            key = tuple(b(row) for b, _ in by)
            states = groups.get(key)
            if states is None:
                groups[key] = states = [a.new() for a, _ in aggregates]
            for (aggregate, _), state in zip(aggregates, states):
                aggregate.add(state, row)
        return self.stats_rows(command, aggregates, groups)

    def stats_rows(self, command: Command, aggregates: list, groups: dict[tuple, list]) -> Iterator[dict]:
        """The rows of stats from each group's key and aggregate states (also used by the store's
        SQL plan for counts, queries.py)."""
        self.aggregated = True
        by_aliases = [alias for _, alias in command.by]
        self.columns = by_aliases + [alias for _, alias in aggregates]
        if not command.by and not groups:
            groups[()] = [a.new() for a, _ in aggregates]
        out = []
        for key, states in groups.items():
            row = Event(zip(by_aliases, key))
            for (aggregate, alias), state in zip(aggregates, states):
                row[alias] = aggregate.result(state)
            out.append(row)
        if any(isinstance(v, Timestamp) for key in groups for v in key):
            out.sort(key=lambda r: tuple(sort_key(r[a], False) for a in by_aliases))
        return iter(out)


def counting_plan(commands: list[Command]) -> tuple[int | None, bool] | None:
    """For a query that starts with `stats count(*) by bin(P)` and/or `@logStream` (no filter before
    it), the (bin in ms, by stream) SQLite can count with, else None."""
    if not commands or commands[0].name != "stats" or not commands[0].by:
        return None
    if any(expr != ("call", "count", [("lit", "*")]) for expr, _ in commands[0].items):
        return None
    bin_ms, by_stream = None, False
    for expr, _ in commands[0].by:
        if expr == ("field", "@logStream") and not by_stream:
            by_stream = True
        elif (expr[0] == "call" and expr[1] == "bin" and len(expr[2]) == 1 and expr[2][0][0] == "lit"
              and isinstance(expr[2][0][1], tuple) and bin_ms is None and expr[2][0][1][1] > 0):
            bin_ms = expr[2][0][1][1]
        else:
            return None
    return bin_ms, by_stream


def results(run: Run, rows: list[dict]) -> list[list[dict]]:
    """Rows as GetQueryResults returns them: [{field, value}] with values as strings, @ptr last."""
    out = []
    for row in rows:
        cells = [{"field": c, "value": show(row[c])} for c in run.columns if row[c] is not None]
        if not run.aggregated and row["@ptr"] is not None:
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
