"""Log groups: Create/Delete/DescribeLogGroups, retention, tags (by name and by ARN) and KMS keys.

A group is a record (kind log-group) whose spec holds what AWS reports about it, plus `uid`, the key
of its events in the log-event store. Retention is enforced on reads (older events are not returned)
and by purging (PutRetentionPolicy, and every ingest at most once a minute per group).
"""

from __future__ import annotations

import fnmatch
import random
import time

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import LOG_GROUP, LOG_STREAM
from ...store import AlreadyExists, Record, SqliteStore
from ...store.log_events import LogEventStore
from ..base import offset_page
from . import names

PURGE_INTERVAL_S = 60.0


def now_ms() -> int:
    return int(time.time() * 1000)


def new_uid() -> int:
    return random.getrandbits(62) | 1


class LogGroups:
    def __init__(self, store: SqliteStore, events: LogEventStore):
        self.store = store
        self.events = events
        self._purged: dict[int, float] = {}

    # Lookups shared by every Logs operation

    def find(self, ctx: RequestContext, params: dict, name_field: str = "logGroupName") -> Record:
        """The group named by logGroupName or logGroupIdentifier (a name or an ARN)."""
        name = params.get(name_field)
        identifier = params.get("logGroupIdentifier")
        if name and identifier:
            raise names.invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if identifier:
            name = self.name_of(ctx, identifier)
        if not name:
            raise names.invalid("Either logGroupName or logGroupIdentifier must be specified.")
        record = self.store.get(names.group_key(ctx.account, ctx.region, name))
        if record is None:
            raise names.group_not_found()
        return record

    @staticmethod
    def name_of(ctx: RequestContext, identifier: str) -> str:
        if not identifier.startswith("arn:"):
            return identifier
        parsed = names.group_from_arn(identifier)
        if parsed is None:
            raise names.invalid(f"Invalid log group ARN: {identifier}")
        region, account, group = parsed
        if region != ctx.region or account != ctx.account:
            raise names.group_not_found()
        return group

    def retention_floor(self, group: Record, now: int | None = None) -> int:
        """The oldest timestamp (ms) the group's retention keeps; 0 without retention."""
        days = group.spec.get("retentionInDays")
        if not days:
            return 0
        return (now if now is not None else now_ms()) - days * names.DAY_MS

    def purge_expired(self, group: Record, force: bool = False) -> None:
        floor = self.retention_floor(group)
        uid = group.spec["uid"]
        if floor and (force or time.monotonic() - self._purged.get(uid, 0.0) >= PURGE_INTERVAL_S):
            self._purged[uid] = time.monotonic()
            self.events.purge_before(uid, floor)

    def view(self, ctx: RequestContext, group: Record) -> dict:
        spec = group.spec
        arn = names.group_arn(ctx.partition, ctx.region, ctx.account, spec["logGroupName"])
        stored = sum(f.stored_bytes for f in self.events.figures(spec["uid"]).values())
        out = {
            "logGroupName": spec["logGroupName"], "creationTime": spec["creationTime"], "metricFilterCount": 0,
            "arn": f"{arn}:*", "logGroupArn": arn, "storedBytes": stored, "logGroupClass": spec["logGroupClass"],
            "deletionProtectionEnabled": spec.get("deletionProtectionEnabled", False),
        }
        for optional in ("retentionInDays", "kmsKeyId"):
            if spec.get(optional) is not None:
                out[optional] = spec[optional]
        return out

    # Operations

    def CreateLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        name = params["logGroupName"]
        group_class = params.get("logGroupClass") or "STANDARD"
        tags = params.get("tags") or {}
        check_tags(tags)
        spec = {
            "uid": new_uid(), "logGroupName": name, "creationTime": now_ms(), "logGroupClass": group_class,
            "tags": tags, "deletionProtectionEnabled": bool(params.get("deletionProtectionEnabled", False)),
        }
        if params.get("kmsKeyId"):
            spec["kmsKeyId"] = check_kms_key(params["kmsKeyId"])
        try:
            self.store.create(names.group_key(ctx.account, ctx.region, name), spec)
        except AlreadyExists:
            raise AwsError("ResourceAlreadyExistsException", "The specified log group already exists") from None
        return {}

    def DeleteLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        group = self.find(ctx, params)
        if group.spec.get("deletionProtectionEnabled"):
            raise AwsError("OperationAbortedException",
                           "Log group deletion is not allowed while deletion protection is enabled.")
        prefix = f"{group.spec['logGroupName']}:"
        streams = [r for r in self.store.list(ctx.account, ctx.region, LOG_STREAM) if r.key.name.startswith(prefix)]
        self.store.remove_all([group, *streams])
        self.events.drop_group(group.spec["uid"])
        return {}

    def DescribeLogGroups(self, ctx: RequestContext, params: dict) -> dict:
        prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
        if prefix and pattern:
            raise names.invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        groups = self.store.list(ctx.account, ctx.region, LOG_GROUP)
        if prefix:
            groups = [g for g in groups if g.key.name.startswith(prefix)]
        if pattern:
            groups = [g for g in groups if pattern.lower() in g.key.name.lower()]
        if params.get("logGroupClass"):
            groups = [g for g in groups if g.spec["logGroupClass"] == params["logGroupClass"]]
        if params.get("logGroupIdentifiers"):
            wanted = {self.name_of(ctx, i) for i in params["logGroupIdentifiers"]}
            groups = [g for g in groups if g.key.name in wanted]
        page, token = offset_page(groups, params.get("nextToken"), params.get("limit") or 50, lambda _: names.bad_token())
        out: dict = {"logGroups": [self.view(ctx, g) for g in page]}
        if token:
            out["nextToken"] = token
        return out

    def PutRetentionPolicy(self, ctx: RequestContext, params: dict) -> dict:
        days = params["retentionInDays"]
        if days not in names.RETENTION_DAYS:
            allowed = ", ".join(map(str, names.RETENTION_DAYS))
            raise names.invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                                f"constraint: Member must satisfy enum value set: [{allowed}]")
        group = self._update(ctx, params, retentionInDays=days)
        self.purge_expired(group, force=True)
        return {}

    def DeleteRetentionPolicy(self, ctx: RequestContext, params: dict) -> dict:
        self._update(ctx, params, retentionInDays=None)
        return {}

    def AssociateKmsKey(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("resourceIdentifier") and not params.get("logGroupName"):
            raise names.invalid("Moorage records KMS keys on log groups only (logGroupName).")
        self._update(ctx, params, kmsKeyId=check_kms_key(params["kmsKeyId"]))
        return {}

    def DisassociateKmsKey(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("resourceIdentifier") and not params.get("logGroupName"):
            raise names.invalid("Moorage records KMS keys on log groups only (logGroupName).")
        self._update(ctx, params, kmsKeyId=None)
        return {}

    def _update(self, ctx: RequestContext, params: dict, **changes) -> Record:
        group = self.find(ctx, params)
        spec = {**group.spec, **changes}
        return self.store.update_spec(group, {k: v for k, v in spec.items() if v is not None})

    # Tags: by group name (the old API) and by ARN

    def TagLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(self.find(ctx, params), params["tags"])

    def UntagLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(self.find(ctx, params), params["tags"])

    def ListTagsLogGroup(self, ctx: RequestContext, params: dict) -> dict:
        return {"tags": dict(self.find(ctx, params).spec.get("tags") or {})}

    def TagResource(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(self._by_arn(ctx, params["resourceArn"]), params["tags"])

    def UntagResource(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(self._by_arn(ctx, params["resourceArn"]), params["tagKeys"])

    def ListTagsForResource(self, ctx: RequestContext, params: dict) -> dict:
        return {"tags": dict(self._by_arn(ctx, params["resourceArn"]).spec.get("tags") or {})}

    def _by_arn(self, ctx: RequestContext, arn: str) -> Record:
        parsed = names.group_from_arn(arn)
        if parsed is None:
            raise names.invalid(f"Invalid resource ARN: {arn}")
        region, account, group = parsed
        record = self.store.get(names.group_key(account, region, group)) if (region, account) == (ctx.region, ctx.account) else None
        if record is None:
            raise names.group_not_found()
        return record

    def _tag(self, group: Record, tags: dict) -> dict:
        merged = {**(group.spec.get("tags") or {}), **tags}
        check_tags(merged)
        self.store.update_spec(group, {**group.spec, "tags": merged})
        return {}

    def _untag(self, group: Record, keys: list) -> dict:
        tags = {k: v for k, v in (group.spec.get("tags") or {}).items() if k not in set(keys)}
        self.store.update_spec(group, {**group.spec, "tags": tags})
        return {}


def check_tags(tags: dict) -> None:
    if len(tags) > names.MAX_TAGS:
        raise AwsError("TooManyTagsException", f"A resource can have no more than {names.MAX_TAGS} tags.")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise names.invalid("Tag keys cannot start with the reserved prefix 'aws:'.")


def check_kms_key(key: str) -> str:
    if not fnmatch.fnmatchcase(key, "arn:aws*:kms:*:*:key/*"):
        raise names.invalid(f"Specified KMS key ARN is invalid: {key}. The KMS key must be given as a key ARN.")
    return key
