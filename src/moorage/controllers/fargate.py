"""Fargate: the profile reconciler and the Fargate scheduler.

The reconciler takes a profile CREATING → ACTIVE once its cluster's Fargate scheduler is watching,
and on DeleteFargateProfile deletes the pods the profile placed (as EKS does) and their nodes, then
the record.

The scheduler runs one watch per cluster that has profiles: pods with schedulerName fargate-scheduler
(the admission webhook set it). A pending pod gets a Fargate node of its own: an address is chosen in
one of its profile's subnets (spread over them) and recorded in the profile's status BEFORE the node
exists, so a crash never leaks or duplicates one; then the node is made through the node backend
(kwok) with EKS's labels, the Fargate taint and the pod's provisioned size as capacity, and the pod is
bound to it. When the pod is gone its node goes. Every (re)start of a watch lists first: pending pods
are placed, and recorded nodes or Fargate nodes whose pod no longer exists are removed.

Pod IP = node IP, as on Fargate: kwok plays pods of fargate-scheduler with the node's address
(its stage pod-running-fargate), so a Fargate node holds one address of its subnet and no pod block.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter

from ..core.kinds import CLUSTER, FARGATE_PROFILE
from ..infra.kube import KubeClient, KubeError, object_path
from ..infra.nodes.backend import ClusterContext, NodeBackend, NodeSpec
from ..services.ec2.network import find_subnet
from ..services.eks.access import authentication_mode
from ..services.eks.fargate import cluster_key_of, profile_state, profiles_of_cluster
from ..services.eks.fargate_pods import (
    CAPACITY_ANNOTATION,
    COMPUTE_TYPE_LABEL,
    FARGATE_TAINT,
    PROFILE_LABEL,
    SCHEDULER_NAME,
    fargate_capacity,
    fargate_node_labels,
    fargate_node_name,
    fargate_provider_id,
    size_from_annotation,
)
from ..services.eks.version_updates import running_version
from ..services.eks.versions import managed_node_info, supported_minors
from ..store import Conflict, Key, Record, SqliteStore
from .aws_auth import ensure_role_mapping
from .clusters import ClusterReconciler
from .nodegroups import instances_holding_addresses
from .runtime import Watch

log = logging.getLogger(__name__)

POD_ANNOTATION = "moorage.dev/fargate-pod"  # <namespace>/<name>/<uid> of the node's one pod
PODS_SELECTOR = f"spec.schedulerName={SCHEDULER_NAME}"
WATCH_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
DELETE_POLL_SECONDS = 0.5
PLACE_RETRY_SECONDS = 2.0


def pod_ref(pod: dict) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}/{meta['name']}/{meta['uid']}"


def allocations(record: Record) -> dict[str, dict]:
    """pod uid -> its Fargate node (nodeName, privateIp, subnetId, zone, pod), as recorded in the profile's status."""
    return dict(record.status.get("pods") or {})


def taken_addresses(store: SqliteStore, account: str, region: str) -> tuple[set[str], list]:
    """Addresses and address blocks in use in a region: every node's address, EC2 nodes' pod blocks."""
    holders = instances_holding_addresses(store, account, region)
    return {h["privateIp"] for h in holders}, [ipaddress.ip_network(h["podCidr"]) for h in holders if h.get("podCidr")]


def place_fargate_address(cidr: str, taken: set[str], blocks: list) -> str | None:
    """The lowest free address of a subnet (AWS keeps its first four and its last), outside every pod block."""
    network = ipaddress.ip_network(cidr)
    for offset in range(4, network.num_addresses - 1):
        address = network.network_address + offset
        if str(address) not in taken and not any(address in block for block in blocks):
            return str(address)
    return None


