"""Rolling a managed node group onto a new version (UpdateNodegroupVersion), in EKS's four phases.

1. Setup: the update's target (version, release version, launch template version) is in the spec; its instances
   are compared with it.
2. Scale up: the group grows by a surge of new-version nodes (twice its zones, at least maxUnavailable, never
   more than the nodes to replace, none with the MINIMAL strategy), and waits until they are Ready. The old
   nodes are cordoned and labelled node.kubernetes.io/exclude-from-external-load-balancers.
3. Upgrade: up to maxUnavailable old nodes at a time are drained through evictions, which honour
   PodDisruptionBudgets; a drained node is terminated and the group replaces it with a new-version node.
   Evictions that keep failing for the pod-eviction timeout (EKS: 15 minutes) fail the update with
   PodEvictionFailure, unless the update was forced, in which case blocked pods are deleted.
4. Scale down: the group returns to its desiredSize (the surplus nodes drained as any scale-in), and the
   update is Successful once every node runs the new version.
Progress is recorded in the group's status (`rollout`) before each step, so a crash resumes it.
"""

from __future__ import annotations

import logging
import math
import time

from ..infra.kube import KubeError
from ..infra.nodes.backend import ClusterContext
from ..services.eks.nodegroup_versions import nodegroup_running
from ..store import Record, SqliteStore

log = logging.getLogger(__name__)

EXCLUDE_FROM_LB = "node.kubernetes.io/exclude-from-external-load-balancers"
DEFAULT_POD_EVICTION_TIMEOUT_SECONDS = 15 * 60.0


def instance_version(instance: dict, fallback: tuple[str, str]) -> tuple[str, str]:
    """(version, releaseVersion) of one instance; instances recorded before versions were kept run the fallback."""
    return instance.get("version") or fallback[0], instance.get("releaseVersion") or fallback[1]


def target_template_version(record: Record) -> str | None:
    """The launch template version the group's nodes should run (None: no template)."""
    return (record.spec.get("launchTemplate") or {}).get("version")


def instance_template_version(instance: dict, update: Record) -> str | None:
    """The launch template version one instance was launched from; before versions were kept, the update's previous."""
    return instance.get("launchTemplateVersion") or (update.spec.get("previous") or {}).get("launchTemplateVersion")


def version_for_new_instances(record: Record, update: Record | None) -> tuple[str, str]:
    """New instances run the update's target while one is in progress, else what the group runs."""
    if update is not None:
        return record.spec["version"], record.spec["releaseVersion"]
    return nodegroup_running(record)


def parallelism(record: Record, base: int) -> int:
    config = record.spec.get("updateConfig") or {}
    if config.get("maxUnavailablePercentage"):
        return max(1, math.floor(base * config["maxUnavailablePercentage"] / 100))
    return max(1, int(config.get("maxUnavailable") or 1))


