"""Authorization as data (issue 12, findings 1-3), in-process: every served operation has a row in
its service's table, the rows give AWS's resources and condition keys, iam:PassRole is checked where
AWS checks it, and nothing fails open."""

import json
import logging
import threading

import pytest

from moorage.core.context import Principal, RequestContext
from moorage.core.errors import AwsError
from moorage.gateway.authorization_resources import FINDERS
from moorage.gateway.authorization_tables import TABLES
from moorage.gateway.authorize import Authorizer
from moorage.services.autoscaling.service import AutoScalingService
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.service import EksService
from moorage.services.iam.service import IamService
from moorage.services.sts.service import StsService
from moorage.services.sts.sessions import SessionPrincipal
from moorage.store import Key, SqliteStore

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
REGION = "us-west-2"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action="*", resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


SERVICES = {"eks": EksService, "ec2": Ec2Service, "sts": StsService, "autoscaling": AutoScalingService, "iam": IamService}


def served(cls) -> list[str]:
    return sorted(n for n in dir(cls) if n[:1].isupper() and callable(getattr(cls, n)))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_served_operation_has_a_row(service):
    table = TABLES.get(service)
    assert table is not None, f"no authorization table for {service}"
    missing = [op for op in served(SERVICES[service]) if op not in table.operations]
    assert missing == [], f"{service} operations without an authorization row: {missing}"
    for op, row in table.operations.items():
        for resource in row.get("resources", []):
            named = list(resource.get("types", {}).values()) + ([resource["type"]] if "type" in resource else [])
            assert named or "arn" in resource, (op, resource)
            for type_name in named:
                assert type_name in table.resource_types, (op, type_name)
            assert resource.get("finder", "ec2-instance") in FINDERS, (op, resource)
    for type_name, resource_type in table.resource_types.items():
        assert resource_type.get("finder", "ec2-instance") in FINDERS, type_name


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


@pytest.fixture
def iam(store):
    return IamService(store, "AKIAROOT")


def root() -> RequestContext:
    return RequestContext(ACCOUNT, REGION, ROOT, "AKIAROOT", "r", principal=Principal(ACCOUNT, ROOT, ACCOUNT, "AKIAROOT"))


class Caller:
    """An IAM user with inline policies (and optionally a boundary), and its request context."""

    def __init__(self, store, iam, name, *documents, boundary: str | None = None, tags: dict | None = None):
        self.iam, self.name = iam, name
        params = {"UserName": name}
        if tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        self.arn = iam.CreateUser(root(), params)["User"]["Arn"]
        for index, document in enumerate(documents):
            iam.PutUserPolicy(root(), {"UserName": name, "PolicyName": f"p{index}", "PolicyDocument": document})
        if boundary:
            arn = iam.CreatePolicy(root(), {"PolicyName": f"{name}-boundary", "PolicyDocument": boundary})["Policy"]["Arn"]
            iam.PutUserPermissionsBoundary(root(), {"UserName": name, "PermissionsBoundary": arn}) if hasattr(iam, "PutUserPermissionsBoundary") else store_boundary(store, name, arn)
        self.authorizer = Authorizer(store)

    def ctx(self, region=REGION, principal=None) -> RequestContext:
        principal = principal or Principal(ACCOUNT, self.arn, "AIDA" + self.name.upper(), "AKIAUSER")
        return RequestContext(ACCOUNT, region, principal.arn, "AKIAUSER", "r", principal=principal, source_ip="10.1.2.3", authorizer=self.authorizer)

    def call(self, service, operation, params, protocol=None, **ctx_args):
        protocol = protocol or {"eks": "rest-json", "ec2": "ec2"}.get(service, "query")
        self.authorizer.authorize_call(self.ctx(**ctx_args), service, protocol, operation, params)

    def denied(self, service, operation, params, **ctx_args) -> str:
        with pytest.raises(AwsError) as excinfo:
            self.call(service, operation, params, **ctx_args)
        return excinfo.value.message


def store_boundary(store, user, arn):
    record = store.get(Key(ACCOUNT, "global", "iam-user", user))
    store.update_spec(record, {**record.spec, "PermissionsBoundary": arn})


