"""The EKS Pod Identity association API through boto3 and the AWS CLI: create, describe, list (filters
and pages), update, delete, tags, and the errors EKS gives for duplicates, bad names, bad roles, missing
clusters and associations, and a caller without iam:PassRole.

EKS takes associations on a cluster in any state (they are stored, the agent reads them later), so the
module's one cluster here never starts (no toolchain). Credential delivery is the agent add-on's.
"""

import json
import subprocess
import sys
import time
import uuid

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

CLUSTER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
POD_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}],
})


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


def cli(moorage, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args], env={**moorage.env(), **(env or {})}, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def eks(moorage):
    return moorage.client("eks")


@pytest.fixture(scope="module")
def iam(moorage):
    return moorage.client("iam", region="us-east-1")


@pytest.fixture(scope="module")
def subnet_ids(moorage):
    found = moorage.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return [s["SubnetId"] for s in sorted(found, key=lambda s: s["AvailabilityZone"])[:2]]


def new_cluster(eks, subnet_ids) -> str:
    name = f"podid-{uuid.uuid4().hex[:8]}"
    eks.create_cluster(name=name, roleArn=CLUSTER_ROLE, resourcesVpcConfig={"subnetIds": subnet_ids})
    return name


@pytest.fixture(scope="module")
def cluster(eks, subnet_ids):
    return new_cluster(eks, subnet_ids)


def new_role(iam, trust: str = POD_TRUST, path: str = "/") -> str:
    return iam.create_role(RoleName=f"podid-{uuid.uuid4().hex[:8]}", Path=path, AssumeRolePolicyDocument=trust)["Role"]["Arn"]


@pytest.fixture(scope="module")
def pod_role(iam):
    return new_role(iam)


