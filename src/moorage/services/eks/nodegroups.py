"""Managed node group rules: what Create/Update/DeleteNodegroup accept and store (spec only).

The node-group reconciler turns the spec into nodes (kwok-simulated EC2 instances) and writes status.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import CLUSTER, NODEGROUP, UPDATE
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from ..ec2.network import all_subnets
from ..ec2.nodes import ami_type_mismatch
from . import names
from .access import ensure_node_role_access
from .clusters import Clusters, fingerprint, now, paginate, record_with_arn, update_view, validate_tags
from .nodegroup_launch_templates import check_create as check_launch_template, check_remote_access
from .nodegroup_versions import check_nodegroup_version, check_release_version, latest_release_version
from .version_updates import running_version

MAX_NODEGROUPS_PER_CLUSTER = 30
MAX_NODES_PER_NODEGROUP = 450
MAX_TAINTS = 50
TAINT_EFFECTS = {"NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"}
# Kubernetes' label syntax (keys: an optional DNS-subdomain prefix and a name); the API server refuses
# nodes with anything else, so a node group with such labels or taints would never get its nodes.
LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAME_SYNTAX = (
    "field must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def nodegroup_arn(partition: str, region: str, account: str, cluster: str, nodegroup: str, nodegroup_id: str) -> str:
    return f"arn:{partition}:eks:{region}:{account}:nodegroup/{cluster}/{nodegroup}/{nodegroup_id}"


def nodegroup_not_found(cluster: str, nodegroup: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        f"No node group found for name: {nodegroup}.",
        extra_fields={"clusterName": cluster, "nodegroupName": nodegroup},
    )


def invalid(message: str, cluster: str, nodegroup: str) -> AwsError:
    return AwsError("InvalidParameterException", message, extra_fields={"clusterName": cluster, "nodegroupName": nodegroup})


def release_version(kubernetes_minor: str) -> str:
    return latest_release_version(kubernetes_minor)


def check_scaling(scaling: dict, cluster: str, nodegroup: str, updating: bool = False) -> None:
    low, high, desired = scaling["minSize"], scaling["maxSize"], scaling["desiredSize"]
    if high > MAX_NODES_PER_NODEGROUP:
        raise invalid(f"maxSize can't be greater than {MAX_NODES_PER_NODEGROUP}", cluster, nodegroup)
    if low > high:
        raise invalid("minSize can't be greater than maxSize", cluster, nodegroup)
    if low > desired:
        message = f"Minimum capacity {low} can't be greater than desired size {desired}" if updating else "minSize can't be greater than desiredSize"
        raise invalid(message, cluster, nodegroup)
    if desired > high:
        message = f"Desired capacity {desired} can't be greater than max size {high}" if updating else "desiredSize can't be greater than maxSize"
        raise invalid(message, cluster, nodegroup)


def label_syntax_error(text: str, is_key: bool) -> str | None:
    """Why Kubernetes would refuse text as a label (or taint) key or value, in EKS's words; None when it is fine."""
    if not is_key and text == "":
        return None
    prefix, _, name = text.rpartition("/") if is_key else ("", "", text)
    if len(name) > 63 or not LABEL_NAME_RE.match(name) or (prefix and (len(prefix) > 253 or not LABEL_PREFIX_RE.match(prefix))):
        return f"Invalid value: {text} : {NAME_SYNTAX}"
    return None


def check_labels(labels: dict[str, str], cluster: str, nodegroup: str) -> None:
    for key, value in labels.items():
        error = label_syntax_error(key, is_key=True) or label_syntax_error(value, is_key=False)
        if error:
            raise invalid(error, cluster, nodegroup)


def taint_id(taint: dict) -> tuple[str, str]:
    return taint.get("key") or "", taint.get("effect") or ""


def check_taints(taints: list[dict], cluster: str, nodegroup: str) -> None:
    if len(taints) > MAX_TAINTS:
        raise invalid(f"The number of taints must not exceed {MAX_TAINTS}.", cluster, nodegroup)
    seen = set()
    for taint in taints:
        if taint.get("effect") not in TAINT_EFFECTS:
            raise invalid(
                f"Invalid taint effect: {taint.get('effect')}, must be one of these [NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE]",
                cluster, nodegroup,
            )
        error = label_syntax_error(taint.get("key") or "", is_key=True) or label_syntax_error(taint.get("value") or "", is_key=False)
        if error:
            raise invalid(error, cluster, nodegroup)
        pair = taint_id(taint)
        if pair in seen:
            raise invalid(f"Duplicate taint key {taint['key']} with effect {taint['effect']}", cluster, nodegroup)
        seen.add(pair)


