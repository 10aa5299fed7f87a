"""Fargate profile rules: what Create/Describe/List/DeleteFargateProfile accept and store (spec only).

The Fargate reconciler (controllers/fargate.py) takes a profile from CREATING to ACTIVE and, on
deletion, removes its pods and their Fargate nodes; the admission webhook and the Fargate scheduler
place matching pods. Error codes and messages are EKS's (moto's copies of real answers where EKS
documents none): a duplicate name is "A Fargate Profile already exists with this name in this
cluster.", a profile change while another is CREATING or DELETING is "Cannot create Fargate Profile
<p> because cluster <c> currently has Fargate profile <q> in status CREATING", a public subnet is
"Subnet <id> provided in Fargate Profile is not a private subnet".
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import CLUSTER, FARGATE_PROFILE
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from ..ec2.network import find_subnet, subnet_is_public
from .access import ensure_node_role_access
from .clusters import Clusters, fingerprint, now, paginate, record_with_arn, validate_tags

MAX_PROFILES_PER_CLUSTER = 10
MAX_SELECTORS = 5
MAX_LABELS_PER_SELECTOR = 5
NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
ROLE_ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role/.+$")


def fargate_profile_arn(partition: str, region: str, account: str, cluster: str, profile: str, profile_id: str) -> str:
    return f"arn:{partition}:eks:{region}:{account}:fargateprofile/{cluster}/{profile}/{profile_id}"


def profile_not_found(cluster: str, profile: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        f"No Fargate Profile found with name: {profile}.",
        extra_fields={"clusterName": cluster, "fargateProfileName": profile},
    )


def invalid(message: str, cluster: str, profile: str) -> AwsError:
    return AwsError("InvalidParameterException", message, extra_fields={"clusterName": cluster, "fargateProfileName": profile})


def profile_view(record: Record) -> dict:
    spec, status = record.spec, record.status
    view = {k: v for k, v in spec.items() if not k.startswith("_")}
    view["createdAt"] = datetime.fromtimestamp(spec["createdAt"], timezone.utc)
    view["status"] = "DELETING" if record.deleting else status.get("status", "CREATING")
    view["health"] = {"issues": status.get("healthIssues", [])}
    return view


def profile_state(record: Record) -> str:
    return "DELETING" if record.deleting else record.status.get("status", "CREATING")


def check_selectors(selectors: list[dict], cluster: str, profile: str) -> list[dict]:
    if not selectors:
        raise invalid("Fargate Profile requires at least one selector.", cluster, profile)
    if len(selectors) > MAX_SELECTORS:
        raise invalid(f"Fargate Profile cannot have more than {MAX_SELECTORS} selectors.", cluster, profile)
    checked = []
    for selector in selectors:
        if not selector.get("namespace"):
            raise invalid("Fargate Profile must have at least one selector with at least one namespace value.", cluster, profile)
        labels = selector.get("labels") or {}
        if len(labels) > MAX_LABELS_PER_SELECTOR:
            raise invalid(f"Request contains Selector with more than {MAX_LABELS_PER_SELECTOR} Label pairs", cluster, profile)
        checked.append({"namespace": selector["namespace"], **({"labels": dict(labels)} if labels else {})})
    return checked


class FargateProfiles:
    def __init__(self, store: SqliteStore, clusters: Clusters):
        self.store = store
        self.clusters = clusters
        clusters.tagged_kinds["fargateprofile"] = record_with_arn(store, FARGATE_PROFILE, "fargateProfileArn")

    def key(self, ctx: RequestContext, cluster: str, profile: str) -> Key:
        return Key(ctx.account, ctx.region, FARGATE_PROFILE, f"{cluster}/{profile}")

    def get(self, ctx: RequestContext, cluster: str, profile: str) -> Record:
        self.clusters.get(ctx, cluster)
        record = self.store.get(self.key(ctx, cluster, profile))
        if record is None:
            raise profile_not_found(cluster, profile)
        return record

    def of_cluster(self, ctx: RequestContext, cluster: str) -> list[Record]:
        return profiles_of_cluster(self.store, ctx.account, ctx.region, cluster)

    def _subnets(self, ctx: RequestContext, cluster: Record, requested: list[str] | None, profile: str) -> list[str]:
        """The profile's subnets: the given ones (existing, in the cluster's VPC, private), else the cluster's private ones."""
        name = cluster.spec["name"]
        vpc_id = cluster.spec["resourcesVpcConfig"].get("vpcId")
        if not requested:
            private = [
                s for s in cluster.spec["resourcesVpcConfig"]["subnetIds"]
                if find_subnet(self.store, ctx.account, ctx.region, s) is not None
                and not subnet_is_public(self.store, ctx.account, ctx.region, s)
            ]
            if not private:
                raise invalid(
                    f"Cluster {name} has no private subnets; a Fargate Profile needs private subnets. "
                    "Pass private subnets of the cluster's VPC with subnets.",
                    name, profile,
                )
            return private
        for subnet_id in requested:
            subnet = find_subnet(self.store, ctx.account, ctx.region, subnet_id)
            if subnet is None:
                raise invalid(f"The subnet ID '{subnet_id}' does not exist", name, profile)
            if vpc_id and subnet["VpcId"] != vpc_id:
                raise invalid(f"Subnet {subnet_id} provided in Fargate Profile is not in the cluster's VPC {vpc_id}", name, profile)
            if subnet_is_public(self.store, ctx.account, ctx.region, subnet_id):
                raise invalid(f"Subnet {subnet_id} provided in Fargate Profile is not a private subnet", name, profile)
        return list(dict.fromkeys(requested))

    def create(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, name = params["clusterName"], params["fargateProfileName"]
        cluster = self.clusters.get(ctx, cluster_name)
        token = params.get("clientRequestToken")
        existing = self.store.get(self.key(ctx, cluster_name, name))
        if existing is not None:
            if token and existing.spec.get("_token") == token and existing.spec["_fingerprint"] == fingerprint(params):
                return profile_view(existing)
            raise self._exists(cluster_name, name)
        if not NAME_RE.match(name):
            raise invalid(
                "Fargate Profile name must start with a letter or digit and contain only letters, digits, hyphens "
                "and underscores (at most 100 characters).",
                cluster_name, name,
            )
        selectors = check_selectors(params.get("selectors") or [], cluster_name, name)
        if not ROLE_ARN_RE.match(params["podExecutionRoleArn"]):
            raise invalid(f"Invalid Role Arn: '{params['podExecutionRoleArn']}'", cluster_name, name)
        tags = validate_tags(params.get("tags"), "InvalidParameterException")
        subnets = self._subnets(ctx, cluster, params.get("subnets"), name)
        if cluster.deleting or cluster.status.get("status") != "ACTIVE":
            raise AwsError(
                "InvalidRequestException",
                f"Cluster '{cluster_name}' is not in ACTIVE status",
                extra_fields={"clusterName": cluster_name, "fargateProfileName": name},
            )
        siblings = self.of_cluster(ctx, cluster_name)
        self._refuse_while_busy("create", name, cluster_name, siblings)
        if len(siblings) >= MAX_PROFILES_PER_CLUSTER:
            raise AwsError(
                "ResourceLimitExceededException",
                f"Fargate Profiles limit exceeded for cluster {cluster_name}: at most {MAX_PROFILES_PER_CLUSTER} Fargate profiles per cluster.",
                extra_fields={"clusterName": cluster_name},
            )
        profile_id = str(uuid.uuid4())
        spec = {
            "fargateProfileName": name,
            "fargateProfileArn": fargate_profile_arn(ctx.partition, ctx.region, ctx.account, cluster_name, name, profile_id),
            "clusterName": cluster_name,
            "createdAt": now(),
            "podExecutionRoleArn": params["podExecutionRoleArn"],
            "subnets": subnets,
            "selectors": selectors,
            "tags": tags,
            "_token": token,
            "_fingerprint": fingerprint(params),
        }
        try:
            record = self.store.create(self.key(ctx, cluster_name, name), spec, {"status": "CREATING"})
        except AlreadyExists:
            raise self._exists(cluster_name, name) from None
        # As EKS does: the pod execution role may register Fargate nodes (API modes: an access entry;
        # CONFIG_MAP: the reconciler maps it in aws-auth).
        ensure_node_role_access(self.store, cluster, spec["podExecutionRoleArn"], "FARGATE_LINUX")
        return profile_view(record)

    @staticmethod
    def _exists(cluster: str, name: str) -> AwsError:
        return AwsError(
            "ResourceInUseException",
            "A Fargate Profile already exists with this name in this cluster.",
            extra_fields={"clusterName": cluster, "fargateProfileName": name},
        )

    @staticmethod
    def _refuse_while_busy(verb: str, name: str, cluster: str, siblings: list[Record]) -> None:
        """EKS changes one Fargate profile of a cluster at a time."""
        for other in siblings:
            state = profile_state(other)
            if other.spec["fargateProfileName"] != name and state in ("CREATING", "DELETING"):
                raise AwsError(
                    "ResourceInUseException",
                    f"Cannot {verb} Fargate Profile {name} because cluster {cluster} currently has Fargate profile "
                    f"{other.spec['fargateProfileName']} in status {state}",
                    extra_fields={"clusterName": cluster, "fargateProfileName": name},
                )

    def describe(self, ctx: RequestContext, cluster: str, profile: str) -> dict:
        return profile_view(self.get(ctx, cluster, profile))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        self.clusters.get(ctx, params["clusterName"])
        found = sorted(r.spec["fargateProfileName"] for r in self.of_cluster(ctx, params["clusterName"]))
        return paginate(found, params, "fargateProfileNames")

    def delete(self, ctx: RequestContext, cluster: str, profile: str) -> dict:
        record = self.get(ctx, cluster, profile)
        if record.deleting:
            return profile_view(record)
        self._refuse_while_busy("Delete", profile, cluster, self.of_cluster(ctx, cluster))
        while not record.deleting:
            try:
                record = self.store.mark_deleting(record)
            except Conflict:
                record = self.get(ctx, cluster, profile)
        return profile_view(record)


def fargate_addresses(store: SqliteStore, account: str, region: str) -> list[dict]:
    """The addresses Fargate nodes hold in a region, listed as instances list theirs (no pod block:
    a Fargate pod has its node's address)."""
    return [
        {"privateIp": node["privateIp"]}
        for record in store.list(account, region, FARGATE_PROFILE)
        for node in (record.status.get("pods") or {}).values()
    ]


def profiles_of_cluster(store: SqliteStore, account: str, region: str, cluster: str) -> list[Record]:
    return [r for r in store.list(account, region, FARGATE_PROFILE) if r.spec["clusterName"] == cluster]


def cluster_key_of(key: Key) -> Key:
    return Key(key.account, key.region, CLUSTER, key.name.split("/", 1)[0])
