"""DeleteCluster: time until the cluster is gone from the API and until every one of its processes has exited,
and whether any process needed SIGKILL.

    .venv/bin/python bench/cluster_delete.py [--clusters 5]

Goal (2 cores, issue 18): gone and every process stopped in 3 s or less, no SIGKILL in the log.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster_create import pids_matching  # noqa: E402
from harness import ACCOUNT_ID, Moorage  # noqa: E402
from report import write_section  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=5)
    args = parser.parse_args()
    gone, stopped = [], []
    with Moorage() as moorage:
        eks = moorage.client("eks")
        subnets = moorage.subnets()
        for index in range(args.clusters):
            name = f"del-{index}"
            cluster = eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/eks",
                                         resourcesVpcConfig={"subnetIds": subnets})["cluster"]
            while eks.describe_cluster(name=name)["cluster"]["status"] != "ACTIVE":
                time.sleep(0.05)
            time.sleep(2)  # controllers and scheduler hold their watches, as in a cluster in use
            started = time.perf_counter()
            eks.delete_cluster(name=name)
            while True:
                try:
                    eks.describe_cluster(name=name)
                except eks.exceptions.ResourceNotFoundException:
                    break
                time.sleep(0.02)
            gone.append(time.perf_counter() - started)
            while pids_matching(cluster["id"]):
                time.sleep(0.02)
            stopped.append(time.perf_counter() - started)
        log = (moorage.workdir / "moorage.log").read_text(errors="replace")
    kills = log.count("sending SIGKILL")
    body = f"""
`bench/cluster_delete.py --clusters {args.clusters}`: DeleteCluster of an ACTIVE cluster (Kubernetes 1.37, its
controllers and scheduler watching), timed until DescribeCluster answers ResourceNotFoundException and until
no process of the cluster is left.

| measure | median | max | goal |
|---|---|---|---|
| DeleteCluster → gone from the API (s) | {statistics.median(gone):.2f} | {max(gone):.2f} | |
| DeleteCluster → every process exited (s) | {statistics.median(stopped):.2f} | {max(stopped):.2f} | ≤ 3 |
| processes that needed SIGKILL | {kills} | | 0 |

kube-apiserver used to ignore SIGTERM for 60 s (its HTTP server waited for the open watches of the controller
manager, scheduler and kwok), so every stop ended in Moorage's SIGKILL after 10 s;
`--shutdown-watch-termination-grace-period=1s` closes those watches after a second.
"""
    print(body)
    write_section("Cluster deletion", body)


if __name__ == "__main__":
    main()
