"""IAM users, groups and access keys.

Group membership is kept on the user (spec["Groups"], the groups' record names), because what matters
most often is "what applies to this user"; GetGroup reads the other way by scanning the account's users.
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.kinds import ACCESS_KEY, GROUP, USER
from ...store import AlreadyExists, Conflict, Record
from . import names
from .entities import IamStore, TagOperations, entity_arn, merged_tags, now, page, with_path_prefix
from .managed import ManagedPolicies

MAX_ACCESS_KEYS = 2
ACCESS_KEY_STATUSES = ("Active", "Inactive")


def boundary_view(spec: dict) -> dict | None:
    boundary = spec.get("PermissionsBoundary")
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary} if boundary else None


def user_view(ctx: RequestContext, spec: dict, with_tags: bool = True) -> dict:
    view = {
        "Path": spec["Path"],
        "UserName": spec["UserName"],
        "UserId": spec["UserId"],
        "Arn": entity_arn(ctx.partition, ctx.account, USER, spec),
        "CreateDate": names.timestamp(spec["CreateDate"]),
    }
    if boundary_view(spec):
        view["PermissionsBoundary"] = boundary_view(spec)
    if with_tags and spec.get("Tags"):
        view["Tags"] = spec["Tags"]
    return view


def group_view(ctx: RequestContext, spec: dict) -> dict:
    return {
        "Path": spec["Path"],
        "GroupName": spec["GroupName"],
        "GroupId": spec["GroupId"],
        "Arn": entity_arn(ctx.partition, ctx.account, GROUP, spec),
        "CreateDate": names.timestamp(spec["CreateDate"]),
    }


def caller_user_name(ctx: RequestContext) -> str | None:
    """The IAM user who signed the request; None for the account root. Other callers (roles) must
    name the user, as IAM requires."""
    parsed = names.parse_arn(ctx.principal_arn)
    if parsed is not None and parsed[0] == "iam" and parsed[2] == "root":
        return None
    if parsed is not None and parsed[0] == "iam" and parsed[2] == "user" and parsed[3]:
        return parsed[3][-1]
    raise names.validation_error("Must specify userName when calling with non-User credentials")


def required_boundary(policies: ManagedPolicies, account: str, boundary: str | None) -> str | None:
    if boundary and policies.find(account, boundary) is None:
        raise names.no_such_entity(f"Scope ARN: {boundary} does not exist or is not attachable.")
    return boundary


class UserOperations(TagOperations):
    """Users, groups and access keys; mixed into IamService (self.entities, self.policies, self.root_key)."""

    entities: IamStore
    policies: ManagedPolicies
    root_access_key_id: str

    # Users

    def CreateUser(self, ctx: RequestContext, params: dict) -> dict:
        spec = {
            "UserName": params["UserName"],
            "UserId": names.new_unique_id(USER),
            "Path": params.get("Path") or "/",
            "CreateDate": now(),
            "Tags": merged_tags([], params.get("Tags") or []),
            "PermissionsBoundary": required_boundary(self.policies, ctx.account, params.get("PermissionsBoundary")),
            "Groups": [],
            "InlinePolicies": {},
            "AttachedPolicies": [],
        }
        record = self.entities.insert(ctx.account, USER, spec["UserName"], spec)
        return {"User": user_view(ctx, record.spec)}

    def GetUser(self, ctx: RequestContext, params: dict) -> dict:
        name = params.get("UserName") or caller_user_name(ctx)
        if name is None:  # the root user: IAM answers with the account's id and root ARN
            return {"User": {"UserId": ctx.account, "Arn": ctx.principal_arn}}
        return {"User": user_view(ctx, self.entities.require(ctx.account, USER, name).spec)}

    def ListUsers(self, ctx: RequestContext, params: dict) -> dict:
        users = with_path_prefix(self.entities.all(ctx.account, USER), params.get("PathPrefix"))
        return page([user_view(ctx, r.spec, with_tags=False) for r in users], params, "Users")

    def UpdateUser(self, ctx: RequestContext, params: dict) -> dict:
        record = self.entities.require(ctx.account, USER, params["UserName"])
        new_name = params.get("NewUserName") or record.spec["UserName"]
        new_path = params.get("NewPath") or record.spec["Path"]
        if new_name.lower() == record.key.name:
            self.entities.change(
                record, lambda s: s.update(UserName=new_name, Path=new_path),
                lambda: names.entity_not_found(USER, params["UserName"]),
            )
            return {}
        # A new name is a new record key. The new record, the user's access keys following it and the old
        # record's removal are one transaction, so a crash never leaves the user twice or its keys behind.
        renamed = names.key(ctx.account, USER, new_name)
        keys = self._access_keys(ctx.account, record.key.name)
        try:
            self.entities.store.write_all(
                creates=[(renamed, {**record.spec, "UserName": new_name, "Path": new_path})],
                updates=[(key, {**key.spec, "User": renamed.name, "UserName": new_name}) for key in keys],
                removes=[record],
            )
        except AlreadyExists:
            raise names.already_exists(USER, new_name) from None
        except Conflict:  # the user or one of its keys changed since we read them
            raise names.AwsError("ConcurrentModification", "The user changed while it was being renamed; retry.", 409) from None
        return {}

    def DeleteUser(self, ctx: RequestContext, params: dict) -> dict:
        def check(record: Record) -> None:
            if self._access_keys(ctx.account, record.key.name):
                raise names.delete_conflict("Cannot delete entity, must delete access keys first.")
            if record.spec.get("InlinePolicies"):
                raise names.delete_conflict("Cannot delete entity, must delete policies first.")
            if record.spec.get("AttachedPolicies"):
                raise names.delete_conflict("Cannot delete entity, must detach all policies first.")
            if record.spec.get("Groups"):
                raise names.delete_conflict("Cannot delete entity, must remove users from group first.")

        self.entities.remove(ctx.account, USER, params["UserName"], check)
        return {}

    def TagUser(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(ctx, USER, params["UserName"], params["Tags"])

    def UntagUser(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(ctx, USER, params["UserName"], params["TagKeys"])

    def ListUserTags(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_tags(ctx, USER, params["UserName"], params)

    # Groups

    def CreateGroup(self, ctx: RequestContext, params: dict) -> dict:
        spec = {
            "GroupName": params["GroupName"],
            "GroupId": names.new_unique_id(GROUP),
            "Path": params.get("Path") or "/",
            "CreateDate": now(),
            "InlinePolicies": {},
            "AttachedPolicies": [],
        }
        record = self.entities.insert(ctx.account, GROUP, spec["GroupName"], spec)
        return {"Group": group_view(ctx, record.spec)}

    def _members(self, account: str, group: Record) -> list[Record]:
        return [u for u in self.entities.all(account, USER) if group.key.name in u.spec.get("Groups", [])]

    def GetGroup(self, ctx: RequestContext, params: dict) -> dict:
        group = self.entities.require(ctx.account, GROUP, params["GroupName"])
        result = page([user_view(ctx, u.spec, with_tags=False) for u in self._members(ctx.account, group)], params, "Users")
        return {"Group": group_view(ctx, group.spec), **result}

    def ListGroups(self, ctx: RequestContext, params: dict) -> dict:
        groups = with_path_prefix(self.entities.all(ctx.account, GROUP), params.get("PathPrefix"))
        return page([group_view(ctx, g.spec) for g in groups], params, "Groups")

    def DeleteGroup(self, ctx: RequestContext, params: dict) -> dict:
        def check(record: Record) -> None:
            if self._members(ctx.account, record):
                raise names.delete_conflict("Cannot delete entity, must remove users from group first.")
            if record.spec.get("InlinePolicies"):
                raise names.delete_conflict("Cannot delete entity, must delete policies first.")
            if record.spec.get("AttachedPolicies"):
                raise names.delete_conflict("Cannot delete entity, must detach all policies first.")

        self.entities.remove(ctx.account, GROUP, params["GroupName"], check)
        return {}

    def AddUserToGroup(self, ctx: RequestContext, params: dict) -> dict:
        group = self.entities.require(ctx.account, GROUP, params["GroupName"])

        def join(spec: dict) -> None:
            if group.key.name not in spec["Groups"]:
                spec["Groups"].append(group.key.name)

        self.entities.update(ctx.account, USER, params["UserName"], join)
        return {}

    def RemoveUserFromGroup(self, ctx: RequestContext, params: dict) -> dict:
        group = self.entities.require(ctx.account, GROUP, params["GroupName"])

        def leave(spec: dict) -> None:
            if group.key.name not in spec["Groups"]:
                raise names.no_such_entity(
                    f"The user with name {params['UserName']} cannot be found in group {group.spec['GroupName']}."
                )
            spec["Groups"].remove(group.key.name)

        self.entities.update(ctx.account, USER, params["UserName"], leave)
        return {}

    def ListGroupsForUser(self, ctx: RequestContext, params: dict) -> dict:
        user = self.entities.require(ctx.account, USER, params["UserName"])
        groups = [self.entities.find(ctx.account, GROUP, name) for name in user.spec.get("Groups", [])]
        views = sorted((group_view(ctx, g.spec) for g in groups if g is not None), key=lambda g: g["GroupName"].lower())
        return page(views, params, "Groups")

    # Access keys

    def _access_keys(self, account: str, user_key_name: str) -> list[Record]:
        return sorted(
            (k for k in self.entities.all(account, ACCESS_KEY) if k.spec["User"] == user_key_name),
            key=lambda k: k.spec["CreateDate"],
        )

    def _key_owner(self, ctx: RequestContext, params: dict) -> Record | None:
        """The user named in the request or, without a name, the calling user (None for the root)."""
        name = params.get("UserName") or caller_user_name(ctx)
        return self.entities.require(ctx.account, USER, name) if name is not None else None

    def _access_key(self, ctx: RequestContext, params: dict) -> Record:
        access_key_id = params["AccessKeyId"]
        owner = self._key_owner(ctx, params)
        if owner is None:
            raise names.validation_error("Moorage keeps one root access key; manage IAM users' access keys instead.")
        record = self.entities.find(ctx.account, ACCESS_KEY, access_key_id)
        if record is None or record.spec["AccessKeyId"] != access_key_id or record.spec["User"] != owner.key.name:
            raise names.access_key_not_found(access_key_id)
        return record

    @staticmethod
    def _key_metadata(spec: dict) -> dict:
        return {
            "UserName": spec["UserName"],
            "AccessKeyId": spec["AccessKeyId"],
            "Status": spec["Status"],
            "CreateDate": names.timestamp(spec["CreateDate"]),
        }

    def CreateAccessKey(self, ctx: RequestContext, params: dict) -> dict:
        owner = self._key_owner(ctx, params)
        if owner is None:
            raise names.validation_error("Moorage keeps one root access key; create an IAM user for more keys.")
        if len(self._access_keys(ctx.account, owner.key.name)) >= MAX_ACCESS_KEYS:
            raise names.limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
        spec = {
            "AccessKeyId": names.new_access_key_id(ctx.account),
            "SecretAccessKey": names.new_secret_access_key(),
            "UserName": owner.spec["UserName"],
            "User": owner.key.name,
            "Status": "Active",
            "CreateDate": now(),
        }
        self.entities.insert(ctx.account, ACCESS_KEY, spec["AccessKeyId"], spec)
        return {"AccessKey": {**self._key_metadata(spec), "SecretAccessKey": spec["SecretAccessKey"]}}

    def ListAccessKeys(self, ctx: RequestContext, params: dict) -> dict:
        owner = self._key_owner(ctx, params)
        if owner is None:
            keys = [{"AccessKeyId": self.root_access_key_id, "Status": "Active"}]
        else:
            keys = [self._key_metadata(k.spec) for k in self._access_keys(ctx.account, owner.key.name)]
        return page(keys, params, "AccessKeyMetadata")

    def UpdateAccessKey(self, ctx: RequestContext, params: dict) -> dict:
        if params["Status"] not in ACCESS_KEY_STATUSES:
            raise names.validation_error(
                f"1 validation error detected: Value '{params['Status']}' at 'status' failed to satisfy constraint: "
                "Member must satisfy enum value set: [Active, Inactive]"
            )
        record = self._access_key(ctx, params)
        self.entities.change(record, lambda s: s.update(Status=params["Status"]), lambda: names.access_key_not_found(params["AccessKeyId"]))
        return {}

    def DeleteAccessKey(self, ctx: RequestContext, params: dict) -> dict:
        record = self._access_key(ctx, params)
        self.entities.remove(ctx.account, ACCESS_KEY, record.spec["AccessKeyId"], lambda current: None)
        return {}

    def GetAccessKeyLastUsed(self, ctx: RequestContext, params: dict) -> dict:
        access_key_id = params["AccessKeyId"]
        record = self.entities.find(ctx.account, ACCESS_KEY, access_key_id)
        if record is None or record.spec["AccessKeyId"] != access_key_id:
            raise names.AwsError("AccessDenied", f"User: {ctx.principal_arn} is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key {access_key_id}", 403)
        # Moorage does not record each key's last use (a write per request); IAM says N/A for unused keys.
        return {"UserName": record.spec["UserName"], "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
