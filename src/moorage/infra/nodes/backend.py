"""The node-backend contract: what the node-group reconcilers ask of "the machines".

A backend turns :class:`NodeSpec`s into Kubernetes nodes of one tenant cluster and reports which are Ready.
The simulated backend (:mod:`.kwok`) creates the Node objects itself and lets kwok play the kubelet; a real
backend (later) would start kubelets that register themselves. Callers are level-based reconcilers: every
method is idempotent and may be called again after any crash.

Pod IPs. On EKS the VPC CNI gives pods addresses from the node's subnet. A NodeSpec carries ``pod_cidrs``:
a block inside the subnet reserved for that node's pods, the way the VPC CNI's prefix delegation gives an
ENI /28 prefixes. :func:`pod_cidr_block` carves such blocks from the top of a subnet, so that node
addresses can be taken from its bottom.
"""

from __future__ import annotations

import abc
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..controlplane import ClusterPaths
from ..kube import KubeClient, KubeCredentials

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# What a node gets when the caller does not say (an m5.large's figures, as EKS's max-pods table has it).
DEFAULT_CAPACITY = {"cpu": "2", "memory": "7910360Ki", "pods": "29", "ephemeral-storage": "20959212Ki"}


@dataclass(frozen=True)
class ClusterContext:
    """Everything a backend needs to reach one cluster and keep its own files and processes apart."""

    process_prefix: str  # "<account>/<region>/<name>-<cluster id>"; backend processes are "<prefix>/<component>"
    server_url: str  # https://127.0.0.1:<port>
    ca_cert: Path
    client_cert: Path  # an identity in system:masters (the cluster's admin certificate)
    client_key: Path
    kubeconfig: Path  # the same identity as a kubeconfig, for the processes a backend starts
    data_dir: Path  # the backend's own files for this cluster
    logs_dir: Path
    state_dir: Path  # the supervisor's process records

    @classmethod
    def from_paths(cls, paths: ClusterPaths, server_url: str, process_prefix: str) -> ClusterContext:
        """The context of a cluster laid out by the cluster reconciler (``ClusterPaths``, pki/ as pki.py writes it)."""
        return cls(
            process_prefix=process_prefix,
            server_url=server_url,
            ca_cert=paths.pki / "ca.crt",
            client_cert=paths.pki / "admin.crt",
            client_key=paths.pki / "admin.key",
            kubeconfig=paths.pki / "admin.kubeconfig",
            data_dir=paths.root / "nodes",
            logs_dir=paths.logs,
            state_dir=paths.state,
        )

    @property
    def credentials(self) -> KubeCredentials:
        return KubeCredentials(self.server_url, self.ca_cert, self.client_cert, self.client_key)

    def kube(self, timeout: float = 30.0) -> KubeClient:
        return KubeClient(self.credentials, timeout=timeout)


