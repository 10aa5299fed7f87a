"""Cluster id → the cluster's record key, so webhooks and OIDC issuers find a cluster with one
primary-key read instead of a scan.

kube-apiserver names its cluster by id in every webhook path (/_moorage/webhooks/<kind>/<cluster id>),
and an issuer URL carries the id too; records are keyed by (account, region, name). In the main process
the map follows the store: loaded once at start, then kept from change events, which the main process
sees for every writer (its own writes, and the API workers' through the change poll in composition.py).
There a miss is an answer ("unknown cluster"): unknown ids never make Moorage scan every cluster.
API workers have no change feed: there a miss reloads the map, at most once per `reload_after` seconds,
however many unknown ids arrive.
"""

from __future__ import annotations

import time

from ..core.kinds import CLUSTER
from ..store import Key, Record, SqliteStore

RELOAD_AFTER_SECONDS = 1.0


class ClustersById:
    def __init__(self, store: SqliteStore, reload_after: float | None = RELOAD_AFTER_SECONDS):
        self.store = store
        self.reload_after = reload_after
        self._keys: dict[str, Key] = {}
        self._ids: dict[Key, str] = {}
        self._loaded_at: float | None = None

    def load(self) -> None:
        """Every cluster in the store (one scan)."""
        keys: dict[str, Key] = {}
        ids: dict[Key, str] = {}
        for record in self.store.list(None, None, CLUSTER):
            cluster_id = record.spec.get("id")
            if isinstance(cluster_id, str):
                keys[cluster_id], ids[record.key] = record.key, cluster_id
        self._keys, self._ids = keys, ids
        self._loaded_at = time.monotonic()

    def follow(self) -> None:
        """The main process: load now, then only store changes (notify) update the map."""
        self.load()
        self.reload_after = None

    def notify(self, key: Key) -> None:
        """A store change: a cluster created, changed or removed."""
        if key.kind != CLUSTER:
            return
        record = self.store.get(key)
        cluster_id = self._ids.pop(key, None)
        if cluster_id is not None and self._keys.get(cluster_id) == key:
            del self._keys[cluster_id]
        if record is not None and isinstance(record.spec.get("id"), str):
            self._keys[record.spec["id"]] = key
            self._ids[key] = record.spec["id"]

    def _lookup(self, cluster_id: str) -> Record | None:
        key = self._keys.get(cluster_id)
        record = self.store.get(key) if key is not None else None
        return record if record is not None and record.spec.get("id") == cluster_id else None

    def get(self, cluster_id: str) -> Record | None:
        """The cluster with this id, or None: a dict lookup and at most one store read (and, in a
        process without a change feed, at most one reload per reload_after seconds)."""
        record = self._lookup(cluster_id)
        if record is None and self.reload_after is not None:
            if self._loaded_at is None or time.monotonic() - self._loaded_at >= self.reload_after:
                self.load()
                record = self._lookup(cluster_id)
        return record
