"""CreateNodegroup's launch-template and remoteAccess refusals over the wire (boto3), in EKS's codes and words.

The session Moorage has no toolchain, so its clusters never become ACTIVE: a request that passes every
parameter check stops at the cluster's state, which is how these tests tell "accepted" from "refused".
"""

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-node"


@pytest.fixture(scope="module")
def setup(moorage):
    eks, ec2 = moorage.client("eks"), moorage.client("ec2")
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])
    ids = [s["SubnetId"] for s in subnets[:2]]
    eks.create_cluster(name="lt-contract", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ids})
    plain = ec2.create_launch_template(LaunchTemplateName="lt-contract-plain",
                                       LaunchTemplateData={"UserData": "IyEvYmluL2Jhc2gK"})["LaunchTemplate"]
    typed = ec2.create_launch_template(LaunchTemplateName="lt-contract-typed",
                                       LaunchTemplateData={"InstanceType": "c5.xlarge"})["LaunchTemplate"]
    profiled = ec2.create_launch_template(LaunchTemplateName="lt-contract-profile",
                                          LaunchTemplateData={"IamInstanceProfile": {"Name": "p"}})["LaunchTemplate"]
    custom = ec2.create_launch_template(LaunchTemplateName="lt-contract-ami",
                                        LaunchTemplateData={"ImageId": "ami-0123456789abcdef0"})["LaunchTemplate"]
    ec2.create_key_pair(KeyName="lt-contract-key")
    return eks, ec2, ids, {"plain": plain["LaunchTemplateId"], "typed": typed["LaunchTemplateId"],
                           "profile": profiled["LaunchTemplateId"], "ami": custom["LaunchTemplateId"]}


def refusal(eks, ids, **extra):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_nodegroup(clusterName="lt-contract", nodegroupName="ng", subnets=ids, nodeRole=NODE_ROLE, **extra)
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_conflicts_with_a_template_are_refused_as_eks_refuses(setup):
    eks, _, ids, lt = setup
    assert refusal(eks, ids, launchTemplate={"id": lt["plain"]}, remoteAccess={"ec2SshKey": "k"}) == (
        "InvalidParameterException", 400, "Remote access configuration cannot be specified with a launch template.")
    assert refusal(eks, ids, launchTemplate={"id": lt["plain"]}, diskSize=40) == (
        "InvalidParameterException", 400, "Disk size must be specified within the launch template.")
    assert refusal(eks, ids, launchTemplate={"id": lt["typed"]}, instanceTypes=["m5.large"]) == (
        "InvalidRequestException", 400, "Cannot specify instance types in launch template and API Request")
    assert refusal(eks, ids, launchTemplate={"id": lt["profile"]})[2].startswith(
        "Launch template should not specify an instance profile.")
    assert refusal(eks, ids, launchTemplate={"id": lt["ami"]}, version="1.37") == (
        "InvalidParameterException", 400,
        "You cannot specify a kubernetes version to use when specifying an image id to use within the launch template.")
    assert refusal(eks, ids, launchTemplate={"id": lt["ami"]}, amiType="AL2023_x86_64_STANDARD")[2] == (
        "You cannot specify an AMI Type other than CUSTOM, when specifying an image id in your launch template.")


def test_unknown_templates_key_pairs_and_groups(setup):
    eks, ec2, ids, lt = setup
    assert refusal(eks, ids, launchTemplate={"name": "lt-contract-missing"}) == (
        "InvalidParameterException", 400, "Launch template lt-contract-missing does not exist.")
    assert refusal(eks, ids, launchTemplate={"id": lt["plain"], "version": "9"})[2] == (
        f"Launch template version 9 does not exist for launch template {lt['plain']}.")
    assert refusal(eks, ids, launchTemplate={"id": lt["plain"], "name": "lt-contract-plain"})[2] == (
        "Either provide launch template ID or launch template name in the request.")
    assert refusal(eks, ids, remoteAccess={"ec2SshKey": "lt-contract-nokey"}) == (
        "InvalidParameterException", 400, "KeyPair lt-contract-nokey not found")
    assert refusal(eks, ids, remoteAccess={"ec2SshKey": "lt-contract-key", "sourceSecurityGroups": ["sg-0123456789abcdef0"]})[2] == (
        "The security group 'sg-0123456789abcdef0' does not exist")


def test_valid_requests_pass_every_parameter_check(setup):
    eks, _, ids, lt = setup
    for extra in ({"launchTemplate": {"id": lt["typed"], "version": "$Latest"}},
                  {"launchTemplate": {"name": "lt-contract-plain"}, "instanceTypes": ["m5.large"]},
                  {"launchTemplate": {"id": lt["ami"]}, "amiType": "CUSTOM"},
                  {"remoteAccess": {"ec2SshKey": "lt-contract-key"}}):
        code, status, message = refusal(eks, ids, **extra)
        assert (code, status) == ("InvalidRequestException", 400) and "node groups can be created only on ACTIVE clusters" in message
