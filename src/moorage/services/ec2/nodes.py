"""How EC2 names and addresses the instances behind EKS nodes, and the labels those nodes carry.

Pure functions, no I/O; every id is derived from a seed, so a reconciler that re-runs gets the same
answers.

- Instance ids: ``i-`` and 17 hex digits, as EC2 writes them (derived like the other EC2 ids in
  ``network.resource_id``).
- Private IPs: AWS reserves the first four addresses of every subnet (network, VPC router, DNS,
  future use) and the last one (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
  ``allocate_private_ip`` starts at an address derived from the seed and walks forward (wrapping
  round) past reserved and taken addresses; the caller passes the addresses already in use as
  ``taken`` and records the result. Two seeds never get the same address as long as the caller adds
  each answer to ``taken``; when every usable address is taken, ``InsufficientFreeAddresses`` is
  raised (EKS reports a node group health issue of that name).
- Node names: an EKS node is named after its instance's private DNS name (IP name hostnames):
  ``ip-10-24-34-0.ec2.internal`` in us-east-1, ``ip-10-24-34-0.<region>.compute.internal`` in every
  other region (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-naming.html).
- providerID: ``aws:///<availability-zone>/<instance-id>`` (nodeadm ``getProviderId``; cluster-autoscaler,
  CAPA and Karpenter build the same string).
- Labels of a managed node group node: EKS's own ``eks.amazonaws.com/*`` labels (nodegroup,
  nodegroup-image, capacityType, sourceLaunchTemplateId/Version), the kubelet's well-known labels
  (``kubernetes.io/arch|os|hostname``, ``node.kubernetes.io/instance-type`` and their ``beta.`` twins),
  the cloud provider's topology labels (``topology.kubernetes.io/zone|region``, the deprecated
  ``failure-domain.beta.kubernetes.io/*``, and ``topology.k8s.aws/zone-id`` from cloud-provider-aws),
  and ``k8s.io/cloud-provider-aws``, an opaque 32-hex value EKS sets per cluster. The set matches node
  objects captured from real EKS clusters (e.g. the EKS workshop's m5.large node labels). How EKS
  derives the ``k8s.io/cloud-provider-aws`` value is not public; Moorage hashes (region, cluster).
- AMI types: the architecture of each EKS ``amiType`` is in its name (``..._ARM_64...`` or
  ``..._x86_64...``); EKS rejects node groups whose instance types do not match with
  ``InvalidParameterException: [t4g.small] is not a valid instance type for requested amiType AL2_x86_64``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Collection

from ...core.regions import availability_zones
from . import instance_types
from .instance_types import InstanceType
from .network import resource_id

RESERVED_AT_START = 4  # network address, VPC router, Amazon DNS, reserved for future use
RESERVED_AT_END = 1  # the broadcast address (VPCs do not support broadcast, AWS keeps it anyway)

AL2023_X86_64 = "AL2023_x86_64_STANDARD"
AL2023_ARM_64 = "AL2023_ARM_64_STANDARD"
CUSTOM_AMI_TYPE = "CUSTOM"


class InsufficientFreeAddresses(ValueError):
    """Every usable address of the subnet is taken."""


# --- ids and addresses ----------------------------------------------------------------------------


def instance_id(*seed: str) -> str:
    """An EC2 instance id, ``i-`` and 17 hex digits, the same every time for the same seed."""
    return resource_id("i", *seed)


def usable_address_count(cidr: str) -> int:
    """Addresses an instance can get in a subnet (a /24 has 251)."""
    return max(ipaddress.IPv4Network(cidr).num_addresses - RESERVED_AT_START - RESERVED_AT_END, 0)


def is_reserved_address(cidr: str, address: str) -> bool:
    """Whether AWS keeps this address of the subnet for itself (first four, last)."""
    network = ipaddress.IPv4Network(cidr)
    offset = int(ipaddress.IPv4Address(address)) - int(network.network_address)
    if not 0 <= offset < network.num_addresses:
        raise ValueError(f"{address} is not in {cidr}")
    return offset < RESERVED_AT_START or offset >= network.num_addresses - RESERVED_AT_END


def allocate_private_ip(cidr: str, seed: str, taken: Collection[str] = ()) -> str:
    """A free private address in the subnet, stable for a seed while the same addresses are taken.

    The walk starts at an address derived from the seed and moves forward, wrapping round, skipping
    AWS's reserved addresses and every address in ``taken``. The caller adds the answer to ``taken``.
    """
    network = ipaddress.IPv4Network(cidr)
    usable = usable_address_count(cidr)
    if usable == 0:
        raise InsufficientFreeAddresses(f"subnet {cidr} has no usable addresses")
    taken_set = taken if isinstance(taken, (set, frozenset)) else set(taken)
    start = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % usable
    base = int(network.network_address) + RESERVED_AT_START
    for step in range(usable):
        address = str(ipaddress.IPv4Address(base + (start + step) % usable))
        if address not in taken_set:
            return address
    raise InsufficientFreeAddresses(f"all {usable} usable addresses of subnet {cidr} are in use")


def private_dns_name(address: str, region: str) -> str:
    """EC2's IP-name private DNS name: ip-10-0-1-10.us-west-2.compute.internal, or .ec2.internal in us-east-1."""
    host = "ip-" + str(ipaddress.IPv4Address(address)).replace(".", "-")
    if region == "us-east-1":
        return f"{host}.ec2.internal"
    return f"{host}.{region}.compute.internal"


