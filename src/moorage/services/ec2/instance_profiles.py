"""The instance profile a launch names: it must exist, and the caller must be allowed iam:PassRole
on its role for ec2.amazonaws.com, as EC2 checks it ("Grant a user permission to pass an IAM role
to an instance")."""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INSTANCE_PROFILE
from ...store import SqliteStore
from ..iam.identity import instance_profile_role_arn
from ..iam.names import key as iam_key

EC2_SERVICE_PRINCIPAL = "ec2.amazonaws.com"


def profile_name(params: dict) -> tuple[str, str] | None:
    """(parameter, instance profile name) of a launch's IamInstanceProfile, by name or by ARN."""
    profile = params.get("IamInstanceProfile") or {}
    if profile.get("Arn"):
        return "iamInstanceProfile.arn", profile["Arn"].rsplit("/", 1)[-1]
    if profile.get("Name"):
        return "iamInstanceProfile.name", profile["Name"]
    return None


def pass_instance_profile_role(store: SqliteStore, ctx: RequestContext, params: dict) -> None:
    named = profile_name(params)
    if named is None:
        return
    parameter, name = named
    if store.get(iam_key(ctx.account, INSTANCE_PROFILE, name)) is None:
        shown = (params.get("IamInstanceProfile") or {}).get("Arn") or name
        raise AwsError("InvalidParameterValue", f"Value ({shown}) for parameter {parameter} is invalid. Invalid IAM Instance Profile name")
    role_arn = instance_profile_role_arn(store, ctx.partition, ctx.account, name)
    if role_arn is not None:
        ctx.require_pass_role(role_arn, EC2_SERVICE_PRINCIPAL, "ec2")
