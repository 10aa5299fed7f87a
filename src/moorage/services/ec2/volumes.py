"""EBS volumes: CreateVolume, DescribeVolumes, DeleteVolume, and the store helpers the other EBS
operations (attachments, modifications, snapshots, tags) share.

A volume is a store record (kind "volume", named by its id) whose spec holds what the user asked
for and the times of the requests that change its state; states are derived on read
(volume_states.py). Zone-bound: a volume lives in one availability zone of its region.
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import SNAPSHOT, VOLUME, VOLUME_MODIFICATION
from ...core.regions import availability_zones, partition
from ...store import AlreadyExists, Conflict, Key, NotFound
from ..base import TAG_PREFIX, match_filters
from .filters import FILTERS
from .launched_instances import launched_instances
from .network_ops import page, tags_to_create
from .nodegroup_instances import instances as node_group_instances
from .volume_states import live_attachments, snapshot_state, volume_state
from .volume_types import DEFAULT_VOLUME_TYPE, check_settings

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")
SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8,17}$")
KMS_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MIN_PAGE, MAX_PAGE = 5, 500  # DescribeVolumes' MaxResults
EBS_DEFAULT_KEY_ALIAS = "alias/aws/ebs"


def iso(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def iso_text(epoch: float) -> str:
    """A time as EC2 filters match it (create-time, start-time)."""
    return iso(epoch).strftime("%Y-%m-%dT%H:%M:%S.") + f"{iso(epoch).microsecond // 1000:03d}Z"


def default_kms_key(account: str, region: str) -> str:
    """The ARN of the account's AWS-managed EBS key (alias/aws/ebs): a key id stable per account and region."""
    key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"kms:{account}:{region}:{EBS_DEFAULT_KEY_ALIAS}")
    return f"arn:{partition(region)}:kms:{region}:{account}:key/{key_id}"


def kms_key_arn(ctx: RequestContext, key: str) -> str:
    """A KmsKeyId (key id, key ARN, alias name or alias ARN) as the ARN EBS records."""
    prefix = f"arn:{partition(ctx.region)}:kms:"
    if key.startswith(prefix) and (":key/" in key or ":alias/" in key):
        return key
    if KMS_KEY_ID.match(key):
        return f"{prefix}{ctx.region}:{ctx.account}:key/{key}"
    if key.startswith("alias/") and len(key) > len("alias/"):
        if key == EBS_DEFAULT_KEY_ALIAS:
            return default_kms_key(ctx.account, ctx.region)
        return f"{prefix}{ctx.region}:{ctx.account}:{key}"
    raise AwsError("InvalidParameterValue", f"Value ({key}) for parameter kmsKeyId is invalid.")


