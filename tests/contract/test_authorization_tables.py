"""Authorization as data (issue 12, findings 1 and 2) through boto3 against a running Moorage:
resource-scoped statements for EC2, IAM and STS, aws:ResourceTag of EC2 resources, iam:PolicyARN,
IAM's case-insensitive tag keys, and iam:PassRole when an instance is launched with a profile."""

import json

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

REGION = "ca-central-1"  # apart from the other contract tests' resources


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action="*", resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


EC2_TRUST = document({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def iam(moorage):
    return moorage.client("iam", region="us-east-1")


@pytest.fixture(scope="module")
def ec2(moorage):
    return moorage.client("ec2", region=REGION)


def user(moorage, iam, name: str, *policies: str):
    iam.create_user(UserName=name)
    for index, policy in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]

    def client(service: str, region: str = REGION):
        return moorage.client(service, region=region, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])

    return client


def launch(ec2, **extra):
    return ec2.run_instances(ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="m5.large", **extra)["Instances"][0]


def test_deny_terminate_instances_on_instance_arns(moorage, iam, ec2):
    instance = launch(ec2)["InstanceId"]
    as_ops = user(moorage, iam, "tbl-ops", document(allow("ec2:*"), deny("ec2:TerminateInstances", "arn:aws:ec2:*:*:instance/*")))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        as_ops("ec2").terminate_instances(InstanceIds=[instance])
    code, status, message = error_of(excinfo)
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert f"ec2:TerminateInstances on resource: arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/{instance} with an explicit deny" in message
    as_ops("ec2").describe_instances(InstanceIds=[instance])
    ec2.terminate_instances(InstanceIds=[instance])


def test_get_role_allowed_for_one_role_only(moorage, iam):
    app = iam.create_role(RoleName="tbl-app", Path="/svc/", AssumeRolePolicyDocument=EC2_TRUST)["Role"]["Arn"]
    iam.create_role(RoleName="tbl-admin", AssumeRolePolicyDocument=EC2_TRUST)
    as_reader = user(moorage, iam, "tbl-reader", document(allow("iam:GetRole", app)))
    assert as_reader("iam", "us-east-1").get_role(RoleName="tbl-app")["Role"]["Arn"] == app
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        as_reader("iam", "us-east-1").get_role(RoleName="tbl-admin")
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)
    assert f"on resource: arn:aws:iam::{ACCOUNT_ID}:role/tbl-admin" in error_of(excinfo)[2]


def test_assume_role_is_authorized_on_the_role_arn(moorage, iam):
    trust = document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"})
    one = iam.create_role(RoleName="tbl-one", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    other = iam.create_role(RoleName="tbl-other", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    as_caller = user(moorage, iam, "tbl-assumer", document(allow("sts:AssumeRole", one)))
    as_caller("sts").assume_role(RoleArn=one, RoleSessionName="tables")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        as_caller("sts").assume_role(RoleArn=other, RoleSessionName="tables")
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)


def test_assume_role_sees_the_role_tags(moorage, iam):
    trust = document({"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"})
    blue = iam.create_role(RoleName="tbl-blue-role", AssumeRolePolicyDocument=trust, Tags=[{"Key": "Team", "Value": "blue"}])["Role"]["Arn"]
    red = iam.create_role(RoleName="tbl-red-role", AssumeRolePolicyDocument=trust, Tags=[{"Key": "team", "Value": "red"}])["Role"]["Arn"]
    as_caller = user(moorage, iam, "tbl-team-assumer", document(allow("sts:AssumeRole", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}})))
    as_caller("sts").assume_role(RoleArn=blue, RoleSessionName="tables")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        as_caller("sts").assume_role(RoleArn=red, RoleSessionName="tables")
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)


