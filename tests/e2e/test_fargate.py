"""Fargate in a real cluster: a profile for `serverless`, its pods each on a Fargate node of their own,
through boto3 (waiters), the AWS CLI and kubectl; and a SIGKILL of Moorage in between."""

import ipaddress
import json
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
POD_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-fargate-pods"
FAST = {"Delay": 1, "MaxAttempts": 180}

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %(namespace)s}
spec:
  replicas: %(replicas)d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        resources:
          requests: {cpu: "1", memory: 8Gi}
          limits: {cpu: "1", memory: 8Gi}
"""


def kubectl_json(kubectl, env, *args) -> dict:
    result = subprocess.run([kubectl, *args, "-o", "json"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def kubectl_run(kubectl, env, *args, stdin: str | None = None) -> None:
    result = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)
    assert result.returncode == 0, result.stderr


def wait_for(predicate, timeout=90, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)


def fargate_nodes(kubectl, env) -> list[dict]:
    return kubectl_json(kubectl, env, "get", "nodes", "-l", "eks.amazonaws.com/compute-type=fargate")["items"]


def running_pods(kubectl, env, namespace) -> list[dict]:
    pods = kubectl_json(kubectl, env, "get", "pods", "-n", namespace, "-l", "app=web")["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def test_fargate_profile_places_each_pod_on_its_own_node(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data")
    try:
        ec2, eks = moorage.client("ec2"), moorage.client("eks")
        vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
        private = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]
            for cidr, zone in (("10.60.1.0/24", "us-west-2a"), ("10.60.2.0/24", "us-west-2b"))
        ]
        eks.create_cluster(name="serverless", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in private]})
        eks.get_waiter("cluster_active").wait(name="serverless", WaiterConfig=FAST)
        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "serverless"], env=env, check=True, capture_output=True)

        # EKS's webhook configuration is in the cluster, pointing at Moorage over HTTPS.
        hook = kubectl_json(kubectl, env, "get", "mutatingwebhookconfiguration", "0500-amazon-eks-fargate-mutation.amazonaws.com")
        assert hook["webhooks"][0]["clientConfig"]["url"].startswith("https://127.0.0.1:")

        created = subprocess.run(
            [
                sys.executable, "-m", "awscli", "eks", "create-fargate-profile", "--cluster-name", "serverless",
                "--fargate-profile-name", "fp-serverless", "--pod-execution-role-arn", POD_ROLE,
                "--selectors", "namespace=serverless", "--tags", "team=web",
            ],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr
        profile = json.loads(created.stdout)["fargateProfile"]
        assert profile["status"] == "CREATING"
        assert profile["subnets"] == [s["SubnetId"] for s in private]  # the cluster's private subnets
        assert profile["fargateProfileArn"].startswith(f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:fargateprofile/serverless/fp-serverless/")
        eks.get_waiter("fargate_profile_active").wait(clusterName="serverless", fargateProfileName="fp-serverless", WaiterConfig=FAST)
        described = eks.describe_fargate_profile(clusterName="serverless", fargateProfileName="fp-serverless")["fargateProfile"]
        assert described["status"] == "ACTIVE" and described["tags"] == {"team": "web"}
        assert described["selectors"] == [{"namespace": "serverless"}]
        assert eks.list_fargate_profiles(clusterName="serverless")["fargateProfileNames"] == ["fp-serverless"]
        with pytest.raises(eks.exceptions.ResourceInUseException) as excinfo:
            eks.create_fargate_profile(clusterName="serverless", fargateProfileName="fp-serverless", podExecutionRoleArn=POD_ROLE,
                                       selectors=[{"namespace": "serverless"}])
        assert excinfo.value.response["Error"]["Message"] == "A Fargate Profile already exists with this name in this cluster."
        with pytest.raises(eks.exceptions.ResourceInUseException):
            eks.delete_cluster(name="serverless")

        # Three pods in `serverless` -> three Fargate nodes; pods in `default` are left alone.
        kubectl_run(kubectl, env, "create", "namespace", "serverless")
        kubectl_run(kubectl, env, "apply", "-f", "-", stdin=DEPLOYMENT % {"namespace": "serverless", "replicas": 3})
        kubectl_run(kubectl, env, "apply", "-f", "-", stdin=DEPLOYMENT % {"namespace": "default", "replicas": 2})
        pods = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(running_pods(kubectl, env, "serverless")))
        nodes = {n["metadata"]["name"]: n for n in fargate_nodes(kubectl, env)}
        assert len(nodes) == 3 and {p["spec"]["nodeName"] for p in pods} == set(nodes)
        networks = {s["AvailabilityZone"]: ipaddress.ip_network(s["CidrBlock"]) for s in private}
        for pod in pods:
            assert pod["spec"]["schedulerName"] == "fargate-scheduler"
            assert pod["metadata"]["annotations"]["CapacityProvisioned"] == "2vCPU 9GB"
            assert pod["metadata"]["labels"]["eks.amazonaws.com/fargate-profile"] == "fp-serverless"
            node = nodes[pod["spec"]["nodeName"]]
            labels = node["metadata"]["labels"]
            address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
            assert node["metadata"]["name"] == f"fargate-ip-{address.replace('.', '-')}.us-west-2.compute.internal"
            assert labels["eks.amazonaws.com/compute-type"] == "fargate"
            assert labels["topology.kubernetes.io/region"] == "us-west-2"
            assert ipaddress.ip_address(address) in networks[labels["topology.kubernetes.io/zone"]]
            assert {"key": "eks.amazonaws.com/compute-type", "value": "fargate", "effect": "NoSchedule"} in node["spec"]["taints"]
            assert (node["status"]["capacity"]["cpu"], node["status"]["capacity"]["memory"]) == ("2", "9Gi")
            assert pod["status"]["podIP"] == address  # one pod per node, with the node's address, as on Fargate
        assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes.values()} == set(networks)
        for pod in kubectl_json(kubectl, env, "get", "pods", "-n", "default", "-l", "app=web")["items"]:
            assert pod["spec"]["schedulerName"] == "default-scheduler"
            assert "CapacityProvisioned" not in (pod["metadata"].get("annotations") or {})

        # Deleting the deployment removes its Fargate nodes.
        kubectl_run(kubectl, env, "delete", "deployment", "web", "-n", "serverless")
        wait_for(lambda: fargate_nodes(kubectl, env) == [])

        # SIGKILL Moorage; pods go while it is down (kwok and the API server keep running), leaving their
        # nodes orphaned; after the restart the scheduler's re-list removes them, then places new pods.
        kubectl_run(kubectl, env, "apply", "-f", "-", stdin=DEPLOYMENT % {"namespace": "serverless", "replicas": 2})
        wait_for(lambda: len(running_pods(kubectl, env, "serverless")) == 2)
        moorage.stop(signal.SIGKILL)
        admin = {**env, "KUBECONFIG": str(next((tmp_path / "data" / "clusters").glob("*/*/serverless-*/pki/admin.kubeconfig")))}
        kubectl_run(kubectl, admin, "delete", "deployment", "web", "-n", "serverless", "--wait=true")
        wait_for(lambda: kubectl_json(kubectl, admin, "get", "pods", "-n", "serverless")["items"] == [])
        assert len(fargate_nodes(kubectl, admin)) == 2
        moorage = start_moorage(tmp_path / "data", port=moorage.port)
        eks = moorage.client("eks")
        wait_for(lambda: fargate_nodes(kubectl, admin) == [])
        kubectl_run(kubectl, env, "apply", "-f", "-", stdin=DEPLOYMENT % {"namespace": "serverless", "replicas": 1})
        wait_for(lambda: len(running_pods(kubectl, env, "serverless")) == 1 and len(fargate_nodes(kubectl, env)) == 1)

        # A Job's pod that completes keeps its Fargate node until the pod is deleted, as on EKS.
        kubectl_run(kubectl, env, "create", "job", "once", "-n", "serverless", "--image=busybox")
        done = wait_for(lambda: [p for p in kubectl_json(kubectl, env, "get", "pods", "-n", "serverless", "-l", "job-name=once")["items"]
                                 if p["status"].get("phase") == "Succeeded"])
        assert done[0]["spec"]["schedulerName"] == "fargate-scheduler"
        assert done[0]["spec"]["nodeName"] in {n["metadata"]["name"] for n in fargate_nodes(kubectl, env)}
        kubectl_run(kubectl, env, "delete", "job", "once", "-n", "serverless", "--cascade=foreground")
        wait_for(lambda: done[0]["spec"]["nodeName"] not in {n["metadata"]["name"] for n in fargate_nodes(kubectl, env)})
        assert len(fargate_nodes(kubectl, env)) == 1

        # Deleting the profile deletes its pods and their nodes; the recreated pod matches no profile.
        eks.delete_fargate_profile(clusterName="serverless", fargateProfileName="fp-serverless")
        eks.get_waiter("fargate_profile_deleted").wait(clusterName="serverless", fargateProfileName="fp-serverless", WaiterConfig=FAST)
        assert fargate_nodes(kubectl, env) == []
        replacement = wait_for(lambda: kubectl_json(kubectl, env, "get", "pods", "-n", "serverless")["items"])
        assert all(p["spec"]["schedulerName"] == "default-scheduler" for p in replacement)
        assert eks.list_fargate_profiles(clusterName="serverless")["fargateProfileNames"] == []
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)
