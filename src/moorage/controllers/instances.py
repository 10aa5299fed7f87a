"""The instance reconciler: a launched (self-managed) instance gets an address and, once it may join
its cluster, a node; a terminated one loses its node and address, and is forgotten an hour later.

The address is recorded in status before the node exists, so a crash never gives two instances one
address; node creation is idempotent, so a re-run after a crash only finishes the work.
"""

from __future__ import annotations

import ipaddress
import logging
import time

from ..core.context import Principal
from ..core.kinds import CLUSTER, INSTANCE
from ..core.regions import partition
from ..infra.nodes.backend import NodeBackend, NodeSpec
from ..services.ec2.instance_types import CATALOG, node_resources
from ..services.ec2.launched_instances import TERMINATED_VISIBLE_SECONDS
from ..services.ec2.network import find_subnet
from ..services.ec2.nodes import AL2023_ARM_64, AL2023_X86_64, instance_node_labels, node_name, provider_id
from ..services.eks.identity import ClusterIdentities
from ..services.eks.version_updates import running_version
from ..services.eks.versions import managed_node_info, supported_minors
from ..services.iam.identity import instance_profile_role_arn, principal_record
from ..store import Key, Record, SqliteStore
from .clusters import ClusterReconciler
from .nodegroups import instances_holding_addresses, place_in_subnet
from .runtime import Watch

log = logging.getLogger(__name__)

CLUSTER_WAIT_SECONDS = 2.0
JOIN_RETRY_SECONDS = 5.0
RESYNC_SECONDS = 60.0


