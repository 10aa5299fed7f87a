"""A real cluster under `moorage up --tls`: its OIDC issuer is https, so kube-apiserver publishes
service-account issuer discovery itself (it refuses to for an http issuer), kubectl reaches the
cluster through the AWS CLI's kubeconfig, and IRSA works end to end over HTTPS."""

import json
import ssl
import subprocess
import sys
import urllib.request

import botocore
import pytest
from botocore.config import Config

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
FAST = {"Delay": 1, "MaxAttempts": 180}
AUDIENCE = "sts.amazonaws.com"


def test_cluster_issuer_is_https_and_irsa_works_over_tls(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data", args=["--tls"])
    try:
        verify = str(moorage.ca_bundle)
        eks = moorage.client("eks", verify=verify)
        subnets = [s["SubnetId"] for s in moorage.client("ec2", verify=verify).describe_subnets()["Subnets"]][:2]
        eks.create_cluster(name="tls", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets})
        eks.get_waiter("cluster_active").wait(name="tls", WaiterConfig=FAST)
        issuer = eks.describe_cluster(name="tls")["cluster"]["identity"]["oidc"]["issuer"]
        assert issuer.startswith(f"{moorage.url}/_moorage/oidc/id/")

        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "tls"],
                       env=env, check=True, capture_output=True, timeout=60)
        # kube-apiserver serves issuer discovery only for an https --service-account-issuer.
        raw = subprocess.run([kubectl, "get", "--raw", "/.well-known/openid-configuration"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert raw.returncode == 0, raw.stderr
        assert json.loads(raw.stdout)["issuer"] == issuer

        context = ssl.create_default_context(cafile=verify)
        with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=10, context=context) as response:
            assert json.loads(response.read())["issuer"] == issuer

        subprocess.run([kubectl, "create", "serviceaccount", "app"], env=env, capture_output=True, timeout=60)
        token = subprocess.run([kubectl, "create", "token", "app", "--audience", AUDIENCE],
                               env=env, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
        iam = moorage.client("iam", region="us-east-1", verify=verify)
        provider = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=[AUDIENCE])["OpenIDConnectProviderArn"]
        host_path = issuer.split("://", 1)[1]
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host_path}:sub": "system:serviceaccount:default:app"}},
        }]}
        role = iam.create_role(RoleName="tls-app", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        sts = moorage.client("sts", verify=verify, config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
        assumed = sts.assume_role_with_web_identity(RoleArn=role["Arn"], RoleSessionName="pod", WebIdentityToken=token)
        assert assumed["Provider"] == issuer
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)
