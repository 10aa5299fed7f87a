"""Cluster access: access entries and their associated access policies (EKS's access-entry API).

An access entry is one record per (cluster, principal ARN) with its associated policies inside it,
so an entry and its policies change together under one compare-and-set. The token webhook reads
entries to turn a caller into a Kubernetes user, the authorization webhook reads their policies.

As on EKS, an entry is bound to the IAM principal that had its ARN when the entry was made: the
principal's unique id (AIDA... for a user, AROA... for a role) is recorded, and a principal deleted and
recreated under the same ARN (a new id) is not mapped by the old entry. When Moorage's IAM does not
know the principal (another account's role, the account root, a role never created here) nothing is
recorded and the entry matches by ARN alone, as do entries stored before ids were recorded.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import ACCESS_ENTRY
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from ..iam.entities import ID_FIELD
from ..iam.identity import principal_record
from . import names
from .access_policies import POLICY_ARNS, POLICY_NAMES, policy_arn
from .clusters import Clusters, fingerprint, now, paginate, record_with_arn, validate_tags

ENTRY_TYPES = ("STANDARD", "FARGATE_LINUX", "EC2_LINUX", "EC2_WINDOWS", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX")
API_MODES = ("API", "API_AND_CONFIG_MAP")
CONFIG_MAP_MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP")
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
RESERVED_GROUP_PREFIX = "system:"
CLUSTER_ADMIN_POLICY = policy_arn("AmazonEKSClusterAdminPolicy")
# Node-like entries: the username and groups EKS gives them (they can't be chosen).
NODE_IDENTITIES = {
    "EC2_LINUX": ("system:node:{{EC2PrivateDNSName}}", ["system:nodes"]),
    "EC2_WINDOWS": ("system:node:{{EC2PrivateDNSName}}", ["system:nodes"]),
    "EC2": ("system:node:{{EC2PrivateDNSName}}", []),
    "FARGATE_LINUX": ("system:node:{{SessionName}}", ["system:node-proxier", "system:nodes"]),
    "HYBRID_LINUX": ("system:node:{{SessionName}}", ["system:nodes"]),
    "HYPERPOD_LINUX": ("system:node:{{SessionName}}", ["system:nodes"]),
}
IAM_PRINCIPAL_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):"
    r"(?:(?P<root>root)|(?P<kind>user|role)/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,128}))$"
)
ASSUMED_ROLE_RE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)/(?P<session>.+)$")
NAMESPACE_PATTERN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$|^[a-z0-9][-a-z0-9]{0,61}\*$|^\*$")


def canonical_arn(arn: str) -> str:
    """The ARN access entries and aws-auth match on: an assumed-role session becomes its role, without path."""
    assumed = ASSUMED_ROLE_RE.match(arn)
    if assumed:
        return f"arn:{assumed['partition']}:iam::{assumed['account']}:role/{assumed['role']}"
    parsed = IAM_PRINCIPAL_RE.match(arn)
    if parsed and parsed["kind"] == "role" and parsed["path"]:
        return f"arn:{parsed['partition']}:iam::{parsed['account']}:role/{parsed['name']}"
    return arn


def default_username(principal: str, entry_type: str) -> str:
    if entry_type in NODE_IDENTITIES:
        return NODE_IDENTITIES[entry_type][0]
    parsed = IAM_PRINCIPAL_RE.match(principal)
    if parsed and parsed["kind"] == "role":
        return f"arn:{parsed['partition']}:sts::{parsed['account']}:assumed-role/{parsed['name']}/{{{{SessionName}}}}"
    return principal  # IAM users and the account root: their ARN


def access_entry_arn(partition: str, region: str, account: str, cluster: str, principal: str) -> str:
    parsed = IAM_PRINCIPAL_RE.match(principal)
    kind, name = ("root", "root") if parsed["root"] else (parsed["kind"], parsed["name"])
    return f"arn:{partition}:eks:{region}:{account}:access-entry/{cluster}/{kind}/{parsed['account']}/{name}/{uuid.uuid4()}"


def entry_key(cluster_key: Key, principal: str) -> Key:
    return Key(cluster_key.account, cluster_key.region, ACCESS_ENTRY, f"{cluster_key.name}/{principal}")


def entries_of_cluster(store: SqliteStore, cluster_key: Key) -> list[Record]:
    return [r for r in store.list(cluster_key.account, cluster_key.region, ACCESS_ENTRY) if r.spec["clusterName"] == cluster_key.name]


def entries_for_arn(store: SqliteStore, cluster_key: Key, canonical: str) -> Iterator[Record]:
    """Entries whose principal is this canonical ARN: the exact match first, then role entries with a path
    (read lazily, so a caller satisfied by the exact match never lists the cluster's entries)."""
    exact = store.get(entry_key(cluster_key, canonical))
    if exact is not None:
        yield exact
    if ":role/" in canonical:
        yield from (r for r in entries_of_cluster(store, cluster_key)
                    if r.spec.get("_canonicalArn") == canonical and (exact is None or r.key != exact.key))


def principal_unique_id(store: SqliteStore, principal_arn: str) -> str | None:
    """The unique id of the IAM user or role this ARN (or assumed-role session ARN) names now, if Moorage's IAM has it."""
    found = principal_record(store, principal_arn)
    return found[1].spec[ID_FIELD[found[0]]] if found else None


def entry_applies_to(entry: Record, caller_user_id: str) -> bool:
    """Whether the entry maps a caller with this STS UserId ("AIDA...", or "AROA...:session" for a role
    session, whose role id part counts). An entry without a recorded id matches by ARN alone."""
    recorded = entry.spec.get("_principalId")
    return not recorded or caller_user_id.split(":", 1)[0] == recorded


def find_entry(store: SqliteStore, cluster_key: Key, canonical: str, caller_user_id: str) -> Record | None:
    """The entry that maps a caller: its principal is the caller's canonical ARN and it applies to the caller's unique id."""
    return next((r for r in entries_for_arn(store, cluster_key, canonical) if entry_applies_to(r, caller_user_id)), None)


def authentication_mode(cluster: Record) -> str:
    return (cluster.spec.get("accessConfig") or {}).get("authenticationMode", "CONFIG_MAP")


# Errors, in EKS's words

def entry_not_found(cluster: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException",
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
        extra_fields={"clusterName": cluster},
    )


def invalid(message: str, cluster: str) -> AwsError:
    return names.invalid_parameter(message, cluster)


def check_username(username: str, cluster: str) -> None:
    for prefix in RESERVED_USERNAME_PREFIXES:
        if username.startswith(prefix):
            raise invalid(f"The username must not begin with {prefix}", cluster)
    at = username.find("{{SessionName")
    if at >= 0 and ":" not in username[:at]:
        raise invalid("The username must include a colon before {{SessionName}} or {{SessionNameRaw}}.", cluster)
    if not username.strip():
        raise invalid("The username must not be empty.", cluster)


def check_groups(groups: list[str], cluster: str) -> None:
    for group in groups:
        if group.startswith(RESERVED_GROUP_PREFIX):
            raise invalid(f"The kubernetes group name {group} is invalid, it cannot start with {RESERVED_GROUP_PREFIX}", cluster)
        if not group.strip():
            raise invalid("A kubernetes group name must not be empty.", cluster)


def check_principal(principal: str, entry_type: str, cluster_account: str, cluster: str) -> None:
    parsed = IAM_PRINCIPAL_RE.match(principal)
    if parsed is None or (parsed["kind"] == "role" and parsed["path"].startswith("aws-service-role/")):
        raise invalid("The specified principalArn is invalid: invalid principal.", cluster)
    if entry_type != "STANDARD" and (parsed["kind"] != "role" or parsed["account"] != cluster_account):
        raise invalid(
            f"The specified principalArn is invalid: access entries of type {entry_type} must name an IAM role "
            "in the cluster's account.",
            cluster,
        )


def check_scope(scope: dict, cluster: str) -> dict:
    kind = scope.get("type")
    namespaces = list(scope.get("namespaces") or [])
    if kind == "cluster":
        if namespaces:
            raise invalid("Namespaces can only be specified with an accessScope of type namespace.", cluster)
        return {"type": "cluster", "namespaces": []}
    if kind != "namespace":
        raise invalid("accessScope type must be one of [cluster, namespace].", cluster)
    if not namespaces:
        raise invalid("At least one namespace must be specified with an accessScope of type namespace.", cluster)
    for namespace in namespaces:
        if not NAMESPACE_PATTERN_RE.match(namespace):
            raise invalid(f"The namespace {namespace} is invalid: it must be a Kubernetes namespace name, optionally ending with *.", cluster)
    return {"type": "namespace", "namespaces": sorted(set(namespaces))}


# Views

def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


def entry_view(record: Record) -> dict:
    spec = record.spec
    view = {k: v for k, v in spec.items() if not k.startswith("_") and k != "policies"}
    view["createdAt"], view["modifiedAt"] = _time(spec["createdAt"]), _time(spec["modifiedAt"])
    return view


def association_view(arn: str, association: dict) -> dict:
    return {
        "policyArn": arn,
        "accessScope": association["accessScope"],
        "associatedAt": _time(association["associatedAt"]),
        "modifiedAt": _time(association["modifiedAt"]),
    }


def new_entry_spec(partition: str, cluster: Record, principal: str, principal_id: str | None, entry_type: str,
                   username: str | None, groups: list[str] | None, tags: dict | None = None) -> dict:
    key = cluster.key
    node = NODE_IDENTITIES.get(entry_type)
    created = now()
    return {
        "clusterName": key.name,
        "principalArn": principal,
        "kubernetesGroups": list(node[1]) if node else list(groups or []),
        "accessEntryArn": access_entry_arn(partition, key.region, key.account, key.name, principal),
        "createdAt": created,
        "modifiedAt": created,
        "tags": dict(tags or {}),
        "username": username or default_username(principal, entry_type),
        "type": entry_type,
        "policies": {},
        "_canonicalArn": canonical_arn(principal),
        "_principalId": principal_id,  # None: matched by ARN alone (see the module docstring)
    }


def ensure_entry(store: SqliteStore, cluster: Record, principal: str, entry_type: str, policies: dict | None = None,
                 identity_arn: str | None = None) -> Record:
    """Create an entry EKS makes on its own (cluster creator, node and Fargate roles) unless one exists.
    identity_arn: the ARN to find the principal's unique id by, when not principal itself (the creator's session)."""
    key = entry_key(cluster.key, principal)
    existing = store.get(key)
    if existing is not None:
        return existing
    partition = cluster.spec["arn"].split(":")[1]
    spec = new_entry_spec(partition, cluster, principal, principal_unique_id(store, identity_arn or principal), entry_type, None, None)
    spec["policies"] = policies or {}
    try:
        return store.create(key, spec)
    except AlreadyExists:
        return store.require(key)


def ensure_node_role_access(store: SqliteStore, cluster: Record, role_arn: str, entry_type: str = "EC2_LINUX") -> Record | None:
    """What EKS does for a managed node group's or Fargate profile's role: an access entry of entry_type
    in the API modes. In CONFIG_MAP mode the role goes into aws-auth instead, which needs the running
    cluster, so the caller's reconciler applies it (``aws_auth.ensure_role_mapping``); returns None then."""
    if authentication_mode(cluster) not in API_MODES:
        return None
    return ensure_entry(store, cluster, role_arn, entry_type)


def bootstrap_creator_access(store: SqliteStore, cluster: Record) -> Record | None:
    """bootstrapClusterCreatorAdminPermissions in the API modes: the creator's entry with ClusterAdmin.
    In CONFIG_MAP mode the creator stays an invisible system:masters mapping, as on EKS."""
    access = cluster.spec.get("accessConfig") or {}
    creator = cluster.spec.get("_creator")
    if not creator or not access.get("bootstrapClusterCreatorAdminPermissions", True) or authentication_mode(cluster) not in API_MODES:
        return None
    created = now()
    admin = {CLUSTER_ADMIN_POLICY: {"accessScope": {"type": "cluster", "namespaces": []}, "associatedAt": created, "modifiedAt": created}}
    return ensure_entry(store, cluster, canonical_arn(creator), "STANDARD", admin, identity_arn=creator)


class AccessEntries:
    def __init__(self, store: SqliteStore, clusters: Clusters):
        self.store = store
        self.clusters = clusters
        clusters.tagged_kinds["access-entry"] = record_with_arn(store, ACCESS_ENTRY, "accessEntryArn")

    def cluster(self, ctx: RequestContext, name: str) -> Record:
        record = self.clusters.get(ctx, name)
        if authentication_mode(record) not in API_MODES:
            raise names.invalid_request(
                "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.", name
            )
        return record

    def entry(self, ctx: RequestContext, cluster_name: str, principal: str) -> Record:
        cluster = self.cluster(ctx, cluster_name)
        record = self.store.get(entry_key(cluster.key, principal))
        if record is None:
            raise entry_not_found(cluster_name)
        return record

    def _change(self, ctx: RequestContext, cluster_name: str, principal: str, change: Callable[[dict], Any]) -> tuple[Record, Any]:
        """Apply change to a fresh copy of the entry's spec and write it, re-reading on conflict."""
        while True:
            record = self.entry(ctx, cluster_name, principal)
            spec = {**record.spec, "policies": {k: dict(v) for k, v in record.spec.get("policies", {}).items()}}
            result = change(spec)
            try:
                return self.store.update_spec(record, spec), result
            except Conflict:
                continue

    # Access entries

    def create(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, principal = params["clusterName"], params["principalArn"]
        cluster = self.cluster(ctx, cluster_name)
        self.clusters.get_not_deleting(ctx, cluster_name)
        entry_type = params.get("type") or "STANDARD"
        if entry_type not in ENTRY_TYPES:
            raise invalid(f"The specified type {entry_type} is invalid. Valid types are {', '.join(ENTRY_TYPES)}.", cluster_name)
        check_principal(principal, entry_type, ctx.account, cluster_name)
        username, groups = params.get("username"), params.get("kubernetesGroups")
        if username is not None:
            check_username(username, cluster_name)
        if groups:
            check_groups(groups, cluster_name)
        if entry_type != "STANDARD" and (username is not None or groups):
            raise invalid('Username and kubernetesGroups can only be set on Access Entries with a type of "STANDARD".', cluster_name)
        tags = validate_tags(params.get("tags"), "InvalidParameterException")
        key = entry_key(cluster.key, principal)
        token = params.get("clientRequestToken")
        existing = self.store.get(key)
        if existing is not None:
            if token and existing.spec.get("_token") == token and existing.spec.get("_fingerprint") == fingerprint(params):
                return entry_view(existing)
            raise names.resource_in_use("The specified access entry resource is already in use on this cluster.", cluster_name)
        principal_id = principal_unique_id(self.store, principal)
        spec = new_entry_spec(ctx.partition, cluster, principal, principal_id, entry_type, username, groups, tags)
        spec["_token"], spec["_fingerprint"] = token, fingerprint(params)
        try:
            return entry_view(self.store.create(key, spec))
        except AlreadyExists:
            raise names.resource_in_use("The specified access entry resource is already in use on this cluster.", cluster_name) from None

    def describe(self, ctx: RequestContext, params: dict) -> dict:
        return entry_view(self.entry(ctx, params["clusterName"], params["principalArn"]))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        cluster = self.cluster(ctx, params["clusterName"])
        wanted = params.get("associatedPolicyArn")
        if wanted is not None and wanted not in POLICY_ARNS:
            raise invalid(f"The specified associatedPolicyArn {wanted} is not a valid access policy ARN.", cluster.key.name)
        principals = [
            r.spec["principalArn"] for r in entries_of_cluster(self.store, cluster.key)
            if wanted is None or wanted in r.spec.get("policies", {})
        ]
        return paginate(principals, params, "accessEntries")

    def update(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name = params["clusterName"]
        username, groups = params.get("username"), params.get("kubernetesGroups")
        if username is not None:
            check_username(username, cluster_name)
        if groups:
            check_groups(groups, cluster_name)

        def change(spec: dict) -> None:
            if spec["type"] != "STANDARD" and (username is not None or groups is not None):
                raise invalid('This operation can only be performed on Access Entries with a type of "STANDARD".', cluster_name)
            if username is not None:
                spec["username"] = username
            if groups is not None:
                spec["kubernetesGroups"] = list(groups)
            spec["modifiedAt"] = now()

        record, _ = self._change(ctx, cluster_name, params["principalArn"], change)
        return entry_view(record)

    def delete(self, ctx: RequestContext, params: dict) -> dict:
        while True:
            record = self.entry(ctx, params["clusterName"], params["principalArn"])
            try:
                self.store.remove(record)
                return {}
            except Conflict:
                continue

    # Access policies

    def list_policies(self, ctx: RequestContext, params: dict) -> dict:
        page = paginate(POLICY_NAMES, params, "accessPolicies")
        page["accessPolicies"] = [{"name": n, "arn": policy_arn(n)} for n in page["accessPolicies"]]
        return page

    def associate(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, principal, arn = params["clusterName"], params["principalArn"], params["policyArn"]
        scope = check_scope(params["accessScope"], cluster_name)

        def change(spec: dict) -> dict:
            if spec["type"] != "STANDARD":
                raise invalid('This operation can only be performed on Access Entries with a type of "STANDARD".', cluster_name)
            if arn not in POLICY_ARNS:
                raise AwsError(
                    "ResourceNotFoundException", f"The specified policyArn {arn} could not be found.",
                    extra_fields={"clusterName": cluster_name},
                )
            stamp = now()
            current = spec["policies"].get(arn)
            spec["policies"][arn] = {
                "accessScope": scope,
                "associatedAt": current["associatedAt"] if current else stamp,
                "modifiedAt": stamp,
            }
            return spec["policies"][arn]

        record, association = self._change(ctx, cluster_name, principal, change)
        return {
            "clusterName": cluster_name,
            "principalArn": record.spec["principalArn"],
            "associatedAccessPolicy": association_view(arn, association),
        }

    def disassociate(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, arn = params["clusterName"], params["policyArn"]

        def change(spec: dict) -> None:
            if spec["policies"].pop(arn, None) is None:
                raise AwsError(
                    "ResourceNotFoundException",
                    f"The specified policyArn {arn} is not associated with the access entry.",
                    extra_fields={"clusterName": cluster_name},
                )

        self._change(ctx, cluster_name, params["principalArn"], change)
        return {}

    def list_associated(self, ctx: RequestContext, params: dict) -> dict:
        record = self.entry(ctx, params["clusterName"], params["principalArn"])
        policies = record.spec.get("policies", {})
        page = paginate(sorted(policies), params, "associatedAccessPolicies")
        page["associatedAccessPolicies"] = [association_view(a, policies[a]) for a in page["associatedAccessPolicies"]]
        return {"clusterName": record.spec["clusterName"], "principalArn": record.spec["principalArn"], **page}
