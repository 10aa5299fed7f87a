"""Cluster rules: what CreateCluster, UpdateClusterConfig and DeleteCluster accept and store.

Handlers write the desired state (spec) only; the cluster reconciler brings up the control plane
and writes status (endpoint, CA, health, ACTIVE/FAILED), as the architecture's one-way flow says.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import CLUSTER, UPDATE
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from ..ec2.network import all_security_groups, all_subnets, find_vpc
from . import names
from .versions import PLATFORM_VERSION, default_minor, supported_minors

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
MAX_CLUSTERS_PER_REGION = 100
MAX_SECURITY_GROUPS = 5
MAX_TAGS = 50

# UpdateClusterConfig: which update type each input member makes (one type per call, as on EKS).
UPDATE_TYPES = {
    "logging": "LoggingUpdate",
    "accessConfig": "AccessConfigUpdate",
    "upgradePolicy": "UpgradePolicyUpdate",
    "zonalShiftConfig": "ZonalShiftConfigUpdate",
    "computeConfig": "AutoModeUpdate",
    "storageConfig": "AutoModeUpdate",
    "kubernetesNetworkConfig": "AutoModeUpdate",
    "remoteNetworkConfig": "RemoteNetworkConfigUpdate",
    "deletionProtection": "DeletionProtectionUpdate",
    "controlPlaneScalingConfig": "ControlPlaneScalingConfigUpdate",
    "kubeApiServerConfig": "ControlPlaneComponentConfigUpdate",
    "kubeSchedulerConfig": "ControlPlaneComponentConfigUpdate",
    "kubeControllerManagerConfig": "ControlPlaneComponentConfigUpdate",
}
# The EKS API's default (the console picks API_AND_CONFIG_MAP); botocore's model documents it.
DEFAULT_AUTHENTICATION_MODE = "CONFIG_MAP"
AUTH_MODE_TRANSITIONS = {
    "CONFIG_MAP": {"API_AND_CONFIG_MAP"},
    "API_AND_CONFIG_MAP": {"API"},
    "API": set(),
}


def now() -> float:
    return time.time()


def fingerprint(params: dict) -> str:
    body = {k: v for k, v in params.items() if k != "clientRequestToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise names.invalid_parameter("The nextToken provided is not valid.") from None


def paginate(items: list[str], params: dict, key: str) -> dict:
    after = decode_token(params.get("nextToken"))
    limit = params.get("maxResults") or 100
    if after is not None:
        # Resume after the last item seen; if it was deleted meanwhile, after its place in name order.
        items = items[items.index(after) + 1 :] if after in items else [i for i in items if i > after]
    page, rest = items[:limit], items[limit:]
    result: dict[str, Any] = {key: page}
    if rest:
        result["nextToken"] = encode_token(page[-1])
    return result


def normalized_logging(logging: dict | None, current: dict | None = None) -> dict:
    """EKS always lists all five log types, split into an enabled and a disabled entry."""
    enabled = set()
    if current:
        for entry in current.get("clusterLogging", []):
            if entry.get("enabled"):
                enabled.update(entry.get("types", []))
    for entry in (logging or {}).get("clusterLogging", []):
        for log_type in entry.get("types", []):
            (enabled.add if entry.get("enabled") else enabled.discard)(log_type)
    on = [t for t in LOG_TYPES if t in enabled]
    off = [t for t in LOG_TYPES if t not in enabled]
    result = []
    if on:
        result.append({"types": on, "enabled": True})
    if off:
        result.append({"types": off, "enabled": False})
    return {"clusterLogging": result}


def default_service_cidr(vpc_cidr: str) -> str:
    """EKS's rule: 172.20.0.0/16 when the VPC uses 10.0.0.0/8, else 10.100.0.0/16."""
    if ipaddress.ip_network(vpc_cidr).subnet_of(ipaddress.ip_network("10.0.0.0/8")):
        return "172.20.0.0/16"
    return "10.100.0.0/16"


