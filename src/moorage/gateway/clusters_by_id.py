"""Cluster id → the cluster's record key, so a webhook finds its cluster with one primary-key read.

kube-apiserver names its cluster by id in every webhook path (/_moorage/webhooks/<kind>/<cluster id>);
records are keyed by (account, region, name). The map is loaded once when the main process starts and
kept from the store's change events, which the main process sees for every writer (its own writes, and
the API workers' through the change poll in composition.py). A miss answers "unknown cluster": it never
makes Moorage scan every cluster, whoever sends ids it does not know.
"""

from __future__ import annotations

from ..core.kinds import CLUSTER
from ..store import Key, Record, SqliteStore


class ClustersById:
    def __init__(self, store: SqliteStore):
        self.store = store
        self._keys: dict[str, Key] = {}
        self._ids: dict[Key, str] = {}

    def load(self) -> None:
        """Once, at start: every cluster already in the store."""
        for record in self.store.list(None, None, CLUSTER):
            self._remember(record)

    def notify(self, key: Key) -> None:
        """A store change: a cluster created, changed or removed."""
        if key.kind != CLUSTER:
            return
        record = self.store.get(key)
        if record is None:
            cluster_id = self._ids.pop(key, None)
            if cluster_id is not None and self._keys.get(cluster_id) == key:
                del self._keys[cluster_id]
            return
        self._remember(record)

    def _remember(self, record: Record) -> None:
        cluster_id = record.spec.get("id")
        if isinstance(cluster_id, str):
            self._keys[cluster_id] = record.key
            self._ids[record.key] = cluster_id

    def get(self, cluster_id: str) -> Record | None:
        """The cluster with this id, or None; one dict lookup and at most one store read."""
        key = self._keys.get(cluster_id)
        record = self.store.get(key) if key is not None else None
        return record if record is not None and record.spec.get("id") == cluster_id else None
