"""UpdateClusterVersion: EKS's rules for moving a control plane to the next Kubernetes minor (spec only).

The handler records the target version and an InProgress VersionUpdate; the cluster reconciler moves
the control plane (controllers/cluster_upgrades.py) and marks the update Successful or Failed. Until
then DescribeCluster shows the version the control plane runs (`running_version`), as EKS does.
"""

from __future__ import annotations

import copy

from ...core.context import RequestContext
from ...core.kinds import FARGATE_PROFILE, INSTANCE, NODEGROUP
from ...infra.toolchain.catalog import Version
from . import names
from .clusters import Clusters, now, update_view
from .versions import platform_version, supported_minors

# Kubernetes' version-skew policy since 1.28: a kubelet may be up to three minors older than kube-apiserver.
MAX_KUBELET_SKEW = 3


def running_version(cluster) -> str:
    """The minor the control plane runs: the spec's until a version update has been applied."""
    before = cluster.spec.get("_versionBefore") or {}
    return cluster.status.get("version") or before.get("version") or cluster.spec["version"]


def running_platform_version(cluster) -> str:
    before = cluster.spec.get("_versionBefore") or {}
    return cluster.status.get("platformVersion") or before.get("platformVersion") or cluster.spec["platformVersion"]


def minor_number(version: str) -> tuple[int, int]:
    parsed = Version.parse(version if version.count(".") == 2 else version + ".0")
    return parsed.major, parsed.minor


def unsupported_update(current: str, wanted: str, cluster: str):
    return names.invalid_parameter(f"Unsupported Kubernetes minor version update from {current} to {wanted}", cluster)


class ClusterVersionUpdates:
    def __init__(self, clusters: Clusters):
        self.clusters = clusters
        self.store = clusters.store

    def update_version(self, ctx: RequestContext, params: dict) -> dict:
        name, wanted = params["name"], params["version"]
        record = self.clusters.get(ctx, name)
        token = params.get("clientRequestToken")
        if token:
            for update in self.clusters.cluster_updates(ctx, name):
                if update.spec.get("clientRequestToken") == token and not update.spec.get("nodegroupName"):
                    return {"update": update_view(update)}
        current = running_version(record)
        if record.deleting or record.status.get("status") != "ACTIVE":
            state = "DELETING" if record.deleting else record.status.get("status", "CREATING")
            raise names.resource_in_use(f"Cluster {name} is in {state} state; it must be ACTIVE to be updated.", name)
        pending = self.clusters.in_progress_update(ctx, name)
        if pending:
            raise names.resource_in_use(f"Cannot update cluster {name} because update {pending} is in progress", name)
        try:
            (major, minor), (new_major, new_minor) = minor_number(current), minor_number(wanted)
        except ValueError:
            raise unsupported_update(current, wanted, name) from None
        if new_major != major or new_minor != minor + 1:
            raise unsupported_update(current, wanted, name)  # a downgrade, the same minor, or a skipped minor
        if wanted not in supported_minors():
            raise names.invalid_parameter(
                f"Kubernetes version {wanted} is not supported by this Moorage yet; supported versions: "
                f"{', '.join(supported_minors())}.", name)
        self._check_nodes(ctx, name, current, wanted)
        update_id = names.new_update_id()
        target_platform = platform_version(wanted)
        update = self.store.create(
            self.clusters.update_key(ctx, update_id),
            {
                "id": update_id,
                "clusterName": name,
                "type": "VersionUpdate",
                "params": [{"type": "Version", "value": wanted}, {"type": "PlatformVersion", "value": target_platform}],
                "createdAt": now(),
                "clientRequestToken": token,
                "previous": {"version": current, "platformVersion": running_platform_version(record)},
            },
            {"status": "InProgress"},
        )
        spec = copy.deepcopy(record.spec)
        spec.update(version=wanted, platformVersion=target_platform, _pendingUpdate=update_id,
                    _versionBefore={"version": current, "platformVersion": running_platform_version(record)})
        try:
            self.store.update_spec(record, spec)
        except Exception:
            self.store.update_status(update, {"status": "Failed", "errors": [
                {"errorCode": "Unknown", "errorMessage": "The cluster changed while the update was recorded; retry.",
                 "resourceIds": [name]}]})
            raise names.resource_in_use(f"Cluster {name} changed while the update was being recorded; retry.", name) from None
        return {"update": update_view(update)}

    def _check_nodes(self, ctx: RequestContext, name: str, current: str, wanted: str) -> None:
        """EKS's pre-checks: managed node groups and Fargate nodes on the current minor; no kubelet left more
        than three minors behind the new one."""
        behind = sorted(
            r.spec["nodegroupName"] for r in self.store.list(ctx.account, ctx.region, NODEGROUP)
            if r.spec.get("clusterName") == name and r.spec.get("version") != current
        )
        if behind:
            raise names.invalid_parameter(
                f"Nodegroups {', '.join(behind)} must be updated to match cluster version {current} before updating cluster version",
                name)
        stale_fargate = sorted(
            pod for r in self.store.list(ctx.account, ctx.region, FARGATE_PROFILE) if r.spec.get("clusterName") == name
            for pod, node in (r.status.get("pods") or {}).items()
            if isinstance(node, dict) and node.get("kubeletVersion") not in (None, current)
        )
        if stale_fargate:
            raise names.invalid_parameter(
                f"Fargate pods {', '.join(stale_fargate[:10])} run kubelets older than cluster version {current}; "
                "recreate them before updating cluster version", name)
        _, new_minor = minor_number(wanted)
        too_old = sorted(
            r.status.get("nodeName") or r.key.name for r in self.store.list(ctx.account, ctx.region, INSTANCE)
            if r.spec.get("cluster") == name and r.status.get("kubeletVersion")
            and new_minor - minor_number(r.status["kubeletVersion"])[1] > MAX_KUBELET_SKEW
        )
        if too_old:
            raise names.invalid_parameter(
                f"Nodes {', '.join(too_old[:10])} run kubelets more than {MAX_KUBELET_SKEW} minor versions older than "
                f"{wanted}; update them before updating cluster version", name)