def validate_service_cidr(cidr: str, vpc_cidr: str, name: str) -> str:
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise names.invalid_parameter(f"The specified serviceIpv4Cidr {cidr} is not a valid CIDR block.", name) from None
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    if network.version != 4 or not any(network.subnet_of(p) for p in private):
        raise names.invalid_parameter(
            "serviceIpv4Cidr must be within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.", name
        )
    if not 12 <= network.prefixlen <= 24:
        raise names.invalid_parameter("serviceIpv4Cidr must have a prefix length between /12 and /24.", name)
    if network.overlaps(ipaddress.ip_network(vpc_cidr)):
        raise names.invalid_parameter(f"serviceIpv4Cidr {cidr} overlaps with the VPC CIDR {vpc_cidr}.", name)
    return str(network)


def _ec2_not_found(message: str, code: str) -> str:
    return f"{message} (Service: AmazonEC2; Status Code: 400; Error Code: {code}; Request ID: {names.new_update_id()}; Proxy: null)"


def resolve_vpc_config(store: SqliteStore, ctx: RequestContext, config: dict, name: str) -> dict:
    """Check subnets and security groups as EKS does and fill vpcId and the cluster security group."""
    subnet_ids = list(config.get("subnetIds") or [])
    if not subnet_ids:
        raise names.invalid_parameter("Subnets specified must be in at least two different AZs", name)
    subnets = {s["SubnetId"]: s for s in all_subnets(store, ctx.account, ctx.region)}
    for subnet_id in subnet_ids:
        if subnet_id not in subnets:
            raise names.invalid_parameter(
                _ec2_not_found(f"The subnet ID '{subnet_id}' does not exist", "InvalidSubnetID.NotFound"), name
            )
    vpc_ids = {subnets[s]["VpcId"] for s in subnet_ids}
    if len(vpc_ids) > 1:
        raise names.invalid_parameter("Subnets specified must belong to the same VPC.", name)
    if len({subnets[s]["AvailabilityZone"] for s in subnet_ids}) < 2:
        raise names.invalid_parameter("Subnets specified must be in at least two different AZs", name)
    group_ids = list(config.get("securityGroupIds") or [])
    if len(group_ids) > MAX_SECURITY_GROUPS:
        raise names.invalid_parameter(
            f"The number of security groups must not exceed {MAX_SECURITY_GROUPS}.", name
        )
    vpc_id = next(iter(vpc_ids))
    group_vpcs = {g["GroupId"]: g["VpcId"] for g in all_security_groups(store, ctx.account, ctx.region)}
    for group_id in group_ids:
        if group_id not in group_vpcs:
            raise names.invalid_parameter(
                _ec2_not_found(f"The security group '{group_id}' does not exist", "InvalidGroup.NotFound"), name
            )
    elsewhere = [g for g in group_ids if group_vpcs[g] != vpc_id]
    if elsewhere:
        raise names.invalid_parameter(
            f"Security group(s) [{', '.join(elsewhere)}] are not in the same VPC as the subnets. "
            f"Please specify a security group that is associated with the VPC: {vpc_id}.",
            name,
        )
    cidrs = config.get("publicAccessCidrs")
    if cidrs is not None:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise names.invalid_parameter(f"The following CIDRs are invalid in publicAccessCidrs: [{cidr}]", name) from None
    return {
        "subnetIds": subnet_ids,
        "securityGroupIds": group_ids,
        "vpcId": vpc_id,
        "endpointPublicAccess": config.get("endpointPublicAccess", True),
        "endpointPrivateAccess": config.get("endpointPrivateAccess", False),
        "publicAccessCidrs": cidrs if cidrs is not None else ["0.0.0.0/0"],
        **({"controlPlaneEgressMode": config["controlPlaneEgressMode"]} if "controlPlaneEgressMode" in config else {}),
    }