# --- resource-scoped statements ------------------------------------------------------------------------


def test_ec2_terminate_instances_is_scoped_to_the_instance_arn(store, iam):
    ec2 = Ec2Service(store)
    instance = ec2.RunInstances(root(), {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1, "InstanceType": "m5.large"})["Instances"][0]["InstanceId"]
    caller = Caller(store, iam, "ops", policy(allow(), deny("ec2:TerminateInstances", "arn:aws:ec2:*:*:instance/*")))
    message = caller.denied("ec2", "TerminateInstances", {"InstanceIds": [instance]})
    assert f"on resource: arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance} with an explicit deny" in message
    caller.call("ec2", "DescribeInstances", {})


def test_iam_get_role_allowed_for_one_role_only(store, iam):
    for name in ("app", "admin"):
        iam.CreateRole(root(), {"RoleName": name, "Path": "/svc/", "AssumeRolePolicyDocument": policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})})
    caller = Caller(store, iam, "reader", policy(allow("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/svc/app")))
    caller.call("iam", "GetRole", {"RoleName": "app"})
    assert f"on resource: arn:aws:iam::{ACCOUNT}:role/svc/admin" in caller.denied("iam", "GetRole", {"RoleName": "admin"})


def test_rows_name_aws_resources():
    from moorage.gateway.authorize import operation_resources

    ctx = RequestContext(ACCOUNT, REGION, ROOT, "AKIAROOT", "r")
    assert operation_resources("ec2", "RunInstances", {"SubnetId": "subnet-1", "SecurityGroupIds": ["sg-1"], "ImageId": "ami-1"}, ctx) >= {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*", f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-1",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1", f"arn:aws:ec2:{REGION}::image/ami-1",
    }
    assert operation_resources("sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r"}, ctx) == {f"arn:aws:iam::{ACCOUNT}:role/r"}
    assert operation_resources("ec2", "CreateTags", {"Resources": ["vpc-1", "i-2"]}, ctx) == {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-1", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-2"}
    assert operation_resources("autoscaling", "DescribeAutoScalingGroups", {}, ctx) == {"*"}


# --- aws:ResourceTag from identity, boundary and session policies ---------------------------------------

TEAM_ONLY = {"StringEquals": {"aws:ResourceTag/team": "blue"}}


