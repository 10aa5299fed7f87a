"""IAM in-process: id and ARN forms, access keys carrying their account, pagination, and what applies
to a principal (identity policies, tags, credentials)."""

import json
import re

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.iam import names
from moorage.services.iam.credentials import IamAccessKeys
from moorage.services.iam.identity import identity_policies, principal_tags
from moorage.services.iam.managed import aws_policies
from moorage.services.iam.service import IamService
from moorage.store import SqliteStore

ACCOUNT = "111122223333"
ALLOW_EKS = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:*", "Resource": "*"}]})
TRUST_EC2 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
)


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


@pytest.fixture
def iam(store):
    return IamService(store, "AKIAROOTKEY000000000")


def context(principal_arn: str = f"arn:aws:iam::{ACCOUNT}:root") -> RequestContext:
    return RequestContext(ACCOUNT, "us-east-1", principal_arn, "AKIAROOTKEY000000000", "request-1")


def statements(documents: list[str]) -> list[str]:
    return sorted(s.get("Sid", s["Action"] if isinstance(s["Action"], str) else "list") for d in documents for s in json.loads(d)["Statement"])


@pytest.mark.parametrize("kind,prefix", [(names.USER, "AIDA"), (names.GROUP, "AGPA"), (names.ROLE, "AROA"), (names.POLICY, "ANPA"), (names.INSTANCE_PROFILE, "AIPA")])
def test_unique_ids_have_iam_form(kind, prefix):
    ids = {names.new_unique_id(kind) for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(prefix + r"[A-Z2-7]{17}", i) for i in ids)


@pytest.mark.parametrize("account", ["000000000001", "111122223333", "999999999999", "123456789012"])
def test_access_key_ids_carry_their_account(account):
    for _ in range(20):
        key_id = names.new_access_key_id(account)
        assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
        assert names.account_of_access_key(key_id) == account


def test_foreign_access_key_ids_name_no_account():
    assert names.account_of_access_key("AKIAMOORAGETESTROOT1") is None  # '1' is not base32
    assert names.account_of_access_key("ASIA" + "A" * 16) is None
    assert names.account_of_access_key("AKIA" + "A" * 15) is None


def test_secret_access_keys_are_40_characters():
    secrets = {names.new_secret_access_key() for _ in range(20)}
    assert len(secrets) == 20 and all(re.fullmatch(r"[A-Za-z0-9+/]{40}", s) for s in secrets)


