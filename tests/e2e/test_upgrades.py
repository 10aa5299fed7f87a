"""Version updates end to end: UpdateClusterVersion with a reader that must never fail, then
UpdateNodegroupVersion under a PodDisruptionBudget, crashes in the middle of both, and a rollback."""

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from moorage.services.eks.versions import patch_version, supported_minors

from ..conftest import ACCOUNT_ID, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-node"
FAST = {"Delay": 1, "MaxAttempts": 180}
OLD, NEW = sorted(supported_minors(), key=lambda m: tuple(int(p) for p in m.split(".")))[-2:]


def wait_for(predicate, timeout=120, interval=0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(interval)


def run_ok(env, *args, timeout=60):
    result = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def kubectl_json(kubectl, env, *args) -> dict:
    return json.loads(run_ok(env, kubectl, *args, "-o", "json"))


def make_cluster(moorage, tmp_path, name="up", version=OLD):
    eks = moorage.client("eks")
    subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
    eks.create_cluster(name=name, version=version, roleArn=ROLE,
                       resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets]})
    eks.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)
    env = {**moorage.env(), "KUBECONFIG": str(tmp_path / f"{name}.kubeconfig")}
    run_ok(env, sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", name)
    return eks, [s["SubnetId"] for s in subnets], env


def wait_update(eks, name, update_id, nodegroup=None, timeout=180):
    extra = {"nodegroupName": nodegroup} if nodegroup else {}

    def done():
        update = eks.describe_update(name=name, updateId=update_id, **extra)["update"]
        return update if update["status"] != "InProgress" else None

    return wait_for(done, timeout=timeout, interval=0.5)


class Reader(threading.Thread):
    """Reads the cluster through its endpoint every 100 ms with a fresh connection and an IAM token, as a
    client outside the cluster does; counts every failed request and the fewest Ready web pods it saw."""

    def __init__(self, endpoint: str, ca_data: str, token: str):
        super().__init__(daemon=True)
        self.url = f"{endpoint}/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"
        self.context = ssl.create_default_context(cadata=base64.b64decode(ca_data).decode())
        self.token = token
        self.stop_event = threading.Event()
        self.requests = self.failures = 0
        self.errors: list[str] = []
        self.min_ready: int | None = None

    def run(self):
        while not self.stop_event.is_set():
            self.requests += 1
            request = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {self.token}"})
            try:
                with urllib.request.urlopen(request, context=self.context, timeout=5) as response:
                    pods = json.loads(response.read())["items"]
                ready = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp") and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions") or []))
                self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)
            except (urllib.error.URLError, OSError, ValueError) as error:
                self.failures += 1
                self.errors.append(f"{time.strftime('%H:%M:%S')} {error}")
            time.sleep(0.1)

    def stop(self):
        self.stop_event.set()
        self.join(10)


