"""The access-entry and access-policy API through boto3 and the AWS CLI: defaults, rules, errors, pages.

Clusters here never start (no toolchain), which the access-entry API doesn't need; enforcement inside
running clusters is tests/e2e/test_cluster_access.py.
"""

import json
import subprocess
import sys
import uuid

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
USER = f"arn:aws:iam::{ACCOUNT_ID}:user/ops/alice"
PATH_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/development/apps/deployer"
NODES = f"arn:aws:iam::{ACCOUNT_ID}:role/nodes"


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


def cli(moorage, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "awscli", *args], env=moorage.env(), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def eks(moorage):
    return moorage.client("eks")


@pytest.fixture(scope="module")
def subnet_ids(moorage):
    found = moorage.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return [s["SubnetId"] for s in sorted(found, key=lambda s: s["AvailabilityZone"])[:2]]


def new_cluster(eks, subnet_ids, **access) -> str:
    name = f"access-{uuid.uuid4().hex[:8]}"
    params = {"name": name, "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": subnet_ids}}
    if access:
        params["accessConfig"] = access
    eks.create_cluster(**params)
    return name


def test_access_config_defaults_and_creator_bootstrap(eks, subnet_ids, moorage):
    plain = new_cluster(eks, subnet_ids)
    assert eks.describe_cluster(name=plain)["cluster"]["accessConfig"] == {
        "authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True,
    }
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_access_entries(clusterName=plain)
    assert error_of(excinfo) == (
        "InvalidRequestException", 400,
        "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        new_cluster(eks, subnet_ids, authenticationMode="CONFIG_MAP", bootstrapClusterCreatorAdminPermissions=False)
    assert error_of(excinfo) == (
        "InvalidParameterException", 400,
        "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP",
    )

    both = new_cluster(eks, subnet_ids, authenticationMode="API_AND_CONFIG_MAP")
    listed = cli(moorage, "eks", "list-access-entries", "--cluster-name", both)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["accessEntries"] == [ROOT]
    creator = eks.describe_access_entry(clusterName=both, principalArn=ROOT)["accessEntry"]
    assert (creator["username"], creator["type"], creator["kubernetesGroups"]) == (ROOT, "STANDARD", [])
    assert creator["accessEntryArn"].startswith(f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:access-entry/{both}/root/{ACCOUNT_ID}/")
    policies = eks.list_associated_access_policies(clusterName=both, principalArn=ROOT)
    assert policies["clusterName"] == both and policies["principalArn"] == ROOT
    assert [(p["policyArn"], p["accessScope"]) for p in policies["associatedAccessPolicies"]] == [
        (POLICY + "AmazonEKSClusterAdminPolicy", {"type": "cluster", "namespaces": []})
    ]

    bare = new_cluster(eks, subnet_ids, authenticationMode="API", bootstrapClusterCreatorAdminPermissions=False)
    assert eks.list_access_entries(clusterName=bare)["accessEntries"] == []


def test_entries_defaults_updates_and_deletes(eks, subnet_ids, moorage):
    name = new_cluster(eks, subnet_ids, authenticationMode="API", bootstrapClusterCreatorAdminPermissions=False)
    created = cli(moorage, "eks", "create-access-entry", "--cluster-name", name, "--principal-arn", USER,
                  "--kubernetes-groups", "viewers", "--tags", "team=ops")
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)["accessEntry"]
    assert (user["username"], user["kubernetesGroups"], user["tags"], user["type"]) == (USER, ["viewers"], {"team": "ops"}, "STANDARD")
    assert user["accessEntryArn"].startswith(f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:access-entry/{name}/user/{ACCOUNT_ID}/alice/")

    role = eks.create_access_entry(clusterName=name, principalArn=PATH_ROLE)["accessEntry"]
    assert role["username"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/deployer/{{{{SessionName}}}}"  # path removed
    node = eks.create_access_entry(clusterName=name, principalArn=NODES, type="EC2_LINUX")["accessEntry"]
    assert (node["username"], node["kubernetesGroups"]) == ("system:node:{{EC2PrivateDNSName}}", ["system:nodes"])

    token = str(uuid.uuid4())
    first = eks.create_access_entry(clusterName=name, principalArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ci", clientRequestToken=token)
    again = eks.create_access_entry(clusterName=name, principalArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ci", clientRequestToken=token)
    assert first["accessEntry"]["accessEntryArn"] == again["accessEntry"]["accessEntryArn"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_access_entry(clusterName=name, principalArn=USER)
    assert error_of(excinfo) == ("ResourceInUseException", 409, "The specified access entry resource is already in use on this cluster.")

    updated = eks.update_access_entry(clusterName=name, principalArn=PATH_ROLE, username="deployer:{{SessionName}}",
                                      kubernetesGroups=["deployers"])["accessEntry"]
    assert (updated["username"], updated["kubernetesGroups"]) == ("deployer:{{SessionName}}", ["deployers"])
    assert updated["modifiedAt"] >= updated["createdAt"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.update_access_entry(clusterName=name, principalArn=NODES, kubernetesGroups=["extra"])
    assert error_of(excinfo) == ("InvalidParameterException", 400, 'This operation can only be performed on Access Entries with a type of "STANDARD".')

    pages = list(eks.get_paginator("list_access_entries").paginate(clusterName=name, PaginationConfig={"PageSize": 2}))
    assert [len(p["accessEntries"]) for p in pages] == [2, 2]
    assert [a for p in pages for a in p["accessEntries"]] == sorted([USER, PATH_ROLE, NODES, f"arn:aws:iam::{ACCOUNT_ID}:role/ci"])

    cli_delete = cli(moorage, "eks", "delete-access-entry", "--cluster-name", name, "--principal-arn", USER)
    assert cli_delete.returncode == 0, cli_delete.stderr
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.describe_access_entry(clusterName=name, principalArn=USER)
    assert error_of(excinfo) == (
        "ResourceNotFoundException", 404,
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_access_entry(clusterName="no-such-cluster", principalArn=USER)
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"principalArn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/admins/alice"}, "The specified principalArn is invalid: invalid principal."),
        ({"principalArn": "arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"},
         "The specified principalArn is invalid: invalid principal."),
        ({"principalArn": USER, "username": "system:admin"}, "The username must not begin with system:"),
        ({"principalArn": USER, "username": "eks:admin"}, "The username must not begin with eks:"),
        ({"principalArn": PATH_ROLE, "username": "dev{{SessionName}}"}, "The username must include a colon before {{SessionName}} or {{SessionNameRaw}}."),
        ({"principalArn": USER, "kubernetesGroups": ["system:masters"]}, "The kubernetes group name system:masters is invalid, it cannot start with system:"),
        ({"principalArn": NODES, "type": "EC2_LINUX", "kubernetesGroups": ["admins"]},
         'Username and kubernetesGroups can only be set on Access Entries with a type of "STANDARD".'),
        ({"principalArn": USER, "type": "EC2_LINUX"}, "must name an IAM role in the cluster's account"),
        ({"principalArn": NODES, "type": "LINUX"}, "The specified type LINUX is invalid"),
    ],
)
def test_bad_entries_are_refused(eks, subnet_ids, params, message):
    name = new_cluster(eks, subnet_ids, authenticationMode="API")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_access_entry(clusterName=name, **params)
    code, status, text = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400) and message in text
    assert eks.list_access_entries(clusterName=name)["accessEntries"] == [ROOT]  # nothing changed


def test_access_policies_and_associations(eks, subnet_ids, moorage):
    listed = cli(moorage, "eks", "list-access-policies")
    assert listed.returncode == 0, listed.stderr
    policies = json.loads(listed.stdout)["accessPolicies"]
    names = [p["name"] for p in policies]
    assert {"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"} <= set(names)
    assert all(p["arn"] == POLICY + p["name"] for p in policies) and names == sorted(names)
    first = eks.list_access_policies(maxResults=5)
    assert len(first["accessPolicies"]) == 5 and first["nextToken"]
    assert eks.list_access_policies(nextToken=first["nextToken"], maxResults=100)["accessPolicies"][0]["name"] == names[5]

    name = new_cluster(eks, subnet_ids, authenticationMode="API_AND_CONFIG_MAP")
    eks.create_access_entry(clusterName=name, principalArn=USER)
    eks.create_access_entry(clusterName=name, principalArn=NODES, type="EC2_LINUX")
    associated = eks.associate_access_policy(clusterName=name, principalArn=USER, policyArn=POLICY + "AmazonEKSEditPolicy",
                                             accessScope={"type": "namespace", "namespaces": ["team-a", "dev-*"]})
    assert associated["associatedAccessPolicy"]["accessScope"] == {"type": "namespace", "namespaces": ["dev-*", "team-a"]}
    cli_view = cli(moorage, "eks", "associate-access-policy", "--cluster-name", name, "--principal-arn", USER,
                   "--policy-arn", POLICY + "AmazonEKSViewPolicy", "--access-scope", "type=cluster")
    assert cli_view.returncode == 0, cli_view.stderr
    listed = eks.list_associated_access_policies(clusterName=name, principalArn=USER)["associatedAccessPolicies"]
    assert [p["policyArn"] for p in listed] == [POLICY + "AmazonEKSEditPolicy", POLICY + "AmazonEKSViewPolicy"]
    viewers = eks.list_access_entries(clusterName=name, associatedPolicyArn=POLICY + "AmazonEKSViewPolicy")["accessEntries"]
    assert viewers == [USER]

    for params, expected in [
        ({"principalArn": USER, "policyArn": POLICY + "AmazonEKSViewPolicy", "accessScope": {"type": "namespace"}},
         ("InvalidParameterException", 400)),
        ({"principalArn": USER, "policyArn": POLICY + "AmazonEKSMadeUpPolicy", "accessScope": {"type": "cluster"}},
         ("ResourceNotFoundException", 404)),
        ({"principalArn": NODES, "policyArn": POLICY + "AmazonEKSViewPolicy", "accessScope": {"type": "cluster"}},
         ("InvalidParameterException", 400)),
        ({"principalArn": PATH_ROLE, "policyArn": POLICY + "AmazonEKSViewPolicy", "accessScope": {"type": "cluster"}},
         ("ResourceNotFoundException", 404)),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            eks.associate_access_policy(clusterName=name, **params)
        assert error_of(excinfo)[:2] == expected, params

    eks.disassociate_access_policy(clusterName=name, principalArn=USER, policyArn=POLICY + "AmazonEKSViewPolicy")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.disassociate_access_policy(clusterName=name, principalArn=USER, policyArn=POLICY + "AmazonEKSViewPolicy")
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    remaining = eks.list_associated_access_policies(clusterName=name, principalArn=USER)["associatedAccessPolicies"]
    assert [p["policyArn"] for p in remaining] == [POLICY + "AmazonEKSEditPolicy"]


def test_deleting_a_cluster_deletes_its_entries(eks, subnet_ids):
    name = new_cluster(eks, subnet_ids, authenticationMode="API")
    eks.create_access_entry(clusterName=name, principalArn=USER)
    eks.delete_cluster(name=name)
    eks.get_waiter("cluster_deleted").wait(name=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    eks.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids}, accessConfig={"authenticationMode": "API"})
    assert eks.list_access_entries(clusterName=name)["accessEntries"] == [ROOT]
