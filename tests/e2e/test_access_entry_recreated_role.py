"""An access entry is bound to the IAM role it was made for, not only its ARN (as EKS documents for
AccessEntry.principalArn): after the role is deleted and recreated under the same name, kube-apiserver
refuses the new role's tokens (401) until the access entry is deleted and created again.

Real clients throughout: IAM and STS through boto3, the access entry through the AWS CLI, and kubectl
with the kubeconfig of `aws eks update-kubeconfig` (so `aws eks get-token`) run with the credentials
of an STS AssumeRole session.
"""

import json

import pytest

from ..conftest import ACCOUNT_ID
from .test_cluster_access import POLICY, Cluster, unauthorized, wait_for
from .test_clusters import aws, moorage_up, run  # noqa: F401 (moorage_up is a fixture)

pytestmark = pytest.mark.toolchain

TRUST_ACCOUNT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]})


def test_a_recreated_role_needs_its_access_entry_recreated(moorage_up, tmp_path, kubectl):
    moorage = moorage_up()
    cluster = Cluster(moorage, tmp_path, kubectl, "rebind", "authenticationMode=API")
    iam, sts, eks = moorage.client("iam"), moorage.client("sts"), cluster.eks
    role = iam.create_role(RoleName="viewers", AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]

    def kubectl_as_role(*args: str):
        """kubectl (through `aws eks get-token`) with a fresh session of the role as it is now."""
        credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="carol")["Credentials"]
        env = {**cluster.env, "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"], "AWS_SESSION_TOKEN": credentials["SessionToken"]}
        return run(env, kubectl, *args)

    def grant_view():
        created = aws(cluster.env, "eks", "create-access-entry", "--cluster-name", "rebind", "--principal-arn", role["Arn"])
        assert created.returncode == 0, created.stderr
        eks.associate_access_policy(clusterName="rebind", principalArn=role["Arn"], policyArn=POLICY + "AmazonEKSViewPolicy",
                                    accessScope={"type": "cluster"})

    # The role works through its access entry.
    grant_view()
    wait_for(lambda: kubectl_as_role("get", "pods").returncode == 0)
    whoami = json.loads(kubectl_as_role("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["username"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/viewers/carol"
    assert whoami["extra"]["principalId"] == [f"{role['RoleId']}:carol"]

    # Deleted and recreated under the same name: same ARN, new role id, and the old entry no longer applies.
    iam.delete_role(RoleName="viewers")
    recreated = iam.create_role(RoleName="viewers", AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]
    assert recreated["Arn"] == role["Arn"] and recreated["RoleId"] != role["RoleId"]
    role = recreated
    denied = kubectl_as_role("get", "pods")
    assert unauthorized(denied), denied.stderr
    # The entry itself is still there, as on EKS (it is not deleted with the role).
    assert role["Arn"] in eks.list_access_entries(clusterName="rebind")["accessEntries"]

    # Deleting and recreating the access entry binds it to the new role.
    eks.delete_access_entry(clusterName="rebind", principalArn=role["Arn"])
    grant_view()
    wait_for(lambda: kubectl_as_role("get", "pods").returncode == 0)
    whoami = json.loads(kubectl_as_role("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["extra"]["principalId"] == [f"{role['RoleId']}:carol"]
    assert kubectl_as_role("auth", "can-i", "list", "pods").stdout.strip() == "yes"
    assert kubectl_as_role("auth", "can-i", "get", "secrets").stdout.strip() == "no"