def nodegroup_view(record: Record) -> dict:
    spec, status = record.spec, record.status
    view = {k: v for k, v in spec.items() if not k.startswith("_")}
    if spec.get("_instanceTypesFromTemplate"):
        view["instanceTypes"] = None  # as EKS shows a group whose template sets the instance type
    view["createdAt"] = datetime.fromtimestamp(spec["createdAt"], timezone.utc)
    view["modifiedAt"] = datetime.fromtimestamp(spec.get("modifiedAt", spec["createdAt"]), timezone.utc)
    state = status.get("status", "CREATING")
    if record.deleting:
        state = "DELETING"
    elif state == "ACTIVE" and spec.get("_pendingUpdate") not in (None, status.get("appliedUpdate")):
        state = "UPDATING"
    view["status"] = state
    view["health"] = {"issues": status.get("healthIssues", [])}
    # What the nodes run: a version update's target shows once every node runs it.
    before = spec.get("_versionBefore") or {}
    view["version"] = status.get("version") or before.get("version") or spec["version"]
    view["releaseVersion"] = status.get("releaseVersion") or before.get("releaseVersion") or spec["releaseVersion"]
    return view


class Nodegroups:
    def __init__(self, store: SqliteStore, clusters: Clusters, instance_types: dict[str, Any]):
        self.store = store
        self.clusters = clusters
        clusters.tagged_kinds["nodegroup"] = record_with_arn(store, NODEGROUP, "nodegroupArn")
        self.instance_types = instance_types

    def key(self, ctx: RequestContext, cluster: str, nodegroup: str) -> Key:
        return Key(ctx.account, ctx.region, NODEGROUP, f"{cluster}/{nodegroup}")

    def get(self, ctx: RequestContext, cluster: str, nodegroup: str) -> Record:
        self.clusters.get(ctx, cluster)
        record = self.store.get(self.key(ctx, cluster, nodegroup))
        if record is None:
            raise nodegroup_not_found(cluster, nodegroup)
        return record

    def of_cluster(self, ctx: RequestContext, cluster: str) -> list[Record]:
        return [r for r in self.store.list(ctx.account, ctx.region, NODEGROUP) if r.spec["clusterName"] == cluster]

    def create(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, name = params["clusterName"], params["nodegroupName"]
        cluster = self.clusters.get(ctx, cluster_name)
        existing = self.store.get(self.key(ctx, cluster_name, name))
        token = params.get("clientRequestToken")
        if existing is not None:
            if token and existing.spec.get("_token") == token and existing.spec["_fingerprint"] == fingerprint(params):
                return nodegroup_view(existing)
            raise AwsError(
                "ResourceInUseException",
                f"NodeGroup already exists with name {name} and cluster name {cluster_name}",
                extra_fields={"clusterName": cluster_name, "nodegroupName": name},
            )
        # The request's own parameters first, then the cluster's state.
        template = check_launch_template(self.store, ctx, params, cluster_name, name)
        check_remote_access(self.store, ctx, params.get("remoteAccess"), cluster_name, name)
        if cluster.deleting or cluster.status.get("status") != "ACTIVE":
            state = "DELETING" if cluster.deleting else cluster.status.get("status", "CREATING")
            raise AwsError(
                "InvalidRequestException",
                f"Cluster {cluster_name} is in {state} state; node groups can be created only on ACTIVE clusters.",
                extra_fields={"clusterName": cluster_name, "nodegroupName": name},
            )
        if len(self.of_cluster(ctx, cluster_name)) >= MAX_NODEGROUPS_PER_CLUSTER:
            raise AwsError(
                "ResourceLimitExceededException",
                f"Nodegroups limit exceeded for cluster {cluster_name}: at most {MAX_NODEGROUPS_PER_CLUSTER} node groups per cluster.",
                extra_fields={"clusterName": cluster_name, "nodegroupName": name},
            )
        scaling = {"minSize": 1, "maxSize": 2, "desiredSize": 2, **(params.get("scalingConfig") or {})}
        if "desiredSize" not in (params.get("scalingConfig") or {}):
            scaling["desiredSize"] = max(scaling["minSize"], min(2, scaling["maxSize"]))
        check_scaling(scaling, cluster_name, name)
        facts = template["summary"] if template else {}
        instance_types = params.get("instanceTypes") or ([facts["instanceType"]] if facts.get("instanceType") else ["t3.medium"])
        for instance_type in instance_types:
            if instance_type not in self.instance_types:
                raise invalid(f"Instance type {instance_type} is not supported", cluster_name, name)
        arches = {self.instance_types[t].arch for t in instance_types}
        if len(arches) > 1:
            raise invalid("Instance types of a node group must share one architecture", cluster_name, name)
        arch = arches.pop()
        ami_type = params.get("amiType") or ("CUSTOM" if facts.get("imageId") else
                                             "AL2023_ARM_64_STANDARD" if arch == "arm64" else "AL2023_x86_64_STANDARD")
        mismatch = ami_type_mismatch(ami_type, instance_types)
        if mismatch:
            raise invalid(mismatch, cluster_name, name)
        known = {s["SubnetId"]: s for s in all_subnets(self.store, ctx.account, ctx.region)}
        cluster_vpc = cluster.spec["resourcesVpcConfig"]["vpcId"]
        for subnet in params["subnets"]:
            if subnet not in known:
                raise invalid(f"The subnet ID '{subnet}' does not exist", cluster_name, name)
            if known[subnet]["VpcId"] != cluster_vpc:
                raise invalid(f"Specified subnets must belong to cluster's vpc {cluster_vpc}", cluster_name, name)
        check_taints(params.get("taints") or [], cluster_name, name)
        check_labels(params.get("labels") or {}, cluster_name, name)
        cluster_version = running_version(cluster)
        version = params.get("version") or cluster_version
        check_nodegroup_version(version, cluster_version, cluster_name, name)
        if params.get("releaseVersion"):
            check_release_version(params["releaseVersion"], version, cluster_name, name)
        nodegroup_id = str(uuid.uuid4())
        spec = {
            "nodegroupName": name,
            "nodegroupArn": nodegroup_arn(ctx.partition, ctx.region, ctx.account, cluster_name, name, nodegroup_id),
            "clusterName": cluster_name,
            "version": version,
            # A custom AMI's group shows the AMI as its release, as EKS does.
            "releaseVersion": facts.get("imageId") or params.get("releaseVersion") or release_version(version),
            "createdAt": now(),
            "capacityType": params.get("capacityType", "ON_DEMAND"),
            "scalingConfig": scaling,
            "instanceTypes": instance_types,
            "subnets": params["subnets"],
            "amiType": ami_type,
            "nodeRole": params["nodeRole"],
            "labels": params.get("labels") or {},
            "taints": params.get("taints") or [],
            "resources": {"autoScalingGroups": [{"name": f"eks-{name}-{nodegroup_id}"}]},
            "diskSize": params.get("diskSize", 20 if not params.get("launchTemplate") else None),
            "updateConfig": params.get("updateConfig") or {"maxUnavailable": 1},
            "tags": validate_tags(params.get("tags"), "InvalidParameterException"),
            "_id": nodegroup_id,
            "_token": token,
            "_fingerprint": fingerprint(params),
        }
        for optional in ("remoteAccess", "nodeRepairConfig", "warmPoolConfig"):
            if params.get(optional) is not None:
                spec[optional] = params[optional]
        if template:
            spec["launchTemplate"] = {"name": template["name"], "version": template["version"], "id": template["id"]}
            spec["_launchTemplateVersions"] = {template["version"]: facts}
            if facts.get("instanceType"):
                spec["_instanceTypesFromTemplate"] = True
        if spec["diskSize"] is None:
            del spec["diskSize"]
        try:
            record = self.store.create(self.key(ctx, cluster_name, name), spec, {"status": "CREATING"})
        except AlreadyExists:
            raise AwsError(
                "ResourceInUseException",
                f"NodeGroup already exists with name {name} and cluster name {cluster_name}",
                extra_fields={"clusterName": cluster_name, "nodegroupName": name},
            ) from None
        # The node role's access entry (API modes); in CONFIG_MAP mode the reconciler maps it in aws-auth.
        ensure_node_role_access(self.store, cluster, params["nodeRole"], "EC2_LINUX")
        return nodegroup_view(record)

    def describe(self, ctx: RequestContext, cluster: str, nodegroup: str) -> dict:
        return nodegroup_view(self.get(ctx, cluster, nodegroup))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        self.clusters.get(ctx, params["clusterName"])
        found = sorted(r.spec["nodegroupName"] for r in self.of_cluster(ctx, params["clusterName"]))
        return paginate(found, params, "nodegroups")

    def delete(self, ctx: RequestContext, cluster: str, nodegroup: str) -> dict:
        record = self.get(ctx, cluster, nodegroup)
        while not record.deleting:
            try:
                record = self.store.mark_deleting(record)
            except Conflict:
                record = self.get(ctx, cluster, nodegroup)
        return nodegroup_view(record)

    def update_config(self, ctx: RequestContext, params: dict) -> dict:
        cluster, name = params["clusterName"], params["nodegroupName"]
        record = self.get(ctx, cluster, name)
        token = params.get("clientRequestToken")
        updates = [u for u in self.store.list(ctx.account, ctx.region, UPDATE) if u.spec.get("nodegroupArn") == record.spec["nodegroupArn"]]
        if token:
            for update in updates:
                if update.spec.get("clientRequestToken") == token:
                    return {"update": update_view(update)}
        if record.deleting or record.status.get("status") != "ACTIVE":
            raise AwsError(
                "ResourceInUseException",
                f"Nodegroup {name} is not in ACTIVE state; it can be updated only when ACTIVE.",
                extra_fields={"clusterName": cluster, "nodegroupName": name},
            )
        if any(u.status.get("status", "InProgress") == "InProgress" for u in updates):
            raise AwsError(
                "ResourceInUseException",
                f"Nodegroup {name} already has an update in progress",
                extra_fields={"clusterName": cluster, "nodegroupName": name},
            )
        spec = copy.deepcopy(record.spec)
        update_params: list[dict] = []

        def param(kind: str, value: Any) -> None:
            update_params.append({"type": kind, "value": value if isinstance(value, str) else json.dumps(value)})

        if params.get("scalingConfig"):
            scaling = {**spec["scalingConfig"], **params["scalingConfig"]}
            check_scaling(scaling, cluster, name, updating=True)
            spec["scalingConfig"] = scaling
            for key, kind in (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize")):
                if key in params["scalingConfig"]:
                    param(kind, str(params["scalingConfig"][key]))
        if params.get("labels"):
            labels = dict(spec["labels"])
            labels.update(params["labels"].get("addOrUpdateLabels") or {})
            for key in params["labels"].get("removeLabels") or []:
                labels.pop(key, None)
            check_labels(labels, cluster, name)
            spec["labels"] = labels
            if params["labels"].get("addOrUpdateLabels"):
                param("LabelsToAdd", params["labels"]["addOrUpdateLabels"])
            if params["labels"].get("removeLabels"):
                param("LabelsToRemove", params["labels"]["removeLabels"])
        if params.get("taints"):
            taints = {taint_id(t): t for t in spec["taints"]}
            for taint in params["taints"].get("addOrUpdateTaints") or []:
                taints[taint_id(taint)] = taint
            for taint in params["taints"].get("removeTaints") or []:
                taints.pop(taint_id(taint), None)
            spec["taints"] = list(taints.values())
            check_taints(spec["taints"], cluster, name)
            if params["taints"].get("addOrUpdateTaints"):
                param("TaintsToAdd", params["taints"]["addOrUpdateTaints"])
            if params["taints"].get("removeTaints"):
                param("TaintsToRemove", params["taints"]["removeTaints"])
        for member, kind in (("updateConfig", "MaxUnavailable"), ("nodeRepairConfig", "NodeRepairConfig"), ("warmPoolConfig", "WarmPoolEnabled")):
            if params.get(member):
                spec[member] = params[member]
                param(kind, params[member])
        if not update_params:
            raise invalid("No changes needed for the provided configuration.", cluster, name)
        update_id = names.new_update_id()
        spec["_pendingUpdate"] = update_id
        spec["modifiedAt"] = now()
        update = self.store.create(
            Key(ctx.account, ctx.region, UPDATE, update_id),
            {
                "id": update_id,
                "clusterName": cluster,
                "nodegroupName": name,
                "nodegroupArn": record.spec["nodegroupArn"],
                "type": "ConfigUpdate",
                "params": update_params,
                "createdAt": now(),
                "clientRequestToken": token,
            },
            {"status": "InProgress"},
        )
        try:
            self.store.update_spec(record, spec)
        except Conflict:
            self.store.update_status(update, {"status": "Failed", "errors": [{"errorCode": "Unknown", "errorMessage": "The node group changed during the update; retry.", "resourceIds": [name]}]})
            raise AwsError("ResourceInUseException", f"Nodegroup {name} changed while the update was recorded; retry.") from None
        return {"update": update_view(update)}


def cluster_of(key: Key) -> Key:
    return Key(key.account, key.region, CLUSTER, key.name.split("/", 1)[0])
