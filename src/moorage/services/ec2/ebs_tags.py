"""Tags on EBS volumes and snapshots, for EC2's CreateTags, DeleteTags and DescribeTags
(network_tags.py routes vol- and snap- ids here). Tags live in the resource's record as
[{"Key", "Value"}], the form the network resources use, so the same change functions apply.
"""

from __future__ import annotations

import copy
from typing import Callable

from ...core.context import RequestContext
from ...core.kinds import SNAPSHOT, VOLUME
from ...store import Conflict, Key, NotFound
from .volumes import check_snapshot_id, check_volume_id, snapshot_not_found, volume_not_found

KIND_OF_PREFIX = {"vol": VOLUME, "snap": SNAPSHOT}
ID_FIELD = {VOLUME: "volumeId", SNAPSHOT: "snapshotId"}


def split_ebs(resources: list[str]) -> tuple[list[str], list[str]]:
    """(volume and snapshot ids, the other ids)."""
    ebs = [r for r in resources if r.split("-", 1)[0] in KIND_OF_PREFIX]
    return ebs, [r for r in resources if r not in ebs]


def _key(ctx: RequestContext, resource: str) -> Key:
    kind = KIND_OF_PREFIX[resource.split("-", 1)[0]]
    return Key(ctx.account, ctx.region, kind, resource)


def _not_found(resource: str):
    return volume_not_found(resource) if resource.startswith("vol-") else snapshot_not_found(resource)


def require_ebs(store, ctx: RequestContext, resources: list[str]) -> None:
    """Every volume and snapshot named exists (checked before anything is changed)."""
    for resource in resources:
        (check_volume_id if resource.startswith("vol-") else check_snapshot_id)(resource)
        if store.get(_key(ctx, resource)) is None:
            raise _not_found(resource)


def change_ebs_tags(store, ctx: RequestContext, resources: list[str], change: Callable[[dict], None]) -> None:
    """Apply change to each resource's {"Tags": [...]} with compare-and-set."""
    for resource in resources:
        key = _key(ctx, resource)
        while True:
            record = store.get(key)
            if record is None:
                raise _not_found(resource)
            spec = copy.deepcopy(record.spec)
            holder = {"Tags": spec["tags"]}
            change(holder)
            spec["tags"] = holder["Tags"]
            try:
                store.update_spec(record, spec)
                break
            except Conflict:
                continue
            except NotFound:
                raise _not_found(resource) from None


def ebs_tag_descriptions(store, ctx: RequestContext) -> list[dict]:
    return [
        {"Key": tag["Key"], "Value": tag["Value"], "ResourceId": record.spec[ID_FIELD[kind]], "ResourceType": kind}
        for kind in (VOLUME, SNAPSHOT)
        for record in store.list(ctx.account, ctx.region, kind)
        for tag in record.spec["tags"]
    ]