def test_arns_with_paths(iam):
    ctx = context()
    user = iam.CreateUser(ctx, {"UserName": "Bob", "Path": "/eng/platform/"})["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/platform/Bob"
    role = iam.CreateRole(ctx, {"RoleName": "node", "AssumeRolePolicyDocument": TRUST_EC2})["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/node" and role["MaxSessionDuration"] == 3600
    policy = iam.CreatePolicy(ctx, {"PolicyName": "p", "Path": "/team/", "PolicyDocument": ALLOW_EKS})["Policy"]
    assert policy["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/team/p"
    profile = iam.CreateInstanceProfile(ctx, {"InstanceProfileName": "ip"})["InstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/ip"
    assert names.parse_arn(user["Arn"]) == ("iam", ACCOUNT, "user", ["eng", "platform", "Bob"])
    assert names.parse_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/node/i-1") == ("sts", ACCOUNT, "assumed-role", ["node", "i-1"])


def test_names_are_unique_without_regard_to_case(iam):
    iam.CreateUser(context(), {"UserName": "bob"})
    with pytest.raises(AwsError) as error:
        iam.CreateUser(context(), {"UserName": "BOB"})
    assert (error.value.code, error.value.status) == ("EntityAlreadyExists", 409)
    assert iam.GetUser(context(), {"UserName": "Bob"})["User"]["UserName"] == "bob"


def test_pagination_walks_every_item_once(iam):
    for index in range(7):
        iam.CreateUser(context(), {"UserName": f"user-{index}"})
    seen, marker, pages = [], None, 0
    while True:
        params = {"MaxItems": 3, **({"Marker": marker} if marker else {})}
        result = iam.ListUsers(context(), params)
        seen += [u["UserName"] for u in result["Users"]]
        pages += 1
        if not result["IsTruncated"]:
            assert "Marker" not in result
            break
        marker = result["Marker"]
    assert seen == [f"user-{i}" for i in range(7)] and pages == 3
    assert len(iam.ListUsers(context(), {})["Users"]) == 7  # MaxItems defaults to 100
    with pytest.raises(AwsError) as error:
        iam.ListUsers(context(), {"Marker": "not-a-marker"})
    assert (error.value.code, error.value.message) == ("ValidationError", "Invalid Marker.")


def test_identity_policies_of_a_user_include_its_groups(iam, store):
    ctx = context()
    iam.CreateUser(ctx, {"UserName": "alice", "Path": "/eng/", "Tags": [{"Key": "team", "Value": "blue"}]})
    iam.PutUserPolicy(ctx, {"UserName": "alice", "PolicyName": "own", "PolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "UserInline", "Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})})
    iam.AttachUserPolicy(ctx, {"UserName": "alice", "PolicyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"})
    iam.CreateGroup(ctx, {"GroupName": "admins"})
    iam.PutGroupPolicy(ctx, {"GroupName": "admins", "PolicyName": "g", "PolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "GroupInline", "Effect": "Deny", "Action": "iam:*", "Resource": "*"}]})})
    policy = iam.CreatePolicy(ctx, {"PolicyName": "local", "PolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "LocalV1", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})})["Policy"]
    iam.CreatePolicyVersion(ctx, {"PolicyArn": policy["Arn"], "SetAsDefault": True, "PolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "LocalV2", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})})
    iam.AttachGroupPolicy(ctx, {"GroupName": "admins", "PolicyArn": policy["Arn"]})
    iam.AddUserToGroup(ctx, {"GroupName": "admins", "UserName": "alice"})

    arn = f"arn:aws:iam::{ACCOUNT}:user/eng/alice"
    assert statements(identity_policies(store, arn)) == ["GroupInline", "LocalV2", "UserInline", "WorkerNodePermissions"]
    assert principal_tags(store, arn) == {"team": "blue"}
    # The ARN must name the user exactly: another path or an unknown name is nobody.
    assert identity_policies(store, f"arn:aws:iam::{ACCOUNT}:user/alice") == []
    assert identity_policies(store, f"arn:aws:iam::{ACCOUNT}:user/eng/mallory") == []
    assert identity_policies(store, f"arn:aws:iam::{ACCOUNT}:root") == []


def test_identity_policies_of_a_role_and_its_sessions(iam, store):
    ctx = context()
    iam.CreateRole(ctx, {"RoleName": "nodes", "AssumeRolePolicyDocument": TRUST_EC2, "Tags": [{"Key": "tier", "Value": "gold"}]})
    iam.AttachRolePolicy(ctx, {"RoleName": "nodes", "PolicyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"})
    iam.PutRolePolicy(ctx, {"RoleName": "nodes", "PolicyName": "extra", "PolicyDocument": ALLOW_EKS})
    expected = ["AmazonEKSCNIPolicy", "AmazonEKSCNIPolicyENITag", "eks:*"]
    assert statements(identity_policies(store, f"arn:aws:iam::{ACCOUNT}:role/nodes")) == expected
    assert statements(identity_policies(store, f"arn:aws:sts::{ACCOUNT}:assumed-role/nodes/session-1")) == expected
    assert principal_tags(store, f"arn:aws:sts::{ACCOUNT}:assumed-role/nodes/session-1") == {"tier": "gold"}


def test_access_keys_are_credentials_while_active(iam, store):
    ctx = context()
    user = iam.CreateUser(ctx, {"UserName": "ci", "Path": "/bots/"})["User"]
    key = iam.CreateAccessKey(ctx, {"UserName": "ci"})["AccessKey"]
    lookup = IamAccessKeys(store)
    secret, principal = lookup(key["AccessKeyId"])
    assert secret == key["SecretAccessKey"]
    assert (principal.account_id, principal.arn, principal.user_id) == (ACCOUNT, user["Arn"], user["UserId"])
    iam.UpdateAccessKey(ctx, {"UserName": "ci", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive"})
    assert lookup(key["AccessKeyId"]) is None
    iam.UpdateAccessKey(ctx, {"UserName": "ci", "AccessKeyId": key["AccessKeyId"], "Status": "Active"})
    assert lookup(key["AccessKeyId"]) is not None
    iam.DeleteAccessKey(ctx, {"UserName": "ci", "AccessKeyId": key["AccessKeyId"]})
    assert lookup(key["AccessKeyId"]) is None


def test_renamed_user_keeps_its_keys_and_groups(iam, store):
    ctx = context()
    iam.CreateUser(ctx, {"UserName": "old"})
    iam.CreateGroup(ctx, {"GroupName": "g"})
    iam.AddUserToGroup(ctx, {"GroupName": "g", "UserName": "old"})
    key = iam.CreateAccessKey(ctx, {"UserName": "old"})["AccessKey"]
    iam.UpdateUser(ctx, {"UserName": "old", "NewUserName": "new", "NewPath": "/moved/"})
    assert IamAccessKeys(store)(key["AccessKeyId"])[1].arn == f"arn:aws:iam::{ACCOUNT}:user/moved/new"
    assert [u["UserName"] for u in iam.GetGroup(ctx, {"GroupName": "g"})["Users"]] == ["new"]
    assert [k["UserName"] for k in iam.ListAccessKeys(ctx, {"UserName": "new"})["AccessKeyMetadata"]] == ["new"]
    with pytest.raises(AwsError) as error:
        iam.GetUser(ctx, {"UserName": "old"})
    assert (error.value.code, error.value.status) == ("NoSuchEntity", 404)


def test_aws_managed_policies_are_valid_and_stable():
    policies = aws_policies()
    for name in ("AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                 "AmazonEKSServicePolicy", "AmazonEKSVPCResourceController", "AmazonEKSFargatePodExecutionRolePolicy",
                 "AdministratorAccess", "ReadOnlyAccess"):
        assert f"arn:aws:iam::aws:policy/{name}" in policies
    assert "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy" in policies
    from moorage.services.iam.policy_validation import parse_policy

    for spec in policies.values():
        assert re.fullmatch(r"ANPA[A-Z2-7]{17}", spec["PolicyId"])
        parse_policy(spec["Versions"][0]["Document"], kind="identity", managed=True)


def test_renaming_onto_an_existing_user_changes_nothing(iam, store):
    ctx = context()
    iam.CreateUser(ctx, {"UserName": "old"})
    iam.CreateUser(ctx, {"UserName": "taken"})
    key = iam.CreateAccessKey(ctx, {"UserName": "old"})["AccessKey"]
    with pytest.raises(AwsError) as error:
        iam.UpdateUser(ctx, {"UserName": "old", "NewUserName": "Taken"})
    assert (error.value.code, error.value.status) == ("EntityAlreadyExists", 409)
    assert [k["AccessKeyId"] for k in iam.ListAccessKeys(ctx, {"UserName": "old"})["AccessKeyMetadata"]] == [key["AccessKeyId"]]
    assert iam.GetUser(ctx, {"UserName": "old"})["User"]["UserName"] == "old"