@pytest.fixture
def moorage(tmp_path):
    running = start_moorage(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()
        kill_leftovers(tmp_path)


def test_cluster_then_node_group_upgrade_without_downtime_or_budget_violation(moorage, tmp_path, kubectl):
    eks, subnets, env = make_cluster(moorage, tmp_path)
    eks.create_nodegroup(clusterName="up", nodegroupName="ng1", subnets=subnets, nodeRole=NODE_ROLE,
                         scalingConfig={"minSize": 3, "maxSize": 6, "desiredSize": 3}, instanceTypes=["m5.large"])
    eks.get_waiter("nodegroup_active").wait(clusterName="up", nodegroupName="ng1", WaiterConfig=FAST)
    run_ok(env, kubectl, "create", "deployment", "web", "--image=nginx", "--replicas=30")
    run_ok(env, kubectl, "create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=27")
    wait_for(lambda: kubectl_json(kubectl, env, "get", "deployment", "web")["status"].get("readyReplicas") == 30)

    info = eks.describe_cluster(name="up")["cluster"]
    token = json.loads(run_ok(env, sys.executable, "-m", "awscli", "eks", "get-token", "--cluster-name", "up"))["status"]["token"]
    reader = Reader(info["endpoint"], info["certificateAuthority"]["data"], token)
    reader.start()
    try:
        # Skipping a minor, a downgrade and the same version are refused as EKS refuses them.
        for wrong in (OLD, "1.30"):
            with pytest.raises(eks.exceptions.InvalidParameterException) as excinfo:
                eks.update_cluster_version(name="up", version=wrong)
            assert f"Unsupported Kubernetes minor version update from {OLD} to {wrong}" in str(excinfo.value)
        started = time.monotonic()
        update = json.loads(run_ok(env, sys.executable, "-m", "awscli", "eks", "update-cluster-version", "--name", "up",
                                   "--kubernetes-version", NEW))["update"]  # the AWS CLI, as users run it
        assert update["status"] == "InProgress" and update["type"] == "VersionUpdate"
        assert eks.describe_cluster(name="up")["cluster"]["status"] == "UPDATING"
        with pytest.raises(eks.exceptions.ResourceInUseException):
            eks.update_cluster_version(name="up", version=NEW)
        finished = wait_update(eks, "up", update["id"])
        took = time.monotonic() - started
        assert finished["status"] == "Successful", finished
        cluster = eks.describe_cluster(name="up")["cluster"]
        assert (cluster["version"], cluster["status"]) == (NEW, "ACTIVE")
        server = json.loads(run_ok(env, kubectl, "version", "-o", "json"))["serverVersion"]["gitVersion"]
        assert server == f"v{patch_version(NEW)}"
        # The node group lags now; it must be updated before the cluster could move again.
        assert eks.describe_nodegroup(clusterName="up", nodegroupName="ng1")["nodegroup"]["version"] == OLD

        ng_update = eks.update_nodegroup_version(clusterName="up", nodegroupName="ng1")["update"]
        assert ng_update["params"][0] == {"type": "Version", "value": NEW}
        finished = wait_update(eks, "up", ng_update["id"], nodegroup="ng1", timeout=240)
        assert finished["status"] == "Successful", finished
    finally:
        reader.stop()
    print(f"\nUpdateClusterVersion {OLD}->{NEW}: {took:.1f} s; reader: {reader.requests} requests, "
          f"{reader.failures} failed, fewest Ready web pods {reader.min_ready}")
    assert reader.failures == 0, reader.errors[:10]
    assert reader.min_ready is not None and reader.min_ready >= 27
    group = eks.describe_nodegroup(clusterName="up", nodegroupName="ng1")["nodegroup"]
    assert (group["version"], group["status"]) == (NEW, "ACTIVE")
    assert group["releaseVersion"].startswith(patch_version(NEW) + "-")
    nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
    assert len(nodes) == 3
    for node in nodes:
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith(f"v{patch_version(NEW)}-eks-")
        assert node["metadata"]["labels"]["eks.amazonaws.com/nodegroup-image"]
        assert not node["spec"].get("unschedulable")
    assert kubectl_json(kubectl, env, "get", "deployment", "web")["status"].get("readyReplicas") == 30


def apiservers_of(data_dir: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"kube-apiserver") and any(str(data_dir).encode() in a for a in argv):
                found.append(argv[0].decode())
    return found


def test_sigkill_during_cluster_and_node_group_updates_finishes_each_once(tmp_path, kubectl):
    data = tmp_path / "data"
    moorage = start_moorage(data)
    try:
        eks, subnets, env = make_cluster(moorage, tmp_path)
        eks.create_nodegroup(clusterName="up", nodegroupName="ng1", subnets=subnets, nodeRole=NODE_ROLE,
                             scalingConfig={"minSize": 2, "maxSize": 4, "desiredSize": 2})
        eks.get_waiter("nodegroup_active").wait(clusterName="up", nodegroupName="ng1", WaiterConfig=FAST)
        update = eks.update_cluster_version(name="up", version=NEW)["update"]
        wait_for(lambda: len(apiservers_of(data)) == 2, timeout=60, interval=0.05)  # the new one beside the old
        moorage.process.send_signal(signal.SIGKILL)
        moorage.process.wait()
        moorage = start_moorage(data, port=moorage.port)
        eks = moorage.client("eks")
        finished = wait_update(eks, "up", update["id"])
        assert finished["status"] == "Successful", finished
        assert eks.describe_cluster(name="up")["cluster"]["version"] == NEW
        wait_for(lambda: len(apiservers_of(data)) == 1, timeout=30)
        assert [u for u in eks.list_updates(name="up")["updateIds"]] == [update["id"]]

        ng_update = eks.update_nodegroup_version(clusterName="up", nodegroupName="ng1")["update"]
        wait_for(lambda: any(n["status"]["nodeInfo"]["kubeletVersion"].startswith(f"v{patch_version(NEW)}")
                             for n in kubectl_json(kubectl, env, "get", "nodes")["items"]), timeout=60, interval=0.1)
        moorage.process.send_signal(signal.SIGKILL)
        moorage.process.wait()
        moorage = start_moorage(data, port=moorage.port)
        eks = moorage.client("eks")
        finished = wait_update(eks, "up", ng_update["id"], nodegroup="ng1", timeout=240)
        assert finished["status"] == "Successful", finished
        nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
        assert len(nodes) == 2
        assert all(n["status"]["nodeInfo"]["kubeletVersion"].startswith(f"v{patch_version(NEW)}-eks-") for n in nodes)
        group = eks.describe_nodegroup(clusterName="up", nodegroupName="ng1")["nodegroup"]
        assert (group["version"], group["status"]) == (NEW, "ACTIVE")
        assert len(group.get("resources", {}).get("autoScalingGroups", [])) == 1
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def broken_toolchain(tmp_path: Path, minor: str) -> Path:
    """The toolchain cache again (links to its binaries), except that kube-apiserver of ``minor`` exits at
    once, as a bad build or a refused flag would make it."""
    source = Path(os.environ.get("MOORAGE_TOOLCHAIN_DIR") or Path.home() / ".cache/moorage/toolchain")
    target = tmp_path / "toolchain"
    for binary in (source / "bin").glob("*/*/*"):
        link = target / binary.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(binary)
    shutil.copy2(source / "manifest.json", target / "manifest.json")
    broken = target / "bin" / "kube-apiserver" / patch_version(minor) / "kube-apiserver"
    broken.unlink()
    broken.write_text("#!/bin/sh\necho 'E1202 simulated start failure of the new kube-apiserver' >&2\nexit 1\n")
    broken.chmod(0o755)
    return target


def test_a_new_control_plane_that_fails_rolls_back_by_itself(tmp_path, kubectl):
    toolchain = broken_toolchain(tmp_path, NEW)
    moorage = start_moorage(tmp_path / "data", extra_env={"MOORAGE_TOOLCHAIN_DIR": str(toolchain)})
    try:
        eks, subnets, env = make_cluster(moorage, tmp_path)
        update = eks.update_cluster_version(name="up", version=NEW)["update"]
        finished = wait_update(eks, "up", update["id"])
        assert finished["status"] == "Failed"
        assert finished["errors"][0]["errorCode"] == "ClusterUnreachable"
        assert "rolled back" in finished["errors"][0]["errorMessage"]
        cluster = eks.describe_cluster(name="up")["cluster"]
        assert (cluster["version"], cluster["status"]) == (OLD, "ACTIVE")
        server = json.loads(run_ok(env, kubectl, "version", "-o", "json"))["serverVersion"]["gitVersion"]
        assert server == f"v{patch_version(OLD)}"
        run_ok(env, kubectl, "create", "namespace", "after-rollback")  # the old control plane serves writes
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)


