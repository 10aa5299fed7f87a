"""Upgrade insights computed from a real cluster: boto3, the AWS CLI and kubectl against `moorage up`.

A 1.37 cluster with a node group; kubectl requests a deprecated API (no built-in API with a scheduled
removal is served by default in 1.35-1.37, so a CustomResourceDefinition version marked deprecated: it
sets the same gauge and audit annotation); a kube-proxy DaemonSet one minor behind; then
StartInsightsRefresh → COMPLETED and the five upgrade-readiness checks with the statuses the cluster
really earns.
"""

import json
import subprocess
import sys
import time

import pytest

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-node"
FAST = {"Delay": 1, "MaxAttempts": 180}
DEPRECATED_PATH = "/apis/example.com/v1beta1/widgets"
DEPRECATED = ("example.com", "v1beta1", "widgets")
SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1beta1", "served": True, "storage": False, "deprecated": True, "schema": SCHEMA},
                     {"name": "v1", "served": True, "storage": True, "schema": SCHEMA}],
    },
}
FIVE = {
    "Deprecated APIs removed in Kubernetes v1.38", "Kubelet version skew", "kube-proxy version skew",
    "EKS add-on version compatibility", "Cluster health issues",
}


def aws(env: dict, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "awscli", *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}


def kubectl_run(kubectl: str, env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)
    assert result.returncode == 0, result.stderr
    return result


def refresh(eks, name: str) -> dict:
    started = eks.start_insights_refresh(clusterName=name)
    assert started["status"] == "IN_PROGRESS"
    deadline = time.monotonic() + 60
    while True:
        answer = eks.describe_insights_refresh(clusterName=name)
        if answer["status"] != "IN_PROGRESS":
            return answer
        assert time.monotonic() < deadline, "the refresh did not finish"
        time.sleep(0.2)


def expected_kubelet_status(nodes: list[dict]) -> str:
    """What the nodes earn against a 1.37 control plane: PASSING on 1.37, UNKNOWN without a readable version."""
    versions = [n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes]
    return "PASSING" if all(v.startswith("v1.37.") for v in versions) else "UNKNOWN" if any(not v.startswith("v1.") for v in versions) else "WARNING"


@pytest.fixture
def cluster(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data")
    try:
        eks = moorage.client("eks")
        subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
        ids = [s["SubnetId"] for s in subnets]
        eks.create_cluster(name="ready", roleArn=ROLE, resourcesVpcConfig={"subnetIds": ids})
        eks.get_waiter("cluster_active").wait(name="ready", WaiterConfig=FAST)
        eks.create_nodegroup(clusterName="ready", nodegroupName="ng1", nodeRole=NODE_ROLE, subnets=ids,
                             scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
        eks.get_waiter("nodegroup_active").wait(clusterName="ready", nodegroupName="ng1", WaiterConfig=FAST)
        env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
        aws(env, "eks", "update-kubeconfig", "--name", "ready")
        yield moorage, eks, env
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def test_insights_from_a_real_cluster(cluster, kubectl):
    moorage, eks, env = cluster
    # A deprecated API, requested for real; kube-apiserver warns the client and records it.
    kubectl_run(kubectl, env, "apply", "-f", "-", stdin=json.dumps(CRD))
    kubectl_run(kubectl, env, "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s")
    listed = subprocess.run([kubectl, "get", "--raw", DEPRECATED_PATH], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "deprecated" in listed.stderr.lower()  # kubectl prints kube-apiserver's Warning header
    metrics = kubectl_run(kubectl, env, "get", "--raw", "/metrics").stdout
    group, version, resource = DEPRECATED
    assert any(line.startswith("apiserver_requested_deprecated_apis{") and f'group="{group}"' in line
               and f'resource="{resource}"' in line and f'version="{version}"' in line for line in metrics.splitlines())
    # kube-proxy one minor behind the control plane.
    daemonset = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                         "spec": {"containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.36.3"}]}},
        },
    }
    kubectl_run(kubectl, env, "apply", "-f", "-", stdin=json.dumps(daemonset))
    nodes = json.loads(kubectl_run(kubectl, env, "get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 2

    done = refresh(eks, "ready")
    assert done["status"] == "COMPLETED" and done["endedAt"] >= done["startedAt"]

    assert {i["name"] for i in aws(env, "eks", "list-insights", "--cluster-name", "ready")["insights"]} == FIVE
    insights = eks.list_insights(clusterName="ready")["insights"]
    by_name = {i["name"]: i for i in insights}
    assert set(by_name) == FIVE
    assert {i["category"] for i in insights} == {"UPGRADE_READINESS"} and {i["kubernetesVersion"] for i in insights} == {"1.38"}
    statuses = {name: i["insightStatus"]["status"] for name, i in by_name.items()}
    assert statuses == {
        "Deprecated APIs removed in Kubernetes v1.38": "WARNING",  # deprecated, removal not scheduled
        "Kubelet version skew": expected_kubelet_status(nodes),
        "kube-proxy version skew": "WARNING",
        "EKS add-on version compatibility": "PASSING",
        "Cluster health issues": "PASSING",
    }

    deprecated = eks.describe_insight(clusterName="ready", id=by_name["Deprecated APIs removed in Kubernetes v1.38"]["id"])["insight"]
    (detail,) = [d for d in deprecated["categorySpecificSummary"]["deprecationDetails"] if d["usage"] == DEPRECATED_PATH]
    assert detail["usage"] == DEPRECATED_PATH and "stopServingVersion" not in detail
    assert detail["replacedWith"] == DEPRECATED_PATH.replace(version, "v1")
    (client,) = [c for c in detail["clientStats"] if c["userAgent"].startswith("kubectl/")]
    assert client["numberOfRequestsLast30Days"] >= 1 and client["lastRequestTime"].year >= 2026
    proxy = eks.describe_insight(clusterName="ready", id=by_name["kube-proxy version skew"]["id"])["insight"]
    assert [r["kubernetesResourceUri"] for r in proxy["resources"]] == ["/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"]

    # Filters, and ids stable across refreshes.
    warnings = eks.list_insights(clusterName="ready", filter={"statuses": ["WARNING"]})["insights"]
    assert {i["name"] for i in warnings} == {"Deprecated APIs removed in Kubernetes v1.38", "kube-proxy version skew"}
    assert eks.list_insights(clusterName="ready", filter={"statuses": ["ERROR"]})["insights"] == []
    assert refresh(eks, "ready")["status"] == "COMPLETED"
    again = {i["name"]: i for i in eks.list_insights(clusterName="ready")["insights"]}
    assert {n: i["id"] for n, i in again.items()} == {n: i["id"] for n, i in by_name.items()}
    assert again["Cluster health issues"]["lastTransitionTime"] == by_name["Cluster health issues"]["lastTransitionTime"]
