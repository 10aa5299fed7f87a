"""Log streams: Create/Delete/DescribeLogStreams. A stream is a record (kind log-stream, name
'<group>:<stream>') with a uid; its figures (first and last event, last ingestion, stored bytes) are
kept by the log-event store in the same transaction as its events."""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import LOG_STREAM
from ...store import AlreadyExists, Record
from ..base import offset_page
from . import names
from .groups import LogGroups, new_uid, now_ms

ORDERS = ("LogStreamName", "LastEventTime")


class LogStreams:
    def __init__(self, groups: LogGroups):
        self.groups = groups
        self.store = groups.store
        self.events = groups.events

    def find(self, ctx: RequestContext, group: Record, stream: str) -> Record:
        record = self.store.get(names.stream_key(ctx.account, ctx.region, group.key.name, stream))
        if record is None or record.spec.get("groupUid") != group.spec["uid"]:
            raise names.stream_not_found()
        return record

    def of_group(self, ctx: RequestContext, group: Record) -> list[Record]:
        prefix = f"{group.key.name}:"
        return [r for r in self.store.list(ctx.account, ctx.region, LOG_STREAM)
                if r.key.name.startswith(prefix) and r.spec.get("groupUid") == group.spec["uid"]]

    def create(self, ctx: RequestContext, group: Record, stream: str) -> Record:
        spec = {"uid": new_uid(), "groupUid": group.spec["uid"], "logStreamName": stream, "creationTime": now_ms()}
        try:
            return self.store.create(names.stream_key(ctx.account, ctx.region, group.key.name, stream), spec)
        except AlreadyExists:
            raise AwsError("ResourceAlreadyExistsException", "The specified log stream already exists") from None

    def CreateLogStream(self, ctx: RequestContext, params: dict) -> dict:
        self.create(ctx, self.groups.find(ctx, params), params["logStreamName"])
        return {}

    def DeleteLogStream(self, ctx: RequestContext, params: dict) -> dict:
        group = self.groups.find(ctx, params)
        stream = self.find(ctx, group, params["logStreamName"])
        self.store.remove(stream)
        self.events.drop_stream(stream.spec["uid"])
        return {}

    def DescribeLogStreams(self, ctx: RequestContext, params: dict) -> dict:
        group = self.groups.find(ctx, params)
        order = params.get("orderBy") or "LogStreamName"
        prefix = params.get("logStreamNamePrefix")
        if order == "LastEventTime" and prefix:
            raise names.invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams = self.of_group(ctx, group)
        if prefix:
            streams = [s for s in streams if s.spec["logStreamName"].startswith(prefix)]
        figures = self.events.figures(group.spec["uid"])
        views = [self.view(ctx, group, s, figures.get(s.spec["uid"])) for s in streams]
        if order == "LastEventTime":
            views.sort(key=lambda v: (v.get("lastEventTimestamp", 0), v["logStreamName"]))
        else:
            views.sort(key=lambda v: v["logStreamName"])
        if params.get("descending"):
            views.reverse()
        page, token = offset_page(views, params.get("nextToken"), params.get("limit") or 50, lambda _: names.bad_token())
        out: dict = {"logStreams": page}
        if token:
            out["nextToken"] = token
        return out

    @staticmethod
    def view(ctx: RequestContext, group: Record, stream: Record, figures) -> dict:
        name = stream.spec["logStreamName"]
        out = {
            "logStreamName": name, "creationTime": stream.spec["creationTime"],
            "arn": names.stream_arn(ctx.partition, ctx.region, ctx.account, group.key.name, name),
            "storedBytes": figures.stored_bytes if figures else 0,
        }
        if figures and figures.first_ts is not None:
            out.update(firstEventTimestamp=figures.first_ts, lastEventTimestamp=figures.last_ts,
                       lastIngestionTime=figures.last_ingested)
        return out
