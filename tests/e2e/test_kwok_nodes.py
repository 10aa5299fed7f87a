"""Simulated nodes on a real control plane: the kwok backend against a cluster created through the EKS API.

The test builds the node backend's cluster context straight from the cluster's files (the node-group
reconciler will do the same), runs kwok under its own Supervisor, and checks with kubectl what the real
kube-apiserver, kube-scheduler and kube-controller-manager make of the nodes.
"""

import asyncio
import ipaddress
import json
import time
from pathlib import Path

import pytest

from moorage.infra.controlplane import ClusterPaths
from moorage.infra.nodes import ClusterContext, KwokNodeBackend, KwokSettings, NodeSpec, pod_cidr_block
from moorage.infra.supervisor import Supervisor
from moorage.infra.toolchain import locate

from ..conftest import ACCOUNT_ID, REGION, kill_leftovers, start_moorage

pytestmark = pytest.mark.toolchain

CLUSTER = "sim"
FAST = {"Delay": 1, "MaxAttempts": 180}
MAX_PODS = 29  # m5.large
STARTUP_DELAY = 2.0


class Kubectl:
    def __init__(self, kubeconfig: Path):
        self.argv = [str(locate("kubectl", "1.37.2")), f"--kubeconfig={kubeconfig}"]

    async def run(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *self.argv, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        if check:
            assert process.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return process.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> dict:
        return json.loads((await self.run(*args, "-o", "json"))[1])


async def eventually(probe, timeout: float = 30.0, pause: float = 0.3):
    """Call ``probe`` until it returns something truthy; the last value on timeout (for the assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(pause)


def node_specs(subnet: dict) -> list[NodeSpec]:
    network = ipaddress.ip_network(subnet["CidrBlock"])
    zone = subnet["AvailabilityZone"]
    specs = []
    for index in range(3):
        ip = str(network.network_address + 10 + index)
        hostname = f"ip-{ip.replace('.', '-')}.{REGION}.compute.internal"
        specs.append(
            NodeSpec(
                name=hostname,
                provider_id=f"aws:///{zone}/i-0{index:016x}",
                internal_ip=ip,
                labels={
                    "eks.amazonaws.com/nodegroup": "workers",
                    "eks.amazonaws.com/nodegroup-image": "ami-0123456789abcdef0",
                    "eks.amazonaws.com/capacityType": "ON_DEMAND",
                    "node.kubernetes.io/instance-type": "m5.large",
                    "topology.kubernetes.io/region": REGION,
                    "topology.kubernetes.io/zone": zone,
                },
                taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}] if index == 2 else [],
                capacity={"cpu": "2", "memory": "7910360Ki", "pods": str(MAX_PODS), "ephemeral-storage": "20959212Ki"},
                allocatable={"cpu": "1930m", "memory": "7220184Ki", "pods": str(MAX_PODS), "ephemeral-storage": "18242267924"},
                pod_cidrs=[pod_cidr_block(subnet["CidrBlock"], index, MAX_PODS)],
                node_info={"kubeletVersion": "v1.37.2-eks-a1b2c3d", "osImage": "Amazon Linux 2023.9.20261110",
                           "containerRuntimeVersion": "containerd://1.7.27"},
            )
        )
    return specs


async def exercise(ctx: ClusterContext, subnet: dict, kubectl: Kubectl) -> None:
    supervisor = Supervisor()
    backend = KwokNodeBackend(supervisor, settings=KwokSettings(node_startup_delay=STARTUP_DELAY))
    specs = node_specs(subnet)
    by_name = {spec.name: spec for spec in specs}
    untainted = {spec.name for spec in specs if not spec.taints}
    try:
        await backend.start(ctx)
        name = backend.process_name(ctx)
        pid = supervisor.status(name).pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert "--manage-all-nodes=false" in argv
        assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv
        assert any(arg.startswith("--server-address=127.0.0.1:") for arg in argv)
        assert await eventually(lambda: backend.healthy(ctx), timeout=20), "kwok never answered /healthz"

        await backend.ensure_nodes(ctx, specs)
        # The start-up delay holds them NotReady for a while, then kwok makes them Ready.
        assert await backend.list_nodes(ctx) == {spec.name: False for spec in specs}

        async def all_ready():
            nodes = await backend.list_nodes(ctx)
            return nodes if nodes and all(nodes.values()) and set(nodes) == set(by_name) else None

        assert await eventually(all_ready, timeout=30), await backend.list_nodes(ctx)
        await backend.ensure_nodes(ctx, specs)  # idempotent: nothing changes, nothing breaks

        nodes = {node["metadata"]["name"]: node for node in (await kubectl.json("get", "nodes"))["items"]}
        assert set(nodes) == set(by_name)
        for node_name, node in nodes.items():
            spec = by_name[node_name]
            assert node["spec"]["providerID"] == spec.provider_id
            assert node["spec"]["podCIDRs"] == list(spec.pod_cidrs)
            assert node["metadata"]["labels"].items() >= spec.labels.items()
            assert node["metadata"]["labels"]["kubernetes.io/hostname"] == node_name
            taints = [t for t in node["spec"].get("taints", []) if not t["key"].startswith("node.kubernetes.io/")]
            assert taints == list(spec.taints)
            status = node["status"]
            assert status["capacity"] == dict(spec.capacity)
            assert status["allocatable"] == spec.effective_allocatable
            assert {"type": "InternalIP", "address": spec.internal_ip} in status["addresses"]
            assert {"type": "InternalDNS", "address": node_name} in status["addresses"]
            assert status["nodeInfo"]["kubeletVersion"] == "v1.37.2-eks-a1b2c3d"
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
        leases = (await kubectl.json("get", "leases", "-n", "kube-node-lease"))["items"]
        assert {lease["metadata"]["name"] for lease in leases} >= set(by_name)
        assert all(lease["spec"].get("holderIdentity") for lease in leases)

        # The real scheduler places the pods, on the untainted nodes only; kwok runs them with subnet IPs.
        await kubectl.run("create", "deployment", "web", "--image=public.ecr.aws/nginx/nginx:1.27", "--replicas=6")

        async def running_pods():
            pods = (await kubectl.json("get", "pods", "-l", "app=web"))["items"]
            ok = len(pods) == 6 and all(p["status"].get("phase") == "Running" and p["status"].get("podIP") for p in pods)
            return pods if ok else None

        pods = await eventually(running_pods, timeout=40)
        assert pods, (await kubectl.run("get", "pods", "-o", "wide"))[1]
        subnet_net = ipaddress.ip_network(subnet["CidrBlock"])
        ips = set()
        for pod in pods:
            node_name = pod["spec"]["nodeName"]
            assert node_name in untainted, f"{pod['metadata']['name']} landed on tainted {node_name}"
            ip = ipaddress.ip_address(pod["status"]["podIP"])
            assert ip in ipaddress.ip_network(by_name[node_name].pod_cidrs[0]) and ip in subnet_net
            assert pod["status"]["hostIP"] == by_name[node_name].internal_ip
            assert all(c["ready"] for c in pod["status"]["containerStatuses"])
            ips.add(ip)
        assert len(ips) == 6

        # New settings restart kwok; the new process takes the leases over at once instead of waiting for the
        # old holder's leases to expire (long enough for the node lifecycle controller to call nodes NotReady).
        old_holders = {lease["spec"]["holderIdentity"] for lease in leases}
        backend = KwokNodeBackend(supervisor, settings=KwokSettings(node_startup_delay=STARTUP_DELAY, pod_startup_delay=1))
        await backend.start(ctx)
        assert supervisor.status(name).pid != pid
        pid = supervisor.status(name).pid

        async def handed_over():
            leases = (await kubectl.json("get", "leases", "-n", "kube-node-lease"))["items"]
            holders = {lease["metadata"]["name"]: lease["spec"].get("holderIdentity") for lease in leases}
            return all(holders.get(node) not in old_holders | {None} for node in by_name)

        assert await eventually(handed_over, timeout=20, pause=0.5)
        assert all((await backend.list_nodes(ctx)).values())

        # Deleting a node removes it (its pods are left to the pod garbage collector, as on EKS).
        gone = sorted(untainted)[0]
        await backend.delete_node(ctx, gone)
        code, _, err = await kubectl.run("get", "node", gone, check=False)
        assert code != 0 and "NotFound" in err
        assert set(await backend.list_nodes(ctx)) == set(by_name) - {gone}

        # Stopping the backend stops kwok.
        await backend.stop(ctx)
        assert supervisor.status(name).state == "stopped"
        assert not Path(f"/proc/{pid}").exists()
        assert not await backend.healthy(ctx)
    finally:
        await supervisor.stop_all()
        await supervisor.close()


@pytest.mark.timeout(240)
def test_kwok_nodes_join_a_real_control_plane(tmp_path):
    moorage = start_moorage(tmp_path / "data")
    try:
        subnets = sorted(moorage.client("ec2").describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:2]
        eks = moorage.client("eks")
        eks.create_cluster(
            name=CLUSTER,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": [s["SubnetId"] for s in subnets]},
        )
        eks.get_waiter("cluster_active").wait(name=CLUSTER, WaiterConfig=FAST)
        cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
        paths = ClusterPaths.of(moorage.data_dir, ACCOUNT_ID, REGION, CLUSTER, cluster["id"])
        ctx = ClusterContext.from_paths(paths, cluster["endpoint"], f"{ACCOUNT_ID}/{REGION}/{CLUSTER}-{cluster['id']}")
        asyncio.run(exercise(ctx, subnets[0], Kubectl(paths.pki / "admin.kubeconfig")))
    finally:
        moorage.stop()
        kill_leftovers(tmp_path)
