"""The EKS, EC2 and STS APIs through real clients (boto3, the AWS CLI) against a running Moorage.

These tests check the wire: validation, errors, pagination and signatures. Control planes coming
up for real is tests/e2e's job.
"""

import json
import subprocess
import sys
import unittest.mock
import urllib.request
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from ..conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def eks(moorage):
    return moorage.client("eks")


@pytest.fixture(scope="module")
def subnets(moorage):
    found = moorage.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return sorted(found, key=lambda s: s["AvailabilityZone"])


ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"


def test_default_network_is_visible_through_ec2(moorage, subnets):
    ec2 = moorage.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["IsDefault"] and vpcs[0]["CidrBlock"] == "172.31.0.0/16"
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]
    assert {s["AvailabilityZone"] for s in subnets} == {z["ZoneName"] for z in zones}
    assert all(s["VpcId"] == vpcs[0]["VpcId"] and s["MapPublicIpOnLaunch"] for s in subnets)
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert groups[0]["VpcId"] == vpcs[0]["VpcId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_subnets(SubnetIds=["subnet-0123456789abcdef0"])
    assert error_of(excinfo)[:2] == ("InvalidSubnetID.NotFound", 400)
    other_region = moorage.client("ec2", region="eu-west-1").describe_vpcs()["Vpcs"]
    assert other_region[0]["VpcId"] != vpcs[0]["VpcId"]


def test_sts_get_caller_identity(moorage):
    identity = moorage.client("sts").get_caller_identity()
    assert identity["Account"] == ACCOUNT_ID
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"


def test_aws_cli_with_the_profile_moorage_writes(moorage, isolated_aws_files):
    config = (isolated_aws_files / "config").read_text()
    assert "[profile moorage]" in config and f"endpoint_url = {moorage.url}" in config
    result = subprocess.run(
        [sys.executable, "-m", "awscli", "--profile", "moorage", "sts", "get-caller-identity"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Account"] == ACCOUNT_ID


def test_create_describe_list_and_tag(eks, subnets):
    created = eks.create_cluster(
        name="api-demo",
        roleArn=ROLE,
        resourcesVpcConfig={"subnetIds": [subnets[0]["SubnetId"], subnets[1]["SubnetId"]]},
        tags={"team": "platform"},
        logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
    )["cluster"]
    assert created["status"] == "CREATING"
    assert created["arn"] == f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:cluster/api-demo"
    assert created["version"] == "1.37"
    assert created["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "10.100.0.0/16"
    assert created["resourcesVpcConfig"]["vpcId"] == subnets[0]["VpcId"]
    assert created["resourcesVpcConfig"]["clusterSecurityGroupId"].startswith("sg-")
    assert created["resourcesVpcConfig"]["endpointPublicAccess"] is True
    assert created["logging"]["clusterLogging"] == [
        {"types": ["api", "audit"], "enabled": True},
        {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False},
    ]
    assert created["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True
    assert "/_moorage/oidc/id/" in created["identity"]["oidc"]["issuer"]
    described = eks.describe_cluster(name="api-demo")["cluster"]
    assert described["arn"] == created["arn"] and described["createdAt"] == created["createdAt"]
    assert "api-demo" in eks.list_clusters()["clusters"]
    eks.tag_resource(resourceArn=created["arn"], tags={"env": "test"})
    assert eks.list_tags_for_resource(resourceArn=created["arn"])["tags"] == {"team": "platform", "env": "test"}
    eks.untag_resource(resourceArn=created["arn"], tagKeys=["team"])
    assert eks.describe_cluster(name="api-demo")["cluster"]["tags"] == {"env": "test"}


def test_client_request_token_is_idempotent(eks, subnets):
    args = dict(
        name="idem", roleArn=ROLE, clientRequestToken="token-1",
        resourcesVpcConfig={"subnetIds": [subnets[0]["SubnetId"], subnets[2]["SubnetId"]]},
    )
    first = eks.create_cluster(**args)["cluster"]
    second = eks.create_cluster(**args)["cluster"]
    assert first["arn"] == second["arn"] and first["createdAt"] == second["createdAt"]


def test_duplicate_name_is_resource_in_use(eks, subnets):
    args = dict(name="dup", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
    eks.create_cluster(**args)
    with pytest.raises(eks.exceptions.ResourceInUseException) as excinfo:
        eks.create_cluster(**args)
    code, status, message = error_of(excinfo)
    assert (code, status, message) == ("ResourceInUseException", 409, "Cluster already exists with name: dup")
    assert excinfo.value.response["clusterName"] == "dup"


def test_unknown_cluster_is_not_found(eks):
    with pytest.raises(eks.exceptions.ResourceNotFoundException) as excinfo:
        eks.describe_cluster(name="nope")
    assert error_of(excinfo) == ("ResourceNotFoundException", 404, "No cluster found for name: nope.")
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.delete_cluster(name="nope")


@pytest.mark.parametrize(
    "subnet_indexes, message",
    [((0,), "Subnets specified must be in at least two different AZs"), ((1, 1), "Subnets specified must be in at least two different AZs")],
)
def test_subnets_must_span_two_zones(eks, subnets, subnet_indexes, message):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        eks.create_cluster(name="one-az", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [subnets[i]["SubnetId"] for i in subnet_indexes]})
    assert error_of(excinfo) == ("InvalidParameterException", 400, message)


def test_unknown_subnet_and_security_group(eks, subnets):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        eks.create_cluster(name="x", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [subnets[0]["SubnetId"], "subnet-00000000000000000"]})
    assert "The subnet ID 'subnet-00000000000000000' does not exist" in error_of(excinfo)[2]
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        eks.create_cluster(
            name="x", roleArn=ROLE,
            resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]], "securityGroupIds": ["sg-00000000000000000"]},
        )
    assert "The security group 'sg-00000000000000000' does not exist" in error_of(excinfo)[2]


def test_unsupported_version(eks, subnets):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        eks.create_cluster(name="old", version="1.24", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
    assert error_of(excinfo) == ("InvalidParameterException", 400, "unsupported Kubernetes version 1.24")


@pytest.fixture(scope="module")
def unvalidated_eks(moorage):
    """boto3 with client-side validation off, so bad input reaches the server as a careless client sends it."""
    return moorage.client("eks", config=Config(parameter_validation=False, retries={"max_attempts": 1}))


@pytest.mark.parametrize(
    "params",
    [
        {"name": "missing-role", "resourcesVpcConfig": {"subnetIds": ["subnet-1"]}},
        {"name": "x" * 101, "roleArn": ROLE, "resourcesVpcConfig": {}},
        {"name": "-bad-start", "roleArn": ROLE, "resourcesVpcConfig": {}},
        {"name": "bad-enum", "roleArn": ROLE, "resourcesVpcConfig": {}, "accessConfig": {"authenticationMode": "LDAP"}},
        {"name": "bad-type", "roleArn": ROLE, "resourcesVpcConfig": {"endpointPublicAccess": "sometimes"}},
    ],
    ids=["missing-required", "name-too-long", "name-pattern", "bad-enum", "wrong-type"],
)
def test_invalid_input_is_a_4xx_in_aws_form(unvalidated_eks, params):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        unvalidated_eks.create_cluster(**params)
    code, status, message = error_of(excinfo)
    assert status == 400, (code, message)
    assert code in ("InvalidParameterException", "SerializationException", "ValidationException"), code
    assert excinfo.value.response["ResponseMetadata"]["RequestId"]


def test_list_clusters_paginates(eks, subnets):
    for index in range(5):
        eks.create_cluster(name=f"page-{index}", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
    pages = list(eks.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2}))
    names = [n for page in pages for n in page["clusters"]]
    assert len(pages) >= 3 and all(len(p["clusters"]) <= 2 for p in pages)
    assert names == sorted(names) and len(names) == len(set(names))
    assert {f"page-{i}" for i in range(5)} <= set(names)


def test_describe_cluster_versions(eks):
    versions = eks.describe_cluster_versions()["clusterVersions"]
    assert [v["clusterVersion"] for v in versions] == ["1.37", "1.36", "1.35"]
    assert [v["defaultVersion"] for v in versions] == [True, False, False]
    assert [v["kubernetesPatchVersion"] for v in versions] == ["1.37.2", "1.36.3", "1.35.4"]
    oldest = versions[2]
    assert oldest["releaseDate"].date().isoformat() == "2026-01-27"
    assert oldest["endOfStandardSupportDate"].date().isoformat() == "2027-03-27"
    assert oldest["endOfExtendedSupportDate"].date().isoformat() == "2028-03-27"
    assert {(v["versionStatus"], v["status"], v["clusterType"]) for v in versions} == {("STANDARD_SUPPORT", "standard-support", "eks")}
    assert [v["clusterVersion"] for v in eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"]] == ["1.37"]
    assert [v["clusterVersion"] for v in eks.describe_cluster_versions(clusterVersions=["1.35", "1.30"])["clusterVersions"]] == ["1.35"]
    assert eks.describe_cluster_versions(versionStatus="EXTENDED_SUPPORT")["clusterVersions"] == []
    assert len(eks.describe_cluster_versions(status="standard-support", includeAll=True)["clusterVersions"]) == 3
    assert eks.describe_cluster_versions(clusterType="eks-local-outposts")["clusterVersions"] == []
    pages = list(eks.get_paginator("describe_cluster_versions").paginate(PaginationConfig={"PageSize": 2}))
    assert [[v["clusterVersion"] for v in p["clusterVersions"]] for p in pages] == [["1.37", "1.36"], ["1.35"]]
    with pytest.raises(botocore.exceptions.ClientError) as error:
        eks.describe_cluster_versions(versionStatus="RETIRED")
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_upgrade_policy_at_create_and_by_update_cluster_config(moorage, eks, subnets):
    ids = [s["SubnetId"] for s in subnets[:2]]
    default = eks.create_cluster(name="policy-default", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ids})["cluster"]
    assert default["upgradePolicy"] == {"supportType": "EXTENDED"}
    standard = eks.create_cluster(name="policy-standard", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ids},
                                  version="1.35", upgradePolicy={"supportType": "STANDARD"})["cluster"]
    assert (standard["version"], standard["upgradePolicy"]) == ("1.35", {"supportType": "STANDARD"})
    assert eks.describe_cluster(name="policy-standard")["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}
    with pytest.raises(botocore.exceptions.ClientError) as error:
        eks.create_cluster(name="policy-bad", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ids}, upgradePolicy={"supportType": "FOREVER"})
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_regions_are_separate(moorage, eks, subnets):
    assert "api-demo" not in moorage.client("eks", region="eu-west-1").list_clusters()["clusters"]


