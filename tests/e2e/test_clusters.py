"""Real control planes behind the EKS API, driven by the AWS CLI, boto3 and kubectl.

Each test starts its own `moorage up` (real etcd, kube-apiserver, kube-controller-manager and
kube-scheduler), so crashes and restarts can be exercised without disturbing other tests.
"""

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
FAST = {"Delay": 1, "MaxAttempts": 180}


def aws(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "awscli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def run(env: dict, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout)


def two_subnets(moorage) -> list[str]:
    subnets = moorage.client("ec2").describe_subnets()["Subnets"]
    return [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]]


def create(moorage, name: str, **extra) -> dict:
    return moorage.client("eks").create_cluster(
        name=name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": two_subnets(moorage)}, **extra
    )["cluster"]


def processes_of(cluster_id: str) -> dict[str, int]:
    """component -> pid of every live process whose command line mentions the cluster's id."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not any(cluster_id.encode() in arg for arg in argv):
            continue
        component = Path(argv[0].decode()).name
        found.setdefault(component, []).append(int(entry.name))
    for component, pids in found.items():
        assert len(pids) == 1, f"{len(pids)} {component} processes for cluster {cluster_id}: duplicated"
    return {component: pids[0] for component, pids in found.items()}


def _health_after_stop(moorage) -> str:
    """The stopped cluster's health message, read straight from the store (Moorage is down)."""
    import sqlite3

    row = sqlite3.connect(moorage.data_dir / "state.db").execute("SELECT status FROM records WHERE kind='cluster'").fetchone()
    return json.dumps(json.loads(row[0]).get("healthIssues"))


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def moorage_up(tmp_path):
    started = []

    def start(**kwargs):
        running = start_moorage(tmp_path / "data", **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
    assert kill_leftovers(tmp_path) == [], "processes outlived their Moorage"


def test_cluster_lifecycle_with_real_clients(moorage_up, tmp_path, kubectl):
    moorage = moorage_up()
    env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig"), "PATH": f"{Path(kubectl).parent}:{moorage.env()['PATH']}"}
    subnets = ",".join(two_subnets(moorage))
    created = aws(env, "eks", "create-cluster", "--name", "demo", "--role-arn", ROLE, "--resources-vpc-config", f"subnetIds={subnets}")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["cluster"]["status"] == "CREATING"

    eks = moorage.client("eks")
    eks.get_waiter("cluster_active").wait(name="demo", WaiterConfig=FAST)
    waited = aws(env, "eks", "wait", "cluster-active", "--name", "demo")
    assert waited.returncode == 0, waited.stderr
    cluster = eks.describe_cluster(name="demo")["cluster"]
    assert cluster["status"] == "ACTIVE" and cluster["health"]["issues"] == []
    assert cluster["endpoint"].startswith("https://127.0.0.1:")
    assert cluster["certificateAuthority"]["data"]

    kubeconfig = aws(env, "eks", "update-kubeconfig", "--name", "demo")
    assert kubeconfig.returncode == 0, kubeconfig.stderr
    readyz = run(env, kubectl, "get", "--raw", "/readyz")
    assert (readyz.returncode, readyz.stdout.strip()) == (0, "ok"), readyz.stderr
    whoami = run(env, kubectl, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    version = json.loads(run(env, kubectl, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    deployment = run(env, kubectl, "create", "deployment", "web", "--image=nginx", "--replicas=2")
    assert deployment.returncode == 0, deployment.stderr
    # The real kube-controller-manager turns the deployment into a ReplicaSet and pods.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = json.loads(run(env, kubectl, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
        if len(pods) == 2:
            break
        time.sleep(0.5)
    assert len(pods) == 2

    # A token signed with the wrong secret is refused by kube-apiserver (through Moorage's webhook).
    forged = run({**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-not-the-secret-000000000"}, kubectl, "get", "pods")
    assert forged.returncode != 0 and "Unauthorized" in forged.stderr + forged.stdout

    ids = processes_of(cluster["id"])
    assert set(ids) >= {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    port = int(cluster["endpoint"].rsplit(":", 1)[1])
    deleted = eks.delete_cluster(name="demo")["cluster"]
    assert deleted["status"] == "DELETING"
    eks.get_waiter("cluster_deleted").wait(name="demo", WaiterConfig=FAST)
    # Its EKS-created cluster security group went with it.
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        moorage.client("ec2").describe_security_groups(GroupIds=[deleted["resourcesVpcConfig"]["clusterSecurityGroupId"]])
    assert excinfo.value.response["Error"]["Code"] == "InvalidGroup.NotFound"
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_cluster(name="demo")
    assert processes_of(cluster["id"]) == {}
    assert not port_open(port)
    assert not list((moorage.data_dir / "clusters").rglob(f"*{cluster['id']}*"))


@pytest.mark.parametrize("version", ["1.35", "1.36", "1.37"])
def test_every_offered_minor_runs_its_pinned_kubernetes(moorage_up, version):
    moorage = moorage_up()
    eks = moorage.client("eks")
    offered = {v["clusterVersion"]: v["kubernetesPatchVersion"] for v in eks.describe_cluster_versions()["clusterVersions"]}
    name = "v" + version.replace(".", "-")
    assert create(moorage, name, version=version)["version"] == version
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    cluster = eks.describe_cluster(name=name)["cluster"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificateAuthority"]["data"]).decode())
    with urllib.request.urlopen(cluster["endpoint"] + "/version", context=context, timeout=10) as response:
        served = json.load(response)  # anonymous: /version is public, as on EKS
    assert served["gitVersion"] == f"v{offered[version]}"
    assert f"{served['major']}.{served['minor']}" == version

    assert cluster["upgradePolicy"] == {"supportType": "EXTENDED"}
    update = eks.update_cluster_config(name=name, upgradePolicy={"supportType": "STANDARD"})["update"]
    assert (update["type"], [p["type"] for p in update["params"]]) == ("UpgradePolicyUpdate", ["UpgradePolicy"])
    deadline = time.monotonic() + 60
    while eks.describe_update(name=name, updateId=update["id"])["update"]["status"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert eks.describe_update(name=name, updateId=update["id"])["update"]["status"] == "Successful"
    assert eks.describe_cluster(name=name)["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}


def test_update_cluster_config_records_an_update(moorage_up):
    moorage = moorage_up()
    eks = moorage.client("eks")
    create(moorage, "upd")
    eks.get_waiter("cluster_active").wait(name="upd", WaiterConfig=FAST)
    update = eks.update_cluster_config(
        name="upd", logging={"clusterLogging": [{"types": ["scheduler"], "enabled": True}]}
    )["update"]
    assert update["type"] == "LoggingUpdate" and update["status"] == "InProgress"
    with pytest.raises(eks.exceptions.InvalidParameterException):
        eks.update_cluster_config(name="upd", deletionProtection=True, upgradePolicy={"supportType": "STANDARD"})
    deadline = time.monotonic() + 60
    while eks.describe_update(name="upd", updateId=update["id"])["update"]["status"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert eks.describe_update(name="upd", updateId=update["id"])["update"]["status"] == "Successful"
    assert eks.list_updates(name="upd")["updateIds"] == [update["id"]]
    cluster = eks.describe_cluster(name="upd")["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert {"types": ["scheduler"], "enabled": True} in cluster["logging"]["clusterLogging"]

    # A component setting reaches the real process: kube-apiserver restarts with --event-ttl.
    update = eks.update_cluster_config(name="upd", kubeApiServerConfig={"eventTtl": "30m"})["update"]
    assert update["type"] == "ControlPlaneComponentConfigUpdate"
    while eks.describe_update(name="upd", updateId=update["id"])["update"]["status"] == "InProgress":
        assert time.monotonic() < deadline + 60
        time.sleep(0.2)
    cluster = eks.describe_cluster(name="upd")["cluster"]
    apiserver = processes_of(cluster["id"])["kube-apiserver"]
    assert "--event-ttl=30m" in Path(f"/proc/{apiserver}/cmdline").read_bytes().decode().split("\0")

    eks.update_cluster_config(name="upd", deletionProtection=True)
    deadline = time.monotonic() + 60
    while eks.describe_cluster(name="upd")["cluster"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with pytest.raises(eks.exceptions.InvalidRequestException):
        eks.delete_cluster(name="upd")


def test_crashed_component_is_restarted_and_health_shows_it(moorage_up):
    moorage = moorage_up()
    eks = moorage.client("eks")
    cluster_id = create(moorage, "crashy")["id"]
    eks.get_waiter("cluster_active").wait(name="crashy", WaiterConfig=FAST)
    before = processes_of(cluster_id)["kube-scheduler"]
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = processes_of(cluster_id).get("kube-scheduler")
        if now and now != before:
            break
        assert time.monotonic() < deadline, "kube-scheduler was not restarted"
        time.sleep(0.1)
    assert eks.describe_cluster(name="crashy")["cluster"]["status"] == "ACTIVE"


def test_sigkill_during_create_then_restart_finishes_once(moorage_up):
    moorage = moorage_up()
    cluster_id = create(moorage, "resume")["id"]
    moorage.stop(signal.SIGKILL)
    moorage = moorage_up(port=moorage.port)
    eks = moorage.client("eks")
    eks.get_waiter("cluster_active").wait(name="resume", WaiterConfig=FAST)
    assert set(processes_of(cluster_id)) >= {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"} - {"etcd"}
    assert eks.list_clusters()["clusters"] == ["resume"]


def test_sigkill_leaves_clusters_serving_and_restart_adopts_them(moorage_up):
    moorage = moorage_up()
    eks = moorage.client("eks")
    cluster = create(moorage, "keep")
    eks.get_waiter("cluster_active").wait(name="keep", WaiterConfig=FAST)
    endpoint = eks.describe_cluster(name="keep")["cluster"]["endpoint"]
    before = processes_of(cluster["id"])
    moorage.stop(signal.SIGKILL)
    assert processes_of(cluster["id"]) == before  # nothing died with Moorage
    assert port_open(int(endpoint.rsplit(":", 1)[1]))
    moorage = moorage_up(port=moorage.port)
    eks = moorage.client("eks")
    eks.get_waiter("cluster_active").wait(name="keep", WaiterConfig=FAST)
    time.sleep(1)
    assert processes_of(cluster["id"]) == before  # adopted, not restarted


def test_sigkill_during_delete_then_restart_removes_everything(moorage_up):
    moorage = moorage_up()
    eks = moorage.client("eks")
    cluster = create(moorage, "gone")
    eks.get_waiter("cluster_active").wait(name="gone", WaiterConfig=FAST)
    eks.delete_cluster(name="gone")
    moorage.stop(signal.SIGKILL)
    moorage = moorage_up(port=moorage.port)
    eks = moorage.client("eks")
    eks.get_waiter("cluster_deleted").wait(name="gone", WaiterConfig=FAST)
    deadline = time.monotonic() + 30
    while processes_of(cluster["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(cluster["id"]) == {}
    assert not list((moorage.data_dir / "clusters").rglob(f"*{cluster['id']}*"))


def test_clean_stop_and_restart_keeps_data(moorage_up, tmp_path, kubectl):
    moorage = moorage_up()
    eks = moorage.client("eks")
    cluster = create(moorage, "durable")
    eks.get_waiter("cluster_active").wait(name="durable", WaiterConfig=FAST)
    env = {**moorage.env(), "KUBECONFIG": str(tmp_path / "kubeconfig")}
    assert aws(env, "eks", "update-kubeconfig", "--name", "durable").returncode == 0
    assert run(env, kubectl, "create", "configmap", "kept", "--from-literal=answer=42").returncode == 0
    assert moorage.stop(signal.SIGTERM) == 0
    assert processes_of(cluster["id"]) == {}  # a clean stop stops the control planes
    assert "stopped because Moorage stopped" in _health_after_stop(moorage)
    moorage = moorage_up(port=moorage.port)
    eks = moorage.client("eks")
    eks.get_waiter("cluster_active").wait(name="durable", WaiterConfig=FAST)
    deadline = time.monotonic() + 60
    while eks.describe_cluster(name="durable")["cluster"]["health"]["issues"]:
        assert time.monotonic() < deadline, "the control plane did not come back"
        time.sleep(0.2)
    kept = run(env, kubectl, "get", "configmap", "kept", "-o", "jsonpath={.data.answer}")
    assert (kept.returncode, kept.stdout) == (0, "42"), kept.stderr