def test_blocked_evictions_fail_the_node_group_update_unless_forced(tmp_path, kubectl):
    moorage = start_moorage(tmp_path / "data", extra_env={"MOORAGE_POD_EVICTION_TIMEOUT": "3"})
    try:
        eks, subnets, env = make_cluster(moorage, tmp_path)
        eks.create_nodegroup(clusterName="up", nodegroupName="ng1", subnets=subnets[:1], nodeRole=NODE_ROLE,
                             scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
        eks.get_waiter("nodegroup_active").wait(clusterName="up", nodegroupName="ng1", WaiterConfig=FAST)
        run_ok(env, kubectl, "create", "deployment", "db", "--image=nginx", "--replicas=1")
        run_ok(env, kubectl, "create", "poddisruptionbudget", "db", "--selector=app=db", "--min-available=1")
        wait_for(lambda: kubectl_json(kubectl, env, "get", "deployment", "db")["status"].get("readyReplicas") == 1)
        old_release = eks.describe_nodegroup(clusterName="up", nodegroupName="ng1")["nodegroup"]["releaseVersion"]
        image_label = "eks.amazonaws.com/nodegroup-image"
        old_image = kubectl_json(kubectl, env, "get", "nodes")["items"][0]["metadata"]["labels"][image_label]
        newer = f"{patch_version(OLD)}-20261101"
        older = f"{patch_version(OLD)}-20261015"
        target = older if old_release == newer else newer
        update = eks.update_nodegroup_version(clusterName="up", nodegroupName="ng1", releaseVersion=target)["update"]
        finished = wait_update(eks, "up", update["id"], nodegroup="ng1", timeout=120)
        assert finished["status"] == "Failed"
        assert finished["errors"][0]["errorCode"] == "PodEvictionFailure"
        assert finished["errors"][0]["errorMessage"] == (
            "Reached max retries while trying to evict pods from nodes in node group ng1")
        # The group stays on its release; the old node takes pods again; the surge goes.
        wait_for(lambda: len(kubectl_json(kubectl, env, "get", "nodes")["items"]) == 1)
        group = eks.describe_nodegroup(clusterName="up", nodegroupName="ng1")["nodegroup"]
        assert (group["releaseVersion"], group["status"]) == (old_release, "ACTIVE")
        assert not kubectl_json(kubectl, env, "get", "nodes")["items"][0]["spec"].get("unschedulable")

        forced = eks.update_nodegroup_version(clusterName="up", nodegroupName="ng1", releaseVersion=target, force=True)["update"]
        finished = wait_update(eks, "up", forced["id"], nodegroup="ng1", timeout=120)
        assert finished["status"] == "Successful", finished
        nodes = kubectl_json(kubectl, env, "get", "nodes")["items"]
        assert len(nodes) == 1 and nodes[0]["metadata"]["labels"][image_label] != old_image  # the new release's AMI
        assert eks.describe_nodegroup(clusterName="up", nodegroupName="ng1")["nodegroup"]["releaseVersion"] == target
        wait_for(lambda: kubectl_json(kubectl, env, "get", "deployment", "db")["status"].get("readyReplicas") == 1)
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)
