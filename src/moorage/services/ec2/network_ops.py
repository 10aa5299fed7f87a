"""What every EC2 network handler shares: quotas, not-found errors, tag and page helpers, and the
store helpers (copy-on-write changes of default resources, creates checked against rivals).

These resources are plain data (nothing to reconcile): handlers validate as EC2 does and write the
store directly; every resource is `available` as soon as it is created. Records are read and
written through network.py's helpers, so default and user-created resources behave alike.

Records born together (a VPC, its main route table and default security group) are created in one
transaction (store.create_all). Rules that span existing records (no two overlapping subnets in a
VPC, one security group of a name per VPC, no subnet in a VPC being deleted) are checked before the
write and again after it: of two concurrent creators the later one withdraws its record.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import CLUSTER, INTERNET_GATEWAY, KEY_PAIR, LAUNCH_TEMPLATE, NODEGROUP, ROUTE_TABLE, SECURITY_GROUP, SUBNET, VPC
from ...store import AlreadyExists, Conflict, Key, NotFound, Record
from ..base import offset_page
from .network import (
    find_spec,
    specs,
)

MAX_VPCS_PER_REGION = 5  # EC2's default quota, the default VPC included
MAX_INTERNET_GATEWAYS_PER_REGION = 5
MAX_SUBNETS_PER_VPC = 200
MAX_RULES_PER_DIRECTION = 60
MAX_TAGS = 50
# Store kinds whose resources have network interfaces in subnets, and the subnets each record uses.
SUBNET_USERS: dict[str, Callable[[Record], list]] = {
    CLUSTER: lambda r: r.spec.get("resourcesVpcConfig", {}).get("subnetIds", []),
    "nodegroup": lambda r: r.spec.get("subnets", []) + [i.get("subnetId") for i in r.status.get("instances", [])],
    "fargateprofile": lambda r: r.spec.get("subnets", []),
    "instance": lambda r: [] if r.status.get("state") == "terminated" else [r.spec.get("subnetId")],
}
# Likewise for security groups.
SECURITY_GROUP_USERS: dict[str, Callable[[Record], list]] = {
    CLUSTER: lambda r: [*r.spec.get("resourcesVpcConfig", {}).get("securityGroupIds", []),
                        r.spec.get("resourcesVpcConfig", {}).get("clusterSecurityGroupId")],
    "instance": lambda r: [] if r.status.get("state") == "terminated" else r.spec.get("securityGroupIds", []),
    NODEGROUP: lambda r: launch_template_groups_in_use(r),
}


def launch_template_groups_in_use(record: Record) -> list[str]:
    """The security groups a node group's instances have from its launch template's versions in use."""
    template = record.spec.get("launchTemplate")
    if not template:
        return []
    versions = record.spec.get("_launchTemplateVersions") or {}
    in_use = {template["version"], *(i.get("launchTemplateVersion") for i in record.status.get("instances", []))}
    return [g["GroupId"] for v in in_use if v in versions for g in versions[v].get("securityGroups", [])]

# The kind (which is also EC2's resource type) of an id, by its prefix.
KIND_OF_PREFIX = {"vpc": VPC, "subnet": SUBNET, "sg": SECURITY_GROUP, "igw": INTERNET_GATEWAY, "rtb": ROUTE_TABLE,
                  "key": KEY_PAIR, "lt": LAUNCH_TEMPLATE}
NOT_FOUND = {
    VPC: ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    SUBNET: ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    SECURITY_GROUP: ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    INTERNET_GATEWAY: ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    ROUTE_TABLE: ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    KEY_PAIR: ("InvalidKeyPair.NotFound", "The key pair ID '{}' does not exist"),
    LAUNCH_TEMPLATE: ("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID {}, does not exist."),
}


def not_found(kind: str, resource: str) -> AwsError:
    code, message = NOT_FOUND[kind]
    return AwsError(code, message.format(resource))


def dependency_violation(noun: str, resource: str) -> AwsError:
    return AwsError("DependencyViolation", f"The {noun} '{resource}' has dependencies and cannot be deleted.")


def invalid_token(token: str) -> AwsError:
    return AwsError("InvalidParameterValue", f"Value ( {token} ) for parameter NextToken is invalid. The token is invalid.")


def merge_tags(current: list[dict], new: list[dict]) -> list[dict]:
    """Tags added or overwritten by key, with EC2's rules on reserved keys and the per-resource limit."""
    merged = {t["Key"]: t["Value"] for t in current}
    for tag in new:
        key = tag.get("Key", "")
        if key.lower().startswith("aws:"):
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use",
            )
        merged[key] = tag.get("Value", "")
    if len(merged) > MAX_TAGS:
        raise AwsError("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def tags_to_create(params: dict, resource_type: str) -> list[dict]:
    tags: list[dict] = []
    for specification in params.get("TagSpecifications") or []:
        if specification.get("ResourceType") != resource_type:
            raise AwsError(
                "InvalidParameterValue",
                f"'{specification.get('ResourceType')}' is not a valid taggable resource type for this operation.",
            )
        tags = merge_tags(tags, specification.get("Tags") or [])
    return tags


def page(params: dict, items: list, list_key: str) -> dict:
    if not params.get("MaxResults") and not params.get("NextToken"):
        return {list_key: items}
    selected, following = offset_page(items, params.get("NextToken"), params.get("MaxResults") or max(len(items), 1), invalid_token)
    return {list_key: selected, **({"NextToken": following} if following else {})}


def select(items: list[dict], ids: list[str] | None, id_field: str, kind: str) -> list[dict]:
    if not ids:
        return items
    by_id = {item[id_field]: item for item in items}
    for wanted in ids:
        if wanted not in by_id:
            raise not_found(kind, wanted)
    return [by_id[i] for i in dict.fromkeys(ids)]


def missing_parameter(name: str) -> AwsError:
    return AwsError("MissingParameter", f"The request must contain the parameter {name}")



class NetworkStore:
    """Store access for the network handlers; mixed into Ec2Service, which provides `store`."""

    store: Any
    # --- store helpers -------------------------------------------------------------------------------

    def _key(self, ctx: RequestContext, kind: str, resource: str) -> Key:
        return Key(ctx.account, ctx.region, kind, resource)

    def _all(self, ctx: RequestContext, kind: str) -> list[dict]:
        return specs(self.store, ctx.account, ctx.region, kind)

    def _require(self, ctx: RequestContext, kind: str, resource: str | None) -> dict:
        spec = find_spec(self.store, ctx.account, ctx.region, kind, resource or "")
        if spec is None:
            raise not_found(kind, resource or "")
        return spec

    def _change(self, ctx: RequestContext, kind: str, resource: str, change: Callable[[dict], Any]) -> Any:
        """Apply change to a resource's spec with compare-and-set, retrying on a concurrent write.

        A default resource's first change stores it (copy on write)."""
        key = self._key(ctx, kind, resource)
        while True:
            record = self.store.get(key)
            base = record.spec if record else find_spec(None, ctx.account, ctx.region, kind, resource)
            if base is None:
                raise not_found(kind, resource)
            spec = copy.deepcopy(base)
            result = change(spec)
            try:
                if record is None:
                    self.store.create(key, spec)
                else:
                    self.store.update_spec(record, spec)
                return result
            except (Conflict, AlreadyExists):
                continue
            except NotFound:
                raise not_found(kind, resource) from None

    def _delete(self, ctx: RequestContext, kind: str, resource: str) -> None:
        key = self._key(ctx, kind, resource)
        while (record := self.store.get(key)) is not None:
            try:
                self.store.remove(record)
            except Conflict:
                continue

    def _create_in_vpc(self, ctx: RequestContext, kind: str, spec: dict, resource: str, vpc_id: str,
                       conflicts: Callable[[dict], bool] | None = None, error: AwsError | None = None) -> Record:
        """Create a record, then withdraw it if a conflicting one was created before it, or its VPC went."""
        record = self.store.create(self._key(ctx, kind, resource), spec)
        if conflicts is not None and error is not None:
            rivals = [r for r in self.store.list(ctx.account, ctx.region, kind) if r.key.name != resource and conflicts(r.spec)]
            if any((r.created_at, r.key.name) < (record.created_at, resource) for r in rivals):
                self._delete(ctx, kind, resource)
                raise error
        if find_spec(self.store, ctx.account, ctx.region, VPC, vpc_id) is None:
            self._delete(ctx, kind, resource)
            raise not_found(VPC, vpc_id)
        return record
