"""Authorisation of every AWS call with IAM's evaluation logic (services/iam/policy.py), from the
per-service tables in gateway/authorization_tables/ (operation → action, resources, condition keys).

The account root may do everything (and costs nothing: no lookups at all). An IAM user, or a role
session, is evaluated with its identity policies (the user's and its groups', or the role's), its
permissions boundary and its session policy, on the row's action and every resource the row names;
an operation without a row is refused. Nothing fails open: a stored policy that cannot be parsed, a
boundary naming a policy that does not exist, or a session policy that cannot be parsed denies, and
the denial and the log say why.

Parsed policies are cached per principal. Every write to an IAM record changes the store setting
IAM_GENERATION in the same SQLite transaction (a trigger: store/sqlite.py), so a request decided
after a deletion commits sees it; a cache entry is kept only if the generation read after filling it
is the one read before, so a read overlapping a deletion is never cached as current.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from ..core.context import EKS_SERVICE_PRINCIPAL, Principal, RequestContext
from ..core.errors import AwsError
from ..services.iam.identity import boundary_document, identity_policy_documents, principal_tags
from ..services.iam.policy import decide as evaluate
from ..services.iam.policy_language import Decision, MalformedPolicy
from ..services.iam.policy_matching import AuthRequest, NormalisedContext, normalised
from ..services.iam.policy_statements import Policy
from ..services.iam.policy_validation import parse_policy
from ..services.sts.sessions import SessionPrincipal
from ..store import SqliteStore
from .authorization_requests import ResourceRequest, resource_requests
from .authorization_tables import TABLES

log = logging.getLogger(__name__)

IAM_GENERATION = "iam-generation"
# Denials that are not a policy's verdict but a policy that cannot be used: "unusable:<why>".
UNUSABLE = "unusable:"


@dataclass(frozen=True)
class Permissions:
    """What applies to one IAM user or role, parsed once."""

    generation: Any
    policies: tuple[Policy, ...]
    boundary: Policy | None
    tags: dict[str, str]
    text: str  # every document, lowercased: which condition keys a policy mentions at all
    unusable: str = ""  # why these permissions cannot be used (then every request is denied)


@lru_cache(maxsize=4096)
def _parsed(document: str) -> Policy | None:
    try:
        return parse_policy(document)
    except MalformedPolicy:
        return None


def is_root(principal: Principal | None) -> bool:
    return principal is not None and principal.arn.endswith(":root")


class Authorizer:
    def __init__(self, store: SqliteStore):
        self.store = store
        self._cache: dict[str, Permissions] = {}
        self._principal_contexts: dict[tuple, tuple[Permissions, NormalisedContext]] = {}
        self._requests: dict[tuple, tuple[Permissions, list[ResourceRequest]]] = {}

    def require_pass_role(self, ctx: RequestContext, role_arn: str, service: str, protocol: str) -> None:
        require_pass_role(ctx, role_arn, service, protocol)

    # --- cache -------------------------------------------------------------------------------------

    def permissions(self, principal_arn: str) -> Permissions:
        """The identity policies, boundary and tags of a user or role (by its ARN), cached."""
        generation = self.store.setting(IAM_GENERATION)
        cached = self._cache.get(principal_arn)
        if cached is not None and cached.generation == generation:
            return cached
        for _ in range(3):
            permissions = self._read(principal_arn, generation)
            after = self.store.setting(IAM_GENERATION)
            if after == generation:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[principal_arn] = permissions
                return permissions
            generation = after  # IAM changed while we read: read again
        return permissions  # still changing: decide on the newest read, but do not cache it

    def _read(self, principal_arn: str, generation: Any) -> Permissions:
        documents = identity_policy_documents(self.store, principal_arn)
        boundary = boundary_document(self.store, principal_arn)
        problems = [f"the stored {label} could not be parsed" for label, text in documents if _parsed(text) is None]
        boundary_policy = None
        if boundary is not None:
            arn, text = boundary
            if text is None:
                problems.append(f"its permissions boundary {arn} does not exist")
            elif (boundary_policy := _parsed(text)) is None:
                problems.append(f"its permissions boundary {arn} could not be parsed")
        for problem in problems:
            log.warning("denying every request of %s: %s", principal_arn, problem)
        texts = [text for _, text in documents] + ([boundary[1]] if boundary and boundary[1] else [])
        return Permissions(
            generation,
            tuple(p for p in (_parsed(text) for _, text in documents) if p is not None),
            boundary_policy,
            principal_tags(self.store, principal_arn),
            "\n".join(texts).lower(),
            "; ".join(problems),
        )

    # --- decisions ---------------------------------------------------------------------------------

    def context_for(self, ctx: RequestContext, permissions: Permissions) -> dict[str, Any]:
        """The global condition keys of a request (aws:*), from the caller and the connection."""
        principal = ctx.principal
        now = int(time.time())
        context: dict[str, Any] = {
            "aws:CurrentTime": _current_time(now),
            "aws:EpochTime": str(now),
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

    def _normalised_context(self, ctx: RequestContext, permissions: Permissions) -> NormalisedContext:
        """context_for(), normalised: the caller's part once per (permissions, credentials), the
        connection's and the clock's per call."""
        principal = ctx.principal
        assert principal is not None
        key = (id(permissions), principal.arn, principal.access_key_id)
        static = self._principal_contexts.get(key)
        if static is None or static[0] is not permissions:
            whole = normalised(self.context_for(ctx, permissions))
            for name in _PER_CALL_KEYS:
                whole.pop(name, None)
            if len(self._principal_contexts) > 10_000:
                self._principal_contexts.clear()
            static = self._principal_contexts[key] = (permissions, whole)
        now = int(time.time())
        context = NormalisedContext(static[1])
        context.update({
            "aws:currenttime": _current_time(now), "aws:epochtime": str(now),
            "aws:securetransport": "true" if ctx.secure_transport else "false",
            "aws:requestedregion": ctx.region, "aws:viaawsservice": "false",
        })
        if ctx.source_ip:
            context["aws:sourceip"] = ctx.source_ip
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
        return self._decide(ctx, permissions, self.context_for(ctx, permissions), action, resource, extra, resource_policy)

    def _decide(self, ctx: RequestContext, permissions: Permissions, context: dict[str, Any], action: str, resource: str,
                extra: dict[str, Any] | None = None, resource_policy: Policy | None = None) -> tuple[Decision, AuthRequest, str]:
        principal = ctx.principal
        assert principal is not None
        if isinstance(context, NormalisedContext):
            request = AuthRequest(principal.arn, action, resource, context.extend(extra or {}))
        else:
            request = AuthRequest(principal.arn, action, resource, {**context, **extra} if extra else context)
        if permissions.unusable:
            return Decision.IMPLICIT_DENY, request, UNUSABLE + permissions.unusable
        session = _session_policies(principal)
        if session is not None and None in session:
            log.warning("denying %s: a session policy of %s could not be parsed", action, principal.arn)
            return Decision.IMPLICIT_DENY, request, UNUSABLE + "a session policy could not be parsed"
        decision, policy_type = evaluate(request, list(permissions.policies), resource_policy, permissions.boundary, list(session or ()))
        return decision, request, policy_type

    def authorize_call(self, ctx: RequestContext, service: str, protocol: str, operation: str, params: dict) -> None:
        """Raise the service's access-denied error unless the caller may make this call: the action
        on every resource its table row names."""
        principal = ctx.principal
        if principal is None or is_root(principal):
            return
        table = TABLES.get(service)
        row = table.operations.get(operation) if table is not None else None
        if row is None:  # fail closed: an operation nobody tabled is refused
            log.warning("refusing %s %s: it has no authorization row", service, operation)
            request = AuthRequest(principal.arn, f"{service}:{operation}", "*", {})
            raise access_denied(protocol, request, Decision.IMPLICIT_DENY, UNUSABLE + "Moorage has no authorization row for it")
        if row.get("public") or row.get("by_service"):
            return
        action = row.get("action") or f"{table.prefix}:{operation}"
        permissions = self.permissions(source_arn(principal))
        context = self._normalised_context(ctx, permissions)
        for resource in self.requests_of(ctx, service, operation, params, permissions):
            decision, request, policy_type = self._decide(ctx, permissions, context, action, resource.arn, resource.keys)
            if decision is not Decision.ALLOW:
                raise access_denied(protocol, request, decision, policy_type)

    def requests_of(self, ctx: RequestContext, service: str, operation: str, params: dict,
                    permissions: Permissions | None = None) -> list[ResourceRequest]:
        """The resources (with their condition keys) a call is authorized on, from its table row."""
        table = TABLES[service]
        principal = ctx.principal
        text = ""
        caller_user = None
        if principal is not None:
            text = (permissions or self.permissions(source_arn(principal))).text
            if isinstance(principal, SessionPrincipal) and principal.policies:
                text += "\n".join(principal.policies).lower()
            if ":user/" in principal.arn:
                caller_user = principal.arn
        memo_key = _memo_key(service, operation, ctx, caller_user, permissions, params)
        if memo_key is not None and (memo := self._requests.get(memo_key)) is not None and memo[0] is permissions:
            return memo[1]
        requests = resource_requests(
            table, table.operations[operation], params, ctx, self.store, lambda key: key.lower() in text, caller_user
        )
        # What the row forms from the request alone (nothing stored was read) is the same next time.
        if memo_key is not None and not any(r.read_store for r in requests):
            if len(self._requests) > 10_000:
                self._requests.clear()
            self._requests[memo_key] = (permissions, requests)
        return requests

    def resource_of(self, ctx: RequestContext, service: str, operation: str, params: dict) -> tuple[str, dict]:
        """The first resource a call is authorized on (its ARN) and the condition keys it supplies."""
        first = self.requests_of(ctx, service, operation, params)[0]
        return first.arn, first.keys


def operation_resources(service: str, operation: str, params: dict, ctx: RequestContext) -> set[str]:
    """The ARNs a call is authorized on, as its row forms them from the request alone (no store)."""
    table = TABLES[service]
    return {r.arn for r in resource_requests(table, table.operations[operation], params, ctx, None, lambda key: False)}


def _memo_key(service: str, operation: str, ctx: RequestContext, caller_user: str | None,
              permissions: Permissions | None, params: dict) -> tuple | None:
    """A key for requests_of()'s answer when the request's parameters are flat scalars (DescribeCluster's
    name, ...); None otherwise. The permissions are part of it: they say which keys a policy reads."""
    if permissions is None or len(params) > 8:
        return None
    items = []
    for name, value in params.items():
        if type(value) not in (str, int, bool):
            return None
        items.append((name, value))
    key_id = ctx.principal.access_key_id if ctx.principal is not None else ""
    return (service, operation, ctx.region, ctx.account, caller_user, key_id, id(permissions), tuple(sorted(items)))


# The global keys context_for() takes from the connection and the clock, not from the caller.
_PER_CALL_KEYS = ("aws:currenttime", "aws:epochtime", "aws:securetransport", "aws:requestedregion", "aws:viaawsservice", "aws:sourceip")


@lru_cache(maxsize=4)
def _current_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _session_policies(principal: Principal) -> tuple[Policy | None, ...] | None:
    if isinstance(principal, SessionPrincipal) and principal.policies:
        return tuple(_parsed(p) for p in principal.policies)
    return None


def source_arn(principal: Principal) -> str:
    """The user or role whose policies apply: a role session's role, else the principal itself."""
    if isinstance(principal, SessionPrincipal) and principal.source_arn:
        return principal.source_arn
    return principal.arn


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
    if policy_type.startswith(UNUSABLE):
        return f"{subject} because {policy_type[len(UNUSABLE):]}"
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
