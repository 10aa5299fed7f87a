"""One ConfigMap per cluster, read through the cluster's admin identity, parsed and cached briefly.

The token webhook reads aws-auth this way in the CONFIG_MAP modes: a copy is fresh for a couple of
seconds; after that the next caller waits at most about a second for a refresh and otherwise
answers from the last copy it has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Generic, TypeVar

from ..store import Record
from .kube import KubeClient, KubeCredentials, KubeError

log = logging.getLogger(__name__)

FRESH_SECONDS = 2.0
REFRESH_WAIT_SECONDS = 1.0
FIRST_READ_SECONDS = 3.0

Parsed = TypeVar("Parsed")


class ConfigMapCache(Generic[Parsed]):
    """`parse(data)` of the ConfigMap at `path` in each cluster (by cluster id); `parse(None)` when absent."""

    def __init__(self, path: str, parse: Callable[[dict | None], Parsed],
                 credentials_for: Callable[[Record], KubeCredentials | None]):
        self.path = path
        self.parse = parse
        self.credentials_for = credentials_for
        self._cached: dict[str, tuple[float, Parsed]] = {}
        self._reading: dict[str, asyncio.Task] = {}

    async def get(self, cluster: Record) -> Parsed | None:
        cluster_id = cluster.spec["id"]
        cached = self._cached.get(cluster_id)
        if cached and time.monotonic() - cached[0] < FRESH_SECONDS:
            return cached[1]
        task = self._reading.get(cluster_id)
        if task is None or task.done():
            task = asyncio.ensure_future(self._read(cluster))
            self._reading[cluster_id] = task
        try:
            return await asyncio.wait_for(asyncio.shield(task), REFRESH_WAIT_SECONDS if cached else FIRST_READ_SECONDS)
        except (asyncio.TimeoutError, KubeError, OSError) as error:  # OSError: e.g. the cluster's files are gone
            log.info("%s of cluster %s not read (%s); using the last copy", self.path, cluster.key.name, error or "timeout")
            return cached[1] if cached else None

    async def _read(self, cluster: Record) -> Parsed:
        credentials = self.credentials_for(cluster)
        if credentials is None:
            raise KubeError(0, "the cluster has no endpoint yet")
        async with KubeClient(credentials, timeout=FIRST_READ_SECONDS) as kube:
            configmap = await kube.get_or_none(self.path)
        parsed = self.parse((configmap or {}).get("data"))
        self._cached[cluster.spec["id"]] = (time.monotonic(), parsed)
        return parsed
