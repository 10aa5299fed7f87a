"""IAM through real clients (boto3 and the AWS CLI) against a running Moorage: users, groups, roles,
policies and their versions, access keys as credentials, instance profiles, and IAM's errors."""

import json
import subprocess
import sys

import botocore.exceptions
import pytest
from botocore.config import Config

from ..conftest import ACCOUNT_ID

TRUST_EKS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
TRUST_EC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def allow(action: str, sid: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": sid, "Effect": "Allow", "Action": action, "Resource": "*"}]})


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def iam(moorage):
    return moorage.client("iam", region="us-east-1")


@pytest.fixture(scope="module")
def unvalidated_iam(moorage):
    """A client that sends what it is given, so the server's own validation answers."""
    return moorage.client("iam", region="us-east-1", config=Config(retries={"max_attempts": 1}, parameter_validation=False))


def aws_cli(moorage, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args], capture_output=True, text=True, timeout=60, env={**moorage.env(), **(env or {})}
    )


def test_users_groups_and_their_errors(iam):
    created = iam.create_user(UserName="ada", Path="/eng/", Tags=[{"Key": "team", "Value": "compilers"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/eng/ada"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_user(UserName="ADA")
    assert error_of(excinfo) == ("EntityAlreadyExists", 409, "User with name ADA already exists.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_user(UserName="nobody")
    assert error_of(excinfo) == ("NoSuchEntity", 404, "The user with name nobody cannot be found.")

    got = iam.get_user(UserName="ada")["User"]
    assert got["Tags"] == [{"Key": "team", "Value": "compilers"}] and got["CreateDate"] == created["CreateDate"]
    iam.tag_user(UserName="ada", Tags=[{"Key": "team", "Value": "runtime"}, {"Key": "site", "Value": "ber"}])
    iam.untag_user(UserName="ada", TagKeys=["site"])
    assert iam.list_user_tags(UserName="ada")["Tags"] == [{"Key": "team", "Value": "runtime"}]

    iam.create_group(GroupName="readers", Path="/eng/")
    iam.add_user_to_group(GroupName="readers", UserName="ada")
    group = iam.get_group(GroupName="readers")
    assert group["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:group/eng/readers"
    assert [u["UserName"] for u in group["Users"]] == ["ada"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="ada")["Groups"]] == ["readers"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_user(UserName="ada")
    assert error_of(excinfo)[:2] == ("DeleteConflict", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_group(GroupName="readers")
    assert error_of(excinfo) == ("DeleteConflict", 409, "Cannot delete entity, must remove users from group first.")
    iam.remove_user_from_group(GroupName="readers", UserName="ada")
    iam.delete_group(GroupName="readers")
    iam.delete_user(UserName="ada")
    assert "ada" not in [u["UserName"] for u in iam.list_users()["Users"]]


def test_list_users_pages_with_markers(iam):
    for index in range(5):
        iam.create_user(UserName=f"pager-{index}", Path="/pager/")
    first = iam.list_users(PathPrefix="/pager/", MaxItems=2)
    assert first["IsTruncated"] and len(first["Users"]) == 2
    paginator = iam.get_paginator("list_users")
    names = [u["UserName"] for page in paginator.paginate(PathPrefix="/pager/", PaginationConfig={"PageSize": 2}) for u in page["Users"]]
    assert names == [f"pager-{i}" for i in range(5)]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.list_users(Marker="garbage")
    assert error_of(excinfo) == ("ValidationError", 400, "Invalid Marker.")


def test_managed_policies_versions_and_attachments(iam):
    policy = iam.create_policy(PolicyName="eks-read", Path="/eks/", PolicyDocument=allow("eks:Describe*", "V1"), Description="read EKS")["Policy"]
    assert policy["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:policy/eks/eks-read"
    assert policy["PolicyId"].startswith("ANPA") and policy["DefaultVersionId"] == "v1"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_policy(PolicyName="EKS-READ", PolicyDocument=allow("eks:*"))
    assert error_of(excinfo)[:2] == ("EntityAlreadyExists", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_policy(PolicyName="broken", PolicyDocument='{"Version": "2012-10-17", "Statement": [')
    assert error_of(excinfo) == ("MalformedPolicyDocument", 400, "Syntax errors in policy.")

    for version in range(2, 6):
        made = iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=allow("eks:List*", f"V{version}"), SetAsDefault=version == 3)
        assert made["PolicyVersion"]["VersionId"] == f"v{version}"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=allow("eks:*"))
    assert error_of(excinfo)[:2] == ("LimitExceeded", 409)
    versions = iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v3"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId="v3")["PolicyVersion"]["Document"]
    assert document["Statement"][0]["Sid"] == "V3"  # URL-encoded on the wire, decoded by boto3
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_policy_version(PolicyArn=policy["Arn"], VersionId="v3")
    assert error_of(excinfo) == ("DeleteConflict", 409, "Cannot delete the default version of a policy.")
    iam.set_default_policy_version(PolicyArn=policy["Arn"], VersionId="v5")
    iam.delete_policy_version(PolicyArn=policy["Arn"], VersionId="v3")
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["DefaultVersionId"] == "v5"

    iam.create_role(RoleName="cluster-role", AssumeRolePolicyDocument=json.dumps(TRUST_EKS))
    iam.attach_role_policy(RoleName="cluster-role", PolicyArn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    iam.attach_role_policy(RoleName="cluster-role", PolicyArn=policy["Arn"])
    attached = iam.list_attached_role_policies(RoleName="cluster-role")["AttachedPolicies"]
    assert {a["PolicyName"] for a in attached} == {"AmazonEKSClusterPolicy", "eks-read"}
    entities = iam.list_entities_for_policy(PolicyArn=policy["Arn"])
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["cluster-role"] and entities["PolicyUsers"] == []
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_policy(PolicyArn=policy["Arn"])
    assert error_of(excinfo)[:2] == ("DeleteConflict", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.attach_role_policy(RoleName="cluster-role", PolicyArn=f"arn:aws:iam::{ACCOUNT_ID}:policy/missing")
    assert error_of(excinfo)[:2] == ("NoSuchEntity", 404)

    local = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert "eks-read" in local and "AmazonEKSClusterPolicy" not in local
    aws_attached = [p["PolicyName"] for p in iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]]
    assert aws_attached == ["AmazonEKSClusterPolicy"]
    iam.detach_role_policy(RoleName="cluster-role", PolicyArn=policy["Arn"])
    for version in ("v1", "v2", "v4"):
        iam.delete_policy_version(PolicyArn=policy["Arn"], VersionId=version)
    iam.delete_policy(PolicyArn=policy["Arn"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_policy(PolicyArn=policy["Arn"])
    assert error_of(excinfo) == ("NoSuchEntity", 404, f"Policy {policy['Arn']} was not found.")


def test_aws_managed_policies_eks_users_attach(iam):
    everything = [p["PolicyName"] for page in iam.get_paginator("list_policies").paginate(Scope="AWS") for p in page["Policies"]]
    for name in ("AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly",
                 "AmazonEKSServicePolicy", "AmazonEKSVPCResourceController", "AmazonEKSFargatePodExecutionRolePolicy",
                 "AdministratorAccess", "ReadOnlyAccess"):
        assert name in everything
    worker = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy")["Policy"]
    document = iam.get_policy_version(PolicyArn=worker["Arn"], VersionId=worker["DefaultVersionId"])["PolicyVersion"]["Document"]
    assert "eks:DescribeCluster" in document["Statement"][0]["Action"]

    iam.create_role(RoleName="node-role", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    for name in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"):
        iam.attach_role_policy(RoleName="node-role", PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    assert len(iam.list_attached_role_policies(RoleName="node-role")["AttachedPolicies"]) == 3
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_role(RoleName="node-role")
    assert error_of(excinfo) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert error_of(excinfo)[:2] == ("AccessDenied", 403)


def test_roles_trust_policies_and_validation(iam, unvalidated_iam):
    role = iam.create_role(RoleName="eks-cluster", Path="/eks/", AssumeRolePolicyDocument=json.dumps(TRUST_EKS),
                           MaxSessionDuration=7200, Description="cluster role")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/eks/eks-cluster" and role["RoleId"].startswith("AROA")
    fetched = iam.get_role(RoleName="eks-cluster")["Role"]
    assert fetched["AssumeRolePolicyDocument"] == TRUST_EKS and fetched["MaxSessionDuration"] == 7200
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        unvalidated_iam.create_role(RoleName="no-trust")
    assert error_of(excinfo)[:2] == ("ValidationError", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        unvalidated_iam.create_role(RoleName="long", AssumeRolePolicyDocument=json.dumps(TRUST_EKS), MaxSessionDuration=50000)
    assert error_of(excinfo)[:2] == ("ValidationError", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_role(RoleName="no-principal", AssumeRolePolicyDocument=allow("sts:AssumeRole"))
    assert error_of(excinfo)[:2] == ("MalformedPolicyDocument", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.update_assume_role_policy(RoleName="eks-cluster", PolicyDocument="not json")
    assert error_of(excinfo)[:2] == ("MalformedPolicyDocument", 400)
    iam.update_assume_role_policy(RoleName="eks-cluster", PolicyDocument=json.dumps(TRUST_EC2))
    iam.update_role(RoleName="eks-cluster", MaxSessionDuration=3600, Description="changed")
    changed = iam.get_role(RoleName="eks-cluster")["Role"]
    assert changed["AssumeRolePolicyDocument"] == TRUST_EC2 and (changed["MaxSessionDuration"], changed["Description"]) == (3600, "changed")
    iam.tag_role(RoleName="eks-cluster", Tags=[{"Key": "env", "Value": "dev"}])
    assert iam.list_role_tags(RoleName="eks-cluster")["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert "eks-cluster" in [r["RoleName"] for r in iam.list_roles(PathPrefix="/eks/")["Roles"]]


def test_inline_policies(iam):
    iam.create_user(UserName="inline-user")
    iam.put_user_policy(UserName="inline-user", PolicyName="describe", PolicyDocument=allow("eks:DescribeCluster"))
    got = iam.get_user_policy(UserName="inline-user", PolicyName="describe")
    assert got["PolicyDocument"]["Statement"][0]["Action"] == "eks:DescribeCluster"
    assert iam.list_user_policies(UserName="inline-user")["PolicyNames"] == ["describe"]
    big = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [f"ec2:Describe{'X' * 40}{i}" for i in range(60)], "Resource": "*"}]})
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.put_user_policy(UserName="inline-user", PolicyName="big", PolicyDocument=big)
    assert error_of(excinfo)[:2] == ("LimitExceeded", 409)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.put_user_policy(UserName="inline-user", PolicyName="principal", PolicyDocument=json.dumps(TRUST_EKS))
    assert error_of(excinfo)[:2] == ("MalformedPolicyDocument", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_user(UserName="inline-user")
    assert error_of(excinfo) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    iam.delete_user_policy(UserName="inline-user", PolicyName="describe")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_user_policy(UserName="inline-user", PolicyName="describe")
    assert error_of(excinfo) == ("NoSuchEntity", 404, "The user policy with name describe cannot be found.")
    iam.delete_user(UserName="inline-user")

    iam.create_group(GroupName="inline-group")
    iam.put_group_policy(GroupName="inline-group", PolicyName="g", PolicyDocument=allow("ec2:Describe*"))
    assert iam.list_group_policies(GroupName="inline-group")["PolicyNames"] == ["g"]
    iam.create_role(RoleName="inline-role", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.put_role_policy(RoleName="inline-role", PolicyName="r", PolicyDocument=allow("s3:GetObject"))
    assert iam.get_role_policy(RoleName="inline-role", PolicyName="r")["RoleName"] == "inline-role"


def test_instance_profiles(iam):
    iam.create_role(RoleName="profile-role", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.create_role(RoleName="profile-role-2", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    profile = iam.create_instance_profile(InstanceProfileName="nodes", Path="/eks/")["InstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/eks/nodes" and profile["Roles"] == []
    assert profile["InstanceProfileId"].startswith("AIPA")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_instance_profile(InstanceProfileName="nodes")
    assert error_of(excinfo)[:2] == ("EntityAlreadyExists", 409)
    iam.add_role_to_instance_profile(InstanceProfileName="nodes", RoleName="profile-role")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.add_role_to_instance_profile(InstanceProfileName="nodes", RoleName="profile-role-2")
    assert error_of(excinfo) == ("LimitExceeded", 409, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName="nodes")["InstanceProfile"]["Roles"]] == ["profile-role"]
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName="profile-role")["InstanceProfiles"]] == ["nodes"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_role(RoleName="profile-role")
    assert error_of(excinfo) == ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_instance_profile(InstanceProfileName="nodes")
    assert error_of(excinfo)[:2] == ("DeleteConflict", 409)
    iam.remove_role_from_instance_profile(InstanceProfileName="nodes", RoleName="profile-role")
    iam.delete_instance_profile(InstanceProfileName="nodes")
    iam.delete_role(RoleName="profile-role")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_instance_profile(InstanceProfileName="nodes")
    assert error_of(excinfo) == ("NoSuchEntity", 404, "Instance Profile nodes cannot be found.")


def test_eks_service_linked_role(iam):
    role = iam.create_service_linked_role(AWSServiceName="eks.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAmazonEKS" and role["Path"] == "/aws-service-role/eks.amazonaws.com/"
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName="AWSServiceRoleForAmazonEKS")["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == ["arn:aws:iam::aws:policy/aws-service-role/AmazonEKSServiceRolePolicy"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_service_linked_role(AWSServiceName="eks.amazonaws.com")
    assert error_of(excinfo)[:2] == ("InvalidInput", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_role(RoleName="AWSServiceRoleForAmazonEKS")
    assert error_of(excinfo)[:2] == ("UnmodifiableEntity", 400)
    nodegroup = iam.create_service_linked_role(AWSServiceName="eks-nodegroup.amazonaws.com")["Role"]
    assert nodegroup["RoleName"] == "AWSServiceRoleForAmazonEKSNodegroup"
    task = iam.delete_service_linked_role(RoleName="AWSServiceRoleForAmazonEKSNodegroup")["DeletionTaskId"]
    assert task.startswith("task/aws-service-role/eks-nodegroup.amazonaws.com/AWSServiceRoleForAmazonEKSNodegroup/")
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.get_role(RoleName="AWSServiceRoleForAmazonEKSNodegroup")
    assert error_of(excinfo)[:2] == ("NoSuchEntity", 404)


def test_access_keys_sign_requests_until_deactivated_or_deleted(moorage, iam):
    user = iam.create_user(UserName="signer", Path="/ci/")["User"]
    first = iam.create_access_key(UserName="signer")["AccessKey"]
    second = iam.create_access_key(UserName="signer")["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA") and len(first["AccessKeyId"]) == 20 and len(first["SecretAccessKey"]) == 40
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_access_key(UserName="signer")
    assert error_of(excinfo) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")
    listed = iam.list_access_keys(UserName="signer")["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in listed} == {first["AccessKeyId"], second["AccessKeyId"]}

    sts = moorage.client("sts", access_key=first["AccessKeyId"], secret_key=first["SecretAccessKey"])
    identity = sts.get_caller_identity()
    assert (identity["Arn"], identity["UserId"], identity["Account"]) == (user["Arn"], user["UserId"], ACCOUNT_ID)
    # The user acts as itself in IAM too: GetUser without a name is the caller (once a policy allows it).
    iam.put_user_policy(UserName="signer", PolicyName="self", PolicyDocument=allow("iam:GetUser"))
    as_user = moorage.client("iam", region="us-east-1", access_key=first["AccessKeyId"], secret_key=first["SecretAccessKey"])
    assert as_user.get_user()["User"]["Arn"] == user["Arn"]
    wrong_secret = moorage.client("sts", access_key=first["AccessKeyId"], secret_key=second["SecretAccessKey"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        wrong_secret.get_caller_identity()
    assert error_of(excinfo)[:2] == ("SignatureDoesNotMatch", 403)

    iam.update_access_key(UserName="signer", AccessKeyId=first["AccessKeyId"], Status="Inactive")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_of(excinfo) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    eks_as_user = moorage.client("eks", access_key=first["AccessKeyId"], secret_key=first["SecretAccessKey"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks_as_user.list_clusters()
    assert error_of(excinfo)[:2] == ("UnrecognizedClientException", 403)
    iam.update_access_key(UserName="signer", AccessKeyId=first["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"] == user["Arn"]

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_user(UserName="signer")
    assert error_of(excinfo) == ("DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")
    iam.delete_access_key(UserName="signer", AccessKeyId=first["AccessKeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        sts.get_caller_identity()
    assert error_of(excinfo)[:2] == ("InvalidClientTokenId", 403)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.delete_access_key(UserName="signer", AccessKeyId=first["AccessKeyId"])
    assert error_of(excinfo) == ("NoSuchEntity", 404, f"The Access Key with id {first['AccessKeyId']} cannot be found.")
    iam.delete_access_key(UserName="signer", AccessKeyId=second["AccessKeyId"])
    iam.delete_user_policy(UserName="signer", PolicyName="self")
    iam.delete_user(UserName="signer")


def test_aws_cli_creates_a_user_whose_key_works(moorage, tmp_path):
    assert aws_cli(moorage, "iam", "create-user", "--user-name", "cli-user").returncode == 0
    created = aws_cli(moorage, "iam", "create-access-key", "--user-name", "cli-user")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["AccessKey"]
    as_user = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    identity = aws_cli(moorage, "sts", "get-caller-identity", env=as_user)
    assert identity.returncode == 0, identity.stderr
    assert json.loads(identity.stdout)["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/cli-user"

    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(TRUST_EKS))
    role = aws_cli(moorage, "iam", "create-role", "--role-name", "cli-cluster-role", "--assume-role-policy-document", f"file://{trust}")
    assert role.returncode == 0, role.stderr
    attach = aws_cli(moorage, "iam", "attach-role-policy", "--role-name", "cli-cluster-role",
                     "--policy-arn", "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    assert attach.returncode == 0, attach.stderr
    listed = aws_cli(moorage, "iam", "list-attached-role-policies", "--role-name", "cli-cluster-role")
    assert json.loads(listed.stdout)["AttachedPolicies"][0]["PolicyName"] == "AmazonEKSClusterPolicy"
    missing = aws_cli(moorage, "iam", "get-role", "--role-name", "no-such-role")
    assert missing.returncode != 0 and "NoSuchEntity" in missing.stderr and "no-such-role cannot be found" in missing.stderr
    malformed = aws_cli(moorage, "iam", "create-policy", "--policy-name", "bad", "--policy-document", '{"Statement": "nope"}')
    assert malformed.returncode != 0 and "MalformedPolicyDocument" in malformed.stderr

    deactivate = aws_cli(moorage, "iam", "update-access-key", "--user-name", "cli-user", "--access-key-id", key["AccessKeyId"], "--status", "Inactive")
    assert deactivate.returncode == 0, deactivate.stderr
    refused = aws_cli(moorage, "sts", "get-caller-identity", env=as_user)
    assert refused.returncode != 0 and "InvalidClientTokenId" in refused.stderr