def signed(moorage, secret=SECRET_ACCESS_KEY, region=REGION, when=None, key=ACCESS_KEY_ID):
    request = AWSRequest(method="GET", url=f"{moorage.url}/clusters", headers={})
    auth = SigV4Auth(Credentials(key, secret), "eks", region)
    if when is None:
        auth.add_auth(request)
    else:
        with unittest.mock.patch("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None)):
            auth.add_auth(request)  # signed as if at that moment
    prepared = urllib.request.Request(request.url, headers=dict(request.headers), method="GET")
    try:
        with urllib.request.urlopen(prepared, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def test_signed_request_is_accepted(moorage):
    status, headers, body = signed(moorage)
    assert status == 200 and "clusters" in body and headers.get("x-amzn-RequestId")


def test_unsigned_request_is_rejected(moorage):
    try:
        urllib.request.urlopen(f"{moorage.url}/clusters", timeout=10)
        raise AssertionError("unsigned request was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 403
        assert error.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationToken")


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"secret": "wrong-secret-wrong-secret-wrong-secret00"}, "InvalidSignatureException"),
        ({"key": "AKIAUNKNOWNUNKNOWN00"}, "UnrecognizedClientException"),
        ({"when": datetime.now(timezone.utc) - timedelta(minutes=20)}, "InvalidSignatureException"),
        ({"region": "xx-nowhere-1"}, "InvalidSignatureException"),
    ],
    ids=["wrong-secret", "unknown-key", "stale-date", "unknown-region"],
)
def test_bad_signatures_are_rejected(moorage, kwargs, code):
    status, headers, body = signed(moorage, **kwargs)
    assert status in (400, 403), (status, body)
    assert headers["x-amzn-ErrorType"].split(":")[0] == code, (headers, body)
    if "when" in kwargs:
        assert "Signature expired" in body.get("message", body.get("Message", ""))
    if "region" in kwargs:
        assert "xx-nowhere-1" in body.get("message", body.get("Message", ""))


