"""Inline policies: documents embedded in one user, group or role (Put/Get/Delete/List<Kind>Policy)."""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.kinds import GROUP, ROLE, USER
from . import names
from .entities import NAME_FIELD, IamStore, page
from .managed import checked_document
from .policy_language import (
    GROUP_INLINE_POLICIES_MAX_CHARS,
    ROLE_INLINE_POLICIES_MAX_CHARS,
    USER_INLINE_POLICIES_MAX_CHARS,
    policy_size,
)

# The quotas count all of one entity's inline policies together.
INLINE_SIZE_LIMITS = {USER: USER_INLINE_POLICIES_MAX_CHARS, GROUP: GROUP_INLINE_POLICIES_MAX_CHARS, ROLE: ROLE_INLINE_POLICIES_MAX_CHARS}
_WORDS = {USER: "user", GROUP: "group", ROLE: "role"}


class InlinePolicyOperations:
    """Mixed into IamService (self.entities)."""

    entities: IamStore

    def _put_inline(self, ctx: RequestContext, kind: str, name: str, policy_name: str, document: str) -> dict:
        checked_document(document)
        limit = INLINE_SIZE_LIMITS[kind]

        def put(spec: dict) -> None:
            if spec.get("ServiceLinked"):
                raise names.unmodifiable_role(spec["RoleName"])
            policies = spec.setdefault("InlinePolicies", {})
            policies[policy_name] = document
            if sum(policy_size(d) for d in policies.values()) > limit:
                raise names.limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {_WORDS[kind]} {spec[NAME_FIELD[kind]]}")

        self.entities.update(ctx.account, kind, name, put)
        return {}

    def _get_inline(self, ctx: RequestContext, kind: str, name: str, policy_name: str) -> dict:
        spec = self.entities.require(ctx.account, kind, name).spec
        document = spec.get("InlinePolicies", {}).get(policy_name)
        if document is None:
            raise names.inline_policy_not_found(kind, policy_name)
        return {NAME_FIELD[kind]: spec[NAME_FIELD[kind]], "PolicyName": policy_name, "PolicyDocument": names.url_encoded(document)}

    def _delete_inline(self, ctx: RequestContext, kind: str, name: str, policy_name: str) -> dict:
        def delete(spec: dict) -> None:
            if spec.get("ServiceLinked"):
                raise names.unmodifiable_role(spec["RoleName"])
            if policy_name not in spec.get("InlinePolicies", {}):
                raise names.inline_policy_not_found(kind, policy_name)
            del spec["InlinePolicies"][policy_name]

        self.entities.update(ctx.account, kind, name, delete)
        return {}

    def _list_inline(self, ctx: RequestContext, kind: str, name: str, params: dict) -> dict:
        spec = self.entities.require(ctx.account, kind, name).spec
        return page(sorted(spec.get("InlinePolicies", {})), params, "PolicyNames")

    def PutUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put_inline(ctx, USER, params["UserName"], params["PolicyName"], params["PolicyDocument"])

    def PutGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put_inline(ctx, GROUP, params["GroupName"], params["PolicyName"], params["PolicyDocument"])

    def PutRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put_inline(ctx, ROLE, params["RoleName"], params["PolicyName"], params["PolicyDocument"])

    def GetUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get_inline(ctx, USER, params["UserName"], params["PolicyName"])

    def GetGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get_inline(ctx, GROUP, params["GroupName"], params["PolicyName"])

    def GetRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get_inline(ctx, ROLE, params["RoleName"], params["PolicyName"])

    def DeleteUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete_inline(ctx, USER, params["UserName"], params["PolicyName"])

    def DeleteGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete_inline(ctx, GROUP, params["GroupName"], params["PolicyName"])

    def DeleteRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete_inline(ctx, ROLE, params["RoleName"], params["PolicyName"])

    def ListUserPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_inline(ctx, USER, params["UserName"], params)

    def ListGroupPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_inline(ctx, GROUP, params["GroupName"], params)

    def ListRolePolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_inline(ctx, ROLE, params["RoleName"], params)
