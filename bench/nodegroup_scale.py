"""Node groups at scale: CreateNodegroup → ACTIVE for large groups, and Moorage's cost while nodes idle.

    .venv/bin/python bench/nodegroup_scale.py [--nodes 100] [--groups 1]

Targets (2 cores): a 100-node group ACTIVE in 3 s or less; 1,000 nodes over three groups in 20 s or less.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster_create import rss_kib  # noqa: E402
from harness import ACCOUNT_ID, Moorage  # noqa: E402
from report import write_section  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100, help="nodes in all groups together")
    parser.add_argument("--groups", type=int, default=1)
    args = parser.parse_args()
    per_group = args.nodes // args.groups
    with Moorage() as moorage:
        eks = moorage.client("eks")
        ec2 = moorage.client("ec2")
        subnets = [s["SubnetId"] for s in sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])[:3]]
        eks.create_cluster(name="scale", roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks", resourcesVpcConfig={"subnetIds": subnets[:2]})
        while eks.describe_cluster(name="scale")["cluster"]["status"] != "ACTIVE":
            time.sleep(0.1)
        started = time.perf_counter()
        for index in range(args.groups):
            eks.create_nodegroup(
                clusterName="scale", nodegroupName=f"ng{index}", subnets=subnets, instanceTypes=["m5.large"],
                nodeRole=f"arn:aws:iam::{ACCOUNT_ID}:role/node",
                scalingConfig={"minSize": 1, "maxSize": max(per_group, 1), "desiredSize": per_group},
            )
        pending = {f"ng{index}" for index in range(args.groups)}
        while pending:
            for name in list(pending):
                if eks.describe_nodegroup(clusterName="scale", nodegroupName=name)["nodegroup"]["status"] == "ACTIVE":
                    pending.discard(name)
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        pid = moorage.process.pid
        before = cpu_seconds(pid)
        time.sleep(30)
        idle_cpu = (cpu_seconds(pid) - before) / 30 * 100
        rss = rss_kib(pid) / 1024
    body = f"""
`bench/nodegroup_scale.py --nodes {args.nodes} --groups {args.groups}`: CreateNodegroup (m5.large, three zones) until every
group is ACTIVE, i.e. all its kwok-simulated nodes are registered and Ready in the real kube-apiserver.

| nodes | groups | CreateNodegroup → ACTIVE (s) | Moorage CPU while the nodes idle | Moorage RSS |
|---|---|---|---|---|
| {args.nodes} | {args.groups} | {elapsed:.2f} | {idle_cpu:.1f}% of a core | {rss:.0f} MiB |

Targets: 100 nodes in ≤ 3 s; 1,000 nodes over three groups in ≤ 20 s.
"""
    print(body)
    write_section(f"Node groups: {args.nodes} nodes in {args.groups} group(s)", body)


if __name__ == "__main__":
    main()
