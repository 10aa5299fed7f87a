"""EKS Pod Identity associations: what Create/Describe/List/Update/DeletePodIdentityAssociation accept
and store (credential delivery is the pod-identity agent add-on's job, not this module's).

One record per (cluster, namespace, service account), keyed by those three so the store refuses a
second association for the same service account atomically; the association id is looked up among
the cluster's records. EKS's words where they are known: a duplicate is ResourceInUseException
"Association already exists: <id>", a missing role "Role provided in the request does not exist.",
a role pods.eks.amazonaws.com may not assume (sts:AssumeRole and sts:TagSession) "Trust policy of the
role provided is invalid.", a malformed id "The parameter associationId should be 19 characters long."
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime, timezone
from functools import partial
from typing import Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import POD_IDENTITY_ASSOCIATION, ROLE
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from ..iam.identity import principal_record
from ..iam.policy import trust_allows
from ..iam.policy_language import MalformedPolicy, PolicyTooLarge
from ..iam.policy_validation import parse_policy
from . import names
from .clusters import Clusters, fingerprint, now, paginate, validate_tags

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
TRUST_ACTIONS = ("sts:AssumeRole", "sts:TagSession")  # what the agent's AssumeRoleForPodIdentity needs
MAX_ASSOCIATIONS_PER_CLUSTER = 1000  # not adjustable, as EKS documents
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 19  # "a-" and 17 characters
ROLE_ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label
SERVICE_ACCOUNT_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # a DNS-1123 subdomain
MAX_SERVICE_ACCOUNT_LENGTH = 253
UPDATABLE = ("roleArn", "targetRoleArn", "disableSessionTags", "policy")
SUMMARY_FIELDS = ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId", "ownerArn")


def new_association_id() -> str:
    return "a-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH - 2))


def association_arn(partition: str, region: str, account: str, cluster: str, association_id: str) -> str:
    return f"arn:{partition}:eks:{region}:{account}:podidentityassociation/{cluster}/{association_id}"


def association_key(cluster_key: Key, namespace: str, service_account: str) -> Key:
    return Key(cluster_key.account, cluster_key.region, POD_IDENTITY_ASSOCIATION, f"{cluster_key.name}/{namespace}/{service_account}")


def associations_of_cluster(store: SqliteStore, account: str, region: str, cluster: str) -> list[Record]:
    return [r for r in store.list(account, region, POD_IDENTITY_ASSOCIATION) if r.spec["clusterName"] == cluster]


def find_association(store: SqliteStore, account: str, region: str, cluster: str, association_id: str) -> Record | None:
    return next(
        (r for r in associations_of_cluster(store, account, region, cluster) if r.spec["associationId"] == association_id), None
    )


def record_for_arn(store: SqliteStore, account: str, region: str, rest: str, arn: str) -> Record | None:
    """The association an ARN's resource part (<cluster>/<id>) names, for the tagging operations."""
    cluster, _, association_id = rest.partition("/")
    record = find_association(store, account, region, cluster, association_id)
    return record if record is not None and record.spec["associationArn"] == arn else None


def association_view(record: Record) -> dict:
    spec = record.spec
    view = {k: v for k, v in spec.items() if not k.startswith("_")}
    view["createdAt"] = datetime.fromtimestamp(spec["createdAt"], timezone.utc)
    view["modifiedAt"] = datetime.fromtimestamp(spec["modifiedAt"], timezone.utc)
    return view


def summary_view(record: Record) -> dict:
    return {k: record.spec[k] for k in SUMMARY_FIELDS if k in record.spec}


def external_id(region: str, account: str, cluster: str, namespace: str, service_account: str) -> str:
    """What EKS puts in sts:ExternalId when it assumes the target role for this association."""
    return f"{region}/{account}/{cluster}/{namespace}/{service_account}"


# Errors, in EKS's words

def invalid(message: str, cluster: str) -> AwsError:
    return names.invalid_parameter(message, cluster)


def association_not_found(association_id: str, cluster: str) -> AwsError:
    return AwsError(
        "ResourceNotFoundException", f"No Pod Identity Association found for id: {association_id}.",
        extra_fields={"clusterName": cluster},
    )


