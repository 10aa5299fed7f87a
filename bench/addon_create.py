"""EKS add-ons: CreateAddon → ACTIVE (the waiter's condition), on a cluster with a 3-node group.

    .venv/bin/python bench/addon_create.py [--rounds 3]

Target (2 cores): 10 s or less per add-on (EKS takes about a minute). Each round creates the add-ons
one after another, times each from the CreateAddon call to status ACTIVE (its Deployments and
DaemonSets ready on the kwok-simulated nodes), then deletes them all and waits until they are gone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ACCOUNT_ID, Moorage  # noqa: E402
from report import write_section  # noqa: E402

# coredns goes over the self-managed copy every new cluster has, hence OVERWRITE.
ADDONS = [("coredns", "OVERWRITE"), ("aws-ebs-csi-driver", "NONE"), ("snapshot-controller", "NONE"),
          ("eks-pod-identity-agent", "NONE")]


def wait(check, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    timings: dict[str, list[float]] = {name: [] for name, _ in ADDONS}
    with Moorage() as moorage:
        eks = moorage.client("eks")
        subnets = moorage.subnets()
        eks.create_cluster(name="bench", roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks", resourcesVpcConfig={"subnetIds": subnets})
        wait(lambda: eks.describe_cluster(name="bench")["cluster"]["status"] == "ACTIVE")
        eks.create_nodegroup(clusterName="bench", nodegroupName="ng", nodeRole=f"arn:aws:iam::{ACCOUNT_ID}:role/node",
                             subnets=subnets, scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 3})
        wait(lambda: eks.describe_nodegroup(clusterName="bench", nodegroupName="ng")["nodegroup"]["status"] == "ACTIVE")
        for _ in range(args.rounds):
            for name, mode in ADDONS:
                started = time.perf_counter()
                eks.create_addon(clusterName="bench", addonName=name, resolveConflicts=mode)
                status = None

                def active() -> bool:
                    nonlocal status
                    status = eks.describe_addon(clusterName="bench", addonName=name)["addon"]["status"]
                    if status in ("CREATE_FAILED", "DEGRADED"):
                        raise SystemExit(f"{name} went {status}")
                    return status == "ACTIVE"

                wait(active)
                timings[name].append(time.perf_counter() - started)
            for name, _ in ADDONS:
                eks.delete_addon(clusterName="bench", addonName=name)
            wait(lambda: eks.list_addons(clusterName="bench")["addons"] == [])
    rows = "\n".join(
        f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} | ≤ 10 |" for name, values in timings.items()
    )
    body = f"""
CreateAddon → ACTIVE through boto3 (`bench/addon_create.py --rounds {args.rounds}`) on a Kubernetes 1.37 cluster
with a 3-node group (kwok-simulated nodes): each add-on's objects server-side applied as field manager `eks`, then
ACTIVE once its Deployments and DaemonSets are ready. Each round deletes the add-ons (objects removed) before the next.

| add-on | median (s) | max (s) | target |
|---|---|---|---|
{rows}
"""
    print(body)
    write_section("Add-on creation", body)


if __name__ == "__main__":
    main()
