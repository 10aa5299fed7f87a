"""The add-on reconciler: an add-on record's objects installed in its cluster, and its health.

Each pass: the cluster ACTIVE → render the version's objects for the spec (addon_manifests.py) →
server-side apply each one as field manager ``eks`` with resolveConflicts emulated (OVERWRITE: force;
NONE: no force, a conflict fails the add-on with ConfigurationConflict; PRESERVE: fields other managers
own, with other values, are left out) → objects of the previous version that are gone are deleted →
status records what was applied (a digest of the inputs) → its Deployments and DaemonSets ready:
ACTIVE; still not ready READY_TIMEOUT_SECONDS after the apply: DEGRADED with
InsufficientNumberOfReplicas. Deleting: the objects are deleted (unless preserve), the add-on's Pod
Identity associations removed (unless preserve), the record removed. The digest is written after the
last object is applied, so a crash anywhere re-runs the apply from the record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from ..core.kinds import ADDON, CLUSTER, POD_IDENTITY_ASSOCIATION, UPDATE
from ..infra.kube import KubeClient, KubeError, path_of
from ..infra.managed_fields import without_fields_of_others
from ..services.eks.addon_configuration import parse
from ..services.eks.addon_manifests import object_ref, render
from ..services.eks.addon_versions import AddonVersion, find_version
from ..services.eks.addons import addons_of_cluster
from ..store import Conflict, Key, Record, SqliteStore
from .clusters import ClusterReconciler
from .runtime import Watch

log = logging.getLogger(__name__)

FIELD_MANAGER = "eks"
READY_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.5
DEGRADED_POLL_SECONDS = 5.0
HEALTH_RECHECK_SECONDS = 15.0
WORKLOAD_KINDS = ("Deployment", "DaemonSet")
REPLICAS_MESSAGE = "The add-on is unhealthy because it doesn't have the desired number of replicas."


def bootstrap_setting(cluster: Record) -> str:
    """The store setting that records a cluster's self-managed add-ons as applied (addon_bootstrap.py)."""
    return "self-managed-addons/" + cluster.spec["id"]


def bootstrap_pending(store: SqliteStore, cluster: Record) -> bool:
    """The cluster's self-managed add-ons are still to be applied: EKS add-ons wait for them, so the
    self-managed copies never land over an add-on's objects."""
    return cluster.spec.get("_bootstrapSelfManagedAddons") is not False and not store.setting(bootstrap_setting(cluster))


def cluster_inputs(cluster: Record) -> dict:
    """What the templates read of the cluster."""
    return {
        "name": cluster.key.name,
        "endpoint": cluster.status.get("endpoint", ""),
        "serviceCidr": cluster.spec["kubernetesNetworkConfig"]["serviceIpv4Cidr"],
    }


async def apply_object(kube: KubeClient, obj: dict, mode: str, manager: str = FIELD_MANAGER) -> None:
    """Server-side apply of one object as `manager`, resolveConflicts `mode` (OVERWRITE, NONE, PRESERVE).
    A conflict under NONE (or PRESERVE) raises KubeError 409."""
    path = path_of(obj)
    if mode == "PRESERVE":
        obj = without_fields_of_others(obj, await kube.get_or_none(path), manager)
    await kube.apply(path, obj, force=(mode == "OVERWRITE"), field_manager=manager)


def workload_shortfall(obj: dict) -> str | None:
    """Why a Deployment or DaemonSet is not ready (None when it is)."""
    spec, status, metadata = obj.get("spec") or {}, obj.get("status") or {}, obj.get("metadata") or {}
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return "not yet observed by its controller"
    if obj["kind"] == "Deployment":
        wanted = spec.get("replicas", 1)
        ready = min(status.get("readyReplicas", 0), status.get("updatedReplicas", 0))
        return None if ready >= wanted else f"{ready} of {wanted} replicas ready"
    wanted = status.get("desiredNumberScheduled", 0)
    ready = min(status.get("numberReady", 0), status.get("updatedNumberScheduled", 0))
    return None if ready >= wanted else f"{ready} of {wanted} pods ready"


