"""Node groups at scale: CreateNodegroup → ACTIVE for large groups, and Moorage's cost while nodes idle.

    .venv/bin/python bench/nodegroup_scale.py [--nodes 100] [--groups 1] [--pods 0 [--deployments 1] [--namespaces 1]]

Targets (2 cores): a 100-node group ACTIVE in 3 s or less; 1,000 nodes over three groups in 20 s or less;
10,000 pods Running on them in 90 s or less. More than ~300 nodes need more addresses than the default
VPC's /20 subnets hold, so the benchmark makes its own VPC (10.0.0.0/16, a /18 per zone), as users do.
It also reports the CPU each process (kube-apiserver, etcd, ..., Moorage) used while the pods started and
while the nodes idle, since on 2 cores the pod figure is bounded by the upstream components' own work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster_create import rss_kib  # noqa: E402
from harness import ACCOUNT_ID, Moorage  # noqa: E402
from moorage.infra.toolchain import locate  # noqa: E402
from report import write_section  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def component_cpu(workdir: Path) -> dict[str, float]:
    """CPU seconds used so far by each process working for this Moorage (its cmdline names the workdir)."""
    used: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if str(workdir).encode() not in b" ".join(argv):
                continue
            name = Path(argv[0].decode()).name
            name = "moorage" if name.startswith("python") else name
            used[name] = used.get(name, 0.0) + cpu_seconds(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return used


def run_pods(moorage: Moorage, count: int, deployments: int = 1, namespaces: int = 1) -> float:
    """Seconds from creating `deployments` Deployments (spread over `namespaces` namespaces) holding `count`
    pods between them to all of those pods Running.

    Progress is read from the Deployments' status (cheap); the end is confirmed by listing the pods.
    One `aws eks get-token` token serves every kubectl call, so the polling costs the machine little."""
    kubectl = str(locate("kubectl", "1.37.2"))
    env = {**moorage.env(), "KUBECONFIG": str(moorage.workdir / "kubeconfig")}
    subprocess.run([sys.executable, "-m", "awscli", "eks", "update-kubeconfig", "--name", "scale"], env=env, check=True, capture_output=True)
    token = json.loads(subprocess.run([sys.executable, "-m", "awscli", "eks", "get-token", "--cluster-name", "scale"],
                                      env=env, check=True, capture_output=True, text=True).stdout)["status"]["token"]

    def kubectl_out(*args: str, stdin: str | None = None) -> str:
        return subprocess.run([kubectl, f"--token={token}", *args], env=env, check=True, capture_output=True, text=True,
                              input=stdin).stdout

    names = [f"load-{index}" for index in range(namespaces)] if namespaces > 1 else ["default"]
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in names if name != "default"]
    for index in range(deployments):
        replicas = count // deployments + (1 if index < count % deployments else 0)
        labels = {"app": f"load-{index}"}
        objects.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"load-{index}", "namespace": names[index % len(names)], "labels": {"bench": "load"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]}}},
        })
    started = time.perf_counter()
    kubectl_out("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    while True:
        ready = sum(int(n) for n in kubectl_out(
            "get", "deployments", "-A", "-l", "bench=load", "-o", "jsonpath={.items[*].status.readyReplicas}").split())
        print(f"  {ready}/{count} pods Ready after {time.perf_counter() - started:.1f} s", flush=True)
        if ready >= count:
            elapsed = time.perf_counter() - started
            running = kubectl_out("get", "pods", "-A", "--field-selector=status.phase=Running", "--no-headers",
                                  "-o", "custom-columns=N:.metadata.name")
            if len(running.split()) >= count:
                return elapsed
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100, help="nodes in all groups together")
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--pods", type=int, default=0, help="then create Deployments holding this many pods")
    parser.add_argument("--deployments", type=int, default=1, help="how many Deployments share the pods")
    parser.add_argument("--namespaces", type=int, default=1, help="how many namespaces the Deployments spread over")
    args = parser.parse_args()
    def size(index: int) -> int:  # the nodes spread over the groups, the first ones taking the remainder
        return args.nodes // args.groups + (1 if index < args.nodes % args.groups else 0)

    with Moorage() as moorage:
        eks = moorage.client("eks")
        ec2 = moorage.client("ec2")
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{64 * index}.0/18", AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for index, zone in enumerate(zones)
        ]
        eks.create_cluster(name="scale", roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks", resourcesVpcConfig={"subnetIds": subnets[:2]})
        while eks.describe_cluster(name="scale")["cluster"]["status"] != "ACTIVE":
            time.sleep(0.1)
        started = time.perf_counter()
        for index in range(args.groups):
            eks.create_nodegroup(
                clusterName="scale", nodegroupName=f"ng{index}", subnets=subnets, instanceTypes=["m5.large"],
                nodeRole=f"arn:aws:iam::{ACCOUNT_ID}:role/node",
                scalingConfig={"minSize": 1, "maxSize": max(size(index), 1), "desiredSize": size(index)},
            )
        pending = {f"ng{index}" for index in range(args.groups)}
        while pending:
            for name in list(pending):
                if eks.describe_nodegroup(clusterName="scale", nodegroupName=name)["nodegroup"]["status"] == "ACTIVE":
                    pending.discard(name)
            time.sleep(0.2)  # finer polling only takes CPU from the simulated nodes
        elapsed = time.perf_counter() - started
        cpu_before, window_start = component_cpu(moorage.workdir), time.perf_counter()
        pods_elapsed = run_pods(moorage, args.pods, args.deployments, args.namespaces) if args.pods else None
        pod_cpu = {name: used - cpu_before.get(name, 0.0) for name, used in component_cpu(moorage.workdir).items()}
        window = time.perf_counter() - window_start  # also covers getting a kubeconfig and token first
        pid = moorage.process.pid
        before, idle_before = cpu_seconds(pid), component_cpu(moorage.workdir)
        time.sleep(30)
        idle_cpu = (cpu_seconds(pid) - before) / 30 * 100
        idle_cores = {name: (used - idle_before.get(name, 0.0)) / 30 for name, used in component_cpu(moorage.workdir).items()}
        rss = rss_kib(pid) / 1024
    workload = f" --pods {args.pods} --deployments {args.deployments} --namespaces {args.namespaces}" if args.pods else ""
    body = f"""
