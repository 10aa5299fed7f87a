"""CloudWatch Logs: PutLogEvents ingest, FilterLogEvents and Logs Insights over a million events, and
the store's size per million events.

    .venv/bin/python bench/logs.py [--events 1000000]

Goals (2 cores): PutLogEvents ≥ 20,000 events/s; FilterLogEvents over 1,000,000 stored events ≤ 1 s;
an Insights stats query over the same ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import multiprocessing
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Moorage  # noqa: E402
from report import write_section  # noqa: E402

GROUP = "/aws/eks/bench/cluster"
BATCH = 10_000
STREAMS = 4
CLIENTS = 2
VERBS = ["get"] * 12 + ["list"] * 5 + ["watch"] * 3 + ["update", "patch", "create", "delete"]
RESOURCES = ["pods", "configmaps", "secrets", "leases", "nodes", "events", "namespaces", "deployments"]


def audit_event(rng: random.Random, ts: int, n: int) -> str:
    """An audit event shaped like kube-apiserver's (about 300 bytes)."""
    verb, resource = rng.choice(VERBS), rng.choice(RESOURCES)
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"{n:08x}-0000-4000-8000-{n:012x}",
        "stage": "ResponseComplete", "requestURI": f"/api/v1/namespaces/default/{resource}/x{n % 997}", "verb": verb,
        "user": {"username": rng.choice(["system:kube-scheduler", "system:node:ip-10-0-1-7", "kubernetes-admin"])},
        "objectRef": {"resource": resource, "namespace": "default", "name": f"x{n % 997}"},
        "responseStatus": {"code": 404 if n % 1000 == 7 else 200}, "latencyMs": n % 250,
    }, separators=(",", ":"))


def timed(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with Moorage() as moorage:
        logs = moorage.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        for s in range(STREAMS):
            logs.create_log_stream(logGroupName=GROUP, logStreamName=f"kube-apiserver-audit-{s}")
        now = int(time.time() * 1000)
        span = 10 * 3600 * 1000  # the events cover the last 10 hours
        first = now - span
        batches = []
        rng = random.Random(7)
        step = span / args.events
        events, size = [], 0
        for n in range(args.events):  # batches as full as PutLogEvents allows: 10,000 events or 1 MiB
            message = audit_event(rng, 0, n)
            if len(events) == BATCH or size + len(message) + 26 > 1_048_576:
                batches.append((f"kube-apiserver-audit-{len(batches) % STREAMS}", events))
                events, size = [], 0
            events.append({"timestamp": int(first + n * step), "message": message})
            size += len(message) + 26
        if events:
            batches.append((f"kube-apiserver-audit-{len(batches) % STREAMS}", events))
        payload_bytes = sum(len(e["message"]) for _, events in batches for e in events)

        def worker(k):
            client = moorage.client("logs")
            for stream, events in batches[k::CLIENTS]:
                client.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)

        # Client processes (forked: they inherit the batches), so boto3's own work is not serialised by one GIL.
        clients = [multiprocessing.get_context("fork").Process(target=worker, args=(k,)) for k in range(CLIENTS)]
        start = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join()
            assert c.exitcode == 0
        ingest_s = time.perf_counter() - start
        total = sum(len(events) for _, events in batches)
        rate = total / ingest_s
        size = sum(p.stat().st_size for p in (moorage.workdir / "data").glob("logs.db*"))

        def filter_all(pattern):
            def run():
                found = logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern, startTime=first - 1)
                run.count = len(found["events"])
            run()
            return timed(run), run.count

        filters = [
            ("term, rare (full scan)", "kube-apiserver-audit-does-not-occur"),
            ("quoted phrase, 1 in 1000 (full scan)", '"\\"code\\":404"'),
            ("JSON, 1 in 1000 (full scan)", "{ $.responseStatus.code = 404 }"),
            ("JSON, equality and numeric (full scan)", '{ $.verb = "delete" && $.latencyMs > 248 }'),
            ("JSON, common: the first page (1 MB)", '{ $.verb = "get" }'),
            ("space-delimited, common: the first page (1 MB)", "[kind, ...]"),
        ]
        filter_rows = []
        for label, pattern in filters:
            seconds, count = filter_all(pattern)
            filter_rows.append(f"| {label} | `{pattern}` | {count} | {seconds:.3f} |")

        def insights(query):
            def run():
                query_id = logs.start_query(logGroupName=GROUP, startTime=first // 1000 - 1, endTime=now // 1000 + 1,
                                            queryString=query)["queryId"]
                while True:
                    result = logs.get_query_results(queryId=query_id)
                    if result["status"] not in ("Scheduled", "Running"):
                        break
                    time.sleep(0.02)
                assert result["status"] == "Complete", result
                run.rows = len(result["results"])
                run.scanned = int(result["statistics"]["recordsScanned"])
            run()
            return timed(run, 2), run.rows, run.scanned

        queries = [
            "stats count(*) by bin(5m)",
            'filter verb = "delete" | stats count(*) by objectRef.resource',
            "stats count(*) by verb",
            "fields @timestamp, verb, requestURI | sort @timestamp desc | limit 20",
        ]
        query_rows = []
        for query in queries:
            seconds, rows, scanned = insights(query)
            query_rows.append(f"| `{query}` | {rows} | {scanned} | {seconds:.3f} |")

    body = f"""
`bench/logs.py --events {args.events}`: a Moorage (`moorage up`, one API worker), {total:,} Kubernetes audit-shaped
JSON events of about {payload_bytes // total} bytes in one log group, {STREAMS} streams, written by two boto3 client processes in
parallel batches of up to {BATCH:,} events or 1 MiB (about {total // len(batches):,} events each) (the clients share the 2 cores). Every call SigV4-verified, parsed and validated from
botocore's model. Times are medians of 3 runs (2 for Insights, from StartQuery to status Complete).

| PutLogEvents | events/s | MB/s | goal |
|---|---|---|---|
| {total:,} events in {ingest_s:.1f} s | {rate:,.0f} | {payload_bytes / ingest_s / 1e6:.1f} | ≥ 20,000 events/s |

Store: {size / 1e6:.0f} MB on disk for {total:,} events ({size / total * 1_000_000 / 1e6:.0f} MB per million events of
~{payload_bytes // total} bytes, including the two time indexes).

FilterLogEvents over all {total:,} events (goal ≤ 1 s):

| pattern | | events returned | seconds |
|---|---|---|---|
{chr(10).join(filter_rows)}

Logs Insights over the same events (goal ≤ 2 s for a stats query):

| query | result rows | records scanned | seconds |
|---|---|---|---|
{chr(10).join(query_rows)}
"""
    write_section("CloudWatch Logs", body)
    print(body)


if __name__ == "__main__":
    main()
