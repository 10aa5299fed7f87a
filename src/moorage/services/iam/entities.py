"""What every IAM operation shares: finding, creating and changing records, views, tags, pages."""

from __future__ import annotations

import copy
import time
from typing import Callable

from ...core.kinds import GROUP, INSTANCE_PROFILE, ROLE, USER
from ...store import AlreadyExists, Conflict, NotFound, Record, SqliteStore
from ..base import offset_page
from . import names

DEFAULT_MAX_ITEMS = 100
MAX_TAGS = 50
RESOURCE_TYPE = {USER: "user", GROUP: "group", ROLE: "role", INSTANCE_PROFILE: "instance-profile"}
NAME_FIELD = {USER: "UserName", GROUP: "GroupName", ROLE: "RoleName", INSTANCE_PROFILE: "InstanceProfileName"}
ID_FIELD = {USER: "UserId", GROUP: "GroupId", ROLE: "RoleId", INSTANCE_PROFILE: "InstanceProfileId"}


def now() -> int:
    return int(time.time())


def page(items: list, params: dict, field: str) -> dict:
    """IAM pagination: MaxItems (default 100), an opaque Marker, IsTruncated."""
    chunk, following = offset_page(
        items, params.get("Marker"), params.get("MaxItems") or DEFAULT_MAX_ITEMS,
        lambda marker: names.validation_error("Invalid Marker."),
    )
    result: dict = {field: chunk, "IsTruncated": following is not None}
    if following:
        result["Marker"] = following
    return result


def with_path_prefix(records: list[Record], prefix: str | None) -> list[Record]:
    return [r for r in records if r.spec["Path"].startswith(prefix or "/")]


DUPLICATE_TAG_KEYS = "Duplicate tag keys found. Please note that Tag keys are case insensitive."


def merged_tags(current: list[dict], added: list[dict]) -> list[dict]:
    """TagX semantics: IAM tag keys are case-insensitive (case is kept as last written), so a request
    naming one key twice in different cases is InvalidInput, and a new tag replaces the old one whose
    key differs only in case; at most 50 tags."""
    seen: set[str] = set()
    for tag in added:
        if tag["Key"].lower() in seen:
            raise names.invalid_input(DUPLICATE_TAG_KEYS)
        seen.add(tag["Key"].lower())
    by_key = {t["Key"].lower(): (t["Key"], t["Value"]) for t in current}
    by_key.update({t["Key"].lower(): (t["Key"], t.get("Value", "")) for t in added})
    if len(by_key) > MAX_TAGS:
        raise names.limit_exceeded(f"The number of tags has reached the maximum limit ({MAX_TAGS}).")
    return [{"Key": k, "Value": v} for k, v in by_key.values()]


def without_tags(current: list[dict], keys: list[str]) -> list[dict]:
    """UntagX: the tags whose keys are not named, compared case-insensitively as IAM compares them."""
    gone = {k.lower() for k in keys}
    return [t for t in current if t["Key"].lower() not in gone]


def entity_arn(partition: str, account: str, kind: str, spec: dict) -> str:
    return names.arn(partition, account, RESOURCE_TYPE[kind], spec["Path"], spec[NAME_FIELD[kind]])


class IamStore:
    """IAM's records in the shared store, with IAM's errors for missing and duplicate entities."""

    def __init__(self, store: SqliteStore):
        self.store = store

    def find(self, account: str, kind: str, name: str) -> Record | None:
        return self.store.get(names.key(account, kind, name))

    def require(self, account: str, kind: str, name: str) -> Record:
        record = self.find(account, kind, name)
        if record is None:
            raise names.entity_not_found(kind, name)
        return record

    def all(self, account: str, kind: str) -> list[Record]:
        return self.store.list(account, names.GLOBAL, kind)

    def insert(self, account: str, kind: str, name: str, spec: dict) -> Record:
        try:
            return self.store.create(names.key(account, kind, name), spec)
        except AlreadyExists:
            raise names.already_exists(kind, name) from None

    def change(self, record: Record, change: Callable[[dict], None], missing: Callable[[], Exception]) -> Record:
        """Apply change() to a copy of the spec and write it (compare-and-set), re-reading on conflict.
        change() may raise an AwsError to refuse; missing() is raised if the record disappears."""
        while True:
            spec = copy.deepcopy(record.spec)
            change(spec)
            if spec == record.spec:
                return record
            try:
                return self.store.update_spec(record, spec)
            except Conflict:
                pass
            except NotFound:
                raise missing() from None
            fresh = self.store.get(record.key)
            if fresh is None:
                raise missing()
            record = fresh

    def update(self, account: str, kind: str, name: str, change: Callable[[dict], None]) -> Record:
        record = self.require(account, kind, name)
        return self.change(record, change, lambda: names.entity_not_found(kind, name))

    def remove(self, account: str, kind: str, name: str, check: Callable[[Record], None], shown_as: str | None = None) -> Record:
        """Delete an entity once check(record) passes (it raises DeleteConflict otherwise); a change
        between the check and the delete makes us check again. shown_as names it in NoSuchEntity."""
        while True:
            record = self.find(account, kind, name)
            if record is None:
                raise names.entity_not_found(kind, shown_as or name)
            check(record)
            try:
                self.store.remove(record)
                return record
            except Conflict:
                continue


class TagOperations:
    """Tag, untag and list tags of users, roles and instance profiles; mixed into IamService."""

    entities: IamStore

    def _tag(self, ctx, kind: str, name: str, tags: list[dict]) -> dict:
        self.entities.update(ctx.account, kind, name, lambda s: s.update(Tags=merged_tags(s.get("Tags", []), tags)))
        return {}

    def _untag(self, ctx, kind: str, name: str, keys: list[str]) -> dict:
        self.entities.update(ctx.account, kind, name, lambda s: s.update(Tags=without_tags(s.get("Tags", []), keys)))
        return {}

    def _list_tags(self, ctx, kind: str, name: str, params: dict) -> dict:
        return page(self.entities.require(ctx.account, kind, name).spec.get("Tags", []), params, "Tags")
