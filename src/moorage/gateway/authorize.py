"""Authorisation of every AWS call with IAM's evaluation logic (services/iam/policy.py).

The account root may do everything (and costs nothing: no lookups at all). An IAM user, or a role
session, is evaluated with its identity policies (the user's and its groups', or the role's), its
permissions boundary and its session policy, on the action "<service>:<Operation>" and the
resource ARN the Service Authorization Reference names for that operation.

Parsed policies are cached per principal and dropped when IAM data changes: every write to an IAM
record (in any process) bumps the store setting IAM_GENERATION, which each authorisation reads (one
primary-key read), so a detached policy stops working with the next request.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from ..core.context import EKS_SERVICE_PRINCIPAL, Principal, RequestContext
from ..core.errors import AwsError
from ..core.kinds import (
    ACCESS_ENTRY,
    CLUSTER,
    FARGATE_PROFILE,
    GROUP,
    IAM_KIND_PREFIX,
    INSTANCE_PROFILE,
    NODEGROUP,
    ROLE,
    USER,
)
from ..services.eks.pod_identity import find_association
from ..services.iam import names as iam_names
from ..services.logs import names as logs_names
from ..services.iam.entities import IamStore, entity_arn
from ..services.iam.identity import identity_policies, permissions_boundary, principal_tags
from ..services.iam.policy import explain
from ..services.iam.policy_language import Decision, MalformedPolicy
from ..services.iam.policy_matching import AuthRequest
from ..services.iam.policy_statements import Policy
from ..services.iam.policy_validation import parse_policy
from ..services.sts.sessions import SessionPrincipal
from ..store import Key, SqliteStore

log = logging.getLogger(__name__)

IAM_GENERATION = "iam-generation"

# Operations every principal may call (as on AWS), and STS's role-assuming operations, which the
# STS service authorises itself (trust policy plus, for account-wide trust, the caller's policies).
ALWAYS_ALLOWED = {("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")}
SELF_AUTHORIZED = {("sts", "AssumeRole"), ("sts", "AssumeRoleWithWebIdentity")}


@dataclass(frozen=True)
class Permissions:
    """What applies to one IAM user or role, parsed once."""

    generation: Any
    policies: tuple[Policy, ...]
    boundary: Policy | None
    tags: dict[str, str]
    reads_resource_tags: bool  # any policy mentions aws:ResourceTag, so the resource's tags are needed


@lru_cache(maxsize=4096)
def _parsed(document: str) -> Policy | None:
    try:
        return parse_policy(document)
    except MalformedPolicy:  # IAM validated it when it was stored; never fail a request over it
        log.warning("ignoring an unparseable stored policy")
        return None


def is_root(principal: Principal | None) -> bool:
    return principal is not None and principal.arn.endswith(":root")


class Authorizer:
    def __init__(self, store: SqliteStore):
        self.store = store
        self._cache: dict[str, Permissions] = {}
        store.subscribe(self._on_store_change)

    def require_pass_role(self, ctx: RequestContext, role_arn: str, service: str, protocol: str) -> None:
        require_pass_role(ctx, role_arn, service, protocol)

    # --- cache -------------------------------------------------------------------------------------

    def _on_store_change(self, key: Key) -> None:
        if key.kind.startswith(IAM_KIND_PREFIX):
            self.store.set_setting(IAM_GENERATION, uuid.uuid4().hex)

    def permissions(self, principal_arn: str) -> Permissions:
        """The identity policies, boundary and tags of a user or role (by its ARN), cached."""
        generation = self.store.setting(IAM_GENERATION)
        cached = self._cache.get(principal_arn)
        if cached is not None and cached.generation == generation:
            return cached
        documents = identity_policies(self.store, principal_arn)
        boundary_document = permissions_boundary(self.store, principal_arn)
        policies = tuple(p for p in map(_parsed, documents) if p is not None)
        boundary = _parsed(boundary_document) if boundary_document else None
        texts = documents + ([boundary_document] if boundary_document else [])
        permissions = Permissions(
            generation, policies, boundary, principal_tags(self.store, principal_arn),
            any("aws:resourcetag" in text.lower() for text in texts),
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[principal_arn] = permissions
        return permissions

    # --- decisions ---------------------------------------------------------------------------------

    def context_for(self, ctx: RequestContext, permissions: Permissions) -> dict[str, Any]:
        """The global condition keys of a request (aws:*), from the caller and the connection."""
        principal = ctx.principal
        now = time.time()
        context: dict[str, Any] = {
            "aws:CurrentTime": datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now)),
            "aws:SecureTransport": ctx.secure_transport,
            "aws:RequestedRegion": ctx.region,
            "aws:ViaAWSService": False,
        }
        if ctx.source_ip:
            context["aws:SourceIp"] = ctx.source_ip
        if principal is None:
            return context
        source = source_arn(principal)
        context["aws:PrincipalArn"] = source
        context["aws:PrincipalAccount"] = principal.account_id
        context["aws:userid"] = principal.user_id
        tags = dict(permissions.tags)
        if isinstance(principal, SessionPrincipal):
            tags.update(principal.tags)  # session tags win over the role's own tags
            context["aws:PrincipalType"] = "AssumedRole" if principal.is_role_session else "User"
        else:
            context["aws:PrincipalType"] = "User"
        if ":user/" in source and not (isinstance(principal, SessionPrincipal) and principal.is_role_session):
            context["aws:username"] = source.rsplit("/", 1)[1]
        for key, value in tags.items():
            context[f"aws:PrincipalTag/{key}"] = value
        return context

    def decide(
        self,
        ctx: RequestContext,
        action: str,
        resource: str,
        extra: dict[str, Any] | None = None,
        resource_policy: Policy | None = None,
    ) -> tuple[Decision, AuthRequest, str]:
        """IAM's decision for the caller of ctx: (decision, the request, which policy type denied)."""
        principal = ctx.principal
        assert principal is not None
        permissions = self.permissions(source_arn(principal))
        context = self.context_for(ctx, permissions)
        if extra:
            context.update(extra)
        request = AuthRequest(principal.arn, action, resource, context)
        decision, policy_type = explain(request, list(permissions.policies), resource_policy)
        if decision is not Decision.ALLOW:
            return decision, request, policy_type
        # A permissions boundary and a session policy only ever take permissions away.
        limits = [([permissions.boundary], "permissions boundary")] if permissions.boundary else []
        if isinstance(principal, SessionPrincipal) and principal.policies:
            limits.append(([p for p in map(_parsed, principal.policies) if p is not None], "session"))
        for limit, kind in limits:
            limited, _ = explain(request, limit)
            if limited is not Decision.ALLOW:
                return limited, request, kind
        return decision, request, policy_type

    def authorize_call(self, ctx: RequestContext, service: str, protocol: str, operation: str, params: dict) -> None:
        """Raise the service's access-denied error unless the caller may make this call."""
        principal = ctx.principal
        if principal is None or is_root(principal) or (service, operation) in ALWAYS_ALLOWED | SELF_AUTHORIZED:
            return
        resource, resource_tags = self.resource_of(ctx, service, operation, params)
        extra = request_tag_context(params)
        if resource_tags:
            extra.update({f"aws:ResourceTag/{k}": v for k, v in resource_tags.items()})
        extra.update(eks_condition_keys(service, params))
        decision, request, policy_type = self.decide(ctx, f"{service}:{operation}", resource, extra)
        if decision is not Decision.ALLOW:
            raise access_denied(protocol, request, decision, policy_type)

    # --- resources ---------------------------------------------------------------------------------

    def resource_of(self, ctx: RequestContext, service: str, operation: str, params: dict) -> tuple[str, dict]:
        """The ARN an operation acts on (as the Service Authorization Reference defines it) and, for
        EKS resources when a policy asks about them, the resource's tags."""
        if service == "eks":
            return self._eks_resource(ctx, operation, params)
        if service == "iam":
            return self._iam_resource(ctx, operation, params), {}
        if service == "logs":
            return logs_names.resource_arn(ctx.partition, ctx.region, ctx.account, operation, params), {}
        return "*", {}

    def _eks_resource(self, ctx: RequestContext, operation: str, params: dict) -> tuple[str, dict]:
        base = f"arn:{ctx.partition}:eks:{ctx.region}:{ctx.account}"
        wants_tags = self.permissions(source_arn(ctx.principal)).reads_resource_tags if ctx.principal else False

        def tagged(arn: str, key: Key | None) -> tuple[str, dict]:
            if not wants_tags or key is None:
                return arn, {}
            record = self.store.get(key)
            return arn, dict((record.spec.get("tags") or {}) if record else {})

        if "resourceArn" in params:  # TagResource, UntagResource, ListTagsForResource
            arn = params["resourceArn"]
            parts = arn.split(":", 5)
            if len(parts) == 6 and parts[5].startswith("cluster/"):
                return tagged(arn, Key(parts[4], parts[3], CLUSTER, parts[5][len("cluster/"):]))
            return arn, {}
        cluster = params.get("clusterName")
        if cluster is None and ("Cluster" in operation or operation in ("DescribeUpdate", "ListUpdates")):
            cluster = params.get("name")
        if cluster is None:
            # ListClusters names every cluster; the catalogue operations have no resource.
            return (f"{base}:cluster/*", {}) if operation == "ListClusters" else ("*", {})
        cluster_key = Key(ctx.account, ctx.region, CLUSTER, cluster)
        if operation.startswith(("Create", "List")):
            return tagged(f"{base}:cluster/{cluster}", cluster_key)
        if "associationId" in params:  # a Pod Identity association: its ARN follows from its id
            record = find_association(self.store, ctx.account, ctx.region, cluster, params["associationId"]) if wants_tags else None
            arn = f"{base}:podidentityassociation/{cluster}/{params['associationId']}"
            return arn, dict((record.spec.get("tags") or {}) if record else {})
        for field_name, kind, arn_field, arn_kind in (
            ("nodegroupName", NODEGROUP, "nodegroupArn", "nodegroup"),
            ("fargateProfileName", FARGATE_PROFILE, "fargateProfileArn", "fargateprofile"),
            ("principalArn", ACCESS_ENTRY, "accessEntryArn", "access-entry"),
        ):
            if field_name in params:
                record = self.store.get(Key(ctx.account, ctx.region, kind, f"{cluster}/{params[field_name]}"))
                if record is None:
                    return f"{base}:{arn_kind}/{cluster}/*", {}
                return record.spec.get(arn_field, f"{base}:{arn_kind}/{cluster}/*"), dict(record.spec.get("tags") or {})
        return tagged(f"{base}:cluster/{cluster}", cluster_key)

    def _iam_resource(self, ctx: RequestContext, operation: str, params: dict) -> str:
        entities = IamStore(self.store)
        # The group before the user: AddUserToGroup and RemoveUserFromGroup act on the group.
        for field_name, kind in (
            ("GroupName", GROUP), ("UserName", USER), ("InstanceProfileName", INSTANCE_PROFILE), ("RoleName", ROLE),
        ):
            if field_name in params:
                record = entities.find(ctx.account, kind, params[field_name])
                spec = record.spec if record else {"Path": params.get("Path") or "/", **{_NAME[kind]: params[field_name]}}
                return entity_arn(ctx.partition, ctx.account, kind, spec)
        for field_name in ("PolicyArn", "OpenIDConnectProviderArn"):
            if field_name in params:
                return params[field_name]
        if operation == "CreatePolicy":
            return iam_names.policy_arn(ctx.partition, ctx.account, params.get("Path") or "/", params["PolicyName"])
        if operation == "CreateOpenIDConnectProvider":
            url = params["Url"].split("://", 1)[-1]
            return f"arn:{ctx.partition}:iam::{ctx.account}:oidc-provider/{url}"
        principal = ctx.principal
        if principal is not None and ":user/" in principal.arn and operation in _CALLER_USER_OPERATIONS:
            return principal.arn  # these act on the calling user when UserName is left out
        return "*"


