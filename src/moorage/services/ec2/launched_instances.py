"""Instances users launch themselves (EC2 RunInstances / TerminateInstances): EKS self-managed nodes.

An instance joins a cluster as a self-managed node does on AWS: it names the cluster through the
`kubernetes.io/cluster/<name>` tag or its user data (nodeadm's NodeConfig `cluster.name`, or the
AL2 `/etc/eks/bootstrap.sh <name>`). The service records the launch (kind "instance"); the instance
reconciler gives it an address in its subnet and, when its role may join, a node.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import time
from datetime import datetime, timezone

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INSTANCE, NODEGROUP
from ...core.regions import partition
from ...store import Conflict, Key, Record, SqliteStore
from ..eks.fargate import fargate_addresses
from .instance_types import CATALOG
from .key_pairs import key_pair_exists
from .launch_templates import with_launch_template
from .network import all_subnets, find_subnet
from .nodegroup_instances import NITRO_INSTANCE_FIELDS, with_network_interface
from .nodes import instance_id, is_reserved_address

MAX_INSTANCES_PER_LAUNCH = 1000
MAX_REMEMBERED_TERMINATIONS = 100
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
TERMINATED_VISIBLE_SECONDS = 3600  # EC2 keeps describing terminated instances for about an hour
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}
AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
NODEADM_CLUSTER = re.compile(r"kind:\s*NodeConfig.*?cluster:\s*\n\s+name:\s*['\"]?([A-Za-z0-9][A-Za-z0-9_-]*)", re.S)
BOOTSTRAP_CLUSTER = re.compile(r"/etc/eks/bootstrap\.sh\s+['\"]?([A-Za-z0-9][A-Za-z0-9_-]*)")


def cluster_from_user_data(user_data: str | None) -> str | None:
    if not user_data:
        return None
    try:
        text = base64.b64decode(user_data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        text = user_data  # the AWS CLI and boto3 base64-encode user data; raw text is accepted too
    match = NODEADM_CLUSTER.search(text) or BOOTSTRAP_CLUSTER.search(text)
    return match.group(1) if match else None


def _tags_for(params: dict, resource_type: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") in (None, resource_type):
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []})
    return tags


def _instance_profile(params: dict) -> str | None:
    profile = params.get("IamInstanceProfile") or {}
    if profile.get("Arn"):
        return profile["Arn"].rsplit("/", 1)[-1]
    return profile.get("Name")


def run_instances(store: SqliteStore, ctx: RequestContext, params: dict) -> dict:
    """Validate as EC2 does, record each instance (pending), and answer with the reservation."""
    if params.get("DryRun"):
        raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", status=412)
    token, request = params.get("ClientToken"), _launch_request(params)
    if token:  # a retry of a launch that succeeded answers that launch's reservation, as EC2 does
        retried = [r for r in store.list(ctx.account, ctx.region, INSTANCE) if r.spec.get("clientToken") == token]
        if retried:
            if retried[0].spec.get("clientTokenRequest") != request:
                raise AwsError("IdempotentParameterMismatch",
                               "The client token you have provided is associated with a resource that is already deleted or has different parameters.")
            retried.sort(key=lambda r: r.spec["launchIndex"])
            return {"ReservationId": retried[0].spec["reservationId"], "OwnerId": ctx.account, "Groups": [],
                    "Instances": [instance_view(r, ctx.account, ctx.region) for r in retried]}
    if params.get("LaunchTemplate"):
        params = with_launch_template(store, ctx.account, ctx.region, params)
    image = params.get("ImageId")
    if not image:
        raise AwsError("MissingParameter", "The request must contain the parameter ImageId")
    if not AMI_ID.match(image):
        raise AwsError("InvalidAMIID.Malformed", f'Invalid id: "{image}" (expecting "ami-...")')
    minimum, maximum = params["MinCount"], params["MaxCount"]
    if minimum < 1:
        raise AwsError("InvalidParameterValue", f"Value ({minimum}) for parameter minCount is invalid. Expected a positive integer.")
    if maximum < minimum:
        raise AwsError("InvalidParameterValue", f"Value ({maximum}) for parameter maxCount is invalid. maxCount must be greater than or equal to minCount.")
    if minimum > MAX_INSTANCES_PER_LAUNCH:
        raise AwsError(
            "InstanceLimitExceeded",
            f"You have requested more instances ({minimum}) than your current instance limit of {MAX_INSTANCES_PER_LAUNCH} "
            "allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request "
            "an adjustment to this limit.",
        )
    maximum = min(maximum, MAX_INSTANCES_PER_LAUNCH)  # as EC2: up to MaxCount, as many as the limit allows
    subnet = _subnet_for(store, ctx, params)
    instance_type = params.get("InstanceType") or "m1.small"  # EC2's default, which Moorage does not simulate
    if instance_type not in CATALOG:
        raise AwsError("InvalidParameterValue", f"Invalid value '{instance_type}' for InstanceType.")
    if params.get("KeyName") and not key_pair_exists(store, ctx.account, ctx.region, params["KeyName"]):
        raise AwsError("InvalidKeyPair.NotFound", f"The key pair '{params['KeyName']}' does not exist")
    address = params.get("PrivateIpAddress")
    if address and maximum > 1:
        raise AwsError("InvalidParameterCombination", "Cannot specify a private IP address when launching more than one instance.")
    if address:
        _check_requested_address(address, subnet["CidrBlock"])
        _check_address_free(store, ctx, address)
    tags = _tags_for(params, "instance")
    cluster = next((k[len(CLUSTER_TAG_PREFIX):] for k in tags if k.startswith(CLUSTER_TAG_PREFIX)), None)
    cluster = cluster or cluster_from_user_data(params.get("UserData"))
    reservation = "r-" + instance_id(ctx.request_id, "reservation")[2:]
    now = time.time()
    records = []
    for index in range(maximum):
        ident = instance_id(ctx.account, ctx.region, ctx.request_id, str(index))
        spec = {
            "instanceId": ident,
            "reservationId": reservation,
            "imageId": image,
            "instanceType": instance_type,
            "subnetId": subnet["SubnetId"],
            "vpcId": subnet["VpcId"],
            "zone": subnet["AvailabilityZone"],
            "requestedIp": address,
            "keyName": params.get("KeyName"),
            "securityGroupIds": params.get("SecurityGroupIds") or [],
            "instanceProfile": _instance_profile(params),
            "cluster": cluster,
            "tags": tags,
            "launchIndex": index,
            "launchedAt": now,
            **({"clientToken": token, "clientTokenRequest": request} if token else {}),
        }
        records.append(store.create(Key(ctx.account, ctx.region, INSTANCE, ident), spec, {"state": "pending"}))
    return {
        "ReservationId": reservation,
        "OwnerId": ctx.account,
        "Groups": [],
        "Instances": [instance_view(r, ctx.account, ctx.region) for r in records],
    }


def _launch_request(params: dict) -> str:
    """What makes two RunInstances calls with one ClientToken the same request."""
    return json.dumps({k: v for k, v in params.items() if k != "ClientToken"}, sort_keys=True, default=str)


def _check_requested_address(address: str, cidr: str) -> None:
    """EC2 refuses a requested primary address that is malformed, outside the subnet or one AWS reserves."""
    try:
        requested = ipaddress.IPv4Address(address)
    except ValueError:
        raise AwsError("InvalidParameterValue", f"invalid value for parameter address: {address}") from None
    if requested not in ipaddress.IPv4Network(cidr):
        raise AwsError("InvalidParameterValue", f"Address {address} does not fall within the subnet's address range")
    if is_reserved_address(cidr, address):
        raise AwsError("InvalidParameterValue", f"Address {address} is in subnet's reserved address range")


def _check_address_free(store: SqliteStore, ctx: RequestContext, address: str) -> None:
    """EC2 refuses, at the call, an address another instance's interface holds: a node's own address
    (node groups, self-managed instances, Fargate), an address in an EC2 node's pod block (secondary
    addresses, as the VPC CNI takes them), or one a pending launch asked for. The instance reconciler
    checks again, for two launches racing for one address."""
    requested = ipaddress.IPv4Address(address)
    held = any(
        h["privateIp"] == address or (h.get("podCidr") and requested in ipaddress.ip_network(h["podCidr"]))
        for h in instances_holding_addresses(store, ctx.account, ctx.region)
    )
    asked_for = any(
        r.spec.get("requestedIp") == address and not r.deleting and r.status.get("state", "pending") == "pending"
        for r in store.list(ctx.account, ctx.region, INSTANCE)
    )
    if held or asked_for:
        raise AwsError("InvalidIPAddress.InUse", f"Address {address} is in use.")


def _subnet_for(store: SqliteStore, ctx: RequestContext, params: dict) -> dict:
    subnet_id = params.get("SubnetId") or next(
        (n.get("SubnetId") for n in params.get("NetworkInterfaces") or [] if n.get("SubnetId")), None
    )
    if subnet_id:
        subnet = find_subnet(store, ctx.account, ctx.region, subnet_id)
        if subnet is None:
            raise AwsError("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")
        return subnet
    zone = (params.get("Placement") or {}).get("AvailabilityZone")
    defaults = [s for s in all_subnets(store, ctx.account, ctx.region) if s.get("DefaultForAz")]
    chosen = [s for s in defaults if s["AvailabilityZone"] == zone] if zone else defaults
    if not chosen:
        if zone:
            raise AwsError("InvalidParameterValue", f"Invalid availability zone: [{zone}]")
        raise AwsError("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
    return chosen[0]


def terminate_instances(store: SqliteStore, ctx: RequestContext, params: dict) -> dict:
    ids = params["InstanceIds"]
    for ident in ids:
        if not INSTANCE_ID.match(ident):
            raise AwsError("InvalidInstanceID.Malformed", f'Invalid id: "{ident}"')
    records = {i: store.get(Key(ctx.account, ctx.region, INSTANCE, i)) for i in dict.fromkeys(ids)}
    grouped = {i["instanceId"]: r.key for r in store.list(ctx.account, ctx.region, NODEGROUP) for i in r.status.get("instances", [])}
    missing = [i for i, r in records.items() if r is None and i not in grouped]
    if missing:
        noun = "instance ID" if len(missing) == 1 else "instance IDs"
        verb = "does not exist" if len(missing) == 1 else "do not exist"
        raise AwsError("InvalidInstanceID.NotFound", f"The {noun} '{', '.join(missing)}' {verb}")
    changes = []
    in_groups = [i for i, r in records.items() if r is None]
    for ident in in_groups:
        _terminate_in_group(store, grouped[ident], ident)
        changes.append({"InstanceId": ident, "CurrentState": {"Code": STATE_CODES["shutting-down"], "Name": "shutting-down"},
                        "PreviousState": {"Code": STATE_CODES["running"], "Name": "running"}})
    for record in (r for r in records.values() if r is not None):
        previous = record.status.get("state", "pending")
        if not record.deleting:
            record = store.mark_deleting(record)
        current = previous if previous == "terminated" else "shutting-down"
        changes.append(
            {
                "InstanceId": record.key.name,
                "CurrentState": {"Code": STATE_CODES[current], "Name": current},
                "PreviousState": {"Code": STATE_CODES[previous], "Name": previous},
            }
        )
    return {"TerminatingInstances": changes}


def _terminate_in_group(store: SqliteStore, group: Key, instance_id: str) -> None:
    """Ask the node group's reconciler to end one of its instances; as an Auto Scaling group does, it
    then launches a replacement to keep the desired size."""
    while (record := store.get(group)) is not None:
        wanted = [*record.spec.get("_terminations", []), instance_id][-MAX_REMEMBERED_TERMINATIONS:]
        try:
            store.update_spec(record, {**record.spec, "_terminations": wanted})
            return
        except Conflict:
            continue


def state_of(record: Record) -> str:
    state = record.status.get("state", "pending")
    if record.deleting and state != "terminated":
        return "shutting-down"
    return state


def instance_view(record: Record, account: str, region: str) -> dict:
    spec, status = record.spec, record.status
    state = state_of(record)
    instance_type = CATALOG[spec["instanceType"]]
    view = {
        "InstanceId": spec["instanceId"],
        "ImageId": spec["imageId"],
        "InstanceType": spec["instanceType"],
        "LaunchTime": datetime.fromtimestamp(spec["launchedAt"], timezone.utc),
        "Placement": {"AvailabilityZone": spec["zone"], "Tenancy": "default", "GroupName": ""},
        "PrivateDnsName": status.get("nodeName", "") if state != "terminated" else "",
        "PublicDnsName": "",
        "State": {"Code": STATE_CODES[state], "Name": state},
        "StateTransitionReason": status.get("transitionReason", ""),
        "Architecture": instance_type.arch,
        **NITRO_INSTANCE_FIELDS,
        "AmiLaunchIndex": spec["launchIndex"],
        **({"ClientToken": spec["clientToken"]} if spec.get("clientToken") else {}),
        "SecurityGroups": [{"GroupId": g} for g in spec["securityGroupIds"]],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(spec["tags"].items())],
    }
    if state != "terminated":
        view.update({"SubnetId": spec["subnetId"], "VpcId": spec["vpcId"]})
        if status.get("privateIp"):
            view["PrivateIpAddress"] = status["privateIp"]
    if spec.get("keyName"):
        view["KeyName"] = spec["keyName"]
    if spec.get("instanceProfile"):
        view["IamInstanceProfile"] = {
            "Arn": f"arn:{partition(region)}:iam::{account}:instance-profile/{spec['instanceProfile']}",
            "Id": "AIPA" + spec["instanceId"][2:19].upper(),
        }
    return with_network_interface(view, account)


def launched_instances(store: SqliteStore, account: str, region: str) -> list[dict]:
    now = time.time()
    return [
        instance_view(r, account, region)
        for r in store.list(account, region, INSTANCE)
        if r.status.get("terminatedAt", now) > now - TERMINATED_VISIBLE_SECONDS
    ]


def reservation_ids(store: SqliteStore, account: str, region: str) -> dict[str, str]:
    """Instance id -> the reservation RunInstances answered with (node-group instances have none recorded)."""
    return {r.spec["instanceId"]: r.spec["reservationId"] for r in store.list(account, region, INSTANCE)}


def launched_addresses(store: SqliteStore, account: str, region: str) -> list[dict]:
    """The addresses and pod blocks self-managed instances hold (terminated ones have let theirs go)."""
    return [r.status for r in store.list(account, region, INSTANCE) if r.status.get("privateIp")]


def instances_holding_addresses(store: SqliteStore, account: str, region: str) -> list[dict]:
    """Every instance holding an address (privateIp) and pod block (podCidr) in the region: node groups',
    self-managed ones, Fargate nodes. The one view RunInstances and the reconcilers allocate against."""
    grouped = [i for r in store.list(account, region, NODEGROUP) for i in r.status.get("instances", [])]
    return grouped + launched_addresses(store, account, region) + fargate_addresses(store, account, region)


# ---- tags on instances (EC2 CreateTags/DeleteTags), self-managed and node-group ones alike


def _instance_owner(store: SqliteStore, ctx: RequestContext, instance: str) -> Key | None:
    """The record an instance's tags live in: its own (self-managed) or its node group's."""
    key = Key(ctx.account, ctx.region, INSTANCE, instance)
    if store.get(key) is not None:
        return key
    return next((r.key for r in store.list(ctx.account, ctx.region, NODEGROUP)
                 if any(i["instanceId"] == instance for i in r.status.get("instances", []))), None)


def instance_tag_owners(store: SqliteStore, ctx: RequestContext, instances: list[str]) -> dict[str, Key]:
    """Each instance's owner; an unknown instance is InvalidInstanceID.NotFound, before anything changes."""
    owners = {}
    for instance in instances:
        owner = _instance_owner(store, ctx, instance)
        if owner is None:
            raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{instance}' does not exist")
        owners[instance] = owner
    return owners


def change_instance_tags(store: SqliteStore, owner: Key, instance: str, change) -> None:
    """Apply change(dict of tags) to an instance's tags with compare-and-set."""
    while (record := store.get(owner)) is not None:
        spec = dict(record.spec)
        if owner.kind == INSTANCE:
            spec["tags"] = dict(spec["tags"])
            change(spec["tags"])
        else:  # a node-group instance: tags added to what the group's own tags give it
            extra = {k: dict(v) for k, v in spec.get("_instanceTags", {}).items()}
            change(extra.setdefault(instance, {}))
            spec["_instanceTags"] = extra
        try:
            store.update_spec(record, spec)
            return
        except Conflict:
            continue
