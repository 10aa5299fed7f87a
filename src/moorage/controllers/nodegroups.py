"""The node-group reconciler: a managed node group's spec becomes EC2-like instances and Kubernetes nodes.

Each pass: read the group and its cluster → record new instances in status BEFORE creating their
nodes (so a crash never duplicates or orphans one) → ensure every recorded instance's node through
the node backend → scale in by cordoning and draining (evictions, which honour
PodDisruptionBudgets) before deleting → ACTIVE once desiredSize nodes are Ready.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import time
from collections import Counter

from ..core.kinds import CLUSTER, NODEGROUP, UPDATE
from ..infra.kube import KubeError, object_path
from ..infra.nodes.backend import ClusterContext, NodeBackend, NodeSpec, pod_cidr_block
from ..services.ec2.instance_types import CATALOG, node_resources
from ..services.ec2.launched_instances import instances_holding_addresses
from ..services.ec2.network import all_subnets
from ..services.ec2.nodes import instance_id, managed_node_labels, node_name, provider_id
from ..services.eks.access import authentication_mode
from ..services.eks.nodegroup_launch_templates import effective_instance_types, template_facts
from ..services.eks.nodegroup_versions import nodegroup_running
from ..services.eks.nodegroups import cluster_of
from ..services.eks.versions import managed_node_info
from ..store import Conflict, Key, Record, SqliteStore
from .aws_auth import ensure_role_mapping
from .cluster_upgrades import pending_version_update
from .clusters import ClusterReconciler, complete_update
from .nodegroup_rollouts import (
    DEFAULT_POD_EVICTION_TIMEOUT_SECONDS,
    NodegroupRollouts,
    instance_version,
    version_for_new_instances,
)
from .runtime import Watch

log = logging.getLogger(__name__)

EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
DRAIN_RETRY_SECONDS = 1.0
POLL_SECONDS = 0.2
RESYNC_SECONDS = 30.0
# DeleteNodegroup: "If the node hasn't been drained after 5 minutes, Amazon EKS lets Auto Scaling continue the
# forced termination of the instance" (EKS user guide, Delete a managed node group).
DEFAULT_NODE_DRAIN_TIMEOUT_SECONDS = 300.0


class NodegroupReconciler:
    name, kind = "nodegroups", NODEGROUP

    def __init__(self, store: SqliteStore, clusters: ClusterReconciler, backend: NodeBackend,
                 pod_eviction_timeout: float = DEFAULT_POD_EVICTION_TIMEOUT_SECONDS,
                 node_drain_timeout: float = DEFAULT_NODE_DRAIN_TIMEOUT_SECONDS):
        self.store = store
        self.node_drain_timeout = node_drain_timeout
        self.rollouts = NodegroupRollouts(store, pod_eviction_timeout)
        self.clusters = clusters
        self.backend = backend

    def watches(self) -> list[Watch]:
        """A cluster's change (e.g. it became ACTIVE, or is being deleted) concerns every node group of it."""
        return [Watch(CLUSTER, lambda cluster: nodegroups_of_cluster(self.store, cluster))]


    async def reconcile(self, key: Key) -> float | None:
        record = self.store.get(key)
        if record is None:
            return None
        cluster = self.store.get(cluster_of(key))
        if cluster is None:
            return None
        if cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            return 1.0
        context = self.clusters.node_context(cluster)
        await self.backend.start(context)
        if record.deleting:
            return await self._delete(record, context)
        if authentication_mode(cluster) == "CONFIG_MAP" and not record.status.get("nodeRoleMapped"):
            async with context.kube(timeout=10) as kube:  # as EKS does: the node role goes into aws-auth
                await ensure_role_mapping(kube, record.spec["nodeRole"], "EC2_LINUX")
            record = self.store.merge_status(record, nodeRoleMapped=True)
        instances = list(record.status.get("instances", []))
        terminated = [i for i in instances if i["instanceId"] in set(record.spec.get("_terminations", []))]
        for instance in terminated:  # EC2 TerminateInstances: the node goes at once (no drain), a replacement follows
            await self.backend.delete_node(context, instance["nodeName"])
            instances.remove(instance)
            record = self.store.merge_status(record, instances=instances)
        update = pending_version_update(self.store, record)
        desired = record.spec["scalingConfig"]["desiredSize"]
        if update is not None:  # UpdateNodegroupVersion: surge while old nodes remain (nodegroup_rollouts.py)
            record = self.rollouts.start(record, update, instances)
            instances = list(record.status.get("instances", []))
            desired = self.rollouts.desired(record, update, instances)
        issues = []
        if len(instances) < desired:
            instances = self._allocate(record, instances, desired - len(instances), version_for_new_instances(record, update))
            record = self.store.merge_status(record, instances=instances)  # recorded before any node exists
            if len(instances) < desired:
                issues = [
                    {
                        "code": "InsufficientFreeAddresses",
                        "message": f"The node group's subnets have no free addresses for {desired - len(instances)} more "
                        "nodes and their pods. Add subnets with free addresses or lower desiredSize.",
                        "resourceIds": list(record.spec["subnets"]),
                    }
                ]
        if issues != record.status.get("healthIssues", []):
            record = self.store.merge_status(record, healthIssues=issues)
        elif len(instances) > desired:
            surplus = self._pick_surplus(instances, len(instances) - desired)
            for instance in surplus:
                if not await self._drain_and_delete(context, instance["nodeName"]):
                    return DRAIN_RETRY_SECONDS
                instances = [i for i in instances if i["instanceId"] != instance["instanceId"]]
                record = self.store.merge_status(record, instances=instances)
        await self.backend.ensure_nodes(context, [self._node_spec(record, i) for i in instances])
        ready = await self.backend.list_nodes(context)
        ready_count = sum(1 for i in instances if ready.get(i["nodeName"]))
        if ready_count < len(instances):
            return POLL_SECONDS * max(1, len(instances) // 100)  # big groups: fewer node listings
        if issues:
            if record.status.get("status", "CREATING") == "CREATING":
                self.store.merge_status(record, status="CREATE_FAILED")
            return RESYNC_SECONDS
        if update is not None:
            record, instances, delay = await self.rollouts.upgrade(record, update, instances, context, self._drain_and_delete)
            if delay is not None:
                return delay
            if len(instances) != desired or pending_version_update(self.store, record) is None:
                return 0.0
            record = self.rollouts.finish(record)
        elif record.status.get("rollout"):  # the update failed or was cancelled: nothing more to roll
            record = self.store.merge_status(record, rollout=None)
        record = self.store.merge_status(
            record, status="ACTIVE", appliedUpdate=record.spec.get("_pendingUpdate"), readyNodes=ready_count
        )
        complete_update(self.store, record)
        return RESYNC_SECONDS

    def _allocate(self, record: Record, instances: list[dict], count: int, version: tuple[str, str]) -> list[dict]:
        """New instances, spread evenly over the group's subnets' zones, with addresses from those subnets.

        Node addresses come from a subnet's bottom and pod blocks from its top, as the VPC CNI hands
        pods addresses of the node's subnet; a full subnet is skipped, and when every subnet is full
        the group keeps what it has (the caller reports InsufficientFreeAddresses)."""
        key = record.key
        subnets = {s["SubnetId"]: s for s in all_subnets(self.store, key.account, key.region)}
        chosen = [subnets[s] for s in record.spec["subnets"] if s in subnets]
        everyone = self._all_instances(key)
        taken = {i["privateIp"] for i in everyone}
        blocks = [ipaddress.ip_network(i["podCidr"]) for i in everyone if i.get("podCidr")]
        spaces = {s["SubnetId"]: SubnetSpace(s["CidrBlock"], taken, blocks) for s in chosen}
        instances = list(instances)
        full: set[str] = set()
        while count > 0 and len(full) < len(chosen):
            per_zone = Counter(i["zone"] for i in instances)
            subnet = min(
                (s for s in chosen if s["SubnetId"] not in full),
                key=lambda s: (per_zone[s["AvailabilityZone"]], s["AvailabilityZone"]),
            )
            types = effective_instance_types(record.spec)
            instance_type = types[len(instances) % len(types)]
            pods = int(node_resources(CATALOG[instance_type])["capacity"]["pods"])
            placed = spaces[subnet["SubnetId"]].place(pods)
            if placed is None:
                full.add(subnet["SubnetId"])
                continue
            address, block = placed
            seed = f"{record.spec['nodegroupArn']}/{time.time_ns()}/{len(instances)}"
            instances.append(
                {
                    "instanceId": instance_id(seed),
                    "zone": subnet["AvailabilityZone"],
                    "subnetId": subnet["SubnetId"],
                    "privateIp": address,
                    "podCidr": str(block),
                    "nodeName": node_name(address, key.region),
                    "instanceType": instance_type,
                    "launchedAt": time.time(),
                    "version": version[0],
                    "releaseVersion": version[1],
                    **({"launchTemplateVersion": record.spec["launchTemplate"]["version"]}
                       if record.spec.get("launchTemplate") else {}),
                }
            )
            count -= 1
        return instances

    def _all_instances(self, key: Key) -> list[dict]:
        return instances_holding_addresses(self.store, key.account, key.region)

    @staticmethod
    def _pick_surplus(instances: list[dict], count: int) -> list[dict]:
        """Scale in from the most crowded zone first, newest instance first (keeps zones balanced)."""
        remaining = list(instances)
        surplus = []
        for _ in range(count):
            per_zone = Counter(i["zone"] for i in remaining)
            zone = max(per_zone, key=lambda z: (per_zone[z], z))
            victim = max((i for i in remaining if i["zone"] == zone), key=lambda i: i["launchedAt"])
            remaining.remove(victim)
            surplus.append(victim)
        return surplus

    def _node_spec(self, record: Record, instance: dict) -> NodeSpec:
        key, spec = record.key, record.spec
        cluster_name = spec["clusterName"]
        instance_type = CATALOG[instance["instanceType"]]
        version, release = instance_version(instance, nodegroup_running(record))
        facts = template_facts(spec, instance.get("launchTemplateVersion"))
        labels = managed_node_labels(
            image_id=facts.get("imageId"),
            cluster=cluster_name,
            nodegroup=spec["nodegroupName"],
            instance_type=instance_type,
            zone=instance["zone"],
            region=key.region,
            capacity_type=spec["capacityType"],
            ami_type=spec["amiType"],
            node_name=instance["nodeName"],
            release_version=release,
            extra=spec.get("labels") or {},
        )
        disk = facts.get("diskSize") or spec.get("diskSize") or 20
        resources = node_resources(instance_type, disk)
        return NodeSpec(
            name=instance["nodeName"],
            provider_id=provider_id(instance["zone"], instance["instanceId"]),
            internal_ip=instance["privateIp"],
            labels=labels,
            taints=[{"key": t["key"], "value": t.get("value", ""), "effect": EFFECTS[t["effect"]]} for t in spec.get("taints") or []],
            capacity=resources["capacity"],
            allocatable=resources["allocatable"],
            pod_cidrs=[instance["podCidr"]],
            node_info=managed_node_info(version),
        )

    async def _drain_and_delete(self, context: ClusterContext, node: str, force: bool = False) -> bool:
        """Cordon, evict every pod (a PodDisruptionBudget answers 429: try again later), then delete.

        True once the node is gone; False while pods remain, so the caller requeues."""
        async with context.kube() as kube:
            try:
                await kube.merge_patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True}})
            except KubeError as error:
                if error.not_found:
                    return True
                raise
            pods = await kube.list("/api/v1/pods", field_selector=f"spec.nodeName={node}")
            remaining = 0
            for pod in pods:
                meta = pod["metadata"]
                owners = {o.get("kind") for o in meta.get("ownerReferences") or []}
                if "DaemonSet" in owners or "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
                    continue  # as `kubectl drain --ignore-daemonsets`: they go with the node
                remaining += 1
                if meta.get("deletionTimestamp"):
                    continue
                try:
                    await kube.evict(meta["namespace"], meta["name"])
                except KubeError as error:
                    if error.status == 429 and force:  # a forced version update: the budget is overridden
                        log.info("eviction of %s/%s blocked by a PodDisruptionBudget; deleting it (forced update)",
                                 meta["namespace"], meta["name"])
                        await kube.delete(object_path("v1", "pods", meta["name"], meta["namespace"]))
                    elif error.status == 429:
                        log.info("eviction of %s/%s blocked by a PodDisruptionBudget; retrying", meta["namespace"], meta["name"])
                    elif not error.not_found:
                        raise
            if remaining:
                return False
        await self.backend.delete_node(context, node)
        return True

    async def _delete(self, record: Record, context) -> float | None:
        """Drain every node, then remove the group. As on EKS, a node not drained after the node-drain
        timeout (EKS: 5 minutes; e.g. a PodDisruptionBudget such as CoreDNS's on the last nodes) is
        terminated anyway: its blocked pods are deleted."""
        started = record.status.get("deleteDrainStartedAt")
        if started is None:
            started = time.time()
            record = self.store.merge_status(record, deleteDrainStartedAt=started)
        force = time.time() - started > self.node_drain_timeout
        instances = list(record.status.get("instances", []))
        for instance in list(instances):
            if not await self._drain_and_delete(context, instance["nodeName"], force=force):
                continue
            instances.remove(instance)
            record = self.store.merge_status(record, instances=instances)
        if instances:
            return DRAIN_RETRY_SECONDS
        for update in self.store.list(record.key.account, record.key.region, UPDATE):
            if update.spec.get("nodegroupArn") == record.spec["nodegroupArn"]:
                try:
                    self.store.remove(update)
                except Conflict:
                    pass
        self.store.remove(self.store.require(record.key))
        return None


