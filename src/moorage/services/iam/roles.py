"""IAM roles (with trust policies), EKS's service-linked roles, and instance profiles.

A role record carries what STS AssumeRole needs: RoleId (the AROA... id in assumed-role ids),
AssumeRolePolicyDocument (the trust policy to check) and MaxSessionDuration.
"""

from __future__ import annotations

import uuid

from ...core.context import RequestContext
from ...core.kinds import INSTANCE_PROFILE, ROLE, SLR_DELETION
from ...store import Record
from . import names
from .entities import IamStore, TagOperations, entity_arn, merged_tags, now, page, with_path_prefix
from .managed import ManagedPolicies, aws_policies, checked_document
from .users import boundary_view, required_boundary

EC2_SERVICE_PRINCIPAL = "ec2.amazonaws.com"  # who an instance profile's role is passed to

DEFAULT_SESSION_SECONDS = 3600
ROLES_PER_INSTANCE_PROFILE = 1
CLUSTER_KIND, NODEGROUP_KIND = "cluster", "nodegroup"  # the EKS record kinds that use the roles below


# AWSServiceName -> (role name, its AWS-managed policy, description, EKS record kind whose existence
# keeps the role in use).
SERVICE_LINKED_ROLES = {
    "eks.amazonaws.com": (
        "AWSServiceRoleForAmazonEKS", "AmazonEKSServiceRolePolicy",
        "Allows Amazon EKS to call AWS services on your behalf.", CLUSTER_KIND,
    ),
    "eks-nodegroup.amazonaws.com": (
        "AWSServiceRoleForAmazonEKSNodegroup", "AWSServiceRoleForAmazonEKSNodegroup",
        "This policy allows Amazon EKS to create and manage Nodegroups", NODEGROUP_KIND,
    ),
    "eks-fargate.amazonaws.com": (
        "AWSServiceRoleForAmazonEKSForFargate", "AmazonEKSForFargateServiceRolePolicy",
        "This policy grants necessary permissions to Amazon EKS to run fargate tasks", None,
    ),
}


def trust_policy_for(service: str) -> str:
    return (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"'
        + service
        + '"},"Action":"sts:AssumeRole"}]}'
    )


def role_view(ctx: RequestContext, spec: dict, full: bool = True) -> dict:
    view = {
        "Path": spec["Path"],
        "RoleName": spec["RoleName"],
        "RoleId": spec["RoleId"],
        "Arn": entity_arn(ctx.partition, ctx.account, ROLE, spec),
        "CreateDate": names.timestamp(spec["CreateDate"]),
        "AssumeRolePolicyDocument": names.url_encoded(spec["AssumeRolePolicyDocument"]),
        "MaxSessionDuration": spec["MaxSessionDuration"],
    }
    if spec.get("Description"):
        view["Description"] = spec["Description"]
    if full:  # GetRole and CreateRole; ListRoles leaves these out, as IAM's does
        if boundary_view(spec):
            view["PermissionsBoundary"] = boundary_view(spec)
        if spec.get("Tags"):
            view["Tags"] = spec["Tags"]
        view["RoleLastUsed"] = {}
    return view


