"""OIDC identity provider configs: kube-apiserver's authentication configuration, kept in step.

For a config that changed (associated, or being disassociated) the reconciler writes the cluster's
`--authentication-config` file with a JWT authenticator per config not being deleted; kube-apiserver
reloads it without a restart. Only once kube-apiserver reports running exactly that file (its
`apiserver_authentication_config_controller_last_config_info` hash, read from /metrics) is the config
made ACTIVE (or removed, when disassociated) and its Update marked Successful. kube-apiserver swaps in a
new JWT authenticator only once it has fetched the issuer's discovery document and JWKS: an issuer it
cannot reach (or does not trust) keeps the old configuration in force, so after LOAD_TIMEOUT_SECONDS
the association's Update is Failed (ClusterUnreachable, with the reason), the config removed and the
file written without it. A cluster gone or being deleted takes its configs with it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..core.kinds import CLUSTER, IDENTITY_PROVIDER_CONFIG, UPDATE
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
LOAD_TIMEOUT_SECONDS = 120.0


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
        text = await self._write(cluster)
        if not await self._loaded(cluster, config_hash(text)):
            if not record.deleting and self._update_age(record) > LOAD_TIMEOUT_SECONDS:
                self._fail(record)
                await self._write(cluster)  # without it
                return None
            return LOADED_POLL_SECONDS
        self._finish(self.store.get(key), removed=record.deleting)
        return None

    async def _write(self, cluster: Record) -> str:
        """The cluster's file, with every config not being disassociated; returns its text."""
        key = cluster.key
        in_force = [r.spec for r in configs_of_cluster(self.store, key.account, key.region, key.name) if not r.deleting]
        text = authentication_config(in_force, await asyncio.to_thread(ca_bundle))
        await asyncio.to_thread(write_authentication_config, self.clusters.paths(cluster).config, text)
        return text

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

    def _update(self, record: Record) -> Record | None:
        update_id = record.spec.get("_pendingUpdate")
        return self.store.get(Key(record.key.account, record.key.region, UPDATE, update_id)) if update_id else None

    def _update_age(self, record: Record) -> float:
        update = self._update(record)
        return time.time() - update.spec["createdAt"] if update is not None else 0.0

    def _fail(self, record: Record) -> None:
        """kube-apiserver did not take the authenticator in time: the association failed, and is undone."""
        update = self._update(record)
        if update is not None and update.status.get("status") == "InProgress":
            self.store.merge_status(update, status="Failed", errors=[{
                "errorCode": "ClusterUnreachable",
                "errorMessage": (f"kube-apiserver did not load the identity provider config within {LOAD_TIMEOUT_SECONDS:.0f} s: "
                                 f"it could not fetch the discovery document and JWKS of {record.spec['issuerUrl']} "
                                 "over https with a CA it trusts (see MOORAGE_OIDC_CA_BUNDLE)."),
                "resourceIds": [record.spec["identityProviderConfigName"]]}])
        try:
            self.store.remove(record)
        except Conflict:
            pass
