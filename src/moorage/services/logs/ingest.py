"""Ingest: PutLogEvents with AWS's limits and rejections, and append_events, the one call a log
shipper (a controller) makes to add events durably.

AWS's rules today (API reference, PutLogEvents): sequence tokens are ignored (never
InvalidSequenceTokenException); a batch holds at most 10,000 events (the model's limit, checked by the
gateway) and 1,048,576 bytes counting 26 bytes per event; its events must be in chronological order,
and the valid ones may not span more than 24 hours, else the whole call fails. Events more than
2 hours in the future, or older than 14 days or than the group's retention, are rejected while the
rest are stored, and reported in rejectedLogEventsInfo (tooNewLogEventStartIndex, tooOldLogEventEndIndex,
expiredLogEventEndIndex).
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...store import Record
from . import names
from .groups import LogGroups, now_ms
from .streams import LogStreams


def check_batch(events: list[dict]) -> None:
    size = sum(len(e["message"].encode("utf-8")) for e in events) + names.EVENT_OVERHEAD_BYTES * len(events)
    if size > names.MAX_BATCH_BYTES:
        raise names.invalid(f"Upload too large: {size} bytes exceeds limit of {names.MAX_BATCH_BYTES}")
    for earlier, later in zip(events, events[1:]):
        if later["timestamp"] < earlier["timestamp"]:
            raise names.invalid("Log events in a single PutLogEvents request must be in chronological order.")


def split_rejected(events: list[dict], now: int, retention_floor: int) -> tuple[list[tuple[int, str]], dict]:
    """The events to store and rejectedLogEventsInfo. Events are in order, so the too-old ones form a
    prefix and the too-new ones a suffix."""
    too_old_before = now - names.MAX_AGE_MS
    too_new_after = now + names.MAX_FUTURE_MS
    rejected: dict = {}
    start, end = 0, len(events)
    while start < end and (events[start]["timestamp"] < too_old_before or events[start]["timestamp"] < retention_floor):
        start += 1
    if start:
        if any(e["timestamp"] < too_old_before for e in events[:start]):
            rejected["tooOldLogEventEndIndex"] = max(
                i for i in range(start) if events[i]["timestamp"] < too_old_before) + 1
        if retention_floor and any(e["timestamp"] < retention_floor for e in events[:start]):
            rejected["expiredLogEventEndIndex"] = start
    while end > start and events[end - 1]["timestamp"] > too_new_after:
        end -= 1
    if end < len(events):
        rejected["tooNewLogEventStartIndex"] = end
    kept = [(e["timestamp"], e["message"]) for e in events[start:end]]
    if kept and kept[-1][0] - kept[0][0] > names.MAX_BATCH_SPAN_MS:
        raise names.invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    return kept, rejected


class Ingest:
    def __init__(self, groups: LogGroups, streams: LogStreams):
        self.groups = groups
        self.streams = streams
        self.events = groups.events

    def PutLogEvents(self, ctx: RequestContext, params: dict) -> dict:
        group = self.groups.find(ctx, params)
        stream = self.streams.find(ctx, group, params["logStreamName"])
        events = params["logEvents"]
        check_batch(events)
        kept, rejected = split_rejected(events, now_ms(), self.groups.retention_floor(group))
        self._store(group, stream, kept)
        out: dict = {}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    def _store(self, group: Record, stream: Record, kept: list[tuple[int, str]], cursor: tuple[str, str] | None = None) -> None:
        self.groups.purge_expired(group)
        self.events.append(group.spec["uid"], stream.spec["uid"], kept, now_ms(), cursor)

    def append_events(self, account: str, region: str, group_name: str, stream_name: str,
                      events: list[tuple[int, str]], cursor: tuple[str, str] | None = None) -> int:
        """For log shippers: append (timestamp ms, message) events to a stream, creating the group and
        the stream when missing; durable when it returns. Events outside what PutLogEvents accepts
        (older than 14 days or the retention, more than 2 h ahead) are dropped as AWS drops them;
        the rest are stored in timestamp order. `cursor` (name, position) is stored in the same
        transaction (read it back with cursor(name)). Returns how many events were stored."""
        ctx = RequestContext(account=account, region=region, principal_arn="", access_key_id="", request_id="")
        key = names.group_key(account, region, group_name)
        group = self.groups.store.get(key)
        if group is None:
            try:
                self.groups.CreateLogGroup(ctx, {"logGroupName": group_name})
            except AwsError as error:  # created meanwhile by someone else
                if error.code != "ResourceAlreadyExistsException":
                    raise
            group = self.groups.store.require(key)
        try:
            stream = self.streams.find(ctx, group, stream_name)
        except AwsError:
            try:
                stream = self.streams.create(ctx, group, stream_name)
            except AwsError:
                stream = self.streams.find(ctx, group, stream_name)
        now = now_ms()
        floor = max(now - names.MAX_AGE_MS, self.groups.retention_floor(group, now))
        kept = sorted((e for e in events if floor <= e[0] <= now + names.MAX_FUTURE_MS), key=lambda e: e[0])
        self._store(group, stream, kept, cursor)
        return len(kept)

    def cursor(self, name: str) -> str | None:
        return self.events.cursor(name)
