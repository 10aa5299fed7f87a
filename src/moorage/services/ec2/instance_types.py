"""The EC2 instance types Moorage knows, and the node arithmetic EKS does with them.

Pure data and arithmetic: no I/O. Three things live here:

1. ``CATALOG``: the instance types EKS users pick most (t3, m5, m6i, m7i, c5, c6i, c7i, r5, r6i, r7i
   and the Graviton m6g, m7g, c7g), with the numbers ``ec2 describe-instance-types`` reports.
2. Max pods: what the VPC CNI lets a node run, uncapped (``eni_max_pods``, the AMI's eni-max-pods.txt)
   and as EKS's max-pods calculator caps it for managed node groups (``max_pods``).
3. Node capacity and allocatable as the EKS AMI's bootstrap (nodeadm) configures the kubelet
   (``node_resources``), written as Kubernetes quantity strings.

Where the numbers come from
---------------------------
ENIs per instance and IPv4 addresses per ENI (the two numbers max pods depends on):

- awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/instance-info.jsonl`` (``defaultMaxENIs``,
  ``ipv4AddressesPerInterface``; generated from the EC2 API), read for c5, c6i, c7i, c7g, m6g, m6i, m7g,
  m7i, r6i and r7i;
  https://github.com/awslabs/amazon-eks-ami/blob/main/nodeadm/internal/kubelet/instance-info.jsonl
- aws/amazon-vpc-cni-k8s ``pkg/vpc/vpc_ip_resource_limit.go`` (``ENILimit``, ``IPv4Limit``,
  ``HypervisorType``), read for c5 and c7g;
  https://github.com/aws/amazon-vpc-cni-k8s/blob/master/pkg/vpc/vpc_ip_resource_limit.go
- awslabs/amazon-eks-ami ``files/instance-eni-data.txt`` (instance type, max ENIs, IPs per ENI) for t3,
  m5, r5 and c5.
- Every catalog entry's ``ENIs x (IPs - 1) + 2`` equals its line in awslabs/amazon-eks-ami
  ``templates/shared/runtime/eni-max-pods.txt`` (the unit tests hold a copy of those lines).

Across these Nitro families the limits depend only on the size (medium 2x4, large 3x10, xlarge and
2xlarge 4x15, 4xlarge to 12xlarge 8x30, 16xlarge and up 15x50); the burstable t3 has its own row.

vCPUs, memory, clock speed and network performance are AWS's published specifications
(https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html, co.html, mo.html) as
DescribeInstanceTypes reports them. Members of ``InstanceTypeInfo`` whose values vary in ways not
modelled here (EBS bandwidth figures, ValidCores, network card bandwidth) are left out, as EC2 itself
leaves out members that do not apply.

Max pods:

- ``eni_max_pods``: ``ENIs x (IPv4 per ENI - 1) + 2``, the header formula of eni-max-pods.txt.
- ``max_pods``: awslabs/amazon-eks-ami ``files/max-pods-calculator.sh``: with prefix delegation
  (Nitro only) each secondary IP slot holds a /28 prefix of 16 addresses, ``ENIs x ((IPs - 1) x 16) + 2``;
  with custom networking the primary ENI carries no pods (ENIs - 1); then the result is capped at 110,
  or 250 when the instance has more than 30 vCPUs.

Kubelet reservations (awslabs/amazon-eks-ami ``nodeadm/internal/kubelet/config.go``, AL2023):

- kube-reserved memory: ``11 MiB x maxPods + 255 MiB``;
- kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% of the rest,
  each range computed in integer millicores and truncated (``getResourceToReserveInRange``);
- kube-reserved ephemeral-storage: ``1Gi``; no system-reserved;
- evictionHard: ``memory.available: 100Mi``, ``nodefs.available: 10%``, ``nodefs.inodesFree: 5%``.

The kubelet subtracts kube-reserved, system-reserved and the hard eviction thresholds from capacity
(kubernetes ``pkg/kubelet/cm/node_container_manager_linux.go``). A percentage threshold is a float32
in the kubelet, so 10% of a disk is ``int(bytes x float32(0.1))``: that is why a real AL2 node with a
20 GiB root volume (capacity ``20959212Ki``) shows allocatable ``18242267924``.

Memory the kubelet sees: a guest sees less than the nominal memory (the kernel and firmware keep
some). AWS documents no rule for it; Karpenter estimates it with ``vmMemoryOverheadPercent`` (default
0.075, aws/karpenter-provider-aws chart settings) and subtracts ``ceil(MiB x 0.075)`` MiB. Moorage uses
the same estimate by default (``VM_MEMORY_OVERHEAD_PERCENT``); pass ``memory_overhead_percent=0`` for
the nominal memory. Real nodes land between the two (an m5.large reports about 7.6 GiB).

Disk: ephemeral-storage capacity is the root volume's nominal size; a real node's filesystem is a few
MiB smaller (partition table, EFI partition, XFS metadata), which is not modelled.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

ARCHITECTURES = ("x86_64", "arm64")

# EKS's max-pods calculator: ceilings for instances with at most / more than 30 vCPUs.
MAX_PODS_CEILING_LOW_CPU = 110
MAX_PODS_CEILING_HIGH_CPU = 250
MAX_PODS_HIGH_CPU_THRESHOLD = 30
IPS_PER_PREFIX = 16  # a /28 prefix, with VPC CNI prefix delegation

# nodeadm's kubelet defaults (AL2023).
KUBE_RESERVED_MEMORY_BASE_MIB = 255
KUBE_RESERVED_MEMORY_PER_POD_MIB = 11
KUBE_RESERVED_EPHEMERAL_STORAGE_BYTES = 1 << 30  # "1Gi"
EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"}
EVICTION_MEMORY_AVAILABLE_BYTES = 100 << 20
EVICTION_NODEFS_AVAILABLE = 0.10

# Karpenter's default estimate of the memory a guest does not see (vmMemoryOverheadPercent).
VM_MEMORY_OVERHEAD_PERCENT = 0.075

DEFAULT_DISK_GIB = 20  # EKS managed node groups' default diskSize

_MIB = 1 << 20
_GIB = 1 << 30


@dataclass(frozen=True, kw_only=True)
class InstanceType:
    """One EC2 instance type, with the fields DescribeInstanceTypes and EKS's node arithmetic need."""

    name: str
    vcpus: int
    memory_mib: int
    max_enis: int
    ipv4_per_eni: int
    arch: str  # "x86_64" | "arm64", as EC2 names architectures
    family: str
    network_performance: str
    hypervisor: str = "nitro"
    threads_per_core: int = 2
    sustained_clock_ghz: float = 0.0
    manufacturer: str = "Intel"
    current_generation: bool = True
    burstable: bool = False
    free_tier_eligible: bool = False
    efa_supported: bool = False
    encryption_in_transit: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r} for {self.name}")
        if self.vcpus % self.threads_per_core:
            raise ValueError(f"{self.name}: {self.vcpus} vCPUs do not split into {self.threads_per_core} threads per core")

    @property
    def size(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def cores(self) -> int:
        return self.vcpus // self.threads_per_core

    @property
    def ipv6_per_eni(self) -> int:
        return self.ipv4_per_eni  # true of every Nitro type in the catalog

    @property
    def kubernetes_arch(self) -> str:
        """The kubernetes.io/arch label value (Go's GOARCH): amd64 or arm64."""
        return "amd64" if self.arch == "x86_64" else "arm64"

    @property
    def is_nitro(self) -> bool:
        return self.hypervisor == "nitro"


# ENIs and IPv4 addresses per ENI by size, shared by every non-burstable Nitro family in the catalog
# (see the module docstring for the sources).
_NITRO_ENI_LIMITS = {
    "medium": (2, 4),
    "large": (3, 10),
    "xlarge": (4, 15),
    "2xlarge": (4, 15),
    "4xlarge": (8, 30),
    "8xlarge": (8, 30),
    "9xlarge": (8, 30),
    "12xlarge": (8, 30),
    "16xlarge": (15, 50),
    "18xlarge": (15, 50),
    "24xlarge": (15, 50),
}
_VCPUS = {
    "medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36,
    "12xlarge": 48, "16xlarge": 64, "18xlarge": 72, "24xlarge": 96,
}

# Network performance strings, as DescribeInstanceTypes writes them.
_NET_5TH_GEN = {  # m5, r5 (and c5, with 9xlarge/18xlarge)
    "large": "Up to 10 Gigabit", "xlarge": "Up to 10 Gigabit", "2xlarge": "Up to 10 Gigabit",
    "4xlarge": "Up to 10 Gigabit", "8xlarge": "10 Gigabit", "9xlarge": "12 Gigabit", "12xlarge": "12 Gigabit",
    "16xlarge": "20 Gigabit", "18xlarge": "25 Gigabit", "24xlarge": "25 Gigabit",
}
_NET_INTEL_6_7 = {  # m6i, c6i, r6i, m7i, c7i, r7i
    "large": "Up to 12.5 Gigabit", "xlarge": "Up to 12.5 Gigabit", "2xlarge": "Up to 12.5 Gigabit",
    "4xlarge": "Up to 12.5 Gigabit", "8xlarge": "12.5 Gigabit", "12xlarge": "18.75 Gigabit",
    "16xlarge": "25 Gigabit", "24xlarge": "37.5 Gigabit",
}
_NET_GRAVITON2 = {  # m6g
    "medium": "Up to 10 Gigabit", "large": "Up to 10 Gigabit", "xlarge": "Up to 10 Gigabit",
    "2xlarge": "Up to 10 Gigabit", "4xlarge": "Up to 10 Gigabit", "8xlarge": "12 Gigabit",
    "12xlarge": "20 Gigabit", "16xlarge": "25 Gigabit",
}
_NET_GRAVITON3 = {  # m7g, c7g
    "medium": "Up to 12.5 Gigabit", "large": "Up to 12.5 Gigabit", "xlarge": "Up to 12.5 Gigabit",
    "2xlarge": "Up to 15 Gigabit", "4xlarge": "Up to 15 Gigabit", "8xlarge": "15 Gigabit",
    "12xlarge": "22.5 Gigabit", "16xlarge": "30 Gigabit",
}

_X86_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
_C5_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge")
_GRAVITON_SIZES = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")

# family: (sizes, GiB per vCPU, architecture, processor manufacturer, sustained GHz, network table,
#          encryption in transit, EFA-capable sizes)
_FAMILIES: dict[str, tuple] = {
    "m5": (_X86_SIZES, 4, "x86_64", "Intel", 3.1, _NET_5TH_GEN, False, ()),
    "m6i": (_X86_SIZES, 4, "x86_64", "Intel", 3.5, _NET_INTEL_6_7, True, ()),
    "m7i": (_X86_SIZES, 4, "x86_64", "Intel", 3.2, _NET_INTEL_6_7, True, ()),
    "c5": (_C5_SIZES, 2, "x86_64", "Intel", 3.4, _NET_5TH_GEN, False, ()),
    "c6i": (_X86_SIZES, 2, "x86_64", "Intel", 3.5, _NET_INTEL_6_7, True, ()),
    "c7i": (_X86_SIZES, 2, "x86_64", "Intel", 3.2, _NET_INTEL_6_7, True, ()),
    "r5": (_X86_SIZES, 8, "x86_64", "Intel", 3.1, _NET_5TH_GEN, False, ()),
    "r6i": (_X86_SIZES, 8, "x86_64", "Intel", 3.5, _NET_INTEL_6_7, True, ()),
    "r7i": (_X86_SIZES, 8, "x86_64", "Intel", 3.2, _NET_INTEL_6_7, True, ()),
    "m6g": (_GRAVITON_SIZES, 4, "arm64", "AWS", 2.5, _NET_GRAVITON2, False, ()),
    "m7g": (_GRAVITON_SIZES, 4, "arm64", "AWS", 2.6, _NET_GRAVITON3, True, ("16xlarge",)),
    "c7g": (_GRAVITON_SIZES, 2, "arm64", "AWS", 2.6, _NET_GRAVITON3, True, ("16xlarge",)),
}

# t3 (burstable, Intel, 2 threads per core): size -> (vCPUs, MiB, ENIs, IPv4 per ENI).
_T3 = {
    "nano": (2, 512, 2, 2),
    "micro": (2, 1024, 2, 2),
    "small": (2, 2048, 3, 4),
    "medium": (2, 4096, 3, 6),
    "large": (2, 8192, 3, 12),
    "xlarge": (4, 16384, 4, 15),
    "2xlarge": (8, 32768, 4, 15),
}
# Free-tier eligible under the EC2 free plan (t2.micro remains the legacy choice in some regions).
_FREE_TIER = {"t3.micro", "t3.small"}


def _build_catalog() -> dict[str, InstanceType]:
    catalog: dict[str, InstanceType] = {}
    for size, (vcpus, memory_mib, enis, ips) in _T3.items():
        name = f"t3.{size}"
        catalog[name] = InstanceType(
            name=name, vcpus=vcpus, memory_mib=memory_mib, max_enis=enis, ipv4_per_eni=ips, arch="x86_64",
            family="t3", network_performance="Up to 5 Gigabit", sustained_clock_ghz=2.5, burstable=True,
            free_tier_eligible=name in _FREE_TIER,
        )
    for family, (sizes, gib_per_vcpu, arch, maker, ghz, network, in_transit, efa_sizes) in _FAMILIES.items():
        for size in sizes:
            name = f"{family}.{size}"
            enis, ips = _NITRO_ENI_LIMITS[size]
            vcpus = _VCPUS[size]
            catalog[name] = InstanceType(
                name=name, vcpus=vcpus, memory_mib=vcpus * gib_per_vcpu * 1024, max_enis=enis, ipv4_per_eni=ips,
                arch=arch, family=family, network_performance=network[size],
                threads_per_core=1 if arch == "arm64" else 2, sustained_clock_ghz=ghz, manufacturer=maker,
                efa_supported=size in efa_sizes, encryption_in_transit=in_transit,
            )
    return catalog


CATALOG: dict[str, InstanceType] = _build_catalog()


def get(instance_type: str | InstanceType) -> InstanceType:
    """The catalog entry for a name (an InstanceType is returned as is); KeyError if unknown."""
    if isinstance(instance_type, InstanceType):
        return instance_type
    try:
        return CATALOG[instance_type]
    except KeyError:
        raise KeyError(f"unknown instance type {instance_type!r}") from None


def is_known(name: str) -> bool:
    return name in CATALOG


# --- max pods -------------------------------------------------------------------------------------


def eni_max_pods(instance_type: str | InstanceType) -> int:
    """Max pods as eni-max-pods.txt lists it: ENIs x (IPv4 per ENI - 1) + 2, uncapped."""
    it = get(instance_type)
    return it.max_enis * (it.ipv4_per_eni - 1) + 2


def max_pods_ceiling(instance_type: str | InstanceType) -> int:
    return MAX_PODS_CEILING_HIGH_CPU if get(instance_type).vcpus > MAX_PODS_HIGH_CPU_THRESHOLD else MAX_PODS_CEILING_LOW_CPU


def max_pods(
    instance_type: str | InstanceType,
    *,
    prefix_delegation: bool = False,
    custom_networking: bool = False,
    max_enis: int | None = None,
) -> int:
    """The max pods EKS sets for a managed node group node (max-pods-calculator.sh, VPC CNI >= 1.9).

    m5.large: 29; with prefix delegation 110; with custom networking 20. ``max_enis`` is the
    calculator's --cni-max-eni (use at most that many ENIs).
    """
    it = get(instance_type)
    enis = it.max_enis if max_enis is None else min(max_enis, it.max_enis)
    if custom_networking:
        enis -= 1
    if prefix_delegation and it.is_nitro:
        pods = enis * ((it.ipv4_per_eni - 1) * IPS_PER_PREFIX) + 2
    else:
        pods = enis * (it.ipv4_per_eni - 1) + 2
    return min(pods, max_pods_ceiling(it))


# --- kubelet reservations and node resources ------------------------------------------------------


def _reserve_in_range(total: int, start: int, end: int, basis_points: int) -> int:
    # nodeadm's getResourceToReserveInRange: percentages in hundredths of a percent, integer maths.
    if total <= start:
        return 0
    return (min(total, end) - start) * basis_points // 10000


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    """6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% of the rest (m5.large: 70)."""
    total = vcpus * 1000
    ranges = (0, 1000, 2000, 4000, total)
    basis_points = (600, 100, 50, 25)
    return sum(_reserve_in_range(total, ranges[i], ranges[i + 1], bp) for i, bp in enumerate(basis_points))


def kube_reserved_memory_mib(pods: int) -> int:
    """11 MiB per pod plus 255 MiB (m5.large, 29 pods: 574)."""
    return KUBE_RESERVED_MEMORY_PER_POD_MIB * pods + KUBE_RESERVED_MEMORY_BASE_MIB


def kubelet_memory_mib(instance_type: str | InstanceType, memory_overhead_percent: float = VM_MEMORY_OVERHEAD_PERCENT) -> int:
    """The memory the kubelet reports as capacity, in MiB: nominal less Karpenter's overhead estimate."""
    nominal = get(instance_type).memory_mib
    return nominal - math.ceil(nominal * memory_overhead_percent)


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def percentage_of(capacity_bytes: int, fraction: float) -> int:
    """A kubelet percentage threshold in bytes: the fraction is a float32, the product is truncated."""
    return int(float(capacity_bytes) * _float32(fraction))


def format_binary_quantity(value: int) -> str:
    """A byte count the way Kubernetes writes a BinarySI quantity: 8Gi, 7949508Ki, 18253610976."""
    if value == 0:
        return "0"
    suffixes = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
    index = 0
    while index < len(suffixes) - 1 and value % 1024 == 0:
        value //= 1024
        index += 1
    return f"{value}{suffixes[index]}"


def format_cpu(millicores: int) -> str:
    """CPU the way Kubernetes writes it: whole cores as "2", otherwise millicores as "1930m"."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def node_resources(
    instance_type: str | InstanceType,
    disk_gib: int = DEFAULT_DISK_GIB,
    *,
    pods: int | None = None,
    prefix_delegation: bool = False,
    memory_overhead_percent: float = VM_MEMORY_OVERHEAD_PERCENT,
) -> dict:
    """A node's status.capacity and status.allocatable, as an EKS AL2023 node reports them.

    ``pods`` overrides max pods (e.g. a launch template's kubelet config); otherwise ``max_pods``.
    Returns {"capacity": {...}, "allocatable": {...}} with Kubernetes quantity strings.
    """
    it = get(instance_type)
    pods = max_pods(it, prefix_delegation=prefix_delegation) if pods is None else pods

    cpu_m = it.vcpus * 1000
    memory_bytes = kubelet_memory_mib(it, memory_overhead_percent) * _MIB
    disk_bytes = disk_gib * _GIB

    cpu_allocatable = cpu_m - kube_reserved_cpu_millicores(it.vcpus)
    memory_allocatable = memory_bytes - kube_reserved_memory_mib(pods) * _MIB - EVICTION_MEMORY_AVAILABLE_BYTES
    disk_allocatable = (
        disk_bytes - KUBE_RESERVED_EPHEMERAL_STORAGE_BYTES - percentage_of(disk_bytes, EVICTION_NODEFS_AVAILABLE)
    )

    hugepages = ("hugepages-1Gi", "hugepages-2Mi")
    if it.arch == "arm64":  # arm64 kernels with 4K pages also offer 64Ki and 32Mi huge pages
        hugepages += ("hugepages-32Mi", "hugepages-64Ki")

    def resources(cpu: int, memory: int, disk: int) -> dict[str, str]:
        out = {
            "cpu": format_cpu(cpu),
            "ephemeral-storage": format_binary_quantity(max(disk, 0)),
            "memory": format_binary_quantity(max(memory, 0)),
            "pods": str(pods),
        }
        out.update({name: "0" for name in hugepages})
        return dict(sorted(out.items()))

    return {
        "capacity": resources(cpu_m, memory_bytes, disk_bytes),
        "allocatable": resources(cpu_allocatable, memory_allocatable, disk_allocatable),
    }


# --- DescribeInstanceTypes ------------------------------------------------------------------------


def instance_type_info(instance_type: str | InstanceType) -> dict:
    """The EC2 InstanceTypeInfo structure for one type, member names as botocore's ec2 model has them."""
    it = get(instance_type)
    x86 = it.arch == "x86_64"
    return {
        "InstanceType": it.name,
        "CurrentGeneration": it.current_generation,
        "FreeTierEligible": it.free_tier_eligible,
        "SupportedUsageClasses": ["on-demand", "spot"],
        "SupportedRootDeviceTypes": ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": False,
        "Hypervisor": it.hypervisor,
        "ProcessorInfo": {
            "SupportedArchitectures": [it.arch],
            "SustainedClockSpeedInGhz": it.sustained_clock_ghz,
            "Manufacturer": it.manufacturer,
        },
        "VCpuInfo": {
            "DefaultVCpus": it.vcpus,
            "DefaultCores": it.cores,
            "DefaultThreadsPerCore": it.threads_per_core,
        },
        "MemoryInfo": {"SizeInMiB": it.memory_mib},
        "InstanceStorageSupported": False,
        "EbsInfo": {
            "EbsOptimizedSupport": "default",
            "EncryptionSupport": "supported",
            "NvmeSupport": "required",
        },
        "NetworkInfo": {
            "NetworkPerformance": it.network_performance,
            "MaximumNetworkInterfaces": it.max_enis,
            "MaximumNetworkCards": 1,
            "DefaultNetworkCardIndex": 0,
            "NetworkCards": [
                {
                    "NetworkCardIndex": 0,
                    "NetworkPerformance": it.network_performance,
                    "MaximumNetworkInterfaces": it.max_enis,
                }
            ],
            "Ipv4AddressesPerInterface": it.ipv4_per_eni,
            "Ipv6AddressesPerInterface": it.ipv6_per_eni,
            "Ipv6Supported": True,
            "EnaSupport": "required",
            "EfaSupported": it.efa_supported,
            "EncryptionInTransitSupported": it.encryption_in_transit,
            "EnaSrdSupported": False,
        },
        "PlacementGroupInfo": {"SupportedStrategies": ["cluster", "partition", "spread"]},
        # Hibernation needs less than 150 GiB of RAM.
        "HibernationSupported": it.memory_mib < 150 * 1024,
        "BurstablePerformanceSupported": it.burstable,
        "DedicatedHostsSupported": True,
        "AutoRecoverySupported": True,
        "SupportedBootModes": ["legacy-bios", "uefi"] if x86 else ["uefi"],
        "NitroEnclavesSupport": "supported" if it.vcpus >= 4 and not it.burstable else "unsupported",
        "NitroTpmSupport": "supported",
        "NitroTpmInfo": {"SupportedVersions": ["2.0"]},
    }