`bench/nodegroup_scale.py --nodes {args.nodes} --groups {args.groups}{workload}`: CreateNodegroup (m5.large, three zones)
until every group is ACTIVE, i.e. all its kwok-simulated nodes are registered and Ready in the real kube-apiserver;
then {args.deployments} Deployment(s) in {args.namespaces} namespace(s) holding {args.pods} pods between them, until all are Running.

| nodes | groups | CreateNodegroup → ACTIVE (s) | pods | Deployments → all pods Running (s) | Moorage CPU while the nodes idle | Moorage RSS |
|---|---|---|---|---|---|---|
| {args.nodes} | {args.groups} | {elapsed:.2f} | {args.pods} | {f"{pods_elapsed:.1f}" if pods_elapsed else "-"} | {idle_cpu:.1f}% of a core | {rss:.0f} MiB |

Targets: 100 nodes in ≤ 3 s; 1,000 nodes over three groups in ≤ 20 s; 10,000 pods Running in ≤ 90 s.
Pods are created by the real kube-controller-manager, placed by the real kube-scheduler, and made
Running (with addresses from their node's pod block) by kwok.
"""
    if pods_elapsed:
        total = sum(pod_cpu.values())
        body += f"""
CPU used while the pods started ({total:.0f} CPU-seconds in {window:.0f} s, kubeconfig and token included; the machine has {os.cpu_count()} cores):

| process | CPU-seconds | share |
|---|---|---|
""" + "".join(f"| {name} | {used:.0f} | {used / total:.0%} |\n" for name, used in sorted(pod_cpu.items(), key=lambda i: -i[1]) if used >= 0.5)
    body += f"""
CPU while the nodes idle afterwards (kwok renews each node's lease every 10 s, as kubelets do; {sum(idle_cores.values()):.2f} cores in all):
{", ".join(f"{name} {cores:.2f}" for name, cores in sorted(idle_cores.items(), key=lambda i: -i[1]) if cores >= 0.005)}.
"""
    print(body)
    title = f"Node groups: {args.nodes} nodes in {args.groups} group(s)" + (f", {args.pods} pods" if args.pods else "")
    title += f" in {args.deployments} Deployments" if args.deployments > 1 else ""
    write_section(title, body)


if __name__ == "__main__":
    main()
