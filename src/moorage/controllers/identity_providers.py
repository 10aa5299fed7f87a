"""OIDC identity provider configs: kube-apiserver's authentication configuration, kept in step.

For a config that changed (associated, or being disassociated) the reconciler writes the cluster's
`--authentication-config` file with a JWT authenticator per config not being deleted; kube-apiserver
reloads it without a restart. Only once kube-apiserver reports running exactly that file (its
`apiserver_authentication_config_controller_last_config_info` hash, read from /metrics) is the config
made ACTIVE (or removed, when disassociated) and its Update marked Successful. A cluster gone or being
deleted takes its configs with it.
"""

from __future__ import annotations

import asyncio
import logging

from ..core.kinds import CLUSTER, IDENTITY_PROVIDER_CONFIG
from ..infra.authentication_config import (
    authentication_config,
    ca_bundle,
    config_hash,
    loaded_hashes,
    write_authentication_config,
)
from ..infra.kube import KubeError
from ..services.eks.identity_providers import configs_of_cluster
from ..store import Conflict, Key, Record, SqliteStore
from .clusters import ClusterReconciler, complete_update
from .runtime import Watch

log = logging.getLogger(__name__)

LOADED_POLL_SECONDS = 1.0


class IdentityProviderConfigReconciler:
    name, kind = "identity-provider-configs", IDENTITY_PROVIDER_CONFIG

    def __init__(self, store: SqliteStore, clusters: ClusterReconciler):
        self.store = store
        self.clusters = clusters

    def watches(self) -> list[Watch]:
        """A cluster's change (it became ACTIVE, its API server restarted, it is being deleted) concerns its configs."""
        def of_cluster(cluster: Key) -> list[Key]:
            return [r.key for r in configs_of_cluster(self.store, cluster.account, cluster.region, cluster.name)]
        return [Watch(CLUSTER, of_cluster)]

    async def reconcile(self, key: Key) -> float | None:
        record = self.store.get(key)
        if record is None:
            return None
        cluster = self.store.get(Key(key.account, key.region, CLUSTER, key.name.split("/", 1)[0]))
        if cluster is None or cluster.deleting:
            self._finish(record, removed=True)
            return None
        if cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            return LOADED_POLL_SECONDS
        in_force = [r.spec for r in configs_of_cluster(self.store, key.account, key.region, cluster.spec["name"])
                    if not r.deleting]
        text = authentication_config(in_force, await asyncio.to_thread(ca_bundle))
        await asyncio.to_thread(write_authentication_config, self.clusters.paths(cluster).config, text)
        if not await self._loaded(cluster, config_hash(text)):
            return LOADED_POLL_SECONDS
        self._finish(self.store.get(key), removed=record.deleting)
        return None

    async def _loaded(self, cluster: Record, wanted: str) -> bool:
        try:
            async with self.clusters.node_context(cluster).kube(timeout=10) as kube:
                return wanted in loaded_hashes(await kube.get_text("/metrics"))
        except (KubeError, OSError, asyncio.TimeoutError) as error:
            log.debug("identity provider configs: /metrics of %s unreadable: %s", cluster.key, error)
            return False

    def _finish(self, record: Record | None, removed: bool) -> None:
        if record is None:
            return
        complete_update(self.store, record)
        try:
            if removed:
                self.store.remove(record)
            elif record.status.get("status") != "ACTIVE":
                self.store.merge_status(record, status="ACTIVE")
        except Conflict:
            pass  # changed meanwhile: the change queues another reconcile