class InstanceReconciler:
    name, kind = "instances", INSTANCE

    def __init__(self, store: SqliteStore, clusters: ClusterReconciler, backend: NodeBackend, identities: ClusterIdentities):
        self.store = store
        self.clusters = clusters
        self.backend = backend
        self.identities = identities

    def watches(self) -> list[Watch]:
        """A cluster's change (e.g. it became ACTIVE, or is being deleted) concerns every self-managed instance of it."""
        return [Watch(CLUSTER, lambda cluster: instances_of_cluster(self.store, cluster))]

    async def reconcile(self, key: Key) -> float | None:
        record = self.store.get(key)
        if record is None:
            return None
        # A launch that found no address is terminated for good: it is only forgotten later, never
        # re-addressed (each retry would rewrite its status, and so re-enqueue it, forever).
        if record.deleting or record.status.get("state") == "terminated":
            return await self._terminate(record)
        if not record.status.get("privateIp"):
            record = self._address(record)
            if record.status.get("state") == "terminated":
                return TERMINATED_VISIBLE_SECONDS
        if not record.spec.get("cluster"):
            return None
        cluster = self.store.get(Key(key.account, key.region, CLUSTER, record.spec["cluster"]))
        if cluster is None or cluster.deleting:
            if record.status.get("joined"):
                self.store.merge_status(record, joined=False)
            return RESYNC_SECONDS  # as on AWS, the instance keeps running and retries joining
        if cluster.status.get("status") != "ACTIVE" or not cluster.status.get("endpoint"):
            return CLUSTER_WAIT_SECONDS
        refusal = await self._join_refusal(record, cluster)
        if refusal:
            if record.status.get("joinError") != refusal:
                log.warning("instance %s cannot join cluster %s: %s", key.name, cluster.key.name, refusal)
                self.store.merge_status(record, joinError=refusal)
            return JOIN_RETRY_SECONDS  # as the kubelet does: it keeps trying, and joins once the role is mapped
        context = self.clusters.node_context(cluster)
        await self.backend.start(context)
        await self.backend.ensure_nodes(context, [self._node_spec(record)])
        if not record.status.get("joined"):
            self.store.merge_status(record, joined=True, joinError=None, clusterId=cluster.spec["id"])
        return RESYNC_SECONDS  # a removed access entry or aws-auth mapping is noticed here

    async def _join_refusal(self, record: Record, cluster: Record) -> str | None:
        """Why the kubelet's credentials (the instance role's session) are not a node of the cluster, or None.

        The same decision the token webhook makes: an EC2_LINUX access entry or an aws-auth mapRoles
        entry that puts the role in system:nodes."""
        key = record.key
        profile = record.spec.get("instanceProfile")
        role_arn = instance_profile_role_arn(self.store, partition(key.region), key.account, profile) if profile else None
        if role_arn is None:
            return "the instance has no IAM instance profile with a role, so its kubelet cannot authenticate"
        found = principal_record(self.store, role_arn)
        role_id = found[1].spec["RoleId"] if found else "AROA"
        session = Principal(
            account_id=key.account,
            arn=f"arn:{partition(key.region)}:sts::{key.account}:assumed-role/{role_arn.rsplit('/', 1)[1]}/{key.name}",
            user_id=f"{role_id}:{key.name}",
            access_key_id="ASIA" + key.name[2:18].upper(),
        )
        user, why = await self.identities.user_for(cluster, session)
        if user is None:
            return f"{why}; map role {role_arn} with an EC2_LINUX access entry or in aws-auth's mapRoles"
        if "system:nodes" not in user["groups"]:
            return f"role {role_arn} is mapped, but not into the system:nodes group"
        return None

    def _address(self, record: Record) -> Record:
        key, spec = record.key, record.spec
        subnet = find_subnet(self.store, key.account, key.region, spec["subnetId"])
        everyone = instances_holding_addresses(self.store, key.account, key.region)
        taken = {i["privateIp"] for i in everyone}
        blocks = [ipaddress.ip_network(i["podCidr"]) for i in everyone if i.get("podCidr")]
        pods = int(node_resources(CATALOG[spec["instanceType"]])["capacity"]["pods"])
        placed = place_in_subnet(subnet["CidrBlock"], pods, taken, blocks) if subnet else None
        if placed is None or (spec.get("requestedIp") and spec["requestedIp"] in taken):
            reason = "Server.InsufficientFreeAddressesInSubnet" if placed is None else "Client.InvalidIPAddress.InUse"
            return self.store.merge_status(
                record, state="terminated", terminatedAt=time.time(), transitionReason=f"{reason}: no free address for the instance"
            )
        address, block = placed
        address = spec.get("requestedIp") or address
        return self.store.merge_status(
            record,
            state="running",
            privateIp=address,
            podCidr=str(block),
            nodeName=node_name(address, key.region),
            zone=spec["zone"],
            kubeletVersion=self._cluster_minor(record),  # the EKS AMI of the cluster's minor at launch
        )

    def _cluster_minor(self, record: Record) -> str | None:
        cluster = self.store.get(Key(record.key.account, record.key.region, CLUSTER, record.spec.get("cluster") or ""))
        return running_version(cluster) if cluster is not None else None

    async def _terminate(self, record: Record) -> float | None:
        status = record.status
        if status.get("state") == "terminated":
            left = status["terminatedAt"] + TERMINATED_VISIBLE_SECONDS - time.time()
            if left > 0:
                return left
            self.store.remove(record)
            return None
        cluster = self.store.get(Key(record.key.account, record.key.region, CLUSTER, record.spec.get("cluster") or ""))
        if status.get("joined") and cluster is not None and cluster.status.get("endpoint"):
            await self.backend.delete_node(self.clusters.node_context(cluster), status["nodeName"])
        now = time.time()
        self.store.merge_status(
            record,
            state="terminated",
            terminatedAt=now,
            joined=False,
            privateIp=None,
            podCidr=None,
            transitionReason=f"User initiated ({time.strftime('%Y-%m-%d %H:%M:%S GMT', time.gmtime(now))})",
        )
        return TERMINATED_VISIBLE_SECONDS

    def _node_spec(self, record: Record) -> NodeSpec:
        key, spec, status = record.key, record.spec, record.status
        instance_type = CATALOG[spec["instanceType"]]
        ami_type = AL2023_ARM_64 if instance_type.arch == "arm64" else AL2023_X86_64
        resources = node_resources(instance_type)
        return NodeSpec(
            name=status["nodeName"],
            provider_id=provider_id(spec["zone"], spec["instanceId"]),
            internal_ip=status["privateIp"],
            labels=instance_node_labels(spec["cluster"], instance_type, spec["zone"], key.region, ami_type, status["nodeName"]),
            taints=[],
            capacity=resources["capacity"],
            allocatable=resources["allocatable"],
            pod_cidrs=[status["podCidr"]],
            node_info=managed_node_info(status["kubeletVersion"]) if status.get("kubeletVersion") in supported_minors() else {},
        )


def instances_of_cluster(store: SqliteStore, cluster: Key) -> list[Key]:
    return [r.key for r in store.list(cluster.account, cluster.region, INSTANCE) if r.spec.get("cluster") == cluster.name]
