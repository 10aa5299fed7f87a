"""EBS snapshots: CreateSnapshot, DescribeSnapshots, DeleteSnapshot.

A snapshot is a store record (kind "snapshot", named by its id) of the volume's size, encryption and
the time it was started; it is `pending` with a growing progress for SNAPSHOT_SECONDS, then
`completed` (volume_states.py). A volume can be created from a completed snapshot (volumes.py),
at least as large as the snapshot's VolumeSize, in any zone of the region.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import SNAPSHOT
from ...store import Conflict, Key
from ..base import TAG_PREFIX, match_filters
from .filters import FILTERS
from .network_ops import page, tags_to_create
from .volume_states import snapshot_state, volume_created
from .volumes import EbsStore, check_page_size, check_snapshot_id, iso, iso_text, snapshot_record

MAX_SNAPSHOT_PAGE = 1000  # DescribeSnapshots' MaxResults: 5-1000


def snapshot_view(spec: dict, now: float) -> dict:
    state, progress = snapshot_state(spec["startTime"], now)
    view = {
        "SnapshotId": spec["snapshotId"],
        "VolumeId": spec["volumeId"],
        "VolumeSize": spec["volumeSize"],
        "State": state,
        "StartTime": iso(spec["startTime"]),
        "Progress": f"{progress}%",
        "OwnerId": spec["ownerId"],
        "Description": spec["description"],
        "Encrypted": spec["encrypted"],
        "StorageTier": "standard",
        "Tags": spec["tags"],
    }
    if spec.get("kmsKeyId"):
        view["KmsKeyId"] = spec["kmsKeyId"]
    return view


SNAPSHOT_FILTERS: dict[str, Callable[[dict], Any]] = {
    "description": lambda s: s["Description"],
    "encrypted": lambda s: s["Encrypted"],
    "owner-id": lambda s: s["OwnerId"],
    "owner-alias": lambda s: [],  # only Amazon's own snapshots have an alias
    "transfer-type": lambda s: [],  # only snapshot copies have one
    "progress": lambda s: s["Progress"],
    "snapshot-id": lambda s: s["SnapshotId"],
    "start-time": lambda s: iso_text(s["StartTime"].timestamp()),
    "status": lambda s: s["State"],
    "storage-tier": lambda s: s["StorageTier"],
    TAG_PREFIX: None,  # tag:<key>
    "tag-key": lambda s: [t["Key"] for t in s["Tags"]],
    "tag-value": lambda s: [t["Value"] for t in s["Tags"]],
    "volume-id": lambda s: s["VolumeId"],
    "volume-size": lambda s: s["VolumeSize"],
}
FILTERS["DescribeSnapshots"] = SNAPSHOT_FILTERS


class SnapshotOperations(EbsStore):
    def CreateSnapshot(self, ctx: RequestContext, params: dict) -> dict:
        volume = self._volume_record(ctx, params["VolumeId"]).spec
        if not volume_created(volume, time.time()):
            raise AwsError("IncorrectState", f"Volume '{volume['volumeId']}' is in the 'creating' state.")
        tags = tags_to_create(params, "snapshot")
        snapshot_id = f"snap-{uuid.uuid4().hex[:17]}"
        spec = {
            "snapshotId": snapshot_id,
            "volumeId": volume["volumeId"],
            "volumeSize": volume["size"],
            "ownerId": ctx.account,
            "description": params.get("Description") or "",
            "encrypted": volume["encrypted"],
            "kmsKeyId": volume.get("kmsKeyId"),
            "tags": tags,
            "startTime": time.time(),
        }
        self.store.create(Key(ctx.account, ctx.region, SNAPSHOT, snapshot_id), spec)
        return snapshot_view(spec, time.time())

    def DescribeSnapshots(self, ctx: RequestContext, params: dict) -> dict:
        check_page_size(params, "SnapshotIds", "snapshotSet", MAX_SNAPSHOT_PAGE)
        now = time.time()
        views = sorted((snapshot_view(r.spec, now) for r in self.store.list(ctx.account, ctx.region, SNAPSHOT)),
                       key=lambda s: (s["StartTime"], s["SnapshotId"]))
        owners = params.get("OwnerIds")
        if owners:
            # Only the caller's own snapshots are kept: "self" or the account id; Amazon's and other
            # accounts' public snapshots are not simulated, so they match none.
            views = [v for v in views if "self" in owners or v["OwnerId"] in owners]
        wanted = params.get("SnapshotIds")
        if wanted:
            for snapshot_id in wanted:
                check_snapshot_id(snapshot_id)
            by_id = {v["SnapshotId"]: v for v in views}
            missing = [s for s in dict.fromkeys(wanted) if s not in by_id]
            if missing:
                verb = "does not exist" if len(missing) == 1 else "do not exist"
                noun = "snapshot" if len(missing) == 1 else "snapshots"
                raise AwsError("InvalidSnapshot.NotFound", f"The {noun} '{', '.join(missing)}' {verb}.")
            views = [by_id[s] for s in dict.fromkeys(wanted)]
        views = match_filters(views, params.get("Filters"), SNAPSHOT_FILTERS)
        return page(params, views, "Snapshots")

    def DeleteSnapshot(self, ctx: RequestContext, params: dict) -> dict:
        snapshot_id = params["SnapshotId"]
        while True:
            record = snapshot_record(self.store, ctx, snapshot_id)
            try:
                self.store.remove(record)
                return {}
            except Conflict:
                continue