def test_resource_tags_of_security_groups_decide(moorage, iam, ec2):
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    spec = lambda team: [{"ResourceType": "security-group", "Tags": [{"Key": "Team", "Value": team}]}]  # noqa: E731
    blue = ec2.create_security_group(GroupName="blue", Description="d", VpcId=vpc, TagSpecifications=spec("blue"))["GroupId"]
    red = ec2.create_security_group(GroupName="red", Description="d", VpcId=vpc, TagSpecifications=spec("red"))["GroupId"]
    as_blue = user(moorage, iam, "tbl-blue", document(allow("ec2:DeleteSecurityGroup", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}})))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        as_blue("ec2").delete_security_group(GroupId=red)
    assert error_of(excinfo)[0] == "UnauthorizedOperation"
    as_blue("ec2").delete_security_group(GroupId=blue)


def test_policy_arn_condition_keeps_administrator_access_out(moorage, iam):
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    iam.create_role(RoleName="tbl-target", AssumeRolePolicyDocument=EC2_TRUST)
    as_attacher = user(moorage, iam, "tbl-attacher", document(
        allow(["iam:AttachUserPolicy", "iam:AttachRolePolicy"], "*", Condition={"ArnNotEquals": {"iam:PolicyARN": admin}})))
    client = as_attacher("iam", "us-east-1")
    for attach, target in ((client.attach_user_policy, {"UserName": "tbl-attacher"}), (client.attach_role_policy, {"RoleName": "tbl-target"})):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            attach(PolicyArn=admin, **target)
        assert error_of(excinfo)[:2] == ("AccessDenied", 403)
        attach(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess", **target)
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="tbl-attacher")["AttachedPolicies"]] == ["ReadOnlyAccess"]
    # Leave the account's AWS-managed attachments as the other contract tests expect them.
    iam.detach_user_policy(UserName="tbl-attacher", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.detach_role_policy(RoleName="tbl-target", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")


def test_iam_tag_keys_are_case_insensitive(iam):
    iam.create_role(RoleName="tbl-tagged", AssumeRolePolicyDocument=EC2_TRUST, Tags=[{"Key": "Env", "Value": "prod"}])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.tag_role(RoleName="tbl-tagged", Tags=[{"Key": "team", "Value": "a"}, {"Key": "Team", "Value": "b"}])
    assert error_of(excinfo) == ("InvalidInput", 400, "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    iam.tag_role(RoleName="tbl-tagged", Tags=[{"Key": "env", "Value": "dev"}])
    assert iam.list_role_tags(RoleName="tbl-tagged")["Tags"] == [{"Key": "env", "Value": "dev"}]


def test_run_instances_with_a_profile_needs_pass_role(moorage, iam):
    iam.create_role(RoleName="tbl-instance-admin", AssumeRolePolicyDocument=EC2_TRUST)
    iam.create_instance_profile(InstanceProfileName="tbl-admin-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="tbl-admin-profile", RoleName="tbl-instance-admin")
    as_launcher = user(moorage, iam, "tbl-launcher", document(allow(["ec2:*", "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile"])))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        launch(as_launcher("ec2"), IamInstanceProfile={"Name": "tbl-admin-profile"})
    code, status, message = error_of(excinfo)
    assert (code, status) == ("UnauthorizedOperation", 403)
    assert f"iam:PassRole on resource: arn:aws:iam::{ACCOUNT_ID}:role/tbl-instance-admin" in message
    # A profile of one's own is no way around it: putting the role in it needs iam:PassRole too.
    as_launcher("iam", "us-east-1").create_instance_profile(InstanceProfileName="tbl-own-profile")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        as_launcher("iam", "us-east-1").add_role_to_instance_profile(InstanceProfileName="tbl-own-profile", RoleName="tbl-instance-admin")
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        launch(as_launcher("ec2"), IamInstanceProfile={"Name": "no-such-profile"})
    assert error_of(excinfo)[0] == "InvalidParameterValue"
    iam.put_user_policy(UserName="tbl-launcher", PolicyName="pass", PolicyDocument=document(
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT_ID}:role/tbl-instance-admin", Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})))
    instance = launch(as_launcher("ec2"), IamInstanceProfile={"Name": "tbl-admin-profile"})
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/tbl-admin-profile")
