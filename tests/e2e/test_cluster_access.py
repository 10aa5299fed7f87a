"""Cluster access end to end: access entries, access policies enforced by kube-apiserver, aws-auth,
authentication modes and token checks, with the AWS CLI, boto3 and kubectl against real control planes.

The first two tests use the account root as the caller, created without bootstrap admin rights (so
it starts with no access at all) or mapped through aws-auth; the last one adds an IAM user made
through the IAM API next to the creator's bootstrap ClusterAdmin entry.
"""

import base64
import json
import ssl
import subprocess
import time
import unittest.mock
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest

from ..conftest import ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY
from .test_clusters import FAST, ROLE, aws, moorage_up, run, two_subnets  # noqa: F401 (moorage_up is a fixture)

pytestmark = pytest.mark.toolchain

ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-nodes"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"


def unauthorized(result) -> bool:
    """kubectl's words for a 401 from kube-apiserver."""
    return result.returncode != 0 and ("provide credentials" in result.stderr or "Unauthorized" in result.stderr)


def forbidden(result) -> bool:
    return result.returncode != 0 and "forbidden" in result.stderr.lower()


def wait_for(check, timeout: float = 60, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


class Cluster:
    """One cluster with two kubeconfigs: the caller's (aws eks get-token) and Moorage's admin identity."""

    def __init__(self, moorage, tmp_path: Path, kubectl: str, name: str, access: dict):
        self.moorage, self.name, self.kubectl = moorage, name, kubectl
        self.eks = moorage.client("eks")
        self.env = {**moorage.env(), "KUBECONFIG": str(tmp_path / f"{name}.kubeconfig")}
        subnets = ",".join(two_subnets(moorage))
        created = aws(self.env, "eks", "create-cluster", "--name", name, "--role-arn", ROLE,
                      "--resources-vpc-config", f"subnetIds={subnets}", "--access-config", access)
        assert created.returncode == 0, created.stderr
        self.eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
        self.info = self.eks.describe_cluster(name=name)["cluster"]
        assert aws(self.env, "eks", "update-kubeconfig", "--name", name).returncode == 0
        admin = next(moorage.data_dir.glob(f"clusters/*/*/{name}-{self.info['id']}/pki/admin.kubeconfig"))
        self.admin_env = {**self.env, "KUBECONFIG": str(admin)}

    def kubectl_as_caller(self, *args: str):
        return run(self.env, self.kubectl, *args)

    def kubectl_as_admin(self, *args: str, stdin: str | None = None):
        if stdin is None:
            return run(self.admin_env, self.kubectl, *args)
        return subprocess.run([self.kubectl, *args], env=self.admin_env, input=stdin, capture_output=True, text=True, timeout=60)

    def can_i(self, *args: str) -> str:
        return self.kubectl_as_caller("auth", "can-i", *args).stdout.strip()

    def http_status(self, token: str) -> int:
        """GET pods with a bearer token straight at kube-apiserver (no kubeconfig in between)."""
        context = ssl.create_default_context(cadata=base64.b64decode(self.info["certificateAuthority"]["data"]).decode())
        request = urllib.request.Request(f"{self.info['endpoint']}/api/v1/namespaces/default/pods",
                                         headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


def token_for(cluster: str, when: datetime | None = None, secret: str = SECRET_ACCESS_KEY) -> str:
    """A token as `aws eks get-token` makes it, optionally signed at another time or with another secret."""
    sts = boto3.client("sts", region_name=REGION, endpoint_url=f"https://sts.{REGION}.amazonaws.com",
                       aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=secret)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", lambda request, **_: request.headers.__setitem__("x-k8s-aws-id", cluster))
    if when is None:
        url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    else:
        with unittest.mock.patch("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None)):
            url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_access_entries_and_policies_in_api_mode(moorage_up, tmp_path, kubectl):
    moorage = moorage_up()
    cluster = Cluster(moorage, tmp_path, kubectl, "api", "authenticationMode=API,bootstrapClusterCreatorAdminPermissions=false")
    eks = cluster.eks
    assert cluster.info["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert eks.list_access_entries(clusterName="api")["accessEntries"] == []

    # No access entry: kube-apiserver refuses the caller, whose token is otherwise fine.
    denied = cluster.kubectl_as_caller("get", "pods")
    assert unauthorized(denied), denied.stderr

    # Tokens for another cluster, expired, signed with a wrong secret or well-formed but unmapped are all 401.
    assert cluster.http_status(token_for("other")) == 401
    assert cluster.http_status(token_for("api", secret="not-the-secret-access-key-0123456789abcd")) == 401
    assert cluster.http_status(token_for("api", datetime.now(timezone.utc) - timedelta(minutes=16))) == 401
    assert cluster.http_status(token_for("api")) == 401

    # View at cluster scope: reads, but no Secrets and no writes; `kubectl auth can-i` agrees.
    created = aws(cluster.env, "eks", "create-access-entry", "--cluster-name", "api", "--principal-arn", ROOT)
    assert created.returncode == 0, created.stderr
    entry = json.loads(created.stdout)["accessEntry"]
    assert entry["username"] == ROOT and entry["type"] == "STANDARD"
    eks.associate_access_policy(clusterName="api", principalArn=ROOT, policyArn=POLICY + "AmazonEKSViewPolicy",
                                accessScope={"type": "cluster"})
    wait_for(lambda: cluster.kubectl_as_caller("get", "pods").returncode == 0)
    assert cluster.http_status(token_for("api")) == 200
    assert cluster.http_status(token_for("api", secret="not-the-secret-access-key-0123456789abcd")) == 401
    whoami = json.loads(cluster.kubectl_as_caller("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["username"] == ROOT and whoami["extra"]["canonicalArn"] == [ROOT]
    secrets = cluster.kubectl_as_caller("get", "secrets")
    assert forbidden(secrets), secrets.stderr
    write = cluster.kubectl_as_caller("create", "configmap", "nope")
    assert forbidden(write), write.stderr
    assert cluster.can_i("list", "pods") == "yes"
    assert cluster.can_i("get", "secrets") == "no"
    assert cluster.can_i("create", "deployments") == "no"

    # Namespace-scoped Edit instead: writes only in the namespaces it names (with a wildcard).
    for namespace in ("team-a", "prod"):
        assert cluster.kubectl_as_admin("create", "namespace", namespace).returncode == 0
    eks.disassociate_access_policy(clusterName="api", principalArn=ROOT, policyArn=POLICY + "AmazonEKSViewPolicy")
    eks.associate_access_policy(clusterName="api", principalArn=ROOT, policyArn=POLICY + "AmazonEKSEditPolicy",
                                accessScope={"type": "namespace", "namespaces": ["team-*"]})
    wait_for(lambda: cluster.can_i("create", "deployments", "-n", "team-a") == "yes")
    assert cluster.can_i("create", "deployments", "-n", "prod") == "no"
    assert cluster.can_i("list", "pods", "-n", "prod") == "no"
    assert cluster.can_i("create", "rolebindings", "-n", "team-a") == "no"  # Edit is not Admin
    made = cluster.kubectl_as_caller("create", "deployment", "web", "--image=nginx", "-n", "team-a")
    assert made.returncode == 0, made.stderr
    refused = cluster.kubectl_as_caller("create", "deployment", "web", "--image=nginx", "-n", "prod")
    assert forbidden(refused), refused.stderr

    # A managed node group's role gets its EC2_LINUX entry, as EKS makes it.
    eks.create_nodegroup(clusterName="api", nodegroupName="ng", subnets=two_subnets(moorage), nodeRole=NODE_ROLE,
                         scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1})
    node_entry = eks.describe_access_entry(clusterName="api", principalArn=NODE_ROLE)["accessEntry"]
    assert (node_entry["type"], node_entry["username"], node_entry["kubernetesGroups"]) == (
        "EC2_LINUX", "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]
    )

    # Deleting the entry takes the access away again.
    eks.delete_access_entry(clusterName="api", principalArn=ROOT)
    wait_for(lambda: unauthorized(cluster.kubectl_as_caller("get", "pods", "-n", "team-a")))


AWS_AUTH = """apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapRoles: |
{roles}
  mapUsers: |
    - userarn: {root}
      username: admin:{{{{AccountID}}}}
      groups:
        - readers
"""


def test_aws_auth_in_config_map_modes_and_not_in_api(moorage_up, tmp_path, kubectl):
    moorage = moorage_up()
    cluster = Cluster(moorage, tmp_path, kubectl, "cm", "authenticationMode=CONFIG_MAP")
    eks = cluster.eks
    # CONFIG_MAP: the creator is an invisible system:masters mapping; no access-entry API.
    assert cluster.kubectl_as_caller("auth", "can-i", "*", "*").stdout.strip() == "yes"
    with pytest.raises(eks.exceptions.InvalidRequestException):
        eks.list_access_entries(clusterName="cm")

    # A managed node group's role goes into aws-auth's mapRoles, as EKS writes it.
    eks.create_nodegroup(clusterName="cm", nodegroupName="ng", subnets=two_subnets(moorage), nodeRole=NODE_ROLE,
                         scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1})
    eks.get_waiter("nodegroup_active").wait(clusterName="cm", nodegroupName="ng", WaiterConfig=FAST)
    configmap = json.loads(cluster.kubectl_as_admin("get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json").stdout)
    assert f"rolearn: {NODE_ROLE}" in configmap["data"]["mapRoles"]
    assert "system:node:{{EC2PrivateDNSName}}" in configmap["data"]["mapRoles"]

    # The caller mapped by aws-auth's mapUsers, with a username template and an RBAC group.
    roles = "\n".join("    " + line for line in configmap["data"]["mapRoles"].splitlines())
    applied = cluster.kubectl_as_admin("apply", "-f", "-", stdin=AWS_AUTH.format(roles=roles, root=ROOT))
    assert applied.returncode == 0, applied.stderr
    bound = cluster.kubectl_as_admin("create", "clusterrolebinding", "readers-view", "--clusterrole=view", "--group=readers")
    assert bound.returncode == 0, bound.stderr

    # API_AND_CONFIG_MAP: the creator gets its ClusterAdmin entry (entries win over aws-auth) ...
    update = eks.update_cluster_config(name="cm", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})["update"]
    assert update["type"] == "AccessConfigUpdate"
    wait_for(lambda: eks.describe_update(name="cm", updateId=update["id"])["update"]["status"] == "Successful")
    policies = eks.list_associated_access_policies(clusterName="cm", principalArn=ROOT)["associatedAccessPolicies"]
    assert [p["policyArn"] for p in policies] == [POLICY + "AmazonEKSClusterAdminPolicy"]
    wait_for(lambda: cluster.can_i("create", "namespaces") == "yes")
    # ... and without it, aws-auth's mapping applies.
    eks.delete_access_entry(clusterName="cm", principalArn=ROOT)

    def mapped_by_aws_auth():
        whoami = cluster.kubectl_as_caller("auth", "whoami", "-o", "json")
        return whoami.returncode == 0 and json.loads(whoami.stdout)["status"]["userInfo"]

    user = wait_for(lambda: (mapped_by_aws_auth() or {}).get("username") == f"admin:{ACCOUNT_ID}" and mapped_by_aws_auth())
    assert "readers" in user["groups"]
    assert cluster.kubectl_as_caller("get", "pods", "-A").returncode == 0
    assert cluster.can_i("get", "secrets") == "no"  # the view ClusterRole has no Secrets

    # API: aws-auth is ignored, so the caller has no identity in the cluster any more.
    with pytest.raises(eks.exceptions.InvalidParameterException):
        eks.update_cluster_config(name="cm", accessConfig={"authenticationMode": "CONFIG_MAP"})
    update = eks.update_cluster_config(name="cm", accessConfig={"authenticationMode": "API"})["update"]
    wait_for(lambda: eks.describe_update(name="cm", updateId=update["id"])["update"]["status"] == "Successful")
    wait_for(lambda: unauthorized(cluster.kubectl_as_caller("get", "pods")))


def test_an_iam_user_gets_exactly_its_access_policy(moorage_up, tmp_path, kubectl):
    """A second identity made through the IAM API; the creator keeps its bootstrap ClusterAdmin entry."""
    moorage = moorage_up()
    cluster = Cluster(moorage, tmp_path, kubectl, "shared", "authenticationMode=API")
    iam, eks = moorage.client("iam"), cluster.eks
    user_arn = iam.create_user(UserName="viewer")["User"]["Arn"]
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    # The same kubeconfig (aws eks get-token), run with the user's credentials.
    as_user = {**cluster.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def kubectl_as_user(*args: str):
        return run(as_user, kubectl, *args)

    assert unauthorized(kubectl_as_user("get", "pods"))
    assert cluster.can_i("create", "namespaces") == "yes"  # the creator, through AmazonEKSClusterAdminPolicy

    eks.create_access_entry(clusterName="shared", principalArn=user_arn)
    eks.associate_access_policy(clusterName="shared", principalArn=user_arn, policyArn=POLICY + "AmazonEKSViewPolicy",
                                accessScope={"type": "cluster"})
    wait_for(lambda: kubectl_as_user("get", "pods").returncode == 0)
    whoami = json.loads(kubectl_as_user("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert whoami["username"] == user_arn and whoami["extra"]["arn"] == [user_arn]
    assert forbidden(kubectl_as_user("get", "secrets"))
    assert forbidden(kubectl_as_user("create", "namespace", "mine"))
    assert kubectl_as_user("auth", "can-i", "watch", "deployments").stdout.strip() == "yes"
    assert kubectl_as_user("auth", "can-i", "delete", "pods").stdout.strip() == "no"
    assert cluster.kubectl_as_caller("create", "namespace", "theirs").returncode == 0  # the creator still can