_NAME = {USER: "UserName", GROUP: "GroupName", ROLE: "RoleName", INSTANCE_PROFILE: "InstanceProfileName"}
_CALLER_USER_OPERATIONS = {
    "GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey", "ListUserTags",
}


def source_arn(principal: Principal) -> str:
    """The user or role whose policies apply: a role session's role, else the principal itself."""
    if isinstance(principal, SessionPrincipal) and principal.source_arn:
        return principal.source_arn
    return principal.arn


def request_tag_context(params: dict) -> dict[str, Any]:
    """aws:RequestTag/<key> and aws:TagKeys from the tags a request carries, in any service's shape."""
    tags: dict[str, str] = {}
    for name in ("tags", "Tags"):
        value = params.get(name)
        if isinstance(value, dict):
            tags.update({str(k): str(v) for k, v in value.items()})
        elif isinstance(value, list):
            tags.update({t["Key"]: str(t.get("Value", "")) for t in value if isinstance(t, dict) and "Key" in t})
    for specification in params.get("TagSpecifications") or []:
        tags.update({t["Key"]: str(t.get("Value", "")) for t in specification.get("Tags") or [] if "Key" in t})
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    keys = list(tags) or params.get("tagKeys") or params.get("TagKeys") or []
    if keys:
        context["aws:TagKeys"] = list(keys)
    return context