def conflict_message(obj: dict, error: KubeError) -> str:
    """EKS's words for a refused apply: "Conflicts found when trying to apply. Will not continue due to
    resolve conflicts mode. Conflicts:\nDeployment.apps coredns - .spec.replicas"."""
    group = obj["apiVersion"].rpartition("/")[0]
    kind = f"{obj['kind']}.{group}" if group else obj["kind"]
    causes = ((error.body or {}).get("details") or {}).get("causes") or []
    fields = [c.get("field", "") for c in causes if c.get("field")] or [error.message]
    lines = "\n".join(f"{kind} {obj['metadata']['name']} - {field}" for field in fields)
    return f"Conflicts found when trying to apply. Will not continue due to resolve conflicts mode. Conflicts:\n{lines}"


def inputs_digest(spec: dict) -> str:
    """What the installed objects depend on; an UpdateAddon always changes it (its update id)."""
    inputs = {k: spec.get(k) for k in ("addonVersion", "configurationValues", "serviceAccountRoleArn", "namespaceConfig",
                                       "_resolveConflicts", "_pendingUpdate")}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


class AddonReconciler:
    name, kind = "addons", ADDON

    def __init__(self, store: SqliteStore, clusters: ClusterReconciler, ready_timeout: float = READY_TIMEOUT_SECONDS):
        self.store = store
        self.clusters = clusters
        self.ready_timeout = ready_timeout

    def watches(self) -> list[Watch]:
        """A cluster's change (ACTIVE at last, deleted) concerns every add-on of it."""
        return [Watch(CLUSTER, lambda k: [r.key for r in addons_of_cluster(self.store, k.account, k.region, k.name)])]

    async def reconcile(self, key: Key) -> float | None:
        record = self.store.get(key)
        if record is None:
            return None
        cluster = self.store.get(Key(key.account, key.region, CLUSTER, record.spec["clusterName"]))
        if cluster is None or cluster.spec.get("id") != record.spec["_clusterId"]:
            self._forget(record)  # its cluster is gone, and everything in it
            return None
        if cluster.deleting:
            return 2.0  # removed once the cluster record is gone
        if cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            if record.deleting and not record.status.get("appliedObjects"):
                self._forget(record, keep_associations=bool(record.spec.get("_preserve")))  # nothing installed yet
                return None
            return 1.0
        if bootstrap_pending(self.store, cluster):
            return POLL_SECONDS
        version = find_version(record.spec["addonName"], record.spec["addonVersion"])
        if version is None:  # a catalogue file was removed under a live add-on
            self._fail(record, "InternalFailure", f"Addon version {record.spec['addonVersion']} is no longer in the catalogue.", [])
            return None
        if record.deleting:
            await self._delete(record, cluster, version)
            return None
        if record.status.get("appliedDigest") != inputs_digest(record.spec):
            return await self._apply(record, cluster, version)
        if record.status.get("status") in ("CREATE_FAILED", "UPDATE_FAILED"):
            return None  # until the user updates or deletes it
        return await self._check_health(record, cluster)

    def _objects(self, record: Record, cluster: Record, version: AddonVersion) -> list[dict]:
        text = record.spec.get("configurationValues")
        return render(version, region=record.key.region, cluster=cluster_inputs(cluster),
                      values=parse(text, cluster.key.name) if text is not None else None,
                      namespace=(record.spec.get("namespaceConfig") or {}).get("namespace"),
                      service_account_role_arn=record.spec.get("serviceAccountRoleArn"))

    async def _apply(self, record: Record, cluster: Record, version: AddonVersion) -> float | None:
        digest = inputs_digest(record.spec)
        objects = self._objects(record, cluster, version)
        mode = record.spec.get("_resolveConflicts") or "NONE"
        previous = list(record.status.get("appliedObjects") or [])
        applied = list(previous)
        context = self.clusters.node_context(cluster)
        async with context.kube(timeout=30) as kube:
            for obj in objects:
                ref = object_ref(obj)
                try:
                    await apply_object(kube, obj, mode)
                except KubeError as error:
                    if error.status == 0 or error.status >= 500 or error.status == 429:
                        raise  # transient: the runtime retries with backoff
                    code = "ConfigurationConflict" if error.conflict else (
                        "AdmissionRequestDenied" if error.status == 403 else "InternalFailure")
                    message = conflict_message(obj, error) if error.conflict else error.message
                    self.store.merge_status(record, appliedObjects=applied, appliedDigest=digest)
                    self._fail(self.store.require(record.key), code, message[:1000], [ref["name"]])
                    return None
                if ref not in applied:
                    applied.append(ref)
            wanted = [object_ref(o) for o in objects]
            for ref in reversed(previous):  # what the previous version had and this one has not
                if ref not in wanted:
                    await kube.delete(path_of(ref), propagation_policy="Background")
        record = self.store.merge_status(record, appliedObjects=wanted, appliedDigest=digest, appliedAt=time.time(),
                                         observedGeneration=record.generation)
        return await self._check_health(record, cluster)

    async def _check_health(self, record: Record, cluster: Record) -> float:
        workloads = [ref for ref in record.status.get("appliedObjects") or [] if ref["kind"] in WORKLOAD_KINDS]
        shortfalls: list[tuple[str, str, str]] = []  # (code, name, detail)
        async with self.clusters.node_context(cluster).kube(timeout=10) as kube:
            for ref in workloads:
                live = await kube.get_or_none(path_of(ref))
                if live is None:
                    shortfalls.append(("K8sResourceNotFound", ref["name"], f"{ref['kind']} {ref['name']} not found"))
                    continue
                detail = workload_shortfall(live)
                if detail:
                    shortfalls.append(("InsufficientNumberOfReplicas", ref["name"], detail))
        fresh = self.store.get(record.key)
        if fresh is None or fresh.deleting or inputs_digest(fresh.spec) != fresh.status.get("appliedDigest"):
            return 0.0  # changed meanwhile: look again at once
        record = fresh
        if not shortfalls:
            record = self.store.merge_status(record, status="ACTIVE", healthIssues=[], appliedUpdate=record.spec.get("_pendingUpdate"))
            self._finish_update(record, None)
            return HEALTH_RECHECK_SECONDS
        waited = time.time() - record.status.get("appliedAt", 0)
        if waited < self.ready_timeout:
            return POLL_SECONDS
        issues = []
        for code in ("K8sResourceNotFound", "InsufficientNumberOfReplicas"):
            names = [name for c, name, _ in shortfalls if c == code]
            if names:
                message = REPLICAS_MESSAGE if code == "InsufficientNumberOfReplicas" else \
                    "; ".join(detail for c, _, detail in shortfalls if c == code)
                issues.append({"code": code, "message": message, "resourceIds": names})
        record = self.store.merge_status(record, status="DEGRADED", healthIssues=issues,
                                         appliedUpdate=record.spec.get("_pendingUpdate"))
        self._finish_update(record, issues[0])
        return DEGRADED_POLL_SECONDS

    def _fail(self, record: Record, code: str, message: str, resource_ids: list[str]) -> None:
        state = "CREATE_FAILED" if record.status.get("status", "CREATING") == "CREATING" else "UPDATE_FAILED"
        log.warning("add-on %s: %s (%s: %s)", record.key, state, code, message)
        issue = {"code": code, "message": message, "resourceIds": resource_ids}
        record = self.store.merge_status(record, status=state, healthIssues=[issue], appliedUpdate=record.spec.get("_pendingUpdate"))
        self._finish_update(record, issue)

    def _finish_update(self, record: Record, issue: dict | None) -> None:
        update_id = record.spec.get("_pendingUpdate")
        if not update_id:
            return
        update = self.store.get(Key(record.key.account, record.key.region, UPDATE, update_id))
        if update is None or update.status.get("status") != "InProgress":
            return
        if issue is None:
            self.store.merge_status(update, status="Successful")
        else:
            self.store.merge_status(update, status="Failed", errors=[
                {"errorCode": issue["code"], "errorMessage": issue["message"], "resourceIds": issue["resourceIds"]}])

    async def _delete(self, record: Record, cluster: Record, version: AddonVersion) -> None:
        preserve = bool(record.spec.get("_preserve"))
        if not preserve:
            refs = list(record.status.get("appliedObjects") or [])
            refs += [r for r in (object_ref(o) for o in self._objects(record, cluster, version)) if r not in refs]
            async with self.clusters.node_context(cluster).kube(timeout=30) as kube:
                for ref in reversed(refs):
                    await kube.delete(path_of(ref), propagation_policy="Background")
        self._forget(record, keep_associations=preserve)

    def _forget(self, record: Record, keep_associations: bool = False) -> None:
        if not keep_associations:
            for association in self.store.list(record.key.account, record.key.region, POD_IDENTITY_ASSOCIATION):
                if association.spec.get("ownerArn") == record.spec["addonArn"]:
                    try:
                        self.store.remove(association)
                    except Conflict:
                        pass
        fresh = self.store.get(record.key)
        if fresh is not None and fresh.spec["addonArn"] == record.spec["addonArn"]:
            self.store.remove(fresh)
