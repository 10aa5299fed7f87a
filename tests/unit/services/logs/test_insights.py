"""The Logs Insights language: parsing (and MalformedQueryException), and each command's meaning
over a small set of events."""

import json

import pytest

from moorage.core.errors import AwsError
from moorage.services.logs.insights_commands import Event, Run, Timestamp, check, literal_prefilter, results
from moorage.services.logs.insights_parse import QueryError, malformed, parse_query

BASE = 1_796_000_000_000 - 1_796_000_000_000 % 300_000  # on a 5-minute boundary


def events():
    rows = [
        {"verb": "create", "user": {"username": "alice"}, "objectRef": {"resource": "namespaces"}, "latency": 10},
        {"verb": "delete", "user": {"username": "bob"}, "objectRef": {"resource": "pods"}, "latency": 30},
        {"verb": "delete", "user": {"username": "alice"}, "objectRef": {"resource": "pods"}, "latency": 50},
        {"verb": "get", "user": {"username": "carol"}, "objectRef": {"resource": "pods"}, "latency": 70},
    ]
    out = []
    for i, row in enumerate(rows):
        out.append((BASE + i * 120_000, json.dumps(row)))
    out.append((BASE + 600_000, "ERROR 10.0.0.1 GET /health 503 12ms"))
    out.append((BASE + 660_000, "INFO 10.0.0.2 GET /index 200 3ms"))
    out.sort(reverse=True)  # newest first, as the store gives them
    return [Event({"@timestamp": Timestamp(ts), "@message": m, "@logStream": "s1" if i % 2 else "s2",
                   "@log": "111122223333:/g", "@ingestionTime": Timestamp(ts), "@ptr": str(i)})
            for i, (ts, m) in enumerate(out)]


def run(query, limit=10000):
    r = Run(parse_query(query))
    rows = r.execute(events(), limit)
    return [{c["field"]: c["value"] for c in cells} for cells in results(r, rows)], r


def test_default_fields_newest_first():
    rows, _ = run("fields @timestamp, @message | limit 2")
    assert [r["@message"][:4] for r in rows] == ["INFO", "ERRO"]
    assert rows[0]["@timestamp"].count(":") == 2 and "." in rows[0]["@timestamp"]
    assert "@ptr" in rows[0]


def test_filter_on_json_fields():
    rows, _ = run('filter verb = "delete" | fields user.username')
    assert sorted(r["user.username"] for r in rows) == ["alice", "bob"]


@pytest.mark.parametrize("query,count", [
    ('filter verb != "delete"', 4 - 2),  # events without verb do not compare
    ("filter latency > 20", 3),
    ("filter latency >= 30 and latency <= 50", 2),
    ('filter verb in ["get", "create"]', 2),
    ('filter verb not in ["get", "create"]', 2),
    ("filter @message like /ERROR|INFO/", 2),
    ('filter @message like "GET"', 2),
    ("filter @message =~ /^ERROR/", 1),
    ("filter @message not like /ERROR/", 5),
    ("filter ispresent(verb)", 4),
    ("filter not ispresent(verb)", 2),
    ('filter verb = "delete" or latency = 70', 3),
    ('filter (verb = "delete" or verb = "get") and user.username = "alice"', 1),
    ("filter strlen(verb) = 6", 3),
    ("filter latency * 2 > 90", 2),
    ('filter toupper(verb) = "GET"', 1),
])
def test_filters(query, count):
    rows, _ = run(query)
    assert len(rows) == count


def test_stats_count_by_field():
    rows, _ = run("stats count(*) as n by verb | sort n desc, verb asc")
    assert rows[0] == {"verb": "delete", "n": "2"}
    assert {r.get("verb"): r["n"] for r in rows[1:]} == {"create": "1", "get": "1", None: "2"}  # no verb: one group


def test_stats_without_by_and_events_without_the_field():
    rows, _ = run("stats count(*), count(verb), avg(latency), sum(latency), min(latency), max(latency), pct(latency, 50)")
    assert rows == [{"count(*)": "6", "count(verb)": "4", "avg(latency)": "40", "sum(latency)": "160",
                     "min(latency)": "10", "max(latency)": "70", "pct(latency, 50)": "30"}]


def test_stats_by_bin():
    rows, _ = run("stats count(*) by bin(5m)")
    assert [r["count(*)"] for r in rows] == ["3", "1", "2"]
    assert rows[0]["bin(5m)"].endswith(":00:00.000") or rows[0]["bin(5m)"].endswith("5:00.000") or rows[0]["bin(5m)"].endswith("0:00.000")