class SubnetSpace:
    """The free space of one subnet: node addresses from the bottom, pod blocks from the top.

    Built once per allocation pass from what is in use, then each `place` is nearly constant time,
    so thousands of nodes are placed in well under a second."""

    def __init__(self, cidr: str, taken: set[str], blocks: list):
        network = ipaddress.ip_network(cidr)
        self.cidr = cidr
        self.low, self.high = int(network.network_address), int(network.broadcast_address)
        self.used = sorted(
            (start, end)
            for start, end in ((int(b.network_address), int(b.broadcast_address)) for b in blocks)
            if start <= self.high and end >= self.low
        )
        self.taken = {n for n in (int(ipaddress.ip_address(a)) for a in taken) if self.low <= n <= self.high}
        self.next_address = self.low + 4  # AWS reserves the first four addresses
        self.next_slot: dict[int, int] = {}  # per block size: slots below this one are known to be used

    def _overlaps(self, first: int, last: int) -> bool:
        at = bisect.bisect_left(self.used, (first, first))
        return any(start <= last and end >= first for start, end in self.used[max(at - 1, 0) : at + 1])

    def place(self, pods: int) -> tuple[str, object] | None:
        size = 1 << max(2, (pods + 1).bit_length())  # as pod_cidr_block sizes blocks
        slot = self.next_slot.get(size, 0)
        while True:
            try:
                block = ipaddress.ip_network(pod_cidr_block(self.cidr, slot, pods))
            except ValueError:
                return None
            first, last = int(block.network_address), int(block.broadcast_address)
            if not self._overlaps(first, last):
                break
            slot += 1
        self.next_slot[size] = slot
        ceiling = min(first, self.used[0][0]) if self.used else first
        number = self.next_address
        while number < ceiling and number in self.taken:
            number += 1
        if number >= ceiling:
            return None  # addresses from the bottom met the pod blocks from the top: full
        self.next_address = number + 1
        self.taken.add(number)
        bisect.insort(self.used, (first, last))
        return str(ipaddress.ip_address(number)), block


def place_in_subnet(cidr: str, pods: int, taken: set[str], blocks: list) -> tuple[str, object] | None:
    """A node address (lowest free, above AWS's four reserved) and a pod block (highest free), or None."""
    return SubnetSpace(cidr, taken, blocks).place(pods)


def nodegroups_of_cluster(store: SqliteStore, cluster: Key) -> list[Key]:
    return [
        r.key for r in store.list(cluster.account, cluster.region, NODEGROUP) if r.spec["clusterName"] == cluster.name
    ]

