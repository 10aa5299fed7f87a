"""Managed policies (customer and AWS-managed), their versions, and attaching them to users, groups, roles.

AWS-managed policies come from aws_managed_policies.json and exist in every account; they are read-only.
Attachments live on the entity (spec["AttachedPolicies"], a list of ARNs), so everything that applies
to a principal is read from its own record and its groups'.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from ...core.context import RequestContext
from ...core.kinds import GROUP, POLICY, ROLE, USER
from ...store import Record
from . import names
from .entities import ID_FIELD, NAME_FIELD, IamStore, merged_tags, now, page, without_tags
from .policy_language import MalformedPolicy, PolicyTooLarge
from .policy_validation import parse_policy

MAX_VERSIONS = 5
MAX_ATTACHED = 10  # managed policies per user, group or role (IAM's default quota)
ATTACHABLE_KINDS = (USER, GROUP, ROLE)
_CATALOG = Path(__file__).with_name("aws_managed_policies.json")


def checked_document(document: str, kind: str = "identity", managed: bool = False) -> str:
    """The document unchanged if IAM would accept it, else MalformedPolicyDocument in IAM's words
    (or LimitExceeded when it is over its size quota: managed policies' and trust policies')."""
    try:
        parse_policy(document, kind=kind, managed=managed)
    except MalformedPolicy as error:
        raise names.malformed_policy(str(error)) from None
    except PolicyTooLarge as error:
        raise names.limit_exceeded(str(error)) from None
    return document


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _aws_policy_id(name: str) -> str:
    """Stable ids for AWS-managed policies: the same in every account and every restart."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    return names.ID_PREFIXES[POLICY] + digest[:17]


@lru_cache(maxsize=1)
def aws_policies() -> dict[str, dict]:
    """AWS-managed policies by ARN, as specs shaped like a customer policy's."""
    catalog = json.loads(_CATALOG.read_text())["policies"]
    policies = {}
    for entry in catalog:
        spec = {
            "PolicyName": entry["PolicyName"],
            "PolicyId": _aws_policy_id(entry["PolicyName"]),
            "Path": entry["Path"],
            "Description": entry["Description"],
            "CreateDate": _epoch(entry["CreateDate"]),
            "UpdateDate": _epoch(entry["UpdateDate"]),
            "DefaultVersionId": entry["DefaultVersionId"],
            "Versions": [
                {
                    "VersionId": entry["DefaultVersionId"],
                    "Document": json.dumps(entry["Document"], indent=4),
                    "CreateDate": _epoch(entry["UpdateDate"]),
                }
            ],
            "Tags": [],
        }
        policies[aws_policy_arn(spec)] = spec
    return policies


def aws_policy_arn(spec: dict) -> str:
    return f"{names.AWS_POLICY_ARN_PREFIX}{spec['Path']}{spec['PolicyName']}"


def is_attachable(spec: dict) -> bool:
    """Service-linked roles' policies (path /aws-service-role/) belong to those roles only."""
    return not spec["Path"].startswith("/aws-service-role/")


def default_document(spec: dict) -> str:
    return next(v["Document"] for v in spec["Versions"] if v["VersionId"] == spec["DefaultVersionId"])


class ManagedPolicies:
    """Reads and writes managed policies by ARN for one store (used by the service and identity lookups)."""

    def __init__(self, entities: IamStore):
        self.entities = entities

    def find(self, account: str, policy_arn: str) -> tuple[dict, Record | None] | None:
        """(spec, record) of the policy an ARN names in this account; record is None for AWS's."""
        if policy_arn in aws_policies():
            return aws_policies()[policy_arn], None
        parsed = names.parse_arn(policy_arn)
        if parsed is None or parsed[0] != "iam" or parsed[1] != account or parsed[2] != "policy" or not parsed[3]:
            return None
        record = self.entities.find(account, POLICY, parsed[3][-1])
        if record is None or f"/{'/'.join(parsed[3][:-1])}/".replace("//", "/") != record.spec["Path"]:
            return None
        return record.spec, record

    def require(self, account: str, policy_arn: str) -> tuple[dict, Record | None]:
        found = self.find(account, policy_arn)
        if found is None:
            raise names.policy_not_found(policy_arn)
        return found

    def attachments(self, account: str) -> dict[str, list[tuple[str, dict]]]:
        """Policy ARN -> the (kind, spec) of every user, group and role it is attached to."""
        attached: dict[str, list[tuple[str, dict]]] = {}
        for kind in ATTACHABLE_KINDS:
            for record in self.entities.all(account, kind):
                for policy_arn in record.spec.get("AttachedPolicies", []):
                    attached.setdefault(policy_arn, []).append((kind, record.spec))
        return attached

    def boundary_uses(self, account: str) -> dict[str, int]:
        uses: dict[str, int] = {}
        for kind in (USER, ROLE):
            for record in self.entities.all(account, kind):
                boundary = record.spec.get("PermissionsBoundary")
                if boundary:
                    uses[boundary] = uses.get(boundary, 0) + 1
        return uses


