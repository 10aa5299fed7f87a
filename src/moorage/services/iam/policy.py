"""IAM policy documents: IAM's validation (policy_validation.py) and its single-account evaluation
logic here (explicit deny > allow > implicit deny); the public face of the policy engine.

Everything a request needs is compiled once, when a document is parsed: action sets and
regexes, ARN-aware resource patterns, condition values (numbers, dates, networks, globs).
Patterns holding policy variables (${aws:username}) are compiled per distinct substitution
and cached. Pure standard library.
"""

from __future__ import annotations

from .policy_language import Decision
from .policy_matching import _DIRECT_MATCH, AuthRequest, _aws_caller, _Caller, _normalise_context, _request_caller
from .policy_statements import Policy

# --------------------------------------------------------------------------- evaluation


def evaluate(request: AuthRequest, identity_policies: list[Policy], resource_policy: Policy | None = None) -> Decision:
    """IAM's single-account decision: an explicit deny in any policy wins, then an allow from
    an identity-based policy or from a resource-based policy naming the principal, else an
    implicit deny. A resource policy naming only the account delegates to identity policies."""
    return explain(request, identity_policies, resource_policy)[0]


def explain(
    request: AuthRequest, identity_policies: list[Policy], resource_policy: Policy | None = None
) -> tuple[Decision, str]:
    """evaluate() plus which kind of policy decided a denial ("identity-based" or
    "resource-based"), for denial_message()."""
    action, resource, context = request._action, request.resource, request._context
    candidates = [policy.candidates(action) for policy in identity_policies]
    for denies, _ in candidates:
        for statement in denies:
            if statement.applies_to(resource, context):
                return Decision.EXPLICIT_DENY, "identity-based"
    caller = _request_caller(request) if resource_policy is not None else None
    if resource_policy is not None:
        for statement in resource_policy.denies:
            if statement.principal_match(caller) and statement.applies(action, resource, context):
                return Decision.EXPLICIT_DENY, "resource-based"
    for _, allows in candidates:
        for statement in allows:
            if statement.applies_to(resource, context):
                return Decision.ALLOW, ""
    if resource_policy is not None:
        for statement in resource_policy.allows:
            if statement.principal_match(caller) == _DIRECT_MATCH and statement.applies(action, resource, context):
                return Decision.ALLOW, ""
    return Decision.IMPLICIT_DENY, "identity-based"


def decide(
    request: AuthRequest,
    identity_policies: list[Policy],
    resource_policy: Policy | None = None,
    boundary: Policy | None = None,
    session_policies: list[Policy] | None = None,
) -> tuple[Decision, str]:
    """IAM's decision with the policies that only take permissions away: an allow from identity (or
    resource) policies stands only if the permissions boundary and the session policies, when there
    are any, allow the request too; otherwise their verdict ("permissions boundary" / "session") is
    the answer. This is the intersection the IAM User Guide's evaluation logic describes."""
    decision, policy_type = explain(request, identity_policies, resource_policy)
    if decision is not Decision.ALLOW:
        return decision, policy_type
    limits: list[tuple[list[Policy], str]] = [([boundary], "permissions boundary")] if boundary is not None else []
    if session_policies:
        limits.append((session_policies, "session"))
    for limit, kind in limits:
        limited, _ = explain(request, limit)
        if limited is not Decision.ALLOW:
            return limited, kind
    return decision, policy_type


def trust_allows(trust: Policy, principal: dict, action: str, context: dict) -> bool:
    """Whether a role's trust policy lets `principal` ({"AWS": arn} / {"Service": name} /
    {"Federated": provider arn}) perform `action` (sts:AssumeRole...). An account id or
    arn:aws:iam::<account>:root in the policy admits every principal of that account: whether
    that principal may call sts:AssumeRole at all is the identity-side check, the caller's job.
    For a role session, pass the role's ARN as aws:PrincipalArn in the context."""
    context = _normalise_context(context)
    (principal_type, value), = principal.items()
    kind = principal_type.lower()
    if kind == "aws":
        role_arn = context.get("aws:principalarn")
        caller = _aws_caller((value, role_arn if isinstance(role_arn, str) else ""), context)
    else:
        caller = _Caller(kind, frozenset({value.lower() if kind == "service" else value}), None)
    action = action.lower()
    allowed = False
    for statement in trust.statements:
        if statement.principal_match(caller) and statement.applies(action, "*", context):
            if statement.deny:
                return False
            allowed = True
    return allowed


def denial_message(request: AuthRequest, decision: Decision, policy_type: str = "identity-based") -> str:
    """AccessDeniedException's message, as AWS words it."""
    head = (
        f"User: {request.principal_arn} is not authorized to perform: {request.action} "
        f"on resource: {request.resource}"
    )
    article = "an" if policy_type[:1] in "aeiou" else "a"
    if decision is Decision.EXPLICIT_DENY:
        return f"{head} with an explicit deny in {article} {policy_type} policy"
    if decision is Decision.IMPLICIT_DENY:
        return f"{head} because no {policy_type} policy allows the {request.action} action"
    raise ValueError("an allowed request has no denial message")
