"""Fargate profile API errors through boto3 and the AWS CLI against a running Moorage.

This Moorage has no toolchain, so its clusters stop at FAILED: the happy path (ACTIVE profiles, pods
on Fargate nodes) is tests/e2e/test_fargate.py's. Here: every refusal, with EKS's code, HTTP status
and message.
"""

import json
import subprocess
import sys

import botocore.exceptions
import pytest
from botocore.config import Config

from ..conftest import ACCOUNT_ID

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
POD_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/pod-execution"


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def network(moorage):
    """A VPC of its own: two private subnets (no route to the internet) and a public one."""
    ec2 = moorage.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    private = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.42.1.0/24", "us-west-2a"), ("10.42.2.0/24", "us-west-2b"))
    ]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.100.0/24", AvailabilityZone="us-west-2c")["Subnet"]["SubnetId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    ec2.associate_route_table(RouteTableId=table, SubnetId=public)
    default_public = sorted(
        ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"], key=lambda s: s["AvailabilityZone"]
    )
    return {"vpc": vpc, "private": private, "public": public, "default_public": [s["SubnetId"] for s in default_public]}


@pytest.fixture(scope="module")
def eks(moorage, network):
    eks = moorage.client("eks")
    eks.create_cluster(name="fg-private", roleArn=ROLE, resourcesVpcConfig={"subnetIds": network["private"]})
    eks.create_cluster(name="fg-public", roleArn=ROLE, resourcesVpcConfig={"subnetIds": network["default_public"][:2]})
    return eks


def create(eks, cluster="fg-private", name="fp", **overrides):
    params = {"clusterName": cluster, "fargateProfileName": name, "podExecutionRoleArn": POD_ROLE,
              "selectors": [{"namespace": "serverless"}], **overrides}
    return eks.create_fargate_profile(**params)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"selectors": []}, "Fargate Profile requires at least one selector."),
        ({"selectors": [{"namespace": f"ns{i}"} for i in range(6)]}, "Fargate Profile cannot have more than 5 selectors."),
        ({"selectors": [{"labels": {"app": "web"}}]}, "Fargate Profile must have at least one selector with at least one namespace value."),
        ({"selectors": [{"namespace": "web", "labels": {f"k{i}": "v" for i in range(6)}}]}, "Request contains Selector with more than 5 Label pairs"),
        ({"podExecutionRoleArn": "pod-execution"}, "Invalid Role Arn: 'pod-execution'"),
        ({"fargateProfileName": "-starts-with-a-dash"}, "Fargate Profile name must start with a letter or digit"),
        ({"tags": {"aws:reserved": "x"}}, "Tag keys starting with 'aws:' are reserved for AWS use."),
    ],
)
def test_bad_input(eks, overrides, message):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        create(eks, **overrides)
    code, status, text = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400)
    assert text.startswith(message)


def test_subnets_must_be_private_existing_and_in_the_clusters_vpc(eks, network):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        create(eks, subnets=[network["public"]])
    assert error_of(excinfo) == ("InvalidParameterException", 400, f"Subnet {network['public']} provided in Fargate Profile is not a private subnet")
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        create(eks, subnets=["subnet-0123456789abcdef0"])
    assert error_of(excinfo)[2] == "The subnet ID 'subnet-0123456789abcdef0' does not exist"
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        create(eks, subnets=[network["default_public"][0]])
    assert "is not in the cluster's VPC" in error_of(excinfo)[2]


def test_a_cluster_without_private_subnets_needs_them_given(eks):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        create(eks, cluster="fg-public")
    assert error_of(excinfo)[2].startswith("Cluster fg-public has no private subnets")


def test_valid_input_on_a_cluster_that_is_not_active(eks, network):
    # Subnets omitted: the cluster's private ones are taken, then the cluster's state refuses.
    for subnets in ({}, {"subnets": network["private"][:1]}):
        with pytest.raises(eks.exceptions.InvalidRequestException) as excinfo:
            create(eks, **subnets)
        assert error_of(excinfo) == ("InvalidRequestException", 400, "Cluster 'fg-private' is not in ACTIVE status")
    assert eks.list_fargate_profiles(clusterName="fg-private")["fargateProfileNames"] == []


def test_missing_cluster_and_profile(eks):
    with pytest.raises(eks.exceptions.ResourceNotFoundException) as excinfo:
        create(eks, cluster="missing")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404, "No cluster found for name: missing.")
    for call in (
        lambda: eks.describe_fargate_profile(clusterName="missing", fargateProfileName="fp"),
        lambda: eks.list_fargate_profiles(clusterName="missing"),
        lambda: eks.delete_fargate_profile(clusterName="missing", fargateProfileName="fp"),
    ):
        with pytest.raises(eks.exceptions.ResourceNotFoundException):
            call()
    for call in (
        lambda: eks.describe_fargate_profile(clusterName="fg-private", fargateProfileName="nope"),
        lambda: eks.delete_fargate_profile(clusterName="fg-private", fargateProfileName="nope"),
    ):
        with pytest.raises(eks.exceptions.ResourceNotFoundException) as excinfo:
            call()
        assert error_of(excinfo) == ("ResourceNotFoundException", 404, "No Fargate Profile found with name: nope.")
        assert excinfo.value.response["fargateProfileName"] == "nope"


def test_required_members_and_list_bounds_are_checked_by_the_gateway(moorage, eks):
    raw = moorage.client("eks", config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        raw.create_fargate_profile(clusterName="fg-private", fargateProfileName="fp", selectors=[{"namespace": "a"}])
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400) and "podExecutionRoleArn" in message
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        raw.list_fargate_profiles(clusterName="fg-private", maxResults=101)
    assert error_of(excinfo)[:2] == ("InvalidParameterException", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        raw.list_fargate_profiles(clusterName="fg-private", nextToken="not-a-token")
    assert error_of(excinfo)[:2] == ("InvalidParameterException", 400)


def test_aws_cli(moorage, eks):
    env = moorage.env()

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "awscli", "eks", *args], env=env, capture_output=True, text=True, timeout=60)

    listed = cli("list-fargate-profiles", "--cluster-name", "fg-private")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"fargateProfileNames": []}
    too_many = cli(
        "create-fargate-profile", "--cluster-name", "fg-private", "--fargate-profile-name", "fp",
        "--pod-execution-role-arn", POD_ROLE, "--selectors", *[f"namespace=ns{i}" for i in range(6)],
    )
    assert too_many.returncode != 0
    assert "InvalidParameterException" in too_many.stderr and "more than 5 selectors" in too_many.stderr
    missing = cli("describe-fargate-profile", "--cluster-name", "fg-private", "--fargate-profile-name", "nope")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    assert "No Fargate Profile found with name: nope." in missing.stderr
