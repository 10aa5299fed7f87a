"""STS operations (query protocol): who is calling, and temporary credentials (role sessions).

AssumeRole checks the role's trust policy as a resource-based policy: naming the caller (or its
role) grants on its own, naming only the account delegates to the caller's identity policies.
AssumeRoleWithWebIdentity is unsigned, as on AWS: the verified web identity token is the proof.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from ...core.context import Principal, RequestContext
from ...core.errors import AwsError
from ...core.kinds import ROLE
from ...store import SqliteStore
from ..accounts import CredentialStore
from ..base import Service
from ..eks.oidc_issuer import ClusterIssuers
from ..iam.entities import IamStore
from ..iam.identity import principal_record
from ..iam.managed import ManagedPolicies, default_document
from ..iam.oidc_providers import find_provider, provider_arn, provider_name
from ..iam.policy import trust_allows
from ..iam.policy_language import Decision, MalformedPolicy, PolicyTooLarge
from ..iam.policy_statements import Policy
from ..iam.policy_validation import parse_policy
from .sessions import SessionPrincipal, StsSessions
from .web_identity import read_token, verify_token

DEFAULT_SESSION_SECONDS = 3600
ROLE_CHAINING_MAX_SECONDS = 3600
ROOT_SESSION_TOKEN_MAX_SECONDS = 3600
USER_SESSION_TOKEN_DEFAULT_SECONDS = 43200
PACKED_POLICY_MAX_CHARS = 2048  # what Policy, PolicyArns and session tags share once packed
ROLE_ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
WEB_IDENTITY_DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"


@lru_cache(maxsize=1024)
def _trust_policy(document: str) -> Policy | None:
    try:
        return parse_policy(document, kind="trust")
    except (MalformedPolicy, PolicyTooLarge):
        return None


def _validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def _access_denied(message: str) -> AwsError:
    return AwsError("AccessDenied", message, 403)


def _tags(params: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in params.get("Tags") or []}


class StsService(Service):
    name = "sts"

    def __init__(self, credentials: CredentialStore, store: SqliteStore, issuers: ClusterIssuers):
        self.credentials = credentials
        self.store = store
        self.sessions = StsSessions(store)
        self.issuers = issuers  # each cluster's OIDC issuer and keys, for AssumeRoleWithWebIdentity

    def GetCallerIdentity(self, ctx: RequestContext, params: dict) -> dict:
        principal = ctx.principal or self.credentials.principal_for(ctx.access_key_id)
        assert principal is not None  # the gateway only dispatches verified callers
        return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}

    # --- shared by the role-assuming operations --------------------------------------------------

    def _role(self, role_arn: str):
        """(role record, its trust policy) or None if no such role."""
        if not ROLE_ARN_RE.match(role_arn):
            raise _validation_error("Request ARN is invalid")
        found = principal_record(self.store, role_arn)
        if found is None or found[0] != ROLE:
            return None
        record = found[1]
        return record, _trust_policy(record.spec["AssumeRolePolicyDocument"])

    def _duration(self, params: dict, role_spec: dict, chained: bool) -> int:
        duration = params.get("DurationSeconds") or DEFAULT_SESSION_SECONDS
        if chained and duration > ROLE_CHAINING_MAX_SECONDS:
            raise _validation_error(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        if duration > role_spec["MaxSessionDuration"]:
            raise _validation_error("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        return duration

    def _session_policies(self, account: str, params: dict) -> tuple[list[str], int]:
        """The session policies (Policy and PolicyArns) and their packed size in percent."""
        documents: list[str] = []
        if params.get("Policy"):
            try:
                parse_policy(params["Policy"])
            except MalformedPolicy as error:
                raise AwsError("MalformedPolicyDocument", str(error), 400) from None
            documents.append(params["Policy"])
        managed = ManagedPolicies(IamStore(self.store))
        for entry in params.get("PolicyArns") or []:
            found = managed.find(account, entry.get("arn", ""))
            if found is None:
                raise _validation_error(f"Policy {entry.get('arn')} does not exist or is not attachable.")
            documents.append(default_document(found[0]))
        packed = sum(len(json.dumps(json.loads(d), separators=(",", ":"))) for d in documents)
        packed += sum(len(k) + len(v) for k, v in _tags(params).items())
        percent = -(-100 * packed // PACKED_POLICY_MAX_CHARS)
        if percent > 100:
            raise AwsError(
                "PackedPolicyTooLarge", f"Packed policy consumes {percent}% of allotted space, please use smaller policy.", 400
            )
        return documents, percent

    def _issue(self, role_record, account: str, role_arn: str, session_name: str, duration: int, params: dict,
               tags: dict[str, str], transitive: list[str]) -> dict:
        policies, packed = self._session_policies(account, params)
        role_name = role_record.spec["RoleName"]
        arn = f"arn:{role_arn.split(':')[1]}:sts::{account}:assumed-role/{role_name}/{session_name}"
        assumed_id = f"{role_record.spec['RoleId']}:{session_name}"
        credentials = self.sessions.issue(account, arn, assumed_id, role_arn, duration, tags, transitive, policies)
        result: dict = {"Credentials": credentials, "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": arn}}
        if params.get("Policy") or params.get("PolicyArns") or tags:
            result["PackedPolicySize"] = packed
        return result

    # --- AssumeRole ------------------------------------------------------------------------------

    def AssumeRole(self, ctx: RequestContext, params: dict) -> dict:
        caller = ctx.principal or self.credentials.principal_for(ctx.access_key_id)
        role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
        denied = _access_denied(f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        found = self._role(role_arn)
        if found is None or found[1] is None:
            raise denied
        record, trust = found
        role_account = record.key.account
        chained = isinstance(caller, SessionPrincipal) and caller.is_role_session
        # Tags the calling session passes on (transitive) come first; the request's own tags join them.
        inherited = {k: v for k, v in caller.tags if k in caller.transitive_tag_keys} if chained else {}
        tags = {**inherited, **_tags(params)}
        transitive = sorted(set(params.get("TransitiveTagKeys") or []) | set(inherited))
        context: dict = {"sts:RoleSessionName": session_name}
        # The role is the resource: its tags are aws:ResourceTag/<key> (Service Authorization Reference).
        context.update({f"aws:ResourceTag/{t['Key']}": t["Value"] for t in record.spec.get("Tags", [])})
        if params.get("ExternalId") is not None:
            context["sts:ExternalId"] = params["ExternalId"]
        if params.get("SourceIdentity"):
            context["sts:SourceIdentity"] = params["SourceIdentity"]
        if tags:
            context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
            context["aws:TagKeys"] = list(tags)
        if transitive:
            context["sts:TransitiveTagKeys"] = transitive
        actions = ["sts:AssumeRole"] + (["sts:TagSession"] if params.get("Tags") else [])
        for action in actions:
            if not self._may_assume(ctx, caller, role_arn, role_account, trust, action, context):
                raise denied
        duration = self._duration(params, record.spec, chained)
        result = self._issue(record, role_account, role_arn, session_name, duration, params, tags, transitive)
        if params.get("SourceIdentity"):
            result["SourceIdentity"] = params["SourceIdentity"]
        return result

    def _may_assume(self, ctx: RequestContext, caller: Principal, role_arn: str, role_account: str, trust: Policy,
                    action: str, extra: dict) -> bool:
        """The trust policy must let the caller in; when it names only the caller's account (or the
        role is in another account) the caller's own policies must allow the action too."""
        authorizer = ctx.authorizer
        is_root = caller.arn.endswith(":root")
        if is_root or authorizer is None:
            # The account root passes the identity side (Moorage lets it assume roles, unlike AWS).
            context = {"aws:PrincipalAccount": caller.account_id, "aws:PrincipalArn": caller.arn, **extra}
            return trust_allows(trust, {"AWS": caller.arn}, action, context)
        if role_account != caller.account_id:
            decision, _, _ = authorizer.decide(ctx, action, role_arn, extra)
            source = getattr(caller, "source_arn", "") or caller.arn
            context = {"aws:PrincipalAccount": caller.account_id, "aws:PrincipalArn": source, **extra}
            return decision is Decision.ALLOW and trust_allows(trust, {"AWS": caller.arn}, action, context)
        decision, _, _ = authorizer.decide(ctx, action, role_arn, extra, resource_policy=trust)
        return decision is Decision.ALLOW

    # --- GetSessionToken -------------------------------------------------------------------------

    def GetSessionToken(self, ctx: RequestContext, params: dict) -> dict:
        caller = ctx.principal or self.credentials.principal_for(ctx.access_key_id)
        if caller.session_token is not None:
            raise _access_denied("Cannot call GetSessionToken with session credentials")
        is_root = caller.arn.endswith(":root")
        duration = params.get("DurationSeconds") or USER_SESSION_TOKEN_DEFAULT_SECONDS
        if is_root:  # the account owner's sessions last at most an hour
            duration = min(duration, ROOT_SESSION_TOKEN_MAX_SECONDS)
        credentials = self.sessions.issue(caller.account_id, caller.arn, caller.user_id, caller.arn, duration)
        return {"Credentials": credentials}

    # --- AssumeRoleWithWebIdentity ---------------------------------------------------------------

    def AssumeRoleWithWebIdentity(self, ctx: RequestContext, params: dict) -> dict:
        role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
        match = ROLE_ARN_RE.match(role_arn)
        if not match:
            raise _validation_error("Request ARN is invalid")
        account = match.group(2)
        token = read_token(params["WebIdentityToken"])
        entities = IamStore(self.store)
        provider = find_provider(entities, account, token.issuer)
        if provider is None:
            raise AwsError("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {token.issuer}", 400)
        audience = next((a for a in token.audiences if a in provider.spec["ClientIDList"]), None)
        if audience is None:
            raise AwsError("InvalidIdentityToken", "Incorrect token audience", 400)
        verify_token(token, self.issuers.signing_keys(token.issuer))
        found = self._role(role_arn)
        if found is None or found[1] is None:
            raise _access_denied(WEB_IDENTITY_DENIED)
        record, trust = found
        name = provider_name(token.issuer)
        federated = provider_arn(match.group(1), account, provider.spec["Url"])
        context = {
            f"{name}:sub": token.claims["sub"],
            f"{name}:aud": audience,
            "aws:FederatedProvider": federated,
            "sts:RoleSessionName": session_name,
        }
        if not trust_allows(trust, {"Federated": federated}, "sts:AssumeRoleWithWebIdentity", context):
            raise _access_denied(WEB_IDENTITY_DENIED)
        duration = self._duration(params, record.spec, chained=False)
        result = self._issue(record, account, role_arn, session_name, duration, params, {}, [])
        result.update(
            SubjectFromWebIdentityToken=token.claims["sub"],
            Provider=token.issuer,
            Audience=audience,
        )
        return result