def encryption(ctx: RequestContext, params: dict, inherited: tuple[bool, str | None] = (False, None)) -> tuple[bool, str | None]:
    """(Encrypted, KmsKeyId) of a new volume; a volume from an encrypted snapshot stays encrypted."""
    encrypted = bool(params.get("Encrypted")) or inherited[0]
    if params.get("KmsKeyId") and not params.get("Encrypted"):
        raise AwsError("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
    if not encrypted:
        return False, None
    if params.get("KmsKeyId"):
        return True, kms_key_arn(ctx, params["KmsKeyId"])
    return True, inherited[1] or default_kms_key(ctx.account, ctx.region)


def running_instances(store, account: str, region: str) -> dict[str, dict]:
    """EC2's view of every running instance (node groups' and self-managed ones), by id."""
    found = node_group_instances(store, account, region) + launched_instances(store, account, region)
    return {i["InstanceId"]: i for i in found if i["State"]["Name"] == "running"}


def volume_view(spec: dict, now: float, running: set[str], account: str, region: str) -> dict:
    view = {
        "VolumeId": spec["volumeId"],
        "Size": spec["size"],
        "SnapshotId": spec.get("snapshotId") or "",
        "AvailabilityZone": spec["zone"],
        "AvailabilityZoneId": spec["zoneId"],
        "State": volume_state(spec, now, running),
        "CreateTime": iso(spec["createdAt"]),
        "Attachments": [
            {
                "AttachTime": iso(a["requestedAt"]),
                "Device": a["device"],
                "InstanceId": a["instanceId"],
                "State": state,
                "VolumeId": spec["volumeId"],
                "DeleteOnTermination": a.get("deleteOnTermination", False),
            }
            for a, state in live_attachments(spec, now, running)
        ],
        "Encrypted": spec["encrypted"],
        "VolumeType": spec["volumeType"],
        "MultiAttachEnabled": spec["multiAttach"],
        "Tags": spec["tags"],
        "FastRestored": False,
    }
    settings = check_settings(spec["volumeType"], spec["size"], spec.get("iops"), spec.get("throughput"), spec["multiAttach"])
    view.update({k: v for k, v in settings.as_fields().items() if k in ("Iops", "Throughput")})
    if spec.get("kmsKeyId"):
        view["KmsKeyId"] = spec["kmsKeyId"]
    return view


def check_volume_id(volume_id: str) -> None:
    if not VOLUME_ID.match(volume_id or ""):
        raise AwsError("InvalidVolumeID.Malformed", f'Invalid id: "{volume_id}" (expecting "vol-...")')


def volume_not_found(volume_id: str) -> AwsError:
    return AwsError("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist.")


def check_snapshot_id(snapshot_id: str) -> None:
    if not SNAPSHOT_ID.match(snapshot_id or ""):
        raise AwsError("InvalidSnapshotID.Malformed", f'Invalid id: "{snapshot_id}" (expecting "snap-...")')


def snapshot_not_found(snapshot_id: str) -> AwsError:
    return AwsError("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


def snapshot_record(store, ctx: RequestContext, snapshot_id: str):
    check_snapshot_id(snapshot_id)
    record = store.get(Key(ctx.account, ctx.region, SNAPSHOT, snapshot_id))
    if record is None:
        raise snapshot_not_found(snapshot_id)
    return record


def check_page_size(params: dict, ids_member: str, ids_parameter: str, maximum: int = MAX_PAGE) -> None:
    """EC2's MaxResults rules for volumes and snapshots: MIN_PAGE..maximum, and never with explicit ids."""
    size = params.get("MaxResults")
    if size is None:
        return
    if params.get(ids_member):
        raise AwsError("InvalidParameterCombination", f"The parameter {ids_parameter} cannot be used with the parameter maxResults")
    if not MIN_PAGE <= size <= maximum:
        raise AwsError(
            "InvalidParameterValue",
            f"Value ( {size} ) for parameter maxResults is invalid. Parameter must be between {MIN_PAGE} and {maximum}.",
        )


VOLUME_FILTERS: dict[str, Callable[[dict], Any]] = {
    "attachment.attach-time": lambda v: [iso_text(a["AttachTime"].timestamp()) for a in v["Attachments"]],
    "attachment.delete-on-termination": lambda v: [a["DeleteOnTermination"] for a in v["Attachments"]],
    "attachment.device": lambda v: [a["Device"] for a in v["Attachments"]],
    "attachment.instance-id": lambda v: [a["InstanceId"] for a in v["Attachments"]],
    "attachment.status": lambda v: [a["State"] for a in v["Attachments"]],
    "availability-zone": lambda v: v["AvailabilityZone"],
    "availability-zone-id": lambda v: v["AvailabilityZoneId"],
    "create-time": lambda v: iso_text(v["CreateTime"].timestamp()),
    "encrypted": lambda v: v["Encrypted"],
    "fast-restored": lambda v: v["FastRestored"],
    "multi-attach-enabled": lambda v: v["MultiAttachEnabled"],
    "operator.managed": lambda v: False,  # no volume is managed by another service (EKS Auto Mode's would be)
    "operator.principal": lambda v: [],
    "size": lambda v: v["Size"],
    "snapshot-id": lambda v: v["SnapshotId"],
    "status": lambda v: v["State"],
    TAG_PREFIX: None,  # tag:<key>
    "tag-key": lambda v: [t["Key"] for t in v["Tags"]],
    "tag-value": lambda v: [t["Value"] for t in v["Tags"]],
    "volume-id": lambda v: v["VolumeId"],
    "volume-type": lambda v: v["VolumeType"],
    "iops": lambda v: v.get("Iops"),
    "throughput": lambda v: v.get("Throughput"),
}
FILTERS["DescribeVolumes"] = VOLUME_FILTERS


class EbsStore:
    """Store access for the EBS handlers; mixed into Ec2Service, which provides `store`."""

    store: Any

    def _volume_key(self, ctx: RequestContext, volume_id: str) -> Key:
        return Key(ctx.account, ctx.region, VOLUME, volume_id)

    def _volume_record(self, ctx: RequestContext, volume_id: str):
        check_volume_id(volume_id)
        record = self.store.get(self._volume_key(ctx, volume_id))
        if record is None:
            raise volume_not_found(volume_id)
        return record

    def _change_volume(self, ctx: RequestContext, volume_id: str, change: Callable[[dict, float], Any]) -> Any:
        """Apply change(spec, now) to a volume with compare-and-set, retrying on a concurrent write."""
        while True:
            record = self._volume_record(ctx, volume_id)
            spec = copy.deepcopy(record.spec)
            result = change(spec, time.time())
            try:
                self.store.update_spec(record, spec)
                return result
            except Conflict:
                continue
            except NotFound:
                raise volume_not_found(volume_id) from None

    def _volume_views(self, ctx: RequestContext) -> list[dict]:
        now = time.time()
        running = set(running_instances(self.store, ctx.account, ctx.region))
        views = [volume_view(r.spec, now, running, ctx.account, ctx.region) for r in self.store.list(ctx.account, ctx.region, VOLUME)]
        return sorted(views, key=lambda v: (v["CreateTime"], v["VolumeId"]))


class VolumeOperations(EbsStore):
    def _volume_zone(self, ctx: RequestContext, params: dict) -> tuple[str, str]:
        zones = availability_zones(ctx.region)
        if params.get("AvailabilityZone") and params.get("AvailabilityZoneId"):
            raise AwsError("InvalidParameterCombination", "Only one of availabilityZone or availabilityZoneId may be specified.")
        if params.get("AvailabilityZoneId"):
            wanted = params["AvailabilityZoneId"]
            zone = next((z for z in zones if z[1] == wanted), None)
        elif params.get("AvailabilityZone"):
            wanted = params["AvailabilityZone"]
            zone = next((z for z in zones if z[0] == wanted), None)
        else:
            raise AwsError("MissingParameter", "The request must contain the parameter availabilityZone")
        if zone is None:
            raise AwsError("InvalidZone.NotFound", f"The zone '{wanted}' does not exist.")
        return zone

    def _snapshot_source(self, ctx: RequestContext, snapshot_id: str) -> dict:
        spec = snapshot_record(self.store, ctx, snapshot_id).spec
        if snapshot_state(spec["startTime"], time.time())[0] != "completed":
            raise AwsError("IncorrectState", f"Snapshot '{snapshot_id}' is not 'completed'.")
        return spec

    def CreateVolume(self, ctx: RequestContext, params: dict) -> dict:
        zone, zone_id = self._volume_zone(ctx, params)
        snapshot = self._snapshot_source(ctx, params["SnapshotId"]) if params.get("SnapshotId") else None
        size = params.get("Size")
        if size is None and snapshot is None:
            raise AwsError("MissingParameter", "The request must contain the parameter size or snapshotId")
        if snapshot is not None:
            if size is None:
                size = snapshot["volumeSize"]
            elif size < snapshot["volumeSize"]:
                raise AwsError(
                    "InvalidParameterValue",
                    f"Volume of {size}GiB is too small; minimum is {snapshot['volumeSize']}GiB.",
                )
        settings = check_settings(params.get("VolumeType") or DEFAULT_VOLUME_TYPE, size, params.get("Iops"),
                                  params.get("Throughput"), bool(params.get("MultiAttachEnabled")))
        inherited = (snapshot["encrypted"], snapshot.get("kmsKeyId")) if snapshot else (False, None)
        encrypted, kms_key = encryption(ctx, params, inherited)
        tags = tags_to_create(params, "volume")
        token = params.get("ClientToken")
        spec = {
            "volumeId": self._new_volume_id(ctx, token),
            "size": settings.size,
            "volumeType": settings.volume_type,
            "iops": settings.iops,
            "throughput": settings.throughput,
            "multiAttach": settings.multi_attach,
            "snapshotId": params.get("SnapshotId") or "",
            "zone": zone,
            "zoneId": zone_id,
            "encrypted": encrypted,
            "kmsKeyId": kms_key,
            "tags": tags,
            "clientToken": token,
            "request": _request_fingerprint(params),
            "createdAt": time.time(),
            "attachments": [],
        }
        key = self._volume_key(ctx, spec["volumeId"])
        try:
            record = self.store.create(key, spec)
        except AlreadyExists:
            # The same ClientToken again: the volume it made, if asked for with the same parameters.
            record = self.store.get(key)
            if record is None or record.spec.get("request") != spec["request"]:
                raise AwsError("IdempotentParameterMismatch", "The client token you have provided is associated with a resource "
                               "that is already deleted or with different parameters.") from None
        now = time.time()
        running = set(running_instances(self.store, ctx.account, ctx.region))
        view = volume_view(record.spec, now, running, ctx.account, ctx.region)
        view.pop("Attachments")
        return view

    @staticmethod
    def _new_volume_id(ctx: RequestContext, token: str | None) -> str:
        if token:  # derived from the token, so a retried request finds the volume it made
            digest = hashlib.sha256(f"{ctx.account}|{ctx.region}|{token}".encode()).hexdigest()
            return f"vol-{digest[:17]}"
        return f"vol-{uuid.uuid4().hex[:17]}"

    def DescribeVolumes(self, ctx: RequestContext, params: dict) -> dict:
        check_page_size(params, "VolumeIds", "volumeSet")
        views = self._volume_views(ctx)
        wanted = params.get("VolumeIds")
        if wanted:
            for volume_id in wanted:
                check_volume_id(volume_id)
            by_id = {v["VolumeId"]: v for v in views}
            missing = [v for v in dict.fromkeys(wanted) if v not in by_id]
            if missing:
                if len(missing) == 1:
                    raise volume_not_found(missing[0])
                raise AwsError("InvalidVolume.NotFound", f"The volumes '{', '.join(missing)}' do not exist.")
            views = [by_id[v] for v in dict.fromkeys(wanted)]
        views = match_filters(views, params.get("Filters"), VOLUME_FILTERS)
        return page(params, views, "Volumes")

    def DeleteVolume(self, ctx: RequestContext, params: dict) -> dict:
        volume_id = params["VolumeId"]
        while True:
            record = self._volume_record(ctx, volume_id)
            running = set(running_instances(self.store, ctx.account, ctx.region))
            holding = live_attachments(record.spec, time.time(), running)
            if holding:
                raise AwsError("VolumeInUse", f"Volume {volume_id} is currently attached to {holding[0][0]['instanceId']}")
            modification = self.store.get(Key(ctx.account, ctx.region, VOLUME_MODIFICATION, volume_id))
            try:
                self.store.write_all(removes=[record] + ([modification] if modification else []))
                return {}
            except Conflict:
                continue


def _request_fingerprint(params: dict) -> str:
    """What makes two CreateVolume calls with one ClientToken the same request."""
    members = ("AvailabilityZone", "AvailabilityZoneId", "Size", "SnapshotId", "VolumeType", "Iops", "Throughput",
               "Encrypted", "KmsKeyId", "MultiAttachEnabled")
    return hashlib.sha256(repr([(m, params.get(m)) for m in members]).encode()).hexdigest()


def block_device_mappings(store, account: str, region: str, running: set[str]) -> dict[str, list[dict]]:
    """The data volumes each instance holds, as DescribeInstances' BlockDeviceMappings lists them
    (what the EBS CSI driver reads to pick a free device name)."""
    now = time.time()
    found: dict[str, list[dict]] = {}
    for record in store.list(account, region, VOLUME):
        for attachment, state in live_attachments(record.spec, now, running):
            found.setdefault(attachment["instanceId"], []).append({
                "DeviceName": attachment["device"],
                "Ebs": {"AttachTime": iso(attachment["requestedAt"]), "DeleteOnTermination": attachment.get("deleteOnTermination", False),
                        "Status": state, "VolumeId": record.spec["volumeId"]},
            })
    return {k: sorted(v, key=lambda m: m["DeviceName"]) for k, v in found.items()}