def eks_condition_keys(service: str, params: dict) -> dict[str, Any]:
    """The eks: condition keys of access-entry and access-policy requests."""
    if service != "eks":
        return {}
    keys: dict[str, Any] = {}
    if "principalArn" in params:
        keys["eks:principalArn"] = params["principalArn"]
    if "policyArn" in params:
        keys["eks:policyArn"] = params["policyArn"]
    if "username" in params:
        keys["eks:username"] = params["username"]
    if params.get("kubernetesGroups"):
        keys["eks:kubernetesGroups"] = list(params["kubernetesGroups"])
    if params.get("type") and "principalArn" in params:
        keys["eks:accessEntryType"] = params["type"]
    scope = params.get("accessScope") or {}
    if scope.get("type"):
        keys["eks:accessScope"] = scope["type"]
    if scope.get("namespaces"):
        keys["eks:namespaces"] = list(scope["namespaces"])
    return keys


# --- denials, in each service's words ---------------------------------------------------------------

_DENIED = {
    "rest-json": ("AccessDeniedException", 403),
    "json": ("AccessDeniedException", 400),
    "query": ("AccessDenied", 403),
    "ec2": ("UnauthorizedOperation", 403),
}


def denial_text(request: AuthRequest, decision: Decision, policy_type: str) -> str:
    """'User: <arn> is not authorized to perform: <action> [on resource: <arn>] because ...', as
    AWS writes it: actions without a resource ('*') leave the resource out."""
    subject = f"User: {request.principal_arn} is not authorized to perform: {request.action}"
    if request.resource != "*":
        subject += f" on resource: {request.resource}"
    if decision is Decision.EXPLICIT_DENY:
        article = "an" if policy_type[:1] in "aeiou" else "a"
        return f"{subject} with an explicit deny in {article} {policy_type} policy"
    limit = "permissions boundary" if policy_type == "permissions boundary" else f"{policy_type} policy"
    return f"{subject} because no {limit} allows the {request.action} action"


def access_denied(protocol: str, request: AuthRequest, decision: Decision, policy_type: str = "identity-based") -> AwsError:
    code, status = _DENIED[protocol]
    message = denial_text(request, decision, policy_type)
    if protocol == "ec2":
        message = f"You are not authorized to perform this operation. {message}"
    return AwsError(code, message, status)


def require_pass_role(ctx: RequestContext, role_arn: str, service: str = EKS_SERVICE_PRINCIPAL, protocol: str = "rest-json") -> None:
    """iam:PassRole, as EKS checks it when a request hands it a role (cluster role, node role, pod
    execution role). The root, and requests that reach services without the gateway, pass."""
    authorizer = ctx.authorizer
    if authorizer is None or ctx.principal is None or is_root(ctx.principal):
        return
    extra = {"iam:PassedToService": service}
    decision, request, policy_type = authorizer.decide(ctx, "iam:PassRole", role_arn, extra)
    if decision is not Decision.ALLOW:
        raise access_denied(protocol, request, decision, policy_type)