def record_with_arn(store: SqliteStore, kind: str, arn_field: str) -> Callable[[str, str, str, str], Record | None]:
    """A finder for the tagging operations: the record of `kind` in the ARN's cluster whose
    `arn_field` is exactly the ARN (a resource recreated under the same name has a new ARN)."""
    def find(account: str, region: str, rest: str, arn: str) -> Record | None:
        prefix = rest.split("/", 1)[0] + "/"
        return next(
            (r for r in store.list(account, region, kind) if r.key.name.startswith(prefix) and r.spec.get(arn_field) == arn),
            None,
        )
    return find


def validate_tags(tags: dict | None, error_code: str = "BadRequestException") -> dict:
    tags = dict(tags or {})
    if len(tags) > MAX_TAGS:
        raise AwsError(error_code, f"The number of tags must not exceed {MAX_TAGS}.")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise AwsError(error_code, "Tag keys starting with 'aws:' are reserved for AWS use.")
    return tags


def cluster_view(record: Record) -> dict:
    """DescribeCluster's answer: the stored spec, the reconciler's status, and EKS's derived fields."""
    spec, status = record.spec, record.status
    # Shallow: the view is only serialized, never mutated, and DescribeCluster is the hot path.
    view = {k: v for k, v in spec.items() if not k.startswith("_")}
    # The version the control plane runs: a version update's target shows once it is applied.
    before = spec.get("_versionBefore") or {}
    view["version"] = status.get("version") or before.get("version") or spec["version"]
    view["platformVersion"] = status.get("platformVersion") or before.get("platformVersion") or spec["platformVersion"]
    view["createdAt"] = datetime.fromtimestamp(spec["createdAt"], timezone.utc)
    state = status.get("status", "CREATING")
    if record.deleting:
        state = "DELETING"
    elif state == "ACTIVE" and spec.get("_pendingUpdate") not in (None, status.get("appliedUpdate")):
        state = "UPDATING"  # the reconciler has not yet applied the latest update
    view["status"] = state
    view["health"] = {"issues": status.get("healthIssues", [])}
    if status.get("endpoint"):
        view["endpoint"] = status["endpoint"]
    view["certificateAuthority"] = {"data": status["caData"]} if status.get("caData") else {}
    return view


def update_view(record: Record) -> dict:
    spec, status = record.spec, record.status
    view = {
        "id": spec["id"],
        "status": status.get("status", "InProgress"),
        "type": spec["type"],
        "params": spec["params"],
        "createdAt": datetime.fromtimestamp(spec["createdAt"], timezone.utc),
        "errors": status.get("errors", []),
    }
    if status.get("cancellation"):
        view["cancellation"] = status["cancellation"]
    return view