def node_name(address: str, region: str) -> str:
    """The Kubernetes node name of an EKS EC2 node: its private DNS name."""
    return private_dns_name(address, region)


def provider_id(zone: str, instance: str) -> str:
    """The node's spec.providerID: aws:///us-west-2a/i-0cd1c351f3c0d11a1."""
    return f"aws:///{zone}/{instance}"


def ami_id(region: str, ami_type: str, release_version: str | None = None) -> str:
    """A plausible AMI id for an EKS AMI type and release in a region (ami- and 17 hex digits)."""
    return resource_id("ami", region, ami_type, release_version or "latest")


def cloud_provider_aws_label(cluster: str, region: str) -> str:
    """The opaque per-cluster value of the k8s.io/cloud-provider-aws node label (32 hex digits)."""
    return hashlib.md5(f"{region}/{cluster}".encode(), usedforsecurity=False).hexdigest()


def zone_id(region: str, zone: str) -> str | None:
    return dict(availability_zones(region)).get(zone)


# --- AMI types ------------------------------------------------------------------------------------


def ami_type_for(instance_type: str | InstanceType) -> str:
    """The default AL2023 AMI type for an instance type's architecture."""
    return AL2023_ARM_64 if instance_types.get(instance_type).arch == "arm64" else AL2023_X86_64


def ami_type_architecture(ami_type: str) -> str | None:
    """x86_64 or arm64 for an EKS amiType; None for CUSTOM (the launch template's AMI decides)."""
    if "ARM_64" in ami_type:
        return "arm64"
    if "x86_64" in ami_type:
        return "x86_64"
    return None


def ami_type_os(ami_type: str) -> str:
    """The kubernetes.io/os of nodes built from an AMI type."""
    return "windows" if ami_type.startswith("WINDOWS_") else "linux"


def ami_type_fits(ami_type: str, instance_type: str | InstanceType) -> bool:
    """Whether EKS accepts this instance type with this amiType (architecture check only).

    CUSTOM and instance types outside the catalog are accepted: there is nothing to check them against.
    """
    wanted = ami_type_architecture(ami_type)
    if wanted is None:
        return True
    if isinstance(instance_type, str) and not instance_types.is_known(instance_type):
        return True
    return instance_types.get(instance_type).arch == wanted


def ami_type_mismatch(ami_type: str, instance_type_names: Collection[str]) -> str | None:
    """EKS's InvalidParameterException message when instance types do not fit the amiType, else None."""
    bad = [name for name in instance_type_names if not ami_type_fits(ami_type, name)]
    if not bad:
        return None
    return f"[{', '.join(bad)}] is not a valid instance type for requested amiType {ami_type}"


# --- labels ---------------------------------------------------------------------------------------


def managed_node_labels(
    cluster: str,
    nodegroup: str,
    instance_type: str | InstanceType,
    zone: str,
    region: str,
    capacity_type: str,
    ami_type: str,
    node_name: str,
    release_version: str | None = None,
    *,
    image_id: str | None = None,
    launch_template_id: str | None = None,
    launch_template_version: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The labels a managed node group node carries once it has joined, sorted by key.

    ``extra`` are the node group's own ``labels`` (the API's Nodegroup.labels); EKS's labels win over them.
    ``image_id`` defaults to ``ami_id(region, ami_type, release_version)``.
    """
    labels = {
        **(extra or {}),
        **instance_node_labels(cluster, instance_type, zone, region, ami_type, node_name),
        "eks.amazonaws.com/nodegroup": nodegroup,
        "eks.amazonaws.com/nodegroup-image": image_id or ami_id(region, ami_type, release_version),
        "eks.amazonaws.com/capacityType": capacity_type,
    }
    if launch_template_id:
        labels["eks.amazonaws.com/sourceLaunchTemplateId"] = launch_template_id
    if launch_template_version is not None:
        labels["eks.amazonaws.com/sourceLaunchTemplateVersion"] = str(launch_template_version)
    return dict(sorted(labels.items()))


def instance_node_labels(
    cluster: str, instance_type: str | InstanceType, zone: str, region: str, ami_type: str, node_name: str
) -> dict[str, str]:
    """What the kubelet and the AWS cloud provider put on any EC2 node, self-managed ones included."""
    if isinstance(instance_type, InstanceType) or instance_types.is_known(instance_type):
        it = instance_types.get(instance_type)
        name, arch = it.name, it.kubernetes_arch
    else:  # outside the catalog: the AMI type tells the architecture
        name, arch = instance_type, "arm64" if ami_type_architecture(ami_type) == "arm64" else "amd64"
    os_name = ami_type_os(ami_type)
    labels = {
        "node.kubernetes.io/instance-type": name,
        "beta.kubernetes.io/instance-type": name,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/arch": arch,
        "kubernetes.io/os": os_name,
        "beta.kubernetes.io/os": os_name,
        "kubernetes.io/hostname": node_name,
        "k8s.io/cloud-provider-aws": cloud_provider_aws_label(cluster, region),
    }
    zone_identifier = zone_id(region, zone)
    if zone_identifier:
        labels["topology.k8s.aws/zone-id"] = zone_identifier
    return dict(sorted(labels.items()))