def _frozen_map(value: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@dataclass(frozen=True)
class NodeSpec:
    """One node as the node group wants it.

    ``taints`` are mappings with ``key``, ``effect`` (NoSchedule, PreferNoSchedule, NoExecute) and an optional
    ``value``. ``capacity`` and ``allocatable`` are Kubernetes quantities as strings; allocatable defaults to
    capacity. ``pods`` in capacity also bounds how many pod IPs the node hands out, so it must fit in the
    first ``pod_cidrs`` block (its network address is never used). ``pod_cidrs`` is at most one IPv4 and one
    IPv6 block (the node's ``spec.podCIDRs``). ``node_info`` overrides fields of ``status.nodeInfo``
    (kubeletVersion, osImage, containerRuntimeVersion, …).
    """

    name: str
    provider_id: str  # aws:///<az>/<instance id>
    internal_ip: str
    hostname: str | None = None  # defaults to the name (EKS: ip-10-0-1-23.<region>.compute.internal)
    internal_dns: str | None = None  # defaults to the hostname
    external_ip: str | None = None
    external_dns: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()
    capacity: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    allocatable: Mapping[str, str] | None = None
    pod_cidrs: Sequence[str] = ()
    node_info: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 253:
            raise ValueError(f"invalid node name {self.name!r}")
        ipaddress.ip_address(self.internal_ip)
        object.__setattr__(self, "labels", _frozen_map(self.labels))
        object.__setattr__(self, "annotations", _frozen_map(self.annotations))
        object.__setattr__(self, "capacity", _frozen_map(self.capacity))
        object.__setattr__(self, "node_info", _frozen_map(self.node_info))
        if self.allocatable is not None:
            object.__setattr__(self, "allocatable", _frozen_map(self.allocatable))
        taints = []
        for taint in self.taints:
            if not taint.get("key") or taint.get("effect") not in TAINT_EFFECTS:
                raise ValueError(f"{self.name}: invalid taint {dict(taint)!r}")
            normalized = {"key": str(taint["key"]), "effect": str(taint["effect"])}
            if taint.get("value"):
                normalized["value"] = str(taint["value"])
            taints.append(normalized)
        object.__setattr__(self, "taints", tuple(taints))
        cidrs = tuple(str(ipaddress.ip_network(cidr, strict=True)) for cidr in self.pod_cidrs)
        if len(cidrs) > 2 or len({ipaddress.ip_network(c).version for c in cidrs}) != len(cidrs):
            raise ValueError(f"{self.name}: pod_cidrs holds at most one IPv4 and one IPv6 block, got {cidrs}")
        object.__setattr__(self, "pod_cidrs", cidrs)
        if cidrs and "pods" in self.capacity:
            usable = ipaddress.ip_network(cidrs[0]).num_addresses - 1
            if int(self.capacity["pods"]) > usable:
                raise ValueError(f"{self.name}: {self.capacity['pods']} pods do not fit in {cidrs[0]} ({usable} addresses)")

    @property
    def effective_allocatable(self) -> dict[str, str]:
        return dict(self.allocatable if self.allocatable is not None else self.capacity)

    @property
    def addresses(self) -> list[dict[str, str]]:
        """status.addresses in the kubelet's order (InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS)."""
        hostname = self.hostname or self.name
        addresses = [{"type": "InternalIP", "address": self.internal_ip}]
        if self.external_ip:
            addresses.append({"type": "ExternalIP", "address": self.external_ip})
        addresses.append({"type": "Hostname", "address": hostname})
        addresses.append({"type": "InternalDNS", "address": self.internal_dns or hostname})
        if self.external_dns:
            addresses.append({"type": "ExternalDNS", "address": self.external_dns})
        return addresses


class NodeBackend(abc.ABC):
    """Makes NodeSpecs into Ready nodes of a cluster. All methods are idempotent."""

    @abc.abstractmethod
    async def start(self, ctx: ClusterContext) -> None:
        """Start (or adopt) whatever runs per cluster for this backend. Returns without waiting for readiness."""

    @abc.abstractmethod
    async def stop(self, ctx: ClusterContext) -> None:
        """Stop the per-cluster processes. Node objects stay; they go NotReady as their leases expire."""

    @abc.abstractmethod
    async def ensure_nodes(self, ctx: ClusterContext, specs: Sequence[NodeSpec]) -> None:
        """Create or update these nodes. Nodes not listed are left alone (use ``delete_node``)."""

    @abc.abstractmethod
    async def delete_node(self, ctx: ClusterContext, name: str) -> None:
        """Remove a node, as if its instance was terminated: its pods are left to the pod garbage collector.
        Draining first (evictions) is the caller's business."""

    @abc.abstractmethod
    async def list_nodes(self, ctx: ClusterContext) -> dict[str, bool]:
        """The nodes this backend manages in the cluster: name -> whether the Ready condition is True."""


def node_ready(node: Mapping[str, Any]) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def pod_cidr_block(subnet_cidr: str, slot: int, max_pods: int) -> str:
    """The ``slot``-th pod block of a subnet, counted down from its top: the smallest power-of-two block that
    holds ``max_pods`` addresses besides its network address and one spare (so the subnet's last address,
    which AWS reserves, is never handed out). Node addresses are best taken from the subnet's bottom."""
    subnet = ipaddress.ip_network(subnet_cidr, strict=False)
    if max_pods < 1 or slot < 0:
        raise ValueError("max_pods must be positive and slot non-negative")
    size = 1 << max(2, (max_pods + 1).bit_length())  # >= max_pods + 2
    prefix = subnet.max_prefixlen - (size.bit_length() - 1)
    if prefix < subnet.prefixlen:
        raise ValueError(f"{max_pods} pods need a /{prefix}, larger than subnet {subnet}")
    count = subnet.num_addresses // size
    if slot >= count - 1:  # keep at least the lowest block for node addresses
        raise ValueError(f"subnet {subnet} has room for {count - 1} pod blocks of /{prefix}, not {slot + 1}")
    start = int(subnet.network_address) + (count - 1 - slot) * size
    return str(ipaddress.ip_network((start, prefix)))


__all__ = ["ClusterContext", "DEFAULT_CAPACITY", "NodeBackend", "NodeSpec", "TAINT_EFFECTS", "node_ready", "pod_cidr_block"]