def test_resource_tags_of_ec2_network_resources_and_instances(store, iam):
    ec2 = Ec2Service(store)
    tags = [{"ResourceType": t, "Tags": [{"Key": "Team", "Value": "blue"}]} for t in ("vpc",)]
    vpc = ec2.CreateVpc(root(), {"CidrBlock": "10.9.0.0/16", "TagSpecifications": tags})["Vpc"]["VpcId"]
    other = ec2.CreateVpc(root(), {"CidrBlock": "10.8.0.0/16"})["Vpc"]["VpcId"]
    subnet = ec2.CreateSubnet(root(), {"VpcId": vpc, "CidrBlock": "10.9.1.0/24", "TagSpecifications": [{"ResourceType": "subnet", "Tags": [{"Key": "team", "Value": "blue"}]}]})["Subnet"]["SubnetId"]
    group = ec2.CreateSecurityGroup(root(), {"GroupName": "g", "Description": "d", "VpcId": vpc, "TagSpecifications": [{"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "blue"}]}]})["GroupId"]
    instance = ec2.RunInstances(root(), {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1, "InstanceType": "m5.large", "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "red"}]}]})["Instances"][0]["InstanceId"]
    # The condition key's tag name is case-insensitive (Team on the VPC matches aws:ResourceTag/team).
    caller = Caller(store, iam, "net", policy(allow("ec2:*", "*", Condition=TEAM_ONLY)))
    caller.call("ec2", "DeleteVpc", {"VpcId": vpc})
    caller.call("ec2", "DeleteSubnet", {"SubnetId": subnet})
    caller.call("ec2", "DeleteSecurityGroup", {"GroupId": group})
    caller.denied("ec2", "DeleteVpc", {"VpcId": other})
    caller.denied("ec2", "TerminateInstances", {"InstanceIds": [instance]})
    # ec2:InstanceType and ec2:Region of an existing instance.
    typed = Caller(store, iam, "typed", policy(allow("ec2:TerminateInstances", "*", Condition={"StringEquals": {"ec2:InstanceType": "m5.large", "ec2:Region": REGION}})))
    typed.call("ec2", "TerminateInstances", {"InstanceIds": [instance]})
    typed.denied("ec2", "TerminateInstances", {"InstanceIds": [instance]}, region="eu-west-1")


def test_resource_tags_of_iam_users_and_roles_from_a_boundary(store, iam):
    iam.CreateRole(root(), {"RoleName": "blue", "AssumeRolePolicyDocument": policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}), "Tags": [{"Key": "team", "Value": "blue"}]})
    iam.CreateRole(root(), {"RoleName": "red", "AssumeRolePolicyDocument": policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})})
    iam.CreateUser(root(), {"UserName": "blue-user", "Tags": [{"Key": "team", "Value": "blue"}]})
    caller = Caller(store, iam, "bounded", policy(allow("iam:*")), boundary=policy(allow("iam:*", "*", Condition=TEAM_ONLY)))
    caller.call("iam", "GetRole", {"RoleName": "blue"})
    caller.call("iam", "GetUser", {"UserName": "blue-user"})
    assert "because no permissions boundary allows" in caller.denied("iam", "GetRole", {"RoleName": "red"})


def test_resource_tags_of_eks_resources_from_a_session_policy(store, iam):
    store.create(Key(ACCOUNT, REGION, "cluster", "c"), {"name": "c", "tags": {"team": "blue"}})
    store.create(Key(ACCOUNT, REGION, "cluster", "d"), {"name": "d", "tags": {}})
    store.create(Key(ACCOUNT, REGION, "nodegroup", "d/ng"), {"nodegroupArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/d/ng/uuid-1", "tags": {"team": "blue"}})
    store.create(Key(ACCOUNT, REGION, "fargateprofile", "d/fp"), {"fargateProfileArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:fargateprofile/d/fp/uuid-2", "tags": {"team": "red"}})
    iam.CreateRole(root(), {"RoleName": "r", "AssumeRolePolicyDocument": policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})})
    iam.PutRolePolicy(root(), {"RoleName": "r", "PolicyName": "all", "PolicyDocument": policy(allow("eks:*"))})
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/r"
    session = SessionPrincipal(ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s", "AROA:s", "ASIA", "tok", None, source_arn=role_arn,
                               policies=(policy(allow("eks:*", "*", Condition=TEAM_ONLY)),))
    authorizer = Authorizer(store)
    ctx = RequestContext(ACCOUNT, REGION, session.arn, "ASIA", "r", principal=session, authorizer=authorizer)
    authorizer.authorize_call(ctx, "eks", "rest-json", "DescribeCluster", {"name": "c"})
    authorizer.authorize_call(ctx, "eks", "rest-json", "DescribeNodegroup", {"clusterName": "d", "nodegroupName": "ng"})
    for operation, params in (("DescribeCluster", {"name": "d"}), ("DescribeFargateProfile", {"clusterName": "d", "fargateProfileName": "fp"})):
        with pytest.raises(AwsError) as excinfo:
            authorizer.authorize_call(ctx, "eks", "rest-json", operation, params)
        assert "because no session policy allows" in excinfo.value.message


# --- service condition keys ------------------------------------------------------------------------------