def test_cluster_that_cannot_start_goes_failed_with_the_reason(eks, subnets):
    eks.create_cluster(name="no-binaries", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
    waiter = eks.get_waiter("cluster_active")
    with pytest.raises(botocore.exceptions.WaiterError) as excinfo:
        waiter.wait(name="no-binaries", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert "FAILED" in str(excinfo.value)
    cluster = eks.describe_cluster(name="no-binaries")["cluster"]
    assert cluster["status"] == "FAILED"
    (issue,) = cluster["health"]["issues"]
    assert "moorage toolchain install" in issue["message"] and issue["resourceIds"] == ["no-binaries"]
    eks.delete_cluster(name="no-binaries")
    eks.get_waiter("cluster_deleted").wait(name="no-binaries", WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def test_insights_of_a_cluster_that_is_not_active(eks, subnets):
    # The API tests' Moorage has no toolchain: its clusters end FAILED, so no insights are computed.
    eks.create_cluster(name="insights-failed", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets[:2]]})
    assert eks.list_insights(clusterName="insights-failed")["insights"] == []
    assert eks.list_insights(clusterName="insights-failed", filter={"statuses": ["ERROR"], "categories": ["UPGRADE_READINESS"]},
                             maxResults=10)["insights"] == []
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.start_insights_refresh(clusterName="insights-failed")
    assert error_of(excinfo)[:2] == ("InvalidRequestException", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.describe_insights_refresh(clusterName="insights-failed")
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.describe_insight(clusterName="insights-failed", id="8d3e1cf5-44f9-4d6b-a5b6-0d3f8a3c7b21")
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_insights(clusterName="no-such-cluster")
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_insights(clusterName="insights-failed", filter={"statuses": ["BROKEN"]})
    assert error_of(excinfo)[0] == "InvalidParameterException"