def test_stats_by_two_fields_and_count_distinct():
    rows, _ = run('filter ispresent(verb) | stats count_distinct(user.username) as users by objectRef.resource')
    assert {r["objectRef.resource"]: r["users"] for r in rows} == {"namespaces": "1", "pods": "3"}


def test_parse_glob_and_regex():
    rows, _ = run('filter @message like /GET/ | parse @message "* * * * *" as level, ip, method, path, rest '
                  "| fields level, rest | sort rest asc")
    assert [(r["level"], r["rest"]) for r in rows] == [("INFO", "200 3ms"), ("ERROR", "503 12ms")]
    rows, _ = run(r"parse @message /(?<level>[A-Z]+) (?<ip>\S+)/ | filter level = 'ERROR' | display ip")
    assert [r["ip"] for r in rows] == ["10.0.0.1"] and set(rows[0]) == {"ip", "@ptr"}


def test_sort_limit_dedup():
    rows, _ = run("filter ispresent(verb) | sort latency desc | dedup verb | fields verb, latency")
    assert [(r["verb"], r["latency"]) for r in rows] == [("get", "70"), ("delete", "50"), ("create", "10")]
    rows, _ = run("fields latency | sort latency asc | limit 2")
    assert [r.get("latency") for r in rows] == ["10", "30"]


def test_fields_with_alias_and_arithmetic_and_functions():
    rows, _ = run('filter verb = "create" | fields latency / 10 as tenth, concat(verb, "-", user.username) as who')
    assert rows[0]["tenth"] == "1" and rows[0]["who"] == "create-alice"


def test_display_limits_columns():
    rows, _ = run('filter verb = "get" | fields verb, latency | display verb')
    assert [set(r) for r in rows] == [{"verb", "@ptr"}]


def test_statistics_count_matches():
    _, r = run('filter verb = "delete"')
    assert r.matched == 2


def test_comments_and_whitespace():
    rows, _ = run("# all the deletes\nfilter verb = 'delete'\n| stats count(*) as n")
    assert rows == [{"n": "2"}]


def test_prefilter_literals():
    assert literal_prefilter(parse_query('filter verb = "delete" and code = 5 | stats count(*)')) == ["delete"]
    assert literal_prefilter(parse_query('filter verb = "delete" or verb = "get"')) == []
    assert literal_prefilter(parse_query('parse @message "* *" as verb, x | filter verb = "delete"')) == []


@pytest.mark.parametrize("query", [
    "", "fields", "filter", "filterx verb = 1", "stats", "stats verb", "stats count(*) by", "fields a |",
    "limit 0", "limit x", "sort", "filter verb = ", "filter (a = 1", "filter a like /unterminated",
    "parse @message", "parse @message \"no wildcard\" as a", 'parse @message "* *" as a',
    "fields nosuchfunction(a)", "dedup", "filter a in [1, 2", "stats pct(a)", "filter count(*) > 1",
    "fields a $ b", "parse @message /no groups/",
])
def test_malformed_queries(query):
    with pytest.raises(AwsError) as caught:
        commands = parse_query(query)
        try:
            check(commands)
        except ValueError as error:
            raise malformed(QueryError(str(error))) from None
    assert caught.value.code == "MalformedQueryException"
    assert "queryCompileError" in caught.value.extra_fields


def test_counting_plan_agrees_with_reading_every_event(tmp_path):
    """`stats count(*) by bin(..)` is counted by SQLite: same rows as the Python path."""
    from moorage.core.context import RequestContext
    from moorage.services.logs.service import LogsService
    from moorage.store import SqliteStore
    from moorage.store.log_events import LogEventStore

    service = LogsService(SqliteStore(tmp_path / "state.db"), LogEventStore(tmp_path / "logs.db"))
    ctx = RequestContext("111122223333", "us-west-2", "", "", "")
    import time as _time
    now = int(_time.time() * 1000)
    for stream in ("a", "b"):
        service.append_events(ctx.account, ctx.region, "/g", stream, [(now - i * 61_000, f"line {i}") for i in range(40)])
    spec = {"logGroupNames": ["/g"], "startTime": 0, "endTime": now // 1000 + 10, "limit": 10000}
    for query in ("stats count(*) by bin(5m)", "stats count(*) as n by @logStream, bin(10m) | sort n desc | limit 3"):
        counted = service.queries.run_now(ctx, {**spec, "queryString": query})
        # A filter that keeps everything forces the event-by-event path.
        read = service.queries.run_now(ctx, {**spec, "queryString": "filter ispresent(@message) | " + query})
        assert counted["results"] == read["results"] and counted["results"]
        assert counted["statistics"]["recordsScanned"] == 80