def test_create_describe_update_delete_with_boto3_and_the_cli(moorage, eks, iam, cluster, pod_role):
    created = cli(moorage, "eks", "create-pod-identity-association", "--cluster-name", cluster, "--namespace", "default",
                  "--service-account", "web", "--role-arn", pod_role, "--tags", "team=web")
    assert created.returncode == 0, created.stderr
    association = json.loads(created.stdout)["association"]
    association_id = association["associationId"]
    assert len(association_id) == 19 and association_id.startswith("a-") and association_id[2:].isalnum()
    assert association_id[2:] == association_id[2:].lower()
    assert association["associationArn"] == f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:podidentityassociation/{cluster}/{association_id}"
    assert (association["clusterName"], association["namespace"], association["serviceAccount"], association["roleArn"]) == (
        cluster, "default", "web", pod_role,
    )
    assert (association["tags"], association["disableSessionTags"]) == ({"team": "web"}, False)
    assert association["createdAt"] == association["modifiedAt"]
    assert "ownerArn" not in association and "targetRoleArn" not in association

    described = eks.describe_pod_identity_association(clusterName=cluster, associationId=association_id)["association"]
    assert described["associationArn"] == association["associationArn"] and described["tags"] == {"team": "web"}

    other_role = new_role(iam, path="/workloads/")
    target = "arn:aws:iam::444455556666:role/cross-account-reader"
    time.sleep(0.01)
    updated = eks.update_pod_identity_association(
        clusterName=cluster, associationId=association_id, roleArn=other_role, targetRoleArn=target,
    )["association"]
    assert (updated["roleArn"], updated["targetRoleArn"]) == (other_role, target)
    assert updated["externalId"] == f"us-west-2/{ACCOUNT_ID}/{cluster}/default/web"
    assert updated["modifiedAt"] > updated["createdAt"] == described["createdAt"]
    limited = cli(moorage, "eks", "update-pod-identity-association", "--cluster-name", cluster, "--association-id", association_id,
                  "--disable-session-tags", "--policy", json.dumps({"Version": "2012-10-17", "Statement": [
                      {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    assert limited.returncode == 0, limited.stderr
    assert json.loads(limited.stdout)["association"]["disableSessionTags"] is True

    deleted = cli(moorage, "eks", "delete-pod-identity-association", "--cluster-name", cluster, "--association-id", association_id)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["association"]["associationId"] == association_id
    for call in (eks.describe_pod_identity_association, eks.delete_pod_identity_association):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            call(clusterName=cluster, associationId=association_id)
        assert error_of(excinfo) == ("ResourceNotFoundException", 404, f"No Pod Identity Association found for id: {association_id}.")
    # The service account is free again.
    again = eks.create_pod_identity_association(clusterName=cluster, namespace="default", serviceAccount="web", roleArn=pod_role)
    assert again["association"]["associationId"] != association_id


def test_list_filters_and_pages(moorage, eks, cluster, pod_role):
    made = {
        (namespace, account): eks.create_pod_identity_association(
            clusterName=cluster, namespace=namespace, serviceAccount=account, roleArn=pod_role,
        )["association"]["associationId"]
        for namespace, account in (("list-a", "reader"), ("list-a", "writer"), ("list-b", "reader"))
    }
    mine = [a for a in eks.list_pod_identity_associations(clusterName=cluster)["associations"] if a["namespace"].startswith("list-")]
    assert [(a["namespace"], a["serviceAccount"]) for a in mine] == list(made)
    assert set(mine[0]) == {"clusterName", "namespace", "serviceAccount", "associationArn", "associationId"}

    readers = eks.list_pod_identity_associations(clusterName=cluster, serviceAccount="reader")["associations"]
    assert sorted(a["associationId"] for a in readers) == sorted([made[("list-a", "reader")], made[("list-b", "reader")]])
    in_a = cli(moorage, "eks", "list-pod-identity-associations", "--cluster-name", cluster, "--namespace", "list-a")
    assert in_a.returncode == 0, in_a.stderr
    assert [a["serviceAccount"] for a in json.loads(in_a.stdout)["associations"]] == ["reader", "writer"]

    pages = list(eks.get_paginator("list_pod_identity_associations").paginate(
        clusterName=cluster, namespace="list-a", PaginationConfig={"PageSize": 1},
    ))
    assert [[a["serviceAccount"] for a in p["associations"]] for p in pages] == [["reader"], ["writer"]]
    first = eks.list_pod_identity_associations(clusterName=cluster, maxResults=1)
    assert len(first["associations"]) == 1 and first["nextToken"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_pod_identity_associations(clusterName=cluster, maxResults=101)
    assert error_of(excinfo)[:2] == ("InvalidParameterException", 400)


def test_one_association_per_service_account(eks, cluster, pod_role):
    first = eks.create_pod_identity_association(clusterName=cluster, namespace="dup", serviceAccount="app", roleArn=pod_role)
    association_id = first["association"]["associationId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_pod_identity_association(clusterName=cluster, namespace="dup", serviceAccount="app", roleArn=pod_role)
    assert error_of(excinfo) == ("ResourceInUseException", 409, f"Association already exists: {association_id}")
    # A retried request (same clientRequestToken and parameters) answers with the association it made.
    token = str(uuid.uuid4())
    made = eks.create_pod_identity_association(clusterName=cluster, namespace="dup", serviceAccount="retry", roleArn=pod_role,
                                               clientRequestToken=token)["association"]
    retried = eks.create_pod_identity_association(clusterName=cluster, namespace="dup", serviceAccount="retry", roleArn=pod_role,
                                                  clientRequestToken=token)["association"]
    assert retried["associationId"] == made["associationId"]


@pytest.mark.parametrize("namespace, service_account, field", [
    ("Bad_Namespace", "app", "namespace"), ("n" * 64, "app", "namespace"), ("ok", "App", "serviceAccount"), ("ok", "a/b", "serviceAccount"),
])
def test_bad_names(eks, cluster, pod_role, namespace, service_account, field):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_pod_identity_association(clusterName=cluster, namespace=namespace, serviceAccount=service_account, roleArn=pod_role)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400) and message.startswith(f"The {field} ")


def test_bad_roles(moorage, eks, iam, cluster):
    def refused(role_arn: str, service_account: str = "roles") -> tuple:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            eks.create_pod_identity_association(clusterName=cluster, namespace="roles", serviceAccount=service_account, roleArn=role_arn)
        return error_of(excinfo)

    assert refused(f"arn:aws:iam::{ACCOUNT_ID}:user/alice") == (
        "InvalidParameterException", 400, f"The roleArn arn:aws:iam::{ACCOUNT_ID}:user/alice is not a valid IAM role ARN.",
    )
    assert refused("not-an-arn")[:2] == ("InvalidParameterException", 400)
    assert refused(f"arn:aws:iam::{ACCOUNT_ID}:role/no-such-role") == (
        "InvalidParameterException", 400, "Role provided in the request does not exist.",
    )
    irsa_only = new_role(iam, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    assert refused(irsa_only) == ("InvalidParameterException", 400, "Trust policy of the role provided is invalid.")
    ec2_role = new_role(iam, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]}))
    cli_refused = cli(moorage, "eks", "create-pod-identity-association", "--cluster-name", cluster, "--namespace", "roles",
                      "--service-account", "roles", "--role-arn", ec2_role)
    assert cli_refused.returncode != 0
    assert "(InvalidParameterException)" in cli_refused.stderr and "Trust policy of the role provided is invalid." in cli_refused.stderr
    assert eks.list_pod_identity_associations(clusterName=cluster, namespace="roles")["associations"] == []


def test_missing_cluster_and_malformed_ids(eks, cluster, pod_role):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_pod_identity_association(clusterName="no-such-cluster", namespace="default", serviceAccount="app", roleArn=pod_role)
    assert error_of(excinfo) == ("ResourceNotFoundException", 404, "No cluster found for name: no-such-cluster.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.list_pod_identity_associations(clusterName="no-such-cluster")
    assert error_of(excinfo)[:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.describe_pod_identity_association(clusterName=cluster, associationId="a-bogus")
    assert error_of(excinfo) == ("InvalidParameterException", 400, "The parameter associationId should be 19 characters long.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.update_pod_identity_association(clusterName=cluster, associationId="a-0123456789abcdefg", roleArn=pod_role)
    assert error_of(excinfo) == ("ResourceNotFoundException", 404, "No Pod Identity Association found for id: a-0123456789abcdefg.")


def test_tags_on_the_association_arn(moorage, eks, cluster, pod_role):
    association = eks.create_pod_identity_association(clusterName=cluster, namespace="tags", serviceAccount="app", roleArn=pod_role,
                                                      tags={"team": "a"})["association"]
    arn = association["associationArn"]
    eks.tag_resource(resourceArn=arn, tags={"env": "dev"})
    listed = cli(moorage, "eks", "list-tags-for-resource", "--resource-arn", arn)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["tags"] == {"team": "a", "env": "dev"}
    eks.untag_resource(resourceArn=arn, tagKeys=["team"])
    described = eks.describe_pod_identity_association(clusterName=cluster, associationId=association["associationId"])
    assert described["association"]["tags"] == {"env": "dev"}
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_pod_identity_association(clusterName=cluster, namespace="tags", serviceAccount="reserved", roleArn=pod_role,
                                            tags={"aws:owner": "x"})
    assert error_of(excinfo)[:2] == ("InvalidParameterException", 400)


def test_pass_role_is_needed_unless_root(moorage, eks, iam, cluster, pod_role):
    name = f"podid-{uuid.uuid4().hex[:8]}"
    user_arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="eks", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "eks:*PodIdentityAssociation*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user_eks = moorage.client("eks", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user_eks.create_pod_identity_association(clusterName=cluster, namespace="passrole", serviceAccount="app", roleArn=pod_role)
    assert error_of(excinfo) == (
        "AccessDeniedException", 403,
        f"User: {user_arn} is not authorized to perform: iam:PassRole on resource: {pod_role} "
        "because no identity-based policy allows the iam:PassRole action",
    )
    iam.put_user_policy(UserName=name, PolicyName="pass", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": pod_role,
         "Condition": {"StringEquals": {"iam:PassedToService": "pods.eks.amazonaws.com"}}}]}))
    made = user_eks.create_pod_identity_association(clusterName=cluster, namespace="passrole", serviceAccount="app", roleArn=pod_role)
    association_id = made["association"]["associationId"]
    # Describe, Update and Delete act on the association's ARN: a policy can scope them to it.
    iam.put_user_policy(UserName=name, PolicyName="eks", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "eks:DescribePodIdentityAssociation",
         "Resource": f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:podidentityassociation/{cluster}/*"}]}))
    assert user_eks.describe_pod_identity_association(clusterName=cluster, associationId=association_id)["association"]["namespace"] == "passrole"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        user_eks.delete_pod_identity_association(clusterName=cluster, associationId=association_id)
    assert error_of(excinfo)[:2] == ("AccessDeniedException", 403)
    assert f"podidentityassociation/{cluster}/{association_id}" in error_of(excinfo)[2]


def test_delete_cluster_removes_its_associations(eks, subnet_ids, pod_role):
    doomed = new_cluster(eks, subnet_ids)
    eks.create_pod_identity_association(clusterName=doomed, namespace="default", serviceAccount="app", roleArn=pod_role)
    eks.delete_cluster(name=doomed)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            eks.describe_cluster(name=doomed)
        except eks.exceptions.ResourceNotFoundException:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"cluster {doomed} was not deleted")
    eks.create_cluster(name=doomed, roleArn=CLUSTER_ROLE, resourcesVpcConfig={"subnetIds": subnet_ids})
    assert eks.list_pod_identity_associations(clusterName=doomed)["associations"] == []
    eks.create_pod_identity_association(clusterName=doomed, namespace="default", serviceAccount="app", roleArn=pod_role)