def local_policy_arn(ctx: RequestContext, spec: dict) -> str:
    return names.policy_arn(ctx.partition, ctx.account, spec["Path"], spec["PolicyName"])


class ManagedPolicyOperations:
    """CreatePolicy ... ListEntitiesForPolicy; mixed into IamService (self.entities, self.policies)."""

    entities: IamStore
    policies: ManagedPolicies

    def _policy_view(self, ctx: RequestContext, spec: dict, record: Record | None, counts: dict, boundaries: dict, full: bool) -> dict:
        arn = local_policy_arn(ctx, spec) if record is not None else aws_policy_arn(spec)
        view = {
            "PolicyName": spec["PolicyName"],
            "PolicyId": spec["PolicyId"],
            "Arn": arn,
            "Path": spec["Path"],
            "DefaultVersionId": spec["DefaultVersionId"],
            "AttachmentCount": len(counts.get(arn, [])),
            "PermissionsBoundaryUsageCount": boundaries.get(arn, 0),
            "IsAttachable": is_attachable(spec),
            "CreateDate": names.timestamp(spec["CreateDate"]),
            "UpdateDate": names.timestamp(spec["UpdateDate"]),
        }
        if full:  # GetPolicy and CreatePolicy tell the description and tags; ListPolicies does not
            if spec.get("Description"):
                view["Description"] = spec["Description"]
            if spec.get("Tags"):
                view["Tags"] = spec["Tags"]
        return view

    def _one_policy_view(self, ctx: RequestContext, spec: dict, record: Record | None) -> dict:
        return self._policy_view(
            ctx, spec, record, self.policies.attachments(ctx.account), self.policies.boundary_uses(ctx.account), True
        )

    def _local_policy(self, ctx: RequestContext, policy_arn: str) -> Record:
        spec, record = self.policies.require(ctx.account, policy_arn)
        if record is None:
            raise names.AwsError(
                "AccessDenied",
                f"User: {ctx.principal_arn} is not authorized to modify the AWS managed policy {policy_arn}",
                403,
            )
        return record

    def _change_policy(self, ctx: RequestContext, policy_arn: str, change) -> Record:
        record = self._local_policy(ctx, policy_arn)
        return self.entities.change(record, change, lambda: names.policy_not_found(policy_arn))

    def CreatePolicy(self, ctx: RequestContext, params: dict) -> dict:
        document = checked_document(params["PolicyDocument"], managed=True)
        created = now()
        spec = {
            "PolicyName": params["PolicyName"],
            "PolicyId": names.new_unique_id(POLICY),
            "Path": params.get("Path") or "/",
            "Description": params.get("Description") or "",
            "CreateDate": created,
            "UpdateDate": created,
            "DefaultVersionId": "v1",
            "NextVersion": 2,
            "Versions": [{"VersionId": "v1", "Document": document, "CreateDate": created}],
            "Tags": merged_tags([], params.get("Tags") or []),
        }
        record = self.entities.insert(ctx.account, POLICY, spec["PolicyName"], spec)
        return {"Policy": self._policy_view(ctx, record.spec, record, {}, {}, True)}

    def GetPolicy(self, ctx: RequestContext, params: dict) -> dict:
        spec, record = self.policies.require(ctx.account, params["PolicyArn"])
        return {"Policy": self._one_policy_view(ctx, spec, record)}

    def ListPolicies(self, ctx: RequestContext, params: dict) -> dict:
        scope = params.get("Scope") or "All"
        found: list[tuple[dict, Record | None]] = []
        if scope in ("All", "AWS"):
            found += [(spec, None) for spec in aws_policies().values()]
        if scope in ("All", "Local"):
            found += [(r.spec, r) for r in self.entities.all(ctx.account, POLICY)]
        prefix = params.get("PathPrefix") or "/"
        counts, boundaries = self.policies.attachments(ctx.account), self.policies.boundary_uses(ctx.account)
        views = [self._policy_view(ctx, s, r, counts, boundaries, False) for s, r in found if s["Path"].startswith(prefix)]
        if params.get("OnlyAttached"):
            views = [v for v in views if v["AttachmentCount"] or v["PermissionsBoundaryUsageCount"]]
        if params.get("PolicyUsageFilter"):  # either use needs a policy that can be attached
            views = [v for v in views if v["IsAttachable"]]
        views.sort(key=lambda v: v["PolicyName"].lower())
        return page(views, params, "Policies")

    def DeletePolicy(self, ctx: RequestContext, params: dict) -> dict:
        policy_arn = params["PolicyArn"]
        record = self._local_policy(ctx, policy_arn)

        def check(current: Record) -> None:
            if self.policies.attachments(ctx.account).get(policy_arn) or self.policies.boundary_uses(ctx.account).get(policy_arn):
                raise names.delete_conflict("Cannot delete a policy attached to entities.")
            if len(current.spec["Versions"]) > 1:
                raise names.delete_conflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")

        self.entities.remove(ctx.account, POLICY, record.spec["PolicyName"], check, shown_as=policy_arn)
        return {}

    def TagPolicy(self, ctx: RequestContext, params: dict) -> dict:
        self._change_policy(ctx, params["PolicyArn"], lambda s: s.update(Tags=merged_tags(s["Tags"], params["Tags"])))
        return {}

    def UntagPolicy(self, ctx: RequestContext, params: dict) -> dict:
        self._change_policy(ctx, params["PolicyArn"], lambda s: s.update(Tags=without_tags(s["Tags"], params["TagKeys"])))
        return {}

    def ListPolicyTags(self, ctx: RequestContext, params: dict) -> dict:
        spec, _ = self.policies.require(ctx.account, params["PolicyArn"])
        return page(spec.get("Tags", []), params, "Tags")

    # Versions

    @staticmethod
    def _version_view(spec: dict, version: dict, with_document: bool = True) -> dict:
        view = {
            "VersionId": version["VersionId"],
            "IsDefaultVersion": version["VersionId"] == spec["DefaultVersionId"],
            "CreateDate": names.timestamp(version["CreateDate"]),
        }
        if with_document:
            view["Document"] = names.url_encoded(version["Document"])
        return view

    @staticmethod
    def _version(spec: dict, policy_arn: str, version_id: str) -> dict:
        for version in spec["Versions"]:
            if version["VersionId"] == version_id:
                return version
        raise names.no_such_entity(f"Policy {policy_arn} version {version_id} does not exist or is not attachable.")

    def CreatePolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        document = checked_document(params["PolicyDocument"], managed=True)
        created: dict = {}

        def add(spec: dict) -> None:
            if len(spec["Versions"]) >= MAX_VERSIONS:
                raise names.limit_exceeded(
                    f"A managed policy can have up to {MAX_VERSIONS} versions. "
                    "Before you create a new version, you must delete an existing version."
                )
            version = {"VersionId": f"v{spec['NextVersion']}", "Document": document, "CreateDate": now()}
            spec["NextVersion"] += 1
            spec["Versions"].append(version)
            if params.get("SetAsDefault"):
                spec["DefaultVersionId"] = version["VersionId"]
                spec["UpdateDate"] = version["CreateDate"]
            created.update(version)

        record = self._change_policy(ctx, params["PolicyArn"], add)
        return {"PolicyVersion": self._version_view(record.spec, created, with_document=False)}

    def GetPolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        spec, _ = self.policies.require(ctx.account, params["PolicyArn"])
        version = self._version(spec, params["PolicyArn"], params["VersionId"])
        return {"PolicyVersion": self._version_view(spec, version)}

    def ListPolicyVersions(self, ctx: RequestContext, params: dict) -> dict:
        spec, _ = self.policies.require(ctx.account, params["PolicyArn"])
        versions = sorted(spec["Versions"], key=lambda v: int(v["VersionId"][1:]), reverse=True)
        return page([self._version_view(spec, v, with_document=False) for v in versions], params, "Versions")

    def DeletePolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        policy_arn, version_id = params["PolicyArn"], params["VersionId"]

        def drop(spec: dict) -> None:
            self._version(spec, policy_arn, version_id)
            if spec["DefaultVersionId"] == version_id:
                raise names.delete_conflict("Cannot delete the default version of a policy.")
            spec["Versions"] = [v for v in spec["Versions"] if v["VersionId"] != version_id]

        self._change_policy(ctx, policy_arn, drop)
        return {}

    def SetDefaultPolicyVersion(self, ctx: RequestContext, params: dict) -> dict:
        policy_arn, version_id = params["PolicyArn"], params["VersionId"]

        def make_default(spec: dict) -> None:
            self._version(spec, policy_arn, version_id)
            if spec["DefaultVersionId"] != version_id:
                spec["DefaultVersionId"] = version_id
                spec["UpdateDate"] = now()

        self._change_policy(ctx, policy_arn, make_default)
        return {}

    # Attachments

    def _attach(self, ctx: RequestContext, kind: str, name: str, policy_arn: str) -> dict:
        entity = self.entities.require(ctx.account, kind, name)
        found = self.policies.find(ctx.account, policy_arn)
        if found is None:
            raise names.policy_not_attachable(policy_arn)
        if not is_attachable(found[0]):
            raise names.AwsError("PolicyNotAttachable", "Cannot attach a Service Role Policy to a Customer Role.", 400)
        self._refuse_service_linked(kind, entity)

        def attach(spec: dict) -> None:
            attached = spec.setdefault("AttachedPolicies", [])
            if policy_arn in attached:
                return
            if len(attached) >= MAX_ATTACHED:
                quota = {USER: "PoliciesPerUser", GROUP: "PoliciesPerGroup", ROLE: "PoliciesPerRole"}[kind]
                raise names.limit_exceeded(f"Cannot exceed quota for {quota}: {MAX_ATTACHED}")
            attached.append(policy_arn)

        self.entities.change(entity, attach, lambda: names.entity_not_found(kind, name))
        return {}

    def _detach(self, ctx: RequestContext, kind: str, name: str, policy_arn: str) -> dict:
        entity = self.entities.require(ctx.account, kind, name)
        self._refuse_service_linked(kind, entity)

        def detach(spec: dict) -> None:
            if policy_arn not in spec.get("AttachedPolicies", []):
                raise names.no_such_entity(f"Policy {policy_arn} was not found.")
            spec["AttachedPolicies"].remove(policy_arn)

        self.entities.change(entity, detach, lambda: names.entity_not_found(kind, name))
        return {}

    def _list_attached(self, ctx: RequestContext, kind: str, name: str, params: dict) -> dict:
        entity = self.entities.require(ctx.account, kind, name)
        prefix = params.get("PathPrefix") or "/"
        attached = []
        for policy_arn in entity.spec.get("AttachedPolicies", []):
            found = self.policies.find(ctx.account, policy_arn)
            if found is not None and found[0]["Path"].startswith(prefix):
                attached.append({"PolicyName": found[0]["PolicyName"], "PolicyArn": policy_arn})
        return page(attached, params, "AttachedPolicies")

    @staticmethod
    def _refuse_service_linked(kind: str, entity: Record) -> None:
        if kind == ROLE and entity.spec.get("ServiceLinked"):
            raise names.unmodifiable_role(entity.spec["RoleName"])

    def AttachUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, USER, params["UserName"], params["PolicyArn"])

    def AttachGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, GROUP, params["GroupName"], params["PolicyArn"])

    def AttachRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, ROLE, params["RoleName"], params["PolicyArn"])

    def DetachUserPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, USER, params["UserName"], params["PolicyArn"])

    def DetachGroupPolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, GROUP, params["GroupName"], params["PolicyArn"])

    def DetachRolePolicy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, ROLE, params["RoleName"], params["PolicyArn"])

    def ListAttachedUserPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, USER, params["UserName"], params)

    def ListAttachedGroupPolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, GROUP, params["GroupName"], params)

    def ListAttachedRolePolicies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, ROLE, params["RoleName"], params)

    def ListEntitiesForPolicy(self, ctx: RequestContext, params: dict) -> dict:
        policy_arn = params["PolicyArn"]
        self.policies.require(ctx.account, policy_arn)
        wanted = {"User": USER, "Group": GROUP, "Role": ROLE}.get(params.get("EntityFilter") or "")
        prefix = params.get("PathPrefix") or "/"
        usage = params.get("PolicyUsageFilter")
        found: list[tuple[str, dict]] = []
        if usage != "PermissionsBoundary":
            found += self.policies.attachments(ctx.account).get(policy_arn, [])
        if usage != "PermissionsPolicy":
            for kind in (USER, ROLE):
                found += [(kind, r.spec) for r in self.entities.all(ctx.account, kind) if r.spec.get("PermissionsBoundary") == policy_arn]
        if params.get("EntityFilter") in ("LocalManagedPolicy", "AWSManagedPolicy"):
            found = []  # only policies can be attached to entities here, never to other policies
        field = {USER: "PolicyUsers", GROUP: "PolicyGroups", ROLE: "PolicyRoles"}
        rows = sorted(
            {(kind, spec[NAME_FIELD[kind]], spec[ID_FIELD[kind]]) for kind, spec in found
             if (wanted is None or kind == wanted) and spec["Path"].startswith(prefix)}
        )
        result = page(rows, params, "_rows")
        for kind in (USER, GROUP, ROLE):
            name_field, id_field = NAME_FIELD[kind], ID_FIELD[kind]
            result[field[kind]] = [{name_field: n, id_field: i} for k, n, i in result["_rows"] if k == kind]
        del result["_rows"]
        return result