def test_iam_policy_arn_condition_stops_attaching_administrator_access(store, iam):
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    iam.CreateRole(root(), {"RoleName": "r", "AssumeRolePolicyDocument": policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})})
    caller = Caller(store, iam, "attacher", policy(allow(["iam:AttachUserPolicy", "iam:AttachRolePolicy"], "*", Condition={"ArnNotEquals": {"iam:PolicyARN": admin}})))
    for operation, params in (("AttachUserPolicy", {"UserName": "attacher"}), ("AttachRolePolicy", {"RoleName": "r"})):
        caller.denied("iam", operation, {**params, "PolicyArn": admin})
        caller.call("iam", operation, {**params, "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})


def test_iam_service_keys(store, iam):
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/bound"
    caller = Caller(store, iam, "maker", policy(
        allow("iam:CreateUser", "*", Condition={"StringEquals": {"iam:PermissionsBoundary": boundary}}),
        allow("iam:CreateServiceLinkedRole", "*", Condition={"StringEquals": {"iam:AWSServiceName": "eks.amazonaws.com"}}),
    ))
    caller.call("iam", "CreateUser", {"UserName": "u1", "PermissionsBoundary": boundary})
    caller.denied("iam", "CreateUser", {"UserName": "u2"})
    caller.call("iam", "CreateServiceLinkedRole", {"AWSServiceName": "eks.amazonaws.com"})
    caller.denied("iam", "CreateServiceLinkedRole", {"AWSServiceName": "eks-nodegroup.amazonaws.com"})


def test_global_and_eks_keys(store, iam):
    caller = Caller(store, iam, "tagged", policy(
        allow("eks:DescribeCluster", "*", Condition={"StringEquals": {"aws:PrincipalTag/dept": "ops", "aws:RequestedRegion": REGION}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "false"}}),
        allow("eks:CreateAccessEntry", "*", Condition={"StringEquals": {"eks:principalArn": f"arn:aws:iam::{ACCOUNT}:role/dev"}}),
        allow("eks:ListClusters", "*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}, "StringLike": {"aws:PrincipalArn": "*:user/tagged"}}),
    ), tags={"Dept": "ops"})
    caller.call("eks", "DescribeCluster", {"name": "c"})
    caller.denied("eks", "DescribeCluster", {"name": "c"}, region="eu-west-1")
    caller.call("eks", "CreateAccessEntry", {"clusterName": "c", "principalArn": f"arn:aws:iam::{ACCOUNT}:role/dev"})
    caller.denied("eks", "CreateAccessEntry", {"clusterName": "c", "principalArn": f"arn:aws:iam::{ACCOUNT}:role/admin"})
    caller.call("eks", "ListClusters", {})


# --- tag keys that differ only in case ------------------------------------------------------------------


def test_iam_refuses_tag_keys_that_differ_only_in_case(store, iam):
    trust = policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    with pytest.raises(AwsError) as excinfo:
        iam.CreateRole(root(), {"RoleName": "r", "AssumeRolePolicyDocument": trust, "Tags": [{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}]})
    assert (excinfo.value.code, excinfo.value.status) == ("InvalidInput", 400)
    assert excinfo.value.message == "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    iam.CreateRole(root(), {"RoleName": "r", "AssumeRolePolicyDocument": trust, "Tags": [{"Key": "Env", "Value": "prod"}]})
    with pytest.raises(AwsError):
        iam.TagRole(root(), {"RoleName": "r", "Tags": [{"Key": "team", "Value": "a"}, {"Key": "TEAM", "Value": "b"}]})
    iam.TagRole(root(), {"RoleName": "r", "Tags": [{"Key": "env", "Value": "dev"}]})  # replaces Env: one key, case-insensitively
    assert iam.ListRoleTags(root(), {"RoleName": "r"})["Tags"] == [{"Key": "env", "Value": "dev"}]
    iam.UntagRole(root(), {"RoleName": "r", "TagKeys": ["ENV"]})
    assert iam.ListRoleTags(root(), {"RoleName": "r"})["Tags"] == []


def test_tag_keys_differing_in_case_never_collide_in_evaluation(store, iam):
    """EC2 keeps Env and env apart; aws:ResourceTag/env then matches neither (AWS: 'either, but not both')."""
    ec2 = Ec2Service(store)
    vpc = ec2.CreateVpc(root(), {"CidrBlock": "10.7.0.0/16", "TagSpecifications": [{"ResourceType": "vpc", "Tags": [{"Key": "Env", "Value": "prod"}, {"Key": "env", "Value": "dev"}]}]})["Vpc"]["VpcId"]
    caller = Caller(store, iam, "dev", policy(allow("ec2:DeleteVpc", "*", Condition={"StringEquals": {"aws:ResourceTag/env": "dev"}})))
    caller.denied("ec2", "DeleteVpc", {"VpcId": vpc})
    guarded = Caller(store, iam, "guarded", policy(allow("ec2:DeleteVpc"), deny("ec2:DeleteVpc", "*", Condition={"StringNotEquals": {"aws:ResourceTag/env": "dev"}})))
    guarded.denied("ec2", "DeleteVpc", {"VpcId": vpc})


# --- iam:PassRole wherever AWS checks it -----------------------------------------------------------------


def test_run_instances_and_add_role_to_instance_profile_need_pass_role(store, iam):
    trust = policy({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    iam.CreateRole(root(), {"RoleName": "admin-role", "AssumeRolePolicyDocument": trust})
    iam.CreateInstanceProfile(root(), {"InstanceProfileName": "admin-profile"})
    iam.AddRoleToInstanceProfile(root(), {"InstanceProfileName": "admin-profile", "RoleName": "admin-role"})
    iam.CreateInstanceProfile(root(), {"InstanceProfileName": "empty"})
    caller = Caller(store, iam, "launcher", policy(allow(["ec2:*", "iam:AddRoleToInstanceProfile"])))
    ec2 = Ec2Service(store)
    launch = {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1, "InstanceType": "m5.large", "IamInstanceProfile": {"Name": "admin-profile"}}
    with pytest.raises(AwsError) as excinfo:
        ec2.RunInstances(caller.ctx(), launch)
    assert excinfo.value.code == "UnauthorizedOperation"
    assert f"iam:PassRole on resource: arn:aws:iam::{ACCOUNT}:role/admin-role" in excinfo.value.message
    with pytest.raises(AwsError) as excinfo:
        iam.AddRoleToInstanceProfile(caller.ctx(), {"InstanceProfileName": "empty", "RoleName": "admin-role"})
    assert excinfo.value.code == "AccessDenied" and "iam:PassRole" in excinfo.value.message
    assert iam.GetInstanceProfile(root(), {"InstanceProfileName": "empty"})["InstanceProfile"]["Roles"] == []
    iam.PutUserPolicy(root(), {"UserName": "launcher", "PolicyName": "pass", "PolicyDocument": policy(
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin-role", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}))})
    assert ec2.RunInstances(caller.ctx(), launch)["Instances"][0]["IamInstanceProfile"]["Arn"].endswith("/admin-profile")
    iam.AddRoleToInstanceProfile(caller.ctx(), {"InstanceProfileName": "empty", "RoleName": "admin-role"})


# --- fail closed ------------------------------------------------------------------------------------------


def test_an_unparseable_stored_policy_denies_and_is_reported(store, iam, caplog):
    caller = Caller(store, iam, "broken", policy(allow()))
    record = store.get(Key(ACCOUNT, "global", "iam-user", "broken"))
    spec = dict(record.spec)
    spec["InlinePolicies"] = {**spec["InlinePolicies"], "bad": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"'}
    store.update_spec(record, spec)
    with caplog.at_level(logging.WARNING):
        message = caller.denied("eks", "ListClusters", {})
    assert "could not be parsed" in message and "bad" in message
    assert any("could not be parsed" in r.getMessage() for r in caplog.records)


def test_a_boundary_naming_a_missing_policy_denies(store, iam):
    caller = Caller(store, iam, "bounded", policy(allow()))
    store_boundary(store, "bounded", f"arn:aws:iam::{ACCOUNT}:policy/gone")
    assert "permissions boundary" in caller.denied("eks", "ListClusters", {})


def test_a_deletion_racing_a_cache_fill_leaves_no_stale_allow(store, iam, monkeypatch):
    """The cache is filled from a read that started before the deletion committed: the generation,
    read again after the read, tells the entry is stale; it is read again and not kept stale."""
    import moorage.gateway.authorize as authorize

    caller = Caller(store, iam, "racer", policy(allow("eks:ListClusters")))
    real = authorize.identity_policy_documents
    deleted = threading.Event()

    def read_then_delete(store_, arn):
        documents = real(store_, arn)
        if not deleted.is_set():
            deleted.set()
            iam.DeleteUserPolicy(root(), {"UserName": "racer", "PolicyName": "p0"})  # commits after our read
        return documents

    monkeypatch.setattr(authorize, "identity_policy_documents", read_then_delete)
    caller.denied("eks", "ListClusters", {})
    caller.denied("eks", "ListClusters", {})


def test_no_window_between_a_deletion_commit_and_the_generation(store, iam):
    """A request decided right after a deletion commits (here: while the store announces it) must
    see it: the generation changes in the same transaction as the IAM write."""
    outcomes = []
    armed = threading.Event()

    def during_announcement(key):
        if armed.is_set() and key.kind.startswith("iam-"):
            armed.clear()
            try:
                caller.call("eks", "ListClusters", {})
                outcomes.append("allowed")
            except AwsError:
                outcomes.append("denied")

    store.subscribe(during_announcement)
    caller = Caller(store, iam, "racer2", policy(allow("eks:ListClusters")))
    caller.call("eks", "ListClusters", {})  # cached
    armed.set()
    iam.DeleteUserPolicy(root(), {"UserName": "racer2", "PolicyName": "p0"})
    assert outcomes == ["denied"]


def test_permissions_boundary_key_is_the_targets_current_boundary(store, iam):
    """iam:PermissionsBoundary on PutUserPolicy/AttachUserPolicy is the target user's boundary: a
    delegated admin may change only users that carry the boundary it is bound to."""
    bound = iam.CreatePolicy(root(), {"PolicyName": "dev-boundary", "PolicyDocument": policy(allow("eks:*"))})["Policy"]["Arn"]
    iam.CreateUser(root(), {"UserName": "bounded-dev", "PermissionsBoundary": bound})
    iam.CreateUser(root(), {"UserName": "free-dev"})
    admin = Caller(store, iam, "delegated", policy(allow(["iam:PutUserPolicy", "iam:AttachUserPolicy"], "*", Condition={"StringEquals": {"iam:PermissionsBoundary": bound}})))
    admin.call("iam", "PutUserPolicy", {"UserName": "bounded-dev", "PolicyName": "x", "PolicyDocument": policy(allow())})
    admin.call("iam", "AttachUserPolicy", {"UserName": "bounded-dev", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
    admin.denied("iam", "PutUserPolicy", {"UserName": "free-dev", "PolicyName": "x", "PolicyDocument": policy(allow())})


def test_tagging_operations_read_the_tags_of_the_arn_they_name(store, iam):
    ng = f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/c/ng/uuid-1"
    store.create(Key(ACCOUNT, REGION, "nodegroup", "c/ng"), {"nodegroupArn": ng, "tags": {"team": "blue"}})
    store.create(Key(ACCOUNT, REGION, "nodegroup", "c/other"), {"nodegroupArn": ng.replace("/ng/", "/other/"), "tags": {"team": "red"}})
    caller = Caller(store, iam, "tagger", policy(allow("eks:TagResource", "*", Condition=TEAM_ONLY)))
    caller.call("eks", "TagResource", {"resourceArn": ng, "tags": {"x": "y"}})
    assert "nodegroup/c/other/uuid-1" in caller.denied("eks", "TagResource", {"resourceArn": ng.replace("/ng/", "/other/"), "tags": {"x": "y"}})


def test_an_operation_without_a_row_is_refused(store, iam):
    caller = Caller(store, iam, "anyone", policy(allow()))
    assert "no authorization row" in caller.denied("eks", "SomeFutureOperation", {})


def test_remembered_resources_follow_policy_changes(store, iam):
    """A call's resources are remembered only while the caller's policies are the same: a policy that
    starts reading aws:ResourceTag makes the next call read the resource's tags."""
    store.create(Key(ACCOUNT, REGION, "cluster", "prod"), {"name": "prod", "tags": {"team": "red"}})
    caller = Caller(store, iam, "memo", policy(allow("eks:*")))
    caller.call("eks", "DescribeCluster", {"name": "prod"})
    caller.call("eks", "DescribeCluster", {"name": "prod"})
    iam.PutUserPolicy(root(), {"UserName": "memo", "PolicyName": "guard", "PolicyDocument": policy(
        deny("eks:*", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "red"}}))})
    assert "explicit deny" in caller.denied("eks", "DescribeCluster", {"name": "prod"})
