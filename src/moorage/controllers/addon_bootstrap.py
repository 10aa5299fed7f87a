"""Self-managed vpc-cni, CoreDNS and kube-proxy in every new cluster, as EKS installs them when
CreateCluster's bootstrapSelfManagedAddons is true (its default): the objects of each add-on's default
version for the cluster's minor, with default configuration, applied once the cluster is ACTIVE. They
are not EKS add-ons (ListAddons does not list them); CreateAddon later takes them over.

They are applied as field manager ``eks-bootstrap``, not ``eks``: a later CreateAddon with values that
differ from these then meets a conflict under resolveConflicts NONE, as on EKS. Done once per cluster
(a store setting keyed by the cluster id remembers it), so a user's later edits or deletions stay.
EKS add-ons of the cluster wait for this pass; one already asked for (CreateAddon right after
CreateCluster) is skipped here, so a self-managed copy never lands over an add-on's objects.
"""

from __future__ import annotations

import logging

from ..core.kinds import ADDON, CLUSTER
from ..services.eks.addon_manifests import render
from ..services.eks.addon_versions import default_version
from ..services.eks.version_updates import running_version
from ..store import Key, SqliteStore
from .addons import apply_object, bootstrap_setting, cluster_inputs
from .clusters import ClusterReconciler
from .runtime import Watch

log = logging.getLogger(__name__)

BOOTSTRAPPED_ADDONS = ("vpc-cni", "kube-proxy", "coredns")
FIELD_MANAGER = "eks-bootstrap"


class SelfManagedAddons:
    name, kind = "self-managed-addons", CLUSTER

    def __init__(self, store: SqliteStore, clusters: ClusterReconciler):
        self.store = store
        self.clusters = clusters

    def watches(self) -> list[Watch]:
        return []

    async def reconcile(self, key: Key) -> float | None:
        cluster = self.store.get(key)
        if cluster is None or cluster.deleting or cluster.spec.get("_bootstrapSelfManagedAddons") is False:
            return None
        if cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            return None  # the change to ACTIVE brings it back
        setting = bootstrap_setting(cluster)
        if self.store.setting(setting):
            return None
        installed = {}
        async with self.clusters.node_context(cluster).kube(timeout=30) as kube:
            for name in BOOTSTRAPPED_ADDONS:
                if self.store.get(Key(key.account, key.region, ADDON, f"{key.name}/{name}")) is not None:
                    continue  # already asked for as an EKS add-on: that one installs it (it waits for this pass)
                version = default_version(name, running_version(cluster))
                if version is None:
                    log.warning("no %s version for Kubernetes %s: not bootstrapped", name, running_version(cluster))
                    continue
                for obj in render(version, region=key.region, cluster=cluster_inputs(cluster), values=None):
                    await apply_object(kube, obj, "OVERWRITE", manager=FIELD_MANAGER)
                installed[name] = version.version
        self.store.set_setting(setting, installed)
        return None
