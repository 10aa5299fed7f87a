"""The EKS add-on API over the wire, through the AWS CLI and boto3: the catalogue operations, create,
describe, list, delete with --preserve, tags by ARN, and EKS's errors with their HTTP statuses.

The module's cluster never starts (no toolchain), so its add-ons stay CREATING: installing them is
the e2e test's (tests/e2e/test_addons.py)."""

import json
import subprocess
import sys
import uuid

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

CLUSTER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"


def cli(moorage, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "awscli", *args], env=moorage.env(), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def eks(moorage):
    return moorage.client("eks")


@pytest.fixture(scope="module")
def cluster(moorage, eks):
    found = moorage.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    subnets = [s["SubnetId"] for s in sorted(found, key=lambda s: s["AvailabilityZone"])[:2]]
    name = f"addons-{uuid.uuid4().hex[:8]}"
    eks.create_cluster(name=name, version="1.37", roleArn=CLUSTER_ROLE, resourcesVpcConfig={"subnetIds": subnets})
    return name


def test_catalogue_through_the_cli(moorage):
    listed = cli(moorage, "eks", "describe-addon-versions", "--kubernetes-version", "1.37", "--addon-name", "vpc-cni")
    assert listed.returncode == 0, listed.stderr
    (info,) = json.loads(listed.stdout)["addons"]
    assert info["addonName"] == "vpc-cni" and info["owner"] == "aws" and info["type"] == "networking"
    assert info["addonVersions"][0]["compatibilities"] == [{"clusterVersion": "1.37", "platformVersions": ["*"], "defaultVersion": True}]
    config = cli(moorage, "eks", "describe-addon-configuration", "--addon-name", "vpc-cni", "--addon-version", "v1.20.1-eksbuild.3")
    assert config.returncode == 0, config.stderr
    answer = json.loads(config.stdout)
    assert "env" in json.loads(answer["configurationSchema"])["properties"]
    assert answer["podIdentityConfiguration"][0]["serviceAccount"] == "aws-node"


def test_create_describe_list_delete_preserve(moorage, eks, cluster):
    created = cli(moorage, "eks", "create-addon", "--cluster-name", cluster, "--addon-name", "coredns",
                  "--configuration-values", '{"replicaCount":3}', "--tags", "team=dns")
    assert created.returncode == 0, created.stderr
    addon = json.loads(created.stdout)["addon"]
    assert addon["status"] == "CREATING" and addon["addonVersion"] == "v1.14.3-eksbuild.3"
    described = eks.describe_addon(clusterName=cluster, addonName="coredns")["addon"]
    assert described["addonArn"] == addon["addonArn"] and described["createdAt"].tzinfo is not None
    assert eks.list_tags_for_resource(resourceArn=addon["addonArn"])["tags"] == {"team": "dns"}
    assert eks.list_addons(clusterName=cluster)["addons"] == ["coredns"]
    with pytest.raises(botocore.exceptions.ClientError) as busy:
        eks.update_addon(clusterName=cluster, addonName="coredns", configurationValues='{"replicaCount":2}')
    assert busy.value.response["Error"]["Code"] == "ResourceInUseException"
    deleted = cli(moorage, "eks", "delete-addon", "--cluster-name", cluster, "--addon-name", "coredns", "--preserve")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["addon"]["status"] == "DELETING"


@pytest.mark.parametrize("params, code, message", [
    ({"addonName": "not-an-addon"}, "InvalidParameterException", "Addon specified is not supported"),
    ({"addonName": "kube-proxy", "addonVersion": "v1.35.3-eksbuild.13"}, "InvalidParameterException",
     "Addon version specified is not supported for cluster version 1.37"),
    ({"addonName": "kube-proxy", "configurationValues": '{"mode": "userspace"}'}, "InvalidParameterException",
     "ConfigurationValue provided in request is not supported: Json schema validation failed with error: "
     "[$.mode: does not have a value in the enumeration [iptables, ipvs, nftables]]"),
])
def test_errors(eks, cluster, params, code, message):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        eks.create_addon(clusterName=cluster, **params)
    response = raised.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]) == (code, 400, message)


def test_missing_addon_and_cluster(eks, cluster):
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        eks.describe_addon(clusterName=cluster, addonName="vpc-cni")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert missing.value.response["Error"]["Message"] == f"No addon: vpc-cni found in cluster: {cluster}"
    with pytest.raises(botocore.exceptions.ClientError) as no_cluster:
        eks.list_addons(clusterName="no-such-cluster")
    assert no_cluster.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_roles_handed_to_an_addon_need_pass_role(moorage, eks, cluster):
    iam = moorage.client("iam", region="us-east-1")
    name = f"addons-{uuid.uuid4().hex[:8]}"
    user_arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="eks", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "eks:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user_eks = moorage.client("eks", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/cni"
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        user_eks.create_addon(clusterName=cluster, addonName="vpc-cni", serviceAccountRoleArn=role)
    response = denied.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert f"User: {user_arn} is not authorized to perform: iam:PassRole on resource: {role}" in response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as pod_identity:
        user_eks.create_addon(clusterName=cluster, addonName="vpc-cni",
                              podIdentityAssociations=[{"serviceAccount": "aws-node", "roleArn": role}])
    assert pod_identity.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "vpc-cni" not in eks.list_addons(clusterName=cluster)["addons"]
    # Without a role to hand over, EKS permissions suffice.
    assert user_eks.create_addon(clusterName=cluster, addonName="kube-proxy")["addon"]["status"] == "CREATING"
