"""OIDC identity provider config API errors through boto3 and the AWS CLI against a running Moorage.

This Moorage has no toolchain, so its clusters stop at FAILED: the happy path (ACTIVE configs, sign-in
with ID tokens) is tests/e2e/test_identity_providers.py's. Here: the refusals, with EKS's code and
HTTP status.
"""

import json
import subprocess
import sys

import pytest

from ..conftest import ACCOUNT_ID

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
OIDC = {"identityProviderConfigName": "corp", "issuerUrl": "https://idp.example.com", "clientId": "kubernetes"}


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


@pytest.fixture(scope="module")
def eks(moorage):
    eks = moorage.client("eks")
    ec2 = moorage.client("ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]]
    eks.create_cluster(name="idp", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets[:2]})
    return eks


@pytest.mark.parametrize(("oidc", "fragment"), [
    ({"issuerUrl": "http://idp.example.com"}, "https"),
    ({"identityProviderConfigName": "-dash"}, "identityProviderConfigName"),
    ({"groupsPrefix": "g:"}, "groupsClaim"),
])
def test_bad_input_is_400(eks, oidc, fragment):
    with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
        eks.associate_identity_provider_config(clusterName="idp", oidc={**OIDC, **oidc})
    code, status, message = error_of(excinfo)
    assert status == 400 and fragment in message


def test_a_cluster_not_active_is_refused(eks):
    with pytest.raises(eks.exceptions.InvalidRequestException) as excinfo:
        eks.associate_identity_provider_config(clusterName="idp", oidc=OIDC)
    assert error_of(excinfo)[1] == 400
    assert eks.list_identity_provider_configs(clusterName="idp")["identityProviderConfigs"] == []


def test_unknown_names_are_404(eks, moorage):
    with pytest.raises(eks.exceptions.ResourceNotFoundException) as excinfo:
        eks.describe_identity_provider_config(clusterName="idp", identityProviderConfig={"type": "oidc", "name": "none"})
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.list_identity_provider_configs(clusterName="no-such-cluster")
    cli = subprocess.run([sys.executable, "-m", "awscli", "eks", "disassociate-identity-provider-config", "--cluster-name", "idp",
                          "--identity-provider-config", "type=oidc,name=none"], env=moorage.env(), capture_output=True, text=True)
    assert cli.returncode != 0 and "ResourceNotFoundException" in cli.stderr
    listed = subprocess.run([sys.executable, "-m", "awscli", "eks", "list-identity-provider-configs", "--cluster-name", "idp"],
                            env=moorage.env(), capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["identityProviderConfigs"] == []