class Clusters:
    def __init__(self, store: SqliteStore, base_url: str):
        self.store = store
        self.base_url = base_url
        # Other taggable kinds: ARN resource type -> finder(account, region, rest, arn) of the record
        # with exactly that ARN (registered by their modules, which import this one).
        self.tagged_kinds: dict[str, Callable[[str, str, str, str], Record | None]] = {}

    def key(self, ctx: RequestContext, name: str) -> Key:
        return Key(ctx.account, ctx.region, CLUSTER, name)

    def get(self, ctx: RequestContext, name: str) -> Record:
        record = self.store.get(self.key(ctx, name))
        if record is None:
            raise names.cluster_not_found(name)
        return record

    def get_not_deleting(self, ctx: RequestContext, name: str) -> Record:
        """The cluster, for creating something in it: nothing new may join a cluster being deleted (it
        would outlive the cluster's clean-up and be inherited by a later cluster of the same name)."""
        record = self.get(ctx, name)
        if record.deleting:
            raise names.invalid_request(f"Cluster '{name}' is in DELETING status", name)
        return record

    def create(self, ctx: RequestContext, params: dict) -> dict:
        name = params["name"]
        token = params.get("clientRequestToken")
        existing = self.store.get(self.key(ctx, name))
        if existing is not None:
            if token and existing.spec.get("clientRequestToken") == token and existing.spec["_fingerprint"] == fingerprint(params):
                return cluster_view(existing)
            raise names.resource_in_use(f"Cluster already exists with name: {name}", name)
        version = params.get("version") or default_minor()
        if version not in supported_minors():
            raise names.invalid_parameter(f"unsupported Kubernetes version {version}", name)
        if len(self.store.list(ctx.account, ctx.region, CLUSTER)) >= MAX_CLUSTERS_PER_REGION:
            raise AwsError(
                "ResourceLimitExceededException",
                f"Cluster limit exceeded for account {ctx.account} in region {ctx.region}",
                extra_fields={"clusterName": name},
            )
        vpc_config = resolve_vpc_config(self.store, ctx, params["resourcesVpcConfig"], name)
        vpc_cidr = find_vpc(self.store, ctx.account, ctx.region, vpc_config["vpcId"])["CidrBlock"]
        network_input = params.get("kubernetesNetworkConfig") or {}
        if network_input.get("ipFamily") == "ipv6":
            raise names.invalid_parameter("IPv6 clusters are not supported by Moorage yet; use ipFamily ipv4.", name)
        service_cidr = (
            validate_service_cidr(network_input["serviceIpv4Cidr"], vpc_cidr, name)
            if network_input.get("serviceIpv4Cidr")
            else default_service_cidr(vpc_cidr)
        )
        cluster_id = names.new_cluster_id()
        vpc_config["clusterSecurityGroupId"] = names.cluster_security_group_id(cluster_id)
        access = params.get("accessConfig") or {}
        mode = access.get("authenticationMode", DEFAULT_AUTHENTICATION_MODE)
        if mode == "CONFIG_MAP" and not access.get("bootstrapClusterCreatorAdminPermissions", True):
            raise names.invalid_parameter(
                "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP", name
            )
        spec = {
            **{k: v for k, v in params.items() if k not in ("resourcesVpcConfig", "kubernetesNetworkConfig", "logging", "accessConfig", "tags", "bootstrapSelfManagedAddons")},
            "name": name,
            "arn": names.cluster_arn(ctx.partition, ctx.region, ctx.account, name),
            "id": cluster_id,
            "createdAt": now(),
            "version": version,
            "platformVersion": PLATFORM_VERSION,
            "resourcesVpcConfig": vpc_config,
            "kubernetesNetworkConfig": {
                "serviceIpv4Cidr": service_cidr,
                "ipFamily": "ipv4",
                "elasticLoadBalancing": network_input.get("elasticLoadBalancing", {"enabled": False}),
            },
            "logging": normalized_logging(params.get("logging")),
            "identity": {"oidc": {"issuer": names.oidc_issuer(self.base_url, cluster_id)}},
            "accessConfig": {
                "bootstrapClusterCreatorAdminPermissions": access.get("bootstrapClusterCreatorAdminPermissions", True),
                "authenticationMode": mode,
            },
            "upgradePolicy": {"supportType": (params.get("upgradePolicy") or {}).get("supportType", "EXTENDED")},
            "tags": validate_tags(params.get("tags"), "InvalidParameterException"),
            "deletionProtection": params.get("deletionProtection", False),
            "_creator": ctx.principal_arn,
            "_fingerprint": fingerprint(params),
            "_bootstrapSelfManagedAddons": params.get("bootstrapSelfManagedAddons", True),  # not in the Cluster shape
        }
        try:
            record = self.store.create(self.key(ctx, name), spec, {"status": "CREATING"})
        except AlreadyExists:
            raise names.resource_in_use(f"Cluster already exists with name: {name}", name) from None
        return cluster_view(record)

    def describe(self, ctx: RequestContext, name: str) -> dict:
        return cluster_view(self.get(ctx, name))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        names_ = [r.key.name for r in self.store.list(ctx.account, ctx.region, CLUSTER)]
        return paginate(names_, params, "clusters")

    def delete(self, ctx: RequestContext, name: str) -> dict:
        record = self.get(ctx, name)
        if record.deleting:
            return cluster_view(record)
        if record.spec.get("deletionProtection"):
            raise names.invalid_request(
                f"Cluster {name} has deletion protection enabled. Disable it with "
                "UpdateClusterConfig (deletionProtection=false) before deleting the cluster.",
                name,
            )
        pending = self.in_progress_update(ctx, name)
        if pending:
            raise names.resource_in_use(
                f"Cannot delete because cluster {name} currently has update {pending} in progress", name
            )
        for kind, noun in (("nodegroup", "nodegroups"), ("fargateprofile", "Fargate profiles")):
            if any(r.spec.get("clusterName") == name for r in self.store.list(ctx.account, ctx.region, kind)):
                raise names.resource_in_use(f"Cluster has {noun} attached", name)
        while True:
            try:
                record = self.store.mark_deleting(record)
                break
            except Conflict:
                record = self.get(ctx, name)
        return cluster_view(record)

    # Updates

    def update_key(self, ctx: RequestContext, update_id: str) -> Key:
        return Key(ctx.account, ctx.region, UPDATE, update_id)

    def cluster_updates(self, ctx: RequestContext, name: str) -> list[Record]:
        updates = [r for r in self.store.list(ctx.account, ctx.region, UPDATE) if r.spec["clusterName"] == name]
        return sorted(updates, key=lambda r: r.spec["createdAt"])

    def in_progress_update(self, ctx: RequestContext, name: str) -> str | None:
        for update in self.cluster_updates(ctx, name):
            if update.spec.get("nodegroupName") or update.spec.get("addonName"):
                continue  # node-group and add-on updates don't block the cluster's own
            if update.status.get("status", "InProgress") == "InProgress":
                return update.spec["id"]
        return None

    def update_config(self, ctx: RequestContext, params: dict) -> dict:
        name = params["name"]
        record = self.get(ctx, name)
        token = params.get("clientRequestToken")
        if token:
            for update in self.cluster_updates(ctx, name):
                if update.spec.get("clientRequestToken") == token:
                    return {"update": update_view(update)}
        changes = {k: v for k, v in params.items() if k not in ("name", "clientRequestToken")}
        if not changes:
            raise names.invalid_parameter("No changes needed for the provided configuration.", name)
        types = set()
        for member, value in changes.items():
            if member == "resourcesVpcConfig":
                endpoint_keys = {"endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs"}
                if endpoint_keys & value.keys():
                    types.add("EndpointAccessUpdate")
                if {"subnetIds", "securityGroupIds"} & value.keys():
                    types.add("VpcConfigUpdate")
                if "controlPlaneEgressMode" in value:
                    types.add("ControlPlaneEgressUpdate")
            else:
                types.add(UPDATE_TYPES.get(member, "ConfigUpdate"))
        if len(types) != 1:
            raise names.invalid_parameter("Only one type of update can be allowed.", name)
        if record.deleting or record.status.get("status") != "ACTIVE":
            state = "DELETING" if record.deleting else record.status.get("status", "CREATING")
            raise names.resource_in_use(f"Cluster {name} is in {state} state; it must be ACTIVE to be updated.", name)
        pending = self.in_progress_update(ctx, name)
        if pending:
            raise names.resource_in_use(f"Cannot update cluster {name} because update {pending} is in progress", name)
        (update_type,) = types
        new_spec = copy.deepcopy(record.spec)
        update_params = self._apply_changes(ctx, name, new_spec, changes)
        update_id = names.new_update_id()
        update_spec = {
            "id": update_id,
            "clusterName": name,
            "type": update_type,
            "params": update_params,
            "createdAt": now(),
            "clientRequestToken": token,
            "previous": {k: record.spec.get(k) for k in new_spec if new_spec.get(k) != record.spec.get(k)},
        }
        new_spec["_pendingUpdate"] = update_id
        update = self.store.create(self.update_key(ctx, update_id), update_spec, {"status": "InProgress"})
        try:
            self.store.update_spec(record, new_spec)
        except Conflict:
            self.store.update_status(update, {"status": "Failed", "errors": [{"errorCode": "Unknown", "errorMessage": "The cluster changed during the update; retry.", "resourceIds": [name]}]})
            raise names.resource_in_use(f"Cluster {name} changed while the update was being recorded; retry.", name) from None
        return {"update": update_view(update)}

    def _apply_changes(self, ctx: RequestContext, name: str, spec: dict, changes: dict) -> list[dict]:
        params: list[dict] = []

        def param(kind: str, value: Any) -> None:
            params.append({"type": kind, "value": value if isinstance(value, str) else json.dumps(value)})

        for member, value in changes.items():
            if member == "logging":
                spec["logging"] = normalized_logging(value, spec.get("logging"))
                param("ClusterLogging", spec["logging"]["clusterLogging"])
            elif member == "resourcesVpcConfig":
                current = spec["resourcesVpcConfig"]
                if {"subnetIds", "securityGroupIds"} & value.keys():
                    merged = {**current, **{k: v for k, v in value.items() if k in ("subnetIds", "securityGroupIds")}}
                    resolved = resolve_vpc_config(self.store, ctx, merged, name)
                    current["subnetIds"], current["securityGroupIds"] = resolved["subnetIds"], resolved["securityGroupIds"]
                    if "subnetIds" in value:
                        param("Subnets", value["subnetIds"])
                    if "securityGroupIds" in value:
                        param("SecurityGroups", value["securityGroupIds"])
                for key, kind in (("endpointPublicAccess", "EndpointPublicAccess"), ("endpointPrivateAccess", "EndpointPrivateAccess"), ("publicAccessCidrs", "PublicAccessCidrs")):
                    if key in value:
                        if key == "publicAccessCidrs":
                            resolve_vpc_config(self.store, ctx, {**current, "publicAccessCidrs": value[key]}, name)
                        current[key] = value[key]
                        param(kind, value[key] if not isinstance(value[key], bool) else str(value[key]).lower())
                if not (current["endpointPublicAccess"] or current["endpointPrivateAccess"]):
                    raise names.invalid_parameter(
                        "Cluster must have either public or private API server endpoint access enabled.", name
                    )
                if "controlPlaneEgressMode" in value:
                    current["controlPlaneEgressMode"] = value["controlPlaneEgressMode"]
                    param("ControlPlaneEgressMode", value["controlPlaneEgressMode"])
            elif member == "accessConfig":
                wanted = value.get("authenticationMode")
                current_mode = spec["accessConfig"]["authenticationMode"]
                if wanted is None or wanted == current_mode:
                    raise names.invalid_parameter(f"Unsupported authentication mode update from {current_mode} to {wanted}", name)
                if wanted not in AUTH_MODE_TRANSITIONS[current_mode]:
                    raise names.invalid_parameter(f"Unsupported authentication mode update from {current_mode} to {wanted}", name)
                spec["accessConfig"]["authenticationMode"] = wanted
                param("AuthenticationMode", wanted)
            elif member == "kubernetesNetworkConfig":
                if "serviceIpv4Cidr" in value or "ipFamily" in value:
                    raise names.invalid_parameter("serviceIpv4Cidr and ipFamily cannot be changed after cluster creation.", name)
                spec["kubernetesNetworkConfig"].update(value)
                param("KubernetesNetworkConfig", value)
            elif member == "controlPlaneScalingConfig":
                previous = (spec.get("controlPlaneScalingConfig") or {}).get("tier", "standard")
                spec[member] = value
                param("UpdatedTier", value.get("tier", "standard"))
                param("PreviousTier", previous)
            elif member in ("kubeApiServerConfig", "kubeSchedulerConfig", "kubeControllerManagerConfig"):
                spec[member] = value
                param(member[0].upper() + member[1:], value)
            else:
                spec[member] = value
                kind = {
                    "upgradePolicy": "UpgradePolicy",
                    "zonalShiftConfig": "ZonalShiftConfig",
                    "computeConfig": "ComputeConfig",
                    "storageConfig": "StorageConfig",
                    "remoteNetworkConfig": "RemoteNetworkConfig",
                    "deletionProtection": "DeletionProtection",
                }.get(member, member)
                param(kind, value if not isinstance(value, bool) else str(value).lower())
        return params

    def describe_update(self, ctx: RequestContext, params: dict) -> dict:
        name, update_id = params["name"], params["updateId"]
        self.get(ctx, name)
        update = self.store.get(self.update_key(ctx, update_id))
        if update is None or update.spec["clusterName"] != name or update.spec.get("nodegroupName") != params.get("nodegroupName") \
                or update.spec.get("addonName") != params.get("addonName"):
            raise names.update_not_found(update_id, name)
        return {"update": update_view(update)}

    def list_updates(self, ctx: RequestContext, params: dict) -> dict:
        name = params["name"]
        self.get(ctx, name)
        nodegroup = params.get("nodegroupName")
        ids = [u.spec["id"] for u in self.cluster_updates(ctx, name) if u.spec.get("nodegroupName") == nodegroup and u.spec.get("addonName") == params.get("addonName")]
        return paginate(ids, params, "updateIds")

    def cancel_update(self, ctx: RequestContext, params: dict) -> dict:
        name, update_id = params["name"], params["updateId"]
        record = self.get(ctx, name)
        update = self.store.get(self.update_key(ctx, update_id))
        if update is None or update.spec["clusterName"] != name:
            raise names.update_not_found(update_id, name)
        state = update.status.get("status", "InProgress")
        if state != "InProgress":
            raise AwsError(
                "InvalidStateException",
                f"Update {update_id} is {state} and can no longer be cancelled.",
                extra_fields={"clusterName": name},
            )
        spec = copy.deepcopy(record.spec)
        spec.update(copy.deepcopy(update.spec.get("previous", {})))
        spec.pop("_pendingUpdate", None)
        self.store.update_spec(record, spec)
        cancelled = self.store.update_status(
            update, {"status": "Cancelled", "errors": [], "cancellation": {"status": "Successful", "reason": "Cancelled by user"}}
        )
        return {"update": update_view(cancelled)}

    # Tags

    def resource_for_arn(self, ctx: RequestContext, arn: str) -> Record:
        match = names.ARN_RE.match(arn)
        if not match:
            raise AwsError("BadRequestException", f"{arn} is not a valid resource ARN.")
        _, region, account, kind, rest = match.groups()
        if kind != "cluster":
            finder = self.tagged_kinds.get(kind)
            record = finder(account, region, rest, arn) if finder and account == ctx.account else None
            if record is None:
                raise AwsError("NotFoundException", f"Resource {arn} not found.")
            return record
        record = self.store.get(Key(account, region, CLUSTER, rest))
        if record is None or account != ctx.account or record.spec["arn"] != arn:
            raise AwsError("NotFoundException", f"Resource {arn} not found.")
        return record

    def tag(self, ctx: RequestContext, arn: str, tags: dict) -> dict:
        while True:
            record = self.resource_for_arn(ctx, arn)
            merged = validate_tags({**record.spec.get("tags", {}), **tags})
            try:
                self.store.update_spec(record, {**record.spec, "tags": merged}) if merged != record.spec.get("tags") else None
                return {}
            except Conflict:
                continue

    def untag(self, ctx: RequestContext, arn: str, keys: list[str]) -> dict:
        while True:
            record = self.resource_for_arn(ctx, arn)
            remaining = {k: v for k, v in record.spec.get("tags", {}).items() if k not in set(keys)}
            try:
                if remaining != record.spec.get("tags"):
                    self.store.update_spec(record, {**record.spec, "tags": remaining})
                return {}
            except Conflict:
                continue

    def list_tags(self, ctx: RequestContext, arn: str) -> dict:
        return {"tags": dict(self.resource_for_arn(ctx, arn).spec.get("tags", {}))}