def check_names(namespace: str, service_account: str, cluster: str) -> None:
    if not NAMESPACE_RE.match(namespace):
        raise invalid(
            f"The namespace {namespace} is invalid: a namespace must consist of at most 63 lower case alphanumeric "
            "characters or '-', and must start and end with an alphanumeric character.",
            cluster,
        )
    if len(service_account) > MAX_SERVICE_ACCOUNT_LENGTH or not SERVICE_ACCOUNT_RE.match(service_account):
        raise invalid(
            f"The serviceAccount {service_account} is invalid: a service account name must consist of at most 253 "
            "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character.",
            cluster,
        )


def check_association_id(association_id: str, cluster: str) -> None:
    if len(association_id) != ID_LENGTH:
        raise invalid(f"The parameter associationId should be {ID_LENGTH} characters long.", cluster)


class PodIdentityAssociations:
    def __init__(self, store: SqliteStore, clusters: Clusters):
        self.store = store
        self.clusters = clusters
        clusters.tagged_kinds[POD_IDENTITY_ASSOCIATION] = partial(record_for_arn, store)

    def get(self, ctx: RequestContext, cluster: str, association_id: str) -> Record:
        self.clusters.get(ctx, cluster)
        check_association_id(association_id, cluster)
        record = find_association(self.store, ctx.account, ctx.region, cluster, association_id)
        if record is None:
            raise association_not_found(association_id, cluster)
        return record

    def _check_role(self, ctx: RequestContext, role_arn: str, cluster: Record, namespace: str, service_account: str) -> None:
        """The role must exist in the cluster's account and trust pods.eks.amazonaws.com with both actions."""
        name = cluster.spec["name"]
        match = ROLE_ARN_RE.match(role_arn)
        if match is None:
            raise invalid(f"The roleArn {role_arn} is not a valid IAM role ARN.", name)
        found = principal_record(self.store, role_arn) if match.group(2) == ctx.account else None
        if found is None or found[0] != ROLE:
            raise invalid("Role provided in the request does not exist.", name)
        try:
            trust = parse_policy(found[1].spec["AssumeRolePolicyDocument"], kind="trust")
        except (MalformedPolicy, PolicyTooLarge):
            trust = None
        # What EKS Pod Identity presents when it assumes the role: its source cluster and the session tags.
        context = {
            "aws:SourceAccount": ctx.account,
            "aws:SourceArn": cluster.spec["arn"],
            "aws:RequestTag/eks-cluster-arn": cluster.spec["arn"],
            "aws:RequestTag/eks-cluster-name": name,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account,
        }
        if trust is None or not all(trust_allows(trust, {"Service": POD_IDENTITY_SERVICE}, a, context) for a in TRUST_ACTIONS):
            raise invalid("Trust policy of the role provided is invalid.", name)

    @staticmethod
    def _apply_options(ctx: RequestContext, spec: dict, params: dict, cluster: str) -> None:
        """targetRoleArn, disableSessionTags and policy, as Create and Update take them ("" clears)."""
        if "targetRoleArn" in params:
            target = params["targetRoleArn"]
            if not target:
                spec.pop("targetRoleArn", None)
                spec.pop("externalId", None)
            elif not ROLE_ARN_RE.match(target):
                raise invalid(f"The targetRoleArn {target} is not a valid IAM role ARN.", cluster)
            else:
                spec["targetRoleArn"] = target
                spec["externalId"] = external_id(ctx.region, ctx.account, cluster, spec["namespace"], spec["serviceAccount"])
        if params.get("disableSessionTags") is not None:
            spec["disableSessionTags"] = params["disableSessionTags"]
        if "policy" in params:
            if params["policy"]:
                try:
                    parse_policy(params["policy"])
                except (MalformedPolicy, PolicyTooLarge) as error:
                    raise invalid(f"The policy is invalid: {error}", cluster) from None
                spec["policy"] = params["policy"]
            else:
                spec.pop("policy", None)
        if spec.get("policy") and not spec["disableSessionTags"]:
            raise invalid("disableSessionTags must be set to true when a policy is specified.", cluster)

    def create(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, namespace, service_account = params["clusterName"], params["namespace"], params["serviceAccount"]
        cluster = self.clusters.get_not_deleting(ctx, cluster_name)
        check_names(namespace, service_account, cluster_name)
        key = association_key(cluster.key, namespace, service_account)
        token = params.get("clientRequestToken")
        existing = self.store.get(key)
        if existing is not None:
            if token and existing.spec.get("_token") == token and existing.spec.get("_fingerprint") == fingerprint(params):
                return association_view(existing)
            raise self._exists(existing, cluster_name)
        self._check_role(ctx, params["roleArn"], cluster, namespace, service_account)
        tags = validate_tags(params.get("tags"), "InvalidParameterException")
        if len(associations_of_cluster(self.store, ctx.account, ctx.region, cluster_name)) >= MAX_ASSOCIATIONS_PER_CLUSTER:
            raise AwsError(
                "ResourceLimitExceededException",
                f"Pod Identity Associations limit exceeded for cluster {cluster_name}: at most "
                f"{MAX_ASSOCIATIONS_PER_CLUSTER} associations per cluster.",
                extra_fields={"clusterName": cluster_name},
            )
        association_id = new_association_id()
        created = now()
        spec = {
            "clusterName": cluster_name,
            "namespace": namespace,
            "serviceAccount": service_account,
            "roleArn": params["roleArn"],
            "associationArn": association_arn(ctx.partition, ctx.region, ctx.account, cluster_name, association_id),
            "associationId": association_id,
            "tags": tags,
            "createdAt": created,
            "modifiedAt": created,
            "disableSessionTags": False,
            "_token": token,
            "_fingerprint": fingerprint(params),
        }
        self._apply_options(ctx, spec, params, cluster_name)
        try:
            return association_view(self.store.create(key, spec))
        except AlreadyExists:
            raise self._exists(self.store.require(key), cluster_name) from None

    @staticmethod
    def _exists(existing: Record, cluster: str) -> AwsError:
        return names.resource_in_use(f"Association already exists: {existing.spec['associationId']}", cluster)

    def describe(self, ctx: RequestContext, params: dict) -> dict:
        return association_view(self.get(ctx, params["clusterName"], params["associationId"]))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name = params["clusterName"]
        self.clusters.get(ctx, cluster_name)
        by_item = {
            f"{r.spec['namespace']}/{r.spec['serviceAccount']}": r
            for r in associations_of_cluster(self.store, ctx.account, ctx.region, cluster_name)
            if params.get("namespace") in (None, r.spec["namespace"])
            and params.get("serviceAccount") in (None, r.spec["serviceAccount"])
        }
        page = paginate(sorted(by_item), params, "associations")
        page["associations"] = [summary_view(by_item[item]) for item in page["associations"]]
        return page

    def _change(self, ctx: RequestContext, cluster: str, association_id: str, change: Callable[[dict], None]) -> Record:
        """Apply change to a fresh copy of the association's spec and write it, re-reading on conflict."""
        while True:
            record = self.get(ctx, cluster, association_id)
            spec = {**record.spec, "tags": dict(record.spec.get("tags") or {})}
            change(spec)
            try:
                return self.store.update_spec(record, spec)
            except Conflict:
                continue

    def update(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name, association_id = params["clusterName"], params["associationId"]
        if all(params.get(field) is None for field in UPDATABLE):
            raise invalid("At least one of roleArn, targetRoleArn, disableSessionTags or policy must be specified.", cluster_name)
        cluster = self.clusters.get(ctx, cluster_name)
        current = self.get(ctx, cluster_name, association_id)
        if params.get("roleArn"):
            self._check_role(ctx, params["roleArn"], cluster, current.spec["namespace"], current.spec["serviceAccount"])

        def change(spec: dict) -> None:
            if params.get("roleArn"):
                spec["roleArn"] = params["roleArn"]
            self._apply_options(ctx, spec, params, cluster_name)
            spec["modifiedAt"] = now()

        return association_view(self._change(ctx, cluster_name, association_id, change))

    def delete(self, ctx: RequestContext, params: dict) -> dict:
        while True:
            record = self.get(ctx, params["clusterName"], params["associationId"])
            try:
                self.store.remove(record)
                return association_view(record)
            except Conflict:
                continue