class NodegroupRollouts:
    def __init__(self, store: SqliteStore, pod_eviction_timeout: float = DEFAULT_POD_EVICTION_TIMEOUT_SECONDS):
        self.store = store
        self.pod_eviction_timeout = pod_eviction_timeout

    def previous(self, update: Record) -> tuple[str, str]:
        before = update.spec.get("previous") or {}
        return before.get("version"), before.get("releaseVersion")

    def stale(self, record: Record, update: Record, instances: list[dict]) -> list[dict]:
        target = (record.spec["version"], record.spec["releaseVersion"])
        template = target_template_version(record)
        return [i for i in instances if instance_version(i, self.previous(update)) != target
                or instance_template_version(i, update) != template]

    def start(self, record: Record, update: Record, instances: list[dict]) -> Record:
        """Setup: record the rollout (its surge) once; the status keeps showing the version the nodes run."""
        rollout = record.status.get("rollout") or {}
        if rollout.get("updateId") == update.spec["id"]:
            return record
        previous = self.previous(update)
        stamped = [{**i, "version": instance_version(i, previous)[0], "releaseVersion": instance_version(i, previous)[1],
                    **({"launchTemplateVersion": instance_template_version(i, update)}
                       if instance_template_version(i, update) else {})}
                   for i in instances]
        stale = self.stale(record, update, stamped)
        zones = {i["zone"] for i in stamped} or {None}
        base = record.spec["scalingConfig"]["desiredSize"]
        strategy = (record.spec.get("updateConfig") or {}).get("updateStrategy", "DEFAULT")
        surge = 0 if strategy == "MINIMAL" else min(len(stale), max(2 * len(zones), parallelism(record, base)))
        log.info("node group %s: version update %s: %d nodes to replace, surge %d", record.key.name, update.spec["id"],
                 len(stale), surge)
        return self.store.merge_status(
            record, instances=stamped, version=previous[0], releaseVersion=previous[1],
            rollout={"updateId": update.spec["id"], "surge": surge, "draining": {}, "cordoned": False,
                     "startedAt": time.time()})

    def desired(self, record: Record, update: Record, instances: list[dict]) -> int:
        base = record.spec["scalingConfig"]["desiredSize"]
        if not self.stale(record, update, instances):
            return base  # scale down: the surge goes
        return base + (record.status.get("rollout") or {}).get("surge", 0)

    async def upgrade(self, record: Record, update: Record, instances: list[dict], context: ClusterContext,
                      drain) -> tuple[Record, list[dict], float | None]:
        """One pass of the upgrade phase, with every node Ready. Returns the record, the instances left, and a
        delay to requeue after (None: the rollout has nothing more to do in this pass)."""
        stale = self.stale(record, update, instances)
        rollout = dict(record.status.get("rollout") or {})
        if not stale:
            return record, instances, None
        if not rollout.get("cordoned"):
            await self._cordon(context, [i["nodeName"] for i in stale])
            rollout["cordoned"] = True
            record = self.store.merge_status(record, rollout=rollout)
        draining = dict(rollout.get("draining") or {})
        base = record.spec["scalingConfig"]["desiredSize"]
        for instance in stale:
            if len(draining) >= parallelism(record, base):
                break
            draining.setdefault(instance["instanceId"], time.time())
        if draining != rollout.get("draining"):
            rollout["draining"] = draining
            record = self.store.merge_status(record, rollout=rollout)
        force = bool(update.spec.get("force"))
        by_id = {i["instanceId"]: i for i in instances}
        for instance_id, started in list(draining.items()):
            instance = by_id.get(instance_id)
            if instance is not None:
                gone = await drain(context, instance["nodeName"], force)
                if not gone:
                    if time.time() - started > self.pod_eviction_timeout:
                        return await self._fail_evictions(record, update, stale, context), instances, 0.0
                    continue
                instances = [i for i in instances if i["instanceId"] != instance_id]
            draining.pop(instance_id)
            rollout["draining"] = draining
            record = self.store.merge_status(record, instances=instances, rollout=rollout)
        return record, instances, 1.0 if draining else 0.0

    def finish(self, record: Record) -> Record:
        """Every node runs the target: the group's version moves; the caller marks the update Successful."""
        return self.store.merge_status(record, version=record.spec["version"], releaseVersion=record.spec["releaseVersion"],
                                       rollout=None)

    async def _cordon(self, context: ClusterContext, nodes: list[str]) -> None:
        async with context.kube() as kube:
            for node in nodes:
                try:
                    await kube.merge_patch(f"/api/v1/nodes/{node}", {
                        "metadata": {"labels": {EXCLUDE_FROM_LB: "true"}}, "spec": {"unschedulable": True}})
                except KubeError as error:
                    if not error.not_found:
                        raise

    async def _fail_evictions(self, record: Record, update: Record, stale: list[dict], context: ClusterContext) -> Record:
        nodes = sorted(i["nodeName"] for i in stale)
        log.error("node group %s: version update %s failed: evictions blocked for %.0f s", record.key.name,
                  update.spec["id"], self.pod_eviction_timeout)
        self.store.merge_status(update, status="Failed", errors=[{
            "errorCode": "PodEvictionFailure",
            "errorMessage": f"Reached max retries while trying to evict pods from nodes in node group {record.spec['nodegroupName']}",
            "resourceIds": nodes}])
        async with context.kube() as kube:  # the old nodes take pods again; the surge goes as any scale-in
            for node in nodes:
                try:
                    await kube.merge_patch(f"/api/v1/nodes/{node}", {
                        "metadata": {"labels": {EXCLUDE_FROM_LB: None}}, "spec": {"unschedulable": False}})
                except KubeError as error:
                    if not error.not_found:
                        raise
        return self.store.merge_status(record, rollout=None, appliedUpdate=update.spec["id"])
