"""Logs Insights operations: StartQuery, GetQueryResults, StopQuery, DescribeQueries.

A query is a record (kind log-query) so every API worker sees it; StartQuery parses the query (a
MalformedQueryException then and there, as AWS), stores it Scheduled and runs it in a thread:
Running while it scans (newest events first, all the query's groups merged by time), then Complete
with its results and statistics, or Cancelled by StopQuery. Results are kept 7 days, as AWS keeps them.
"""

from __future__ import annotations

import heapq
import threading
import time
import uuid

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import LOG_QUERY
from ...store import Conflict, Key, Record
from ..base import offset_page
from . import names
from .groups import LogGroups, now_ms
from .insights_commands import Aggregate, Event, EventSource, Run, Timestamp, check, counting_plan, literal_prefilter, results
from .insights_parse import QueryError, malformed, parse_query
from .streams import LogStreams

KEEP_RESULTS_MS = 7 * names.DAY_MS
DEFAULT_LIMIT = 10_000
MAX_GROUPS = 50


class Queries:
    def __init__(self, groups: LogGroups, streams: LogStreams):
        self.groups = groups
        self.streams = streams
        self.store = groups.store
        self.events = groups.events
        self._cancelled: dict[str, threading.Event] = {}

    def StartQuery(self, ctx: RequestContext, params: dict) -> dict:
        language = params.get("queryLanguage") or "CWLI"
        if language != "CWLI":
            raise names.invalid(f"Moorage runs Logs Insights QL (CWLI) queries only, not {language}.")
        given = [f for f in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if params.get(f)]
        if len(given) != 1:
            raise names.invalid("Exactly one of logGroupName, logGroupNames or logGroupIdentifiers must be specified.")
        identifiers = params[given[0]] if given[0] != "logGroupName" else [params["logGroupName"]]
        if len(identifiers) > MAX_GROUPS:
            raise names.invalid(f"A query can search at most {MAX_GROUPS} log groups.")
        start, end = params["startTime"], params["endTime"]
        if end < start:
            raise names.invalid("End time should not be before the start time")
        commands = parse_query(params["queryString"])
        try:
            check(commands)  # compile errors (an aggregate outside stats) are the query's fault
        except ValueError as error:
            raise malformed(QueryError(str(error), 0, len(params["queryString"]))) from None
        groups = [self.groups.find(ctx, {"logGroupIdentifier": i}) for i in identifiers]
        self._forget_old(ctx)
        query_id = str(uuid.uuid4())
        spec = {
            "queryId": query_id, "queryString": params["queryString"], "createTime": now_ms(),
            "logGroupNames": [g.key.name for g in groups], "startTime": start, "endTime": end,
            "limit": params.get("limit") or DEFAULT_LIMIT,
        }
        record = self.store.create(Key(ctx.account, ctx.region, LOG_QUERY, query_id), spec, {"status": "Scheduled"})
        self._cancelled[query_id] = threading.Event()
        threading.Thread(target=self._run, args=(ctx, record), name=f"logs-query-{query_id}", daemon=True).start()
        return {"queryId": query_id}

    def _forget_old(self, ctx: RequestContext) -> None:
        floor = now_ms() - KEEP_RESULTS_MS
        old = [r for r in self.store.list(ctx.account, ctx.region, LOG_QUERY) if r.spec["createTime"] < floor]
        if old:
            try:
                self.store.remove_all(old)
            except Conflict:
                pass

    def run_now(self, ctx: RequestContext, spec: dict, cancelled: threading.Event | None = None) -> dict:
        """Run a query to completion: the status a record gets (results, statistics)."""
        commands = parse_query(spec["queryString"])
        run = Run(commands)
        scanned = {"records": 0, "bytes": 0}
        sources = []
        literals = literal_prefilter(commands)
        where = ""
        if literals:  # JSON may spell a character as \uXXXX: such messages are always read
            where = " AND ".join("instr(message, ?) > 0" for _ in literals)
            where = f"({where}) OR instr(message, '\\u') > 0"
        plan = counting_plan(commands)
        counted: dict[tuple, list] = {}
        for name in spec["logGroupNames"]:
            group = self.store.get(names.group_key(ctx.account, ctx.region, name))
            if group is None:
                continue
            start, end = max(spec["startTime"] * 1000, self.groups.retention_floor(group)), spec["endTime"] * 1000 + 1000
            streams = {s.spec["uid"]: s.spec["logStreamName"] for s in self.streams.of_group(ctx, group)}
            if plan is not None:  # SQLite counts: no event is read into Python
                self._count(group, streams, start, end, plan, commands[0], counted, scanned)
                sources.append(None)
                continue
            sources.append(self._events(group, streams, f"{ctx.account}:{name}", start, end, where, literals, scanned, cancelled))
        if plan is not None:
            aggregates = [(Aggregate(expr[1], expr[2]), alias) for expr, alias in commands[0].items]
            run.matched = scanned["records"]
            rows = run.execute(run.stats_rows(commands[0], aggregates, counted), spec["limit"], first=1)
            return self._complete(run, rows, scanned, len(sources))
        merged = heapq.merge(*sources, key=lambda e: -e["@timestamp"]) if len(sources) > 1 else (sources[0] if sources else iter(()))
        rows = run.execute(merged, spec["limit"])
        if cancelled is not None and cancelled.is_set():
            return {"status": "Cancelled"}
        return self._complete(run, rows, scanned, len(sources))

    @staticmethod
    def _complete(run: Run, rows: list, scanned: dict, groups: int) -> dict:
        return {
            "status": "Complete", "results": results(run, rows),
            "statistics": {"recordsMatched": float(run.matched), "recordsScanned": float(scanned["records"]),
                           "bytesScanned": float(scanned["bytes"]), "logGroupsScanned": float(groups)},
        }

    def _count(self, group: Record, streams: dict, start: int, end: int, plan: tuple, stats, counted: dict, scanned: dict) -> None:
        bin_ms, by_stream = plan
        average = self.events.bytes_per_event(group.spec["uid"])
        for bin_start, stream_uid, count in self.events.count_by(group.spec["uid"], start, end, bin_ms, by_stream):
            key = tuple(Timestamp(bin_start) if expr[0] == "call" else streams.get(stream_uid, "") for expr, _ in stats.by)
            states = counted.setdefault(key, [[0] for _ in stats.items])
            for state in states:
                state[0] += count
            scanned["records"] += count
            scanned["bytes"] += int(count * average)

    def _events(self, group: Record, streams: dict, log: str, start: int, end: int, where: str, literals: list,
                scanned: dict, cancelled: threading.Event | None):
        source = EventSource(group.spec["uid"], streams, log)
        for n, row in enumerate(
                self.events.scan(group.spec["uid"], None, start, end, descending=True, where=where, args=literals)):
            if n % 4096 == 0 and cancelled is not None and cancelled.is_set():
                return
            scanned["records"] += 1
            scanned["bytes"] += len(row[4])
            yield Event.of(row, source)

    def _run(self, ctx: RequestContext, record: Record) -> None:
        cancelled = self._cancelled[record.spec["queryId"]]
        started = time.monotonic()
        try:
            record = self.store.merge_status(record, status="Running")
            status = self.run_now(ctx, record.spec, cancelled)
        except Exception as error:  # the query failed: say so in its status, never lose it
            status = {"status": "Failed", "error": str(error)}
        status["queryDuration"] = int((time.monotonic() - started) * 1000)
        while True:
            fresh = self.store.get(record.key)
            if fresh is None or fresh.status.get("status") == "Cancelled":
                break
            try:
                self.store.update_status(fresh, {**fresh.status, **status})
                break
            except Conflict:
                continue
        self._cancelled.pop(record.spec["queryId"], None)

    def _find(self, ctx: RequestContext, query_id: str) -> Record:
        record = self.store.get(Key(ctx.account, ctx.region, LOG_QUERY, query_id))
        if record is None:
            raise AwsError("ResourceNotFoundException", "Query does not exist.")
        return record

    def GetQueryResults(self, ctx: RequestContext, params: dict) -> dict:
        record = self._find(ctx, params["queryId"])
        status = record.status
        out = {"queryLanguage": "CWLI", "status": status.get("status", "Scheduled"), "results": status.get("results", []),
               "statistics": status.get("statistics", {"recordsMatched": 0.0, "recordsScanned": 0.0, "bytesScanned": 0.0})}
        return out

    def StopQuery(self, ctx: RequestContext, params: dict) -> dict:
        record = self._find(ctx, params["queryId"])
        if record.status.get("status") not in ("Scheduled", "Running"):
            return {"success": False}
        flag = self._cancelled.get(params["queryId"])
        if flag is not None:
            flag.set()
        self.store.merge_status(record, status="Cancelled")
        return {"success": True}

    def DescribeQueries(self, ctx: RequestContext, params: dict) -> dict:
        queries = sorted(self.store.list(ctx.account, ctx.region, LOG_QUERY), key=lambda r: -r.spec["createTime"])
        if params.get("logGroupName"):
            queries = [q for q in queries if params["logGroupName"] in q.spec["logGroupNames"]]
        if params.get("status"):
            queries = [q for q in queries if q.status.get("status") == params["status"]]
        page, token = offset_page(queries, params.get("nextToken"), params.get("maxResults") or 1000, lambda _: names.bad_token())
        out: dict = {"queries": [{
            "queryLanguage": "CWLI", "queryId": q.spec["queryId"], "queryString": q.spec["queryString"],
            "status": q.status.get("status", "Scheduled"), "createTime": q.spec["createTime"],
            "logGroupName": q.spec["logGroupNames"][0] if q.spec["logGroupNames"] else "",
            **({"queryDuration": q.status["queryDuration"]} if "queryDuration" in q.status else {}),
        } for q in page]}
        if token:
            out["nextToken"] = token
        return out
