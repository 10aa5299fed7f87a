"""Version updates: UpdateClusterVersion start → Successful with failed reads counted, and a 10-node
UpdateNodegroupVersion with the default updateConfig.

    .venv/bin/python bench/upgrade.py [--nodes 10] [--runs 1]

Goals (2 cores): cluster update ≤ 30 s with 0 failed reads (EKS: 20-40 minutes); 10-node group ≤ 60 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ACCOUNT_ID, Moorage  # noqa: E402
from report import write_section  # noqa: E402

from moorage.services.eks.versions import patch_version, supported_minors  # noqa: E402

OLD, NEW = sorted(supported_minors(), key=lambda m: tuple(int(p) for p in m.split(".")))[-2:]


class Reader(threading.Thread):
    def __init__(self, endpoint: str, ca: str, token: str):
        super().__init__(daemon=True)
        self.url, self.token = f"{endpoint}/api/v1/namespaces/default/pods?limit=5", token
        self.context = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
        self.done = threading.Event()
        self.requests = self.failures = 0
        self.latencies: list[float] = []

    def run(self):
        while not self.done.is_set():
            self.requests += 1
            started = time.perf_counter()
            try:
                request = urllib.request.Request(self.url, headers={"Authorization": f"Bearer {self.token}"})
                with urllib.request.urlopen(request, context=self.context, timeout=5) as response:
                    response.read()
                self.latencies.append(time.perf_counter() - started)
            except OSError:
                self.failures += 1
            time.sleep(0.1)


def wait_update(eks, name, update_id, **extra) -> dict:
    while True:
        update = eks.describe_update(name=name, updateId=update_id, **extra)["update"]
        if update["status"] != "InProgress":
            return update
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    cluster_times, nodegroup_times, failures, requests, p99s = [], [], [], [], []
    with Moorage() as moorage:
        eks = moorage.client("eks")
        subnets = moorage.subnets()
        for run in range(args.runs):
            name = f"up-{run}"
            eks.create_cluster(name=name, version=OLD, roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks",
                               resourcesVpcConfig={"subnetIds": subnets})
            while eks.describe_cluster(name=name)["cluster"]["status"] != "ACTIVE":
                time.sleep(0.1)
            eks.create_nodegroup(clusterName=name, nodegroupName="ng", subnets=subnets,
                                 nodeRole=f"arn:aws:iam::{ACCOUNT_ID}:role/node",
                                 scalingConfig={"minSize": 1, "maxSize": args.nodes * 2, "desiredSize": args.nodes})
            while eks.describe_nodegroup(clusterName=name, nodegroupName="ng")["nodegroup"]["status"] != "ACTIVE":
                time.sleep(0.2)
            env = {**moorage.env(), "KUBECONFIG": str(Path(tempfile.mkdtemp()) / "kubeconfig")}
            token = json.loads(subprocess.run([sys.executable, "-m", "awscli", "eks", "get-token", "--cluster-name", name],
                                              env=env, check=True, capture_output=True, text=True).stdout)["status"]["token"]
            info = eks.describe_cluster(name=name)["cluster"]
            reader = Reader(info["endpoint"], info["certificateAuthority"]["data"], token)
            reader.start()
            started = time.perf_counter()
            update = eks.update_cluster_version(name=name, version=NEW)["update"]
            result = wait_update(eks, name, update["id"])
            cluster_times.append(time.perf_counter() - started)
            time.sleep(2)
            reader.done.set()
            reader.join()
            assert result["status"] == "Successful", result
            failures.append(reader.failures)
            requests.append(reader.requests)
            p99s.append(sorted(reader.latencies)[int(len(reader.latencies) * 0.99) - 1] * 1000 if reader.latencies else 0)
            started = time.perf_counter()
            update = eks.update_nodegroup_version(clusterName=name, nodegroupName="ng")["update"]
            result = wait_update(eks, name, update["id"], nodegroupName="ng")
            nodegroup_times.append(time.perf_counter() - started)
            assert result["status"] == "Successful", result
    body = f"""
`bench/upgrade.py --nodes {args.nodes} --runs {args.runs}`: a {OLD} cluster (Kubernetes {patch_version(OLD)}) with a
{args.nodes}-node managed node group, then UpdateClusterVersion to {NEW} ({patch_version(NEW)}) while a client reads
pods through the cluster endpoint every 100 ms (a fresh TLS connection and an IAM token each time), then
UpdateNodegroupVersion with the default updateConfig (maxUnavailable 1).

| measure | median | max | goal |
|---|---|---|---|
| UpdateClusterVersion → Successful (s) | {statistics.median(cluster_times):.1f} | {max(cluster_times):.1f} | ≤ 30 (EKS: 20-40 min) |
| failed reads during it | {statistics.median(failures):.0f} of {statistics.median(requests):.0f} | {max(failures)} | 0 |
| read latency p99 during it (ms) | {statistics.median(p99s):.0f} | {max(p99s):.0f} | |
| UpdateNodegroupVersion, {args.nodes} nodes → Successful (s) | {statistics.median(nodegroup_times):.1f} | {max(nodegroup_times):.1f} | ≤ 60 |
"""
    print(body)
    write_section("Version updates", body)


if __name__ == "__main__":
    main()