class RoleOperations(TagOperations):
    """Mixed into IamService (self.entities, self.policies)."""

    entities: IamStore
    policies: ManagedPolicies

    def _new_role(self, ctx: RequestContext, name: str, path: str, trust: str, params: dict, **extra) -> Record:
        spec = {
            "RoleName": name,
            "RoleId": names.new_unique_id(ROLE),
            "Path": path,
            "CreateDate": now(),
            "AssumeRolePolicyDocument": trust,
            "Description": params.get("Description") or "",
            "MaxSessionDuration": params.get("MaxSessionDuration") or DEFAULT_SESSION_SECONDS,
            "Tags": merged_tags([], params.get("Tags") or []),
            "PermissionsBoundary": required_boundary(self.policies, ctx.account, params.get("PermissionsBoundary")),
            "InlinePolicies": {},
            "AttachedPolicies": [],
            **extra,
        }
        return self.entities.insert(ctx.account, ROLE, name, spec)

    def CreateRole(self, ctx: RequestContext, params: dict) -> dict:
        trust = checked_document(params["AssumeRolePolicyDocument"], kind="trust")
        record = self._new_role(ctx, params["RoleName"], params.get("Path") or "/", trust, params)
        return {"Role": role_view(ctx, record.spec)}

    def GetRole(self, ctx: RequestContext, params: dict) -> dict:
        return {"Role": role_view(ctx, self.entities.require(ctx.account, ROLE, params["RoleName"]).spec)}

    def ListRoles(self, ctx: RequestContext, params: dict) -> dict:
        roles = with_path_prefix(self.entities.all(ctx.account, ROLE), params.get("PathPrefix"))
        return page([role_view(ctx, r.spec, full=False) for r in roles], params, "Roles")

    def _profiles_with_role(self, account: str, role_key_name: str) -> list[Record]:
        return [p for p in self.entities.all(account, INSTANCE_PROFILE) if role_key_name in p.spec["Roles"]]

    def _role_conflicts(self, account: str, record: Record) -> None:
        if self._profiles_with_role(account, record.key.name):
            raise names.delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
        if record.spec.get("InlinePolicies"):
            raise names.delete_conflict("Cannot delete entity, must delete policies first.")
        if record.spec.get("AttachedPolicies"):
            raise names.delete_conflict("Cannot delete entity, must detach all policies first.")

    def DeleteRole(self, ctx: RequestContext, params: dict) -> dict:
        def check(record: Record) -> None:
            if record.spec.get("ServiceLinked"):
                raise names.unmodifiable_role(record.spec["RoleName"])
            self._role_conflicts(ctx.account, record)

        self.entities.remove(ctx.account, ROLE, params["RoleName"], check)
        return {}

    def _change_role(self, ctx: RequestContext, name: str, change) -> Record:
        def guarded(spec: dict) -> None:
            if spec.get("ServiceLinked"):
                raise names.unmodifiable_role(spec["RoleName"])
            change(spec)

        return self.entities.update(ctx.account, ROLE, name, guarded)

    def UpdateAssumeRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        trust = checked_document(params["PolicyDocument"], kind="trust")
        self._change_role(ctx, params["RoleName"], lambda s: s.update(AssumeRolePolicyDocument=trust))
        return {}

    def UpdateRole(self, ctx: RequestContext, params: dict) -> dict:
        changes = {k: params[k] for k in ("Description", "MaxSessionDuration") if k in params}
        self._change_role(ctx, params["RoleName"], lambda s: s.update(changes))
        return {}

    def UpdateRoleDescription(self, ctx: RequestContext, params: dict) -> dict:
        record = self._change_role(ctx, params["RoleName"], lambda s: s.update(Description=params["Description"]))
        return {"Role": role_view(ctx, record.spec)}

    def TagRole(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(ctx, ROLE, params["RoleName"], params["Tags"])

    def UntagRole(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(ctx, ROLE, params["RoleName"], params["TagKeys"])

    def ListRoleTags(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_tags(ctx, ROLE, params["RoleName"], params)

    # Service-linked roles

    def CreateServiceLinkedRole(self, ctx: RequestContext, params: dict) -> dict:
        service = params["AWSServiceName"]
        if service not in SERVICE_LINKED_ROLES:
            raise names.invalid_input(f"Moorage does not know a service-linked role for the service {service}.")
        role_name, policy_name, description, _ = SERVICE_LINKED_ROLES[service]
        if params.get("CustomSuffix"):
            raise names.invalid_input(f"Custom suffix is not allowed for {service}")
        if self.entities.find(ctx.account, ROLE, role_name) is not None:
            raise names.invalid_input(
                f"Service role name {role_name} has been taken in this account, please try a different suffix."
            )
        policy_arn = f"{names.AWS_POLICY_ARN_PREFIX}/aws-service-role/{policy_name}"
        record = self._new_role(
            ctx, role_name, f"/aws-service-role/{service}/", trust_policy_for(service),
            {"Description": params.get("Description") or description},
            ServiceLinked=service,
            AttachedPolicies=[policy_arn] if policy_arn in aws_policies() else [],
        )
        return {"Role": role_view(ctx, record.spec)}

    def DeleteServiceLinkedRole(self, ctx: RequestContext, params: dict) -> dict:
        """EKS refuses while clusters (or node groups) use the role; the outcome is the task's status."""
        role = self.entities.require(ctx.account, ROLE, params["RoleName"])
        service = role.spec.get("ServiceLinked")
        if not service:
            raise names.invalid_input(f"Role {role.spec['RoleName']} is not a service-linked role.")
        task_id = f"task{role.spec['Path']}{role.spec['RoleName']}/{uuid.uuid4()}"
        in_use_kind = SERVICE_LINKED_ROLES.get(service, (None, None, None, None))[3]
        users = self.entities.store.list(ctx.account, None, in_use_kind) if in_use_kind else []
        task: dict = {"DeletionTaskId": task_id, "Status": "SUCCEEDED"}
        if users:
            by_region: dict[str, list[str]] = {}
            for record in users:
                by_region.setdefault(record.key.region, []).append(record.spec.get("arn") or record.spec.get("nodegroupArn", ""))
            task = {
                **task,
                "Status": "FAILED",
                "Reason": {
                    "Reason": f"The role is in use by {len(users)} Amazon EKS resource(s); delete them first.",
                    "RoleUsageList": [{"Region": region, "Resources": arns} for region, arns in sorted(by_region.items())],
                },
            }
        else:
            self.entities.remove(ctx.account, ROLE, role.spec["RoleName"], lambda current: None)
        self.entities.insert(ctx.account, SLR_DELETION, task_id, task)
        return {"DeletionTaskId": task_id}

    def GetServiceLinkedRoleDeletionStatus(self, ctx: RequestContext, params: dict) -> dict:
        task_id = params["DeletionTaskId"]
        record = self.entities.find(ctx.account, SLR_DELETION, task_id)
        if record is None or record.spec["DeletionTaskId"] != task_id:
            raise names.invalid_input(f"Invalid deletion task id: {task_id}")
        return {k: v for k, v in record.spec.items() if k in ("Status", "Reason")}

    # Instance profiles

    def _profile_view(self, ctx: RequestContext, spec: dict) -> dict:
        roles = [self.entities.find(ctx.account, ROLE, name) for name in spec["Roles"]]
        view = {
            "Path": spec["Path"],
            "InstanceProfileName": spec["InstanceProfileName"],
            "InstanceProfileId": spec["InstanceProfileId"],
            "Arn": entity_arn(ctx.partition, ctx.account, INSTANCE_PROFILE, spec),
            "CreateDate": names.timestamp(spec["CreateDate"]),
            "Roles": [role_view(ctx, r.spec, full=False) for r in roles if r is not None],
        }
        if spec.get("Tags"):
            view["Tags"] = spec["Tags"]
        return view

    def CreateInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        spec = {
            "InstanceProfileName": params["InstanceProfileName"],
            "InstanceProfileId": names.new_unique_id(INSTANCE_PROFILE),
            "Path": params.get("Path") or "/",
            "CreateDate": now(),
            "Tags": merged_tags([], params.get("Tags") or []),
            "Roles": [],
        }
        record = self.entities.insert(ctx.account, INSTANCE_PROFILE, spec["InstanceProfileName"], spec)
        return {"InstanceProfile": self._profile_view(ctx, record.spec)}

    def GetInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        record = self.entities.require(ctx.account, INSTANCE_PROFILE, params["InstanceProfileName"])
        return {"InstanceProfile": self._profile_view(ctx, record.spec)}

    def ListInstanceProfiles(self, ctx: RequestContext, params: dict) -> dict:
        profiles = with_path_prefix(self.entities.all(ctx.account, INSTANCE_PROFILE), params.get("PathPrefix"))
        return page([self._profile_view(ctx, p.spec) for p in profiles], params, "InstanceProfiles")

    def DeleteInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        def check(record: Record) -> None:
            if record.spec["Roles"]:
                raise names.delete_conflict("Cannot delete entity, must remove roles from instance profile first.")

        self.entities.remove(ctx.account, INSTANCE_PROFILE, params["InstanceProfileName"], check)
        return {}

    def AddRoleToInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        role = self.entities.require(ctx.account, ROLE, params["RoleName"])
        self.entities.require(ctx.account, INSTANCE_PROFILE, params["InstanceProfileName"])
        # IAM: "The caller of this operation must be granted the PassRole permission on the IAM role"
        # (otherwise a profile would launder a role into every instance that uses it).
        ctx.require_pass_role(entity_arn(ctx.partition, ctx.account, ROLE, role.spec), EC2_SERVICE_PRINCIPAL, "query")

        def add(spec: dict) -> None:
            if len(spec["Roles"]) >= ROLES_PER_INSTANCE_PROFILE:
                raise names.limit_exceeded(
                    f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_INSTANCE_PROFILE}"
                )
            spec["Roles"].append(role.key.name)

        self.entities.update(ctx.account, INSTANCE_PROFILE, params["InstanceProfileName"], add)
        return {}

    def RemoveRoleFromInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        role_name = params["RoleName"]

        def remove(spec: dict) -> None:
            if role_name.lower() not in spec["Roles"]:
                raise names.entity_not_found(ROLE, role_name)
            spec["Roles"].remove(role_name.lower())

        self.entities.update(ctx.account, INSTANCE_PROFILE, params["InstanceProfileName"], remove)
        return {}

    def ListInstanceProfilesForRole(self, ctx: RequestContext, params: dict) -> dict:
        role = self.entities.require(ctx.account, ROLE, params["RoleName"])
        profiles = self._profiles_with_role(ctx.account, role.key.name)
        return page([self._profile_view(ctx, p.spec) for p in profiles], params, "InstanceProfiles")

    def TagInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(ctx, INSTANCE_PROFILE, params["InstanceProfileName"], params["Tags"])

    def UntagInstanceProfile(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(ctx, INSTANCE_PROFILE, params["InstanceProfileName"], params["TagKeys"])

    def ListInstanceProfileTags(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_tags(ctx, INSTANCE_PROFILE, params["InstanceProfileName"], params)
