"""The resources the authorization tables name, as the authorizer reads them: one finder per resource
type (the `finder` of a row in gateway/authorization_tables/), giving the record's tags and the
attributes AWS supplies as condition keys (ec2:InstanceType, ec2:Vpc, iam:PermissionsBoundary, ...).

A finder takes the store, the request context and the identifiers a row formed from the request
(e.g. {"InstanceId": "i-0abc"}), and answers a view, or None when nothing is stored under them:
`tags` (key → value, as the resource holds them), `fields` (more identifiers for the ARN template,
such as an IAM entity's Path), `arn` (the stored ARN when it holds parts no request names, such as a
node group's UUID) and attribute values under the names the tables' `keys` use.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core.context import RequestContext
from ..core.kinds import (
    ACCESS_ENTRY,
    CLUSTER,
    FARGATE_PROFILE,
    GROUP,
    INSTANCE,
    INSTANCE_PROFILE,
    INTERNET_GATEWAY,
    NODEGROUP,
    OIDC_PROVIDER,
    ROLE,
    ROUTE_TABLE,
    SECURITY_GROUP,
    SUBNET,
    USER,
    VPC,
)
from ..services.ec2.launched_instances import instance_view
from ..services.ec2.network import find_spec
from ..services.ec2.nodegroup_instances import instances as node_group_instances
from ..services.eks.pod_identity import find_association
from ..services.iam.entities import IamStore
from ..services.iam.managed import ManagedPolicies
from ..store import Key, SqliteStore

View = dict[str, Any]
Finder = Callable[[SqliteStore, RequestContext, dict[str, str]], "View | None"]


def _tag_list(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


# --- EC2 -----------------------------------------------------------------------------------------------


def _ec2_instance(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
    instance_id = ids.get("InstanceId", "*")
    record = store.get(Key(ctx.account, ctx.region, INSTANCE, instance_id))
    if record is not None:
        view = instance_view(record, ctx.account, ctx.region)
    else:
        view = next((i for i in node_group_instances(store, ctx.account, ctx.region) if i["InstanceId"] == instance_id), None)
        if view is None:
            return None
    profile = (view.get("IamInstanceProfile") or {}).get("Arn")
    return {
        "tags": _tag_list(view.get("Tags")),
        "InstanceType": view.get("InstanceType"),
        "AvailabilityZone": (view.get("Placement") or {}).get("AvailabilityZone"),
        "Tenancy": (view.get("Placement") or {}).get("Tenancy"),
        "Vpc": _vpc_arn(ctx, view.get("VpcId")),
        "Subnet": _ec2_arn(ctx, "subnet", view.get("SubnetId")),
        "InstanceProfile": profile,
        "InstanceID": instance_id,
        "ImageId": view.get("ImageId"),
    }


def _ec2_arn(ctx: RequestContext, resource_type: str, resource: str | None) -> str | None:
    return f"arn:{ctx.partition}:ec2:{ctx.region}:{ctx.account}:{resource_type}/{resource}" if resource else None


def _vpc_arn(ctx: RequestContext, vpc_id: str | None) -> str | None:
    return _ec2_arn(ctx, "vpc", vpc_id)


def _network(kind: str, id_name: str) -> Finder:
    def find(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
        spec = find_spec(store, ctx.account, ctx.region, kind, ids.get(id_name, "*"))
        if spec is None:
            return None
        return {
            "tags": _tag_list(spec.get("Tags")),
            "id": ids[id_name],
            "Vpc": _vpc_arn(ctx, spec.get("VpcId")),
            "AvailabilityZone": spec.get("AvailabilityZone"),
            "Tenancy": spec.get("InstanceTenancy"),
        }

    return find


# --- EKS -----------------------------------------------------------------------------------------------


def _eks_cluster(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
    record = store.get(Key(ctx.account, ctx.region, CLUSTER, ids.get("ClusterName", "*")))
    return None if record is None else {"tags": dict(record.spec.get("tags") or {})}


def _eks_child(kind: str, name_id: str, arn_field: str) -> Finder:
    def find(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
        record = store.get(Key(ctx.account, ctx.region, kind, f"{ids.get('ClusterName', '*')}/{ids.get(name_id, '*')}"))
        if record is None:
            return None
        return {"tags": dict(record.spec.get("tags") or {}), "arn": record.spec.get(arn_field)}

    return find


def _eks_pod_identity(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
    record = find_association(store, ctx.account, ctx.region, ids.get("ClusterName", "*"), ids.get("EksPodIdentityAssociationId", "*"))
    return None if record is None else {"tags": dict(record.spec.get("tags") or {}), "arn": record.spec.get("associationArn")}


# --- IAM -----------------------------------------------------------------------------------------------


def _iam_entity(kind: str, name_id: str) -> Finder:
    def find(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
        record = IamStore(store).find(ctx.account, kind, ids.get(name_id, ""))
        if record is None:
            return None
        spec = record.spec
        return {
            "tags": _tag_list(spec.get("Tags")),
            "fields": {"Path": spec.get("Path", "/")},
            "PermissionsBoundary": spec.get("PermissionsBoundary"),
        }

    return find


def _iam_policy(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
    found = ManagedPolicies(IamStore(store)).find(ctx.account, ids.get("PolicyArn", ""))
    return None if found is None else {"tags": _tag_list(found[0].get("Tags"))}


def _iam_oidc_provider(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
    record = IamStore(store).find(ctx.account, OIDC_PROVIDER, ids.get("OidcProviderName", ""))
    return None if record is None else {"tags": _tag_list(record.spec.get("Tags"))}


def _iam_access_key_owner(store: SqliteStore, ctx: RequestContext, ids: dict[str, str]) -> View | None:
    """GetAccessKeyLastUsed names an access key; AWS authorizes it on the key's user."""
    from ..core.kinds import ACCESS_KEY

    entities = IamStore(store)
    key = entities.find(ctx.account, ACCESS_KEY, ids.get("AccessKeyId", ""))
    user = entities.find(ctx.account, USER, key.spec["User"]) if key is not None else None
    if user is None:
        return None
    return {"tags": _tag_list(user.spec.get("Tags")), "fields": {"Path": user.spec["Path"], "UserName": user.spec["UserName"]}}


FINDERS: dict[str, Finder] = {
    "ec2-instance": _ec2_instance,
    "ec2-vpc": _network(VPC, "VpcId"),
    "ec2-subnet": _network(SUBNET, "SubnetId"),
    "ec2-security-group": _network(SECURITY_GROUP, "SecurityGroupId"),
    "ec2-internet-gateway": _network(INTERNET_GATEWAY, "InternetGatewayId"),
    "ec2-route-table": _network(ROUTE_TABLE, "RouteTableId"),
    "eks-cluster": _eks_cluster,
    "eks-nodegroup": _eks_child(NODEGROUP, "NodegroupName", "nodegroupArn"),
    "eks-fargateprofile": _eks_child(FARGATE_PROFILE, "FargateProfileName", "fargateProfileArn"),
    "eks-access-entry": _eks_child(ACCESS_ENTRY, "PrincipalArn", "accessEntryArn"),
    "eks-podidentityassociation": _eks_pod_identity,
    "iam-user": _iam_entity(USER, "UserName"),
    "iam-role": _iam_entity(ROLE, "RoleName"),
    "iam-group": _iam_entity(GROUP, "GroupName"),
    "iam-instance-profile": _iam_entity(INSTANCE_PROFILE, "InstanceProfileName"),
    "iam-policy": _iam_policy,
    "iam-oidc-provider": _iam_oidc_provider,
    "iam-access-key-owner": _iam_access_key_owner,
}
