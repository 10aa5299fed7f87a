"""Reading events: GetLogEvents (one stream, forward and backward tokens in AWS's 'f/…' and 'b/…'
form) and FilterLogEvents (a group's streams interleaved by time, with a filter pattern).

Positions are (timestamp, event id); a token names the position to continue after (forward) or
before (backward). At the end of a stream GetLogEvents returns the token it was given, as AWS does,
which is how SDK paginators and `aws logs tail` know to stop.
"""

from __future__ import annotations

import base64
import binascii
import json

from ...core.context import RequestContext
from ...store import Record
from . import names
from .filter_pattern import compile_pattern
from .groups import LogGroups
from .streams import LogStreams

MAX_LIMIT = 10_000
MAX_RESPONSE_BYTES = 1_048_576
END_OF_TIME = 2**62


def event_id(ts: int, row_id: int) -> str:
    return f"{ts:020d}{row_id:036d}"


def position_token(direction: str, ts: int, row_id: int) -> str:
    return f"{direction}/{event_id(ts, row_id)}"


def read_position(token: str) -> tuple[str, tuple[int, int]]:
    direction, _, digits = token.partition("/")
    if direction not in ("f", "b") or len(digits) != 56 or not digits.isdigit():
        raise names.bad_token()
    return direction, (int(digits[:20]), int(digits[20:]))


class Reads:
    def __init__(self, groups: LogGroups, streams: LogStreams):
        self.groups = groups
        self.streams = streams
        self.events = groups.events

    def window(self, group: Record, start: int | None, end: int | None) -> tuple[int, int]:
        """[start, end) in ms, with the group's retention applied (older events are never returned)."""
        floor = self.groups.retention_floor(group)
        return max(start or 0, floor), end if end is not None else END_OF_TIME

    def GetLogEvents(self, ctx: RequestContext, params: dict) -> dict:
        group = self.groups.find(ctx, params)
        stream = self.streams.find(ctx, group, params["logStreamName"])
        limit = min(params.get("limit") or MAX_LIMIT, MAX_LIMIT)
        start, end = self.window(group, params.get("startTime"), params.get("endTime"))
        token = params.get("nextToken")
        direction, position = read_position(token) if token else ("f" if params.get("startFromHead") else "b", None)
        rows = []
        size = 0
        for row in self.events.scan(group.spec["uid"], [stream.spec["uid"]], start, end, position,
                                    descending=direction == "b", batch=min(limit, 5000)):
            size += len(row[4].encode("utf-8")) + 26
            if len(rows) >= limit or (rows and size > MAX_RESPONSE_BYTES):
                break
            rows.append(row)
        if direction == "b":
            rows.reverse()
        events = [{"timestamp": r[2], "message": r[4], "ingestionTime": r[3]} for r in rows]
        if rows:
            forward = position_token("f", rows[-1][2], rows[-1][0])
            backward = position_token("b", rows[0][2], rows[0][0])
        else:
            edge = position or ((start, 0) if direction == "f" else (end, 0))
            forward = token if token and direction == "f" else position_token("f", *edge)
            backward = token if token and direction == "b" else position_token("b", *edge)
        return {"events": events, "nextForwardToken": forward, "nextBackwardToken": backward}

    def FilterLogEvents(self, ctx: RequestContext, params: dict) -> dict:
        group = self.groups.find(ctx, params)
        names_given, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names_given and prefix:
            raise names.invalid("logStreamNames and logStreamNamePrefix are mutually exclusive")
        pattern = compile_pattern(params.get("filterPattern") or "")
        streams = self.streams.of_group(ctx, group)
        by_uid = {s.spec["uid"]: s.spec["logStreamName"] for s in streams}
        chosen: list[int] | None = None
        if names_given:
            wanted = set(names_given)
            chosen = [uid for uid, name in by_uid.items() if name in wanted]
            if len(chosen) < len(wanted):
                raise names.stream_not_found()
        elif prefix:
            chosen = [uid for uid, name in by_uid.items() if name.startswith(prefix)]
        limit = min(params.get("limit") or MAX_LIMIT, MAX_LIMIT)
        end = params.get("endTime")
        start, end = self.window(group, params.get("startTime"), end + 1 if end is not None else None)
        after = self._filter_position(params.get("nextToken"), group)
        out_events: list[dict] = []
        size = 0
        last = None
        more = False
        where, args = pattern.sql
        confirm = not pattern.exact  # an exact SQL condition has decided already
        for row in self.events.scan(group.spec["uid"], chosen, start, end, after, where=where, args=args):
            if confirm and not pattern.matches(row[4]):
                continue
            size += len(row[4].encode("utf-8")) + 26
            if len(out_events) >= limit or (out_events and size > MAX_RESPONSE_BYTES):
                more = True
                break
            out_events.append({
                "logStreamName": by_uid.get(row[1], ""), "timestamp": row[2], "message": row[4],
                "ingestionTime": row[3], "eventId": event_id(row[2], row[0]),
            })
            last = (row[2], row[0])
        searched = [{"logStreamName": by_uid[uid], "searchedCompletely": not more}
                    for uid in (chosen if chosen is not None else by_uid)]
        out: dict = {"events": out_events, "searchedLogStreams": searched}
        if more and last is not None:
            out["nextToken"] = base64.urlsafe_b64encode(
                json.dumps({"g": group.spec["uid"], "p": list(last)}).encode()).decode()
        return out

    @staticmethod
    def _filter_position(token: str | None, group: Record) -> tuple[int, int] | None:
        if not token:
            return None
        try:
            document = json.loads(base64.urlsafe_b64decode(token.encode()))
            if document["g"] != group.spec["uid"]:
                raise ValueError
            ts, row_id = document["p"]
            return int(ts), int(row_id)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise names.bad_token() from None
