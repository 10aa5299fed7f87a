"""append_events, the shipper's entry point: creates what is missing, stores durably with its cursor,
and drops what PutLogEvents would reject."""

import time

from moorage.core.context import RequestContext
from moorage.services.logs.service import LogsService
from moorage.store import SqliteStore
from moorage.store.log_events import LogEventStore

ACCOUNT, REGION = "111122223333", "us-west-2"


def service(tmp_path):
    return LogsService(SqliteStore(tmp_path / "state.db"), LogEventStore(tmp_path / "logs.db"))


def test_append_creates_group_and_stream_and_keeps_the_cursor(tmp_path):
    logs = service(tmp_path)
    now = int(time.time() * 1000)
    stored = logs.append_events(ACCOUNT, REGION, "/aws/eks/demo/cluster", "kube-apiserver-audit-1",
                                [(now, "b"), (now - 1, "a"), (now - 15 * 86_400_000, "too old"), (now + 3 * 3_600_000, "too new")],
                                cursor=("demo/audit", "1234"))
    assert stored == 2
    # Reopened, as after a crash: the events and the cursor agree.
    again = service(tmp_path)
    assert again.ingest.cursor("demo/audit") == "1234"
    ctx = RequestContext(ACCOUNT, REGION, "", "", "")
    events = again.reads.GetLogEvents(ctx, {"logGroupName": "/aws/eks/demo/cluster", "logStreamName": "kube-apiserver-audit-1",
                                            "startFromHead": True})["events"]
    assert [e["message"] for e in events] == ["a", "b"]
    assert again.append_events(ACCOUNT, REGION, "/aws/eks/demo/cluster", "kube-apiserver-audit-1", [(now, "c")]) == 1


def test_a_recreated_stream_does_not_see_old_events(tmp_path):
    logs = service(tmp_path)
    ctx = RequestContext(ACCOUNT, REGION, "", "", "")
    now = int(time.time() * 1000)
    logs.append_events(ACCOUNT, REGION, "/g", "s", [(now, "old")])
    logs.streams.DeleteLogStream(ctx, {"logGroupName": "/g", "logStreamName": "s"})
    logs.streams.CreateLogStream(ctx, {"logGroupName": "/g", "logStreamName": "s"})
    assert logs.reads.FilterLogEvents(ctx, {"logGroupName": "/g"})["events"] == []