class FargateScheduler:
    def __init__(self, store: SqliteStore, clusters: ClusterReconciler, backend: NodeBackend):
        self.store = store
        self.clusters = clusters
        self.backend = backend
        self._watches: dict[Key, asyncio.Task] = {}
        self._ready: dict[Key, asyncio.Event] = {}
        self._busy: set[str] = set()  # pod uids being placed
        self._tasks: set[asyncio.Task] = set()

    # ---- lifecycle

    def ensure_running(self, cluster: Record) -> None:
        task = self._watches.get(cluster.key)
        if task is None or task.done():
            self._ready.setdefault(cluster.key, asyncio.Event())
            self._watches[cluster.key] = asyncio.create_task(self._run(cluster.key), name=f"fargate-scheduler {cluster.key}")

    def is_ready(self, cluster: Key) -> bool:
        event = self._ready.get(cluster)
        return event is not None and event.is_set()

    async def stop_cluster(self, cluster: Key) -> None:
        task = self._watches.pop(cluster, None)
        self._ready.pop(cluster, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop(self) -> None:
        for key in list(self._watches):
            await self.stop_cluster(key)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the watch

    def _context(self, cluster_key: Key) -> ClusterContext | None:
        cluster = self.store.get(cluster_key)
        if cluster is None or cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            return None
        return self.clusters.node_context(cluster)

    async def _run(self, cluster_key: Key) -> None:
        failures = 0
        while True:
            context = self._context(cluster_key)
            try:
                if context is None:
                    raise KubeError(0, "cluster is not ACTIVE")
                async with KubeClient(context.credentials, timeout=60) as kube:
                    listing = await kube.get("/api/v1/pods", params={"fieldSelector": PODS_SELECTOR})
                    await self._resync(cluster_key, context, kube, listing.get("items") or [])
                    self._ready.setdefault(cluster_key, asyncio.Event()).set()
                    failures = 0
                    version = (listing.get("metadata") or {}).get("resourceVersion")
                    while True:  # re-watch from the last version seen; list again only when it expired
                        async for event in kube.watch("/api/v1/pods", resource_version=version, field_selector=PODS_SELECTOR):
                            pod = event.get("object") or {}
                            version = (pod.get("metadata") or {}).get("resourceVersion") or version
                            if event["type"] in ("ADDED", "MODIFIED"):
                                self._consider(cluster_key, context, pod)
                            elif event["type"] == "DELETED":
                                self._spawn(self._release(cluster_key, context, pod["metadata"]["uid"]))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the watch must outlive any one failure
                delay = WATCH_RETRY_SECONDS[min(failures, len(WATCH_RETRY_SECONDS) - 1)]
                failures += 1
                log.log(logging.DEBUG if failures < 3 else logging.WARNING,
                        "fargate scheduler for %s: %s; watching again in %.1fs", cluster_key, error, delay)
                await asyncio.sleep(delay)

    async def _resync(self, cluster_key: Key, context: ClusterContext, kube: KubeClient, pods: list[dict]) -> None:
        """After a (re)start: remove the nodes of pods that are gone and nodes no record explains, place pending pods."""
        live = {p["metadata"]["uid"]: p for p in pods}
        # Nodes first, records second: a node is always recorded before it is made, so none is taken for an orphan.
        nodes = await kube.list("/api/v1/nodes", label_selector=f"{COMPUTE_TYPE_LABEL}=fargate")
        recorded: dict[str, dict] = {}
        for profile in self._profiles(cluster_key):
            recorded.update(allocations(profile))
        for uid in set(recorded) - set(live):
            await self._release(cluster_key, context, uid)
        recorded_names = {a["nodeName"] for a in recorded.values()}
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in recorded_names and POD_ANNOTATION in (node["metadata"].get("annotations") or {}):
                log.info("removing orphaned Fargate node %s", name)
                await self.backend.delete_node(context, name)
        for pod in pods:
            self._consider(cluster_key, context, pod)

    def _profiles(self, cluster_key: Key) -> list[Record]:
        return profiles_of_cluster(self.store, cluster_key.account, cluster_key.region, cluster_key.name)

    def _consider(self, cluster_key: Key, context: ClusterContext, pod: dict) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        if spec.get("nodeName"):
            return  # placed already (a node is recorded and made before its pod is bound)
        self._spawn(self._place(cluster_key, context, pod))

    # ---- placing and releasing

    async def _place(self, cluster_key: Key, context: ClusterContext, pod: dict) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if uid in self._busy:
            return
        self._busy.add(uid)
        try:
            profile = self.store.get(Key(cluster_key.account, cluster_key.region, FARGATE_PROFILE,
                                         f"{cluster_key.name}/{(meta.get('labels') or {}).get(PROFILE_LABEL, '')}"))
            size = size_from_annotation((meta.get("annotations") or {}).get(CAPACITY_ANNOTATION, ""))
            if profile is None or size is None:
                log.info("pod %s/%s stays Pending: %s", meta["namespace"], meta["name"],
                         "no Fargate size fits its requests" if profile else "its Fargate profile is gone")
                return
            node = allocations(profile).get(uid)
            if node is None:
                if profile_state(profile) != "ACTIVE":
                    return
                node = self._allocate(profile, pod)
                if node is None:
                    log.warning("no free address for pod %s/%s in the subnets of Fargate profile %s",
                                meta["namespace"], meta["name"], profile.spec["fargateProfileName"])
                    return
            await self.backend.start(context)
            await self.backend.ensure_nodes(context, [self._node_spec(cluster_key, node, uid, size)])
            bound = await self._bind(context, pod, node["nodeName"])
            current = self.store.get(profile.key)
            if not bound or current is None or uid not in allocations(current):
                # The pod went while its node was being made (and maybe released already): the node goes too.
                await self.backend.delete_node(context, node["nodeName"])
                self._update_allocations(profile.key, lambda pods: {k: v for k, v in pods.items() if k != uid})
        except KubeError as error:
            log.warning("placing pod %s/%s on Fargate failed: %s; retrying", meta["namespace"], meta["name"], error)
            self._spawn(self._place_later(cluster_key, context, pod))
        finally:
            self._busy.discard(uid)

    async def _place_later(self, cluster_key: Key, context: ClusterContext, pod: dict) -> None:
        await asyncio.sleep(PLACE_RETRY_SECONDS)
        if cluster_key in self._watches:  # still scheduling for this cluster
            await self._place(cluster_key, context, pod)

    def _allocate(self, profile: Record, pod: dict) -> dict | None:
        """Choose and record the pod's address (synchronous: no other allocation interleaves on the loop)."""
        key = profile.key
        subnets = [s for s in (find_subnet(self.store, key.account, key.region, i) for i in profile.spec["subnets"]) if s]
        taken, blocks = taken_addresses(self.store, key.account, key.region)
        per_subnet = Counter(n["subnetId"] for n in allocations(profile).values())
        for subnet in sorted(subnets, key=lambda s: (per_subnet[s["SubnetId"]], s["AvailabilityZone"], s["SubnetId"])):
            address = place_fargate_address(subnet["CidrBlock"], taken, blocks)
            if address is None:
                continue
            node = {
                "nodeName": fargate_node_name(address, key.region),
                "privateIp": address,
                "subnetId": subnet["SubnetId"],
                "zone": subnet["AvailabilityZone"],
                "pod": pod_ref(pod),
                "kubeletVersion": self._cluster_minor(profile),  # Fargate runs the cluster's minor at the pod's start
            }
            self._update_allocations(key, lambda pods: {**pods, pod["metadata"]["uid"]: node})
            return node
        return None

    def _cluster_minor(self, profile: Record) -> str | None:
        cluster = self.store.get(Key(profile.key.account, profile.key.region, CLUSTER, profile.spec["clusterName"]))
        return running_version(cluster) if cluster is not None else None

    def _update_allocations(self, key: Key, change) -> None:
        while True:
            record = self.store.get(key)
            if record is None:
                return
            try:
                self.store.update_status(record, {**record.status, "pods": change(allocations(record))})
                return
            except Conflict:
                continue

    def _node_spec(self, cluster_key: Key, node: dict, uid: str, size) -> NodeSpec:
        address = node["privateIp"]
        capacity = fargate_capacity(size)
        return NodeSpec(
            name=node["nodeName"],
            provider_id=fargate_provider_id(node["zone"], uid, node["nodeName"]),
            internal_ip=address,
            hostname=node["nodeName"].removeprefix("fargate-"),
            labels=fargate_node_labels(node["zone"], cluster_key.region, address),
            annotations={POD_ANNOTATION: node["pod"]},
            taints=[FARGATE_TAINT],
            capacity=capacity,
            allocatable=capacity,
            node_info=managed_node_info(node["kubeletVersion"]) if node.get("kubeletVersion") in supported_minors() else {},
        )

    async def _bind(self, context: ClusterContext, pod: dict, node_name: str) -> bool:
        """Bind the pod to its node; False when the pod is gone."""
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        async with context.kube() as kube:
            try:
                await kube.create(object_path("v1", "pods", meta["name"], meta["namespace"]), binding, subresource="binding")
            except KubeError as error:
                if error.not_found:
                    return False
                if not error.conflict:  # 409: bound already (an earlier pass, before a crash)
                    raise
        return True

    async def _release(self, cluster_key: Key, context: ClusterContext, uid: str) -> None:
        """The pod is gone: its node goes, then its record."""
        for profile in self._profiles(cluster_key):
            node = allocations(profile).get(uid)
            if node is None:
                continue
            await self.backend.delete_node(context, node["nodeName"])
            self._update_allocations(profile.key, lambda pods: {k: v for k, v in pods.items() if k != uid})


class FargateReconciler:
    name, kind = "fargate-profiles", FARGATE_PROFILE

    def __init__(self, store: SqliteStore, clusters: ClusterReconciler, scheduler: FargateScheduler):
        self.store = store
        self.clusters = clusters
        self.scheduler = scheduler

    def watches(self) -> list[Watch]:
        """A cluster's change (e.g. it became ACTIVE, or is being deleted) concerns every Fargate profile of it."""
        return [Watch(CLUSTER, lambda cluster: fargate_profiles_of_cluster(self.store, cluster))]

    async def reconcile(self, key: Key) -> float | None:
        record = self.store.get(key)
        if record is None:
            return None
        cluster = self.store.get(cluster_key_of(key))
        if cluster is None:
            return None
        if cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            return 1.0
        self.scheduler.ensure_running(cluster)
        if record.deleting:
            return await self._delete(record, cluster)
        if not self.scheduler.is_ready(cluster.key):
            return 0.2
        if authentication_mode(cluster) == "CONFIG_MAP" and not record.status.get("podExecutionRoleMapped"):
            async with self.clusters.node_context(cluster).kube(timeout=10) as kube:
                await ensure_role_mapping(kube, record.spec["podExecutionRoleArn"], "FARGATE_LINUX")
            record = self.store.merge_status(record, podExecutionRoleMapped=True)
        if record.status.get("status") != "ACTIVE":
            await self._configure_webhook(cluster)  # pods of its namespaces reach the webhook before it is ACTIVE
            self.store.merge_status(record, status="ACTIVE")
        return None

    async def _delete(self, record: Record, cluster: Record) -> float | None:
        """As EKS: the pods placed with the profile are deleted (their controllers may recreate them
        elsewhere), then their nodes, then the profile."""
        context = self.clusters.node_context(cluster)
        name = record.spec["fargateProfileName"]
        async with context.kube() as kube:
            pods = [
                p for p in await kube.list("/api/v1/pods", label_selector=f"{PROFILE_LABEL}={name}", field_selector=PODS_SELECTOR)
            ]
            for pod in pods:
                if not pod["metadata"].get("deletionTimestamp"):
                    await kube.delete(object_path("v1", "pods", pod["metadata"]["name"], pod["metadata"]["namespace"]))
        if pods:
            return DELETE_POLL_SECONDS
        for node in allocations(record).values():
            await self.scheduler.backend.delete_node(context, node["nodeName"])
        self.store.remove(self.store.require(record.key))
        await self._configure_webhook(cluster)
        if not profiles_of_cluster(self.store, cluster.key.account, cluster.key.region, cluster.key.name):
            await self.scheduler.stop_cluster(cluster.key)
        return None


    async def _configure_webhook(self, cluster: Record) -> None:
        if self.clusters.admission is not None:
            await self.clusters.admission.ensure_configured(cluster.spec["id"], self.clusters.node_context(cluster).credentials)


def fargate_profiles_of_cluster(store: SqliteStore, cluster: Key) -> list[Key]:
    return [r.key for r in profiles_of_cluster(store, cluster.account, cluster.region, cluster.name)]
