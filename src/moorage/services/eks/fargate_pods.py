"""How EKS places a pod on Fargate: which profile takes it, how big its Fargate node is, what the node looks like.

Pure functions, no I/O: the admission webhook and the Fargate scheduler call them.

- Matching (https://docs.aws.amazon.com/eks/latest/userguide/fargate-profile.html): a pod matches a
  selector when its namespace matches the selector's namespace and it carries every label of the
  selector; namespace, label keys and label values may use the wildcards ``*`` (any run of
  characters) and ``?`` (one character). A pod that names a profile with the label
  ``eks.amazonaws.com/fargate-profile`` is matched against that profile only. Among several
  matching profiles the first by name wins (EKS picks one; name order makes it predictable).
- Sizing (https://docs.aws.amazon.com/eks/latest/userguide/fargate-pod-configuration.html): for CPU
  and memory separately, the larger of the largest init container request and the sum of the
  long-running containers' requests; plus 256 MiB of memory for the kubelet, kube-proxy and
  containerd; then the smallest supported vCPU/memory combination that holds both (fewest vCPUs
  first, then least memory). No requests at all gives 0.25 vCPU / 0.5 GB. A request reads its
  limit when it has none (as Kubernetes defaults it). The table's "GB" are GiB.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Mapping

from ..ec2.nodes import private_dns_name, zone_id

PROFILE_LABEL = "eks.amazonaws.com/fargate-profile"
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
CAPACITY_ANNOTATION = "CapacityProvisioned"
SCHEDULER_NAME = "fargate-scheduler"
FARGATE_TAINT = {"key": COMPUTE_TYPE_LABEL, "value": "fargate", "effect": "NoSchedule"}
SYSTEM_OVERHEAD_MIB = 256
EPHEMERAL_STORAGE = "20Gi"

GIB = 1024**3
MIB = 1024**2


def _steps(low: int, high: int, step: int) -> tuple[Fraction, ...]:
    return tuple(Fraction(gib) for gib in range(low, high + 1, step))


# vCPU -> the memory sizes (GiB) Fargate offers with it, smallest first.
FARGATE_SIZES: tuple[tuple[Fraction, tuple[Fraction, ...]], ...] = (
    (Fraction(1, 4), (Fraction(1, 2), Fraction(1), Fraction(2))),
    (Fraction(1, 2), _steps(1, 4, 1)),
    (Fraction(1), _steps(2, 8, 1)),
    (Fraction(2), _steps(4, 16, 1)),
    (Fraction(4), _steps(8, 30, 1)),
    (Fraction(8), _steps(16, 60, 4)),
    (Fraction(16), _steps(32, 120, 8)),
)


# --- quantities --------------------------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_SUFFIX = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}


def parse_quantity(value: str | int | float) -> Fraction:
    """A Kubernetes resource quantity ("250m", "1.5", "512Mi", "1e9") as an exact number."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, exponent, suffix = match.groups()
    result = Fraction(number)
    if exponent:
        result *= Fraction(10) ** int(exponent[1:])
    return result * _SUFFIX[suffix or ""]


# --- sizing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FargateSize:
    vcpu: Fraction
    memory_gib: Fraction

    @property
    def annotation(self) -> str:
        """The CapacityProvisioned annotation: "0.25vCPU 0.5GB", "2vCPU 9GB"."""
        return f"{_decimal(self.vcpu)}vCPU {_decimal(self.memory_gib)}GB"

    @property
    def cpu_quantity(self) -> str:
        return str(int(self.vcpu)) if self.vcpu.denominator == 1 else f"{int(self.vcpu * 1000)}m"

    @property
    def memory_quantity(self) -> str:
        gib = self.memory_gib
        return f"{int(gib)}Gi" if gib.denominator == 1 else f"{int(gib * 1024)}Mi"


def _decimal(value: Fraction) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _request(container: Mapping, resource: str) -> Fraction:
    resources = container.get("resources") or {}
    value = (resources.get("requests") or {}).get(resource)
    if value is None:
        value = (resources.get("limits") or {}).get(resource)
    return parse_quantity(value) if value is not None else Fraction(0)


def pod_request(pod_spec: Mapping) -> tuple[Fraction, Fraction]:
    """(vCPUs, bytes) a pod asks for, by EKS's rule: max(largest init container, sum of the others).

    Init containers that keep running (restartPolicy Always, "sidecars") count with the long-running ones."""
    init = [c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") != "Always"]
    long_running = list(pod_spec.get("containers") or []) + [
        c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    result = []
    for resource in ("cpu", "memory"):
        largest_init = max((_request(c, resource) for c in init), default=Fraction(0))
        total = sum((_request(c, resource) for c in long_running), Fraction(0))
        result.append(max(largest_init, total))
    return result[0], result[1]


def fargate_size(cpu: Fraction, memory_bytes: Fraction) -> FargateSize | None:
    """The smallest Fargate size for a request (256 MiB added here), or None when nothing is that big."""
    memory_gib = (memory_bytes + SYSTEM_OVERHEAD_MIB * MIB) / GIB
    for vcpu, memories in FARGATE_SIZES:
        if vcpu < cpu:
            continue
        for memory in memories:
            if memory >= memory_gib:
                return FargateSize(vcpu, memory)
    return None


def size_pod(pod_spec: Mapping) -> FargateSize | None:
    return fargate_size(*pod_request(pod_spec))


# --- matching ----------------------------------------------------------------------------------------------


def _glob(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def selector_matches(selector: Mapping, namespace: str, labels: Mapping[str, str]) -> bool:
    if not _glob(selector.get("namespace") or "", namespace):
        return False
    for key, value in (selector.get("labels") or {}).items():
        if not any(_glob(key, k) and _glob(value, v) for k, v in labels.items()):
            return False
    return True


def matching_profile(profiles: Iterable[Mapping], namespace: str, labels: Mapping[str, str]) -> Mapping | None:
    """The profile (a FargateProfile view: fargateProfileName, selectors) that takes this pod, or None."""
    wanted = labels.get(PROFILE_LABEL)
    for profile in sorted(profiles, key=lambda p: p["fargateProfileName"]):
        if wanted and profile["fargateProfileName"] != wanted:
            continue
        if any(selector_matches(s, namespace, labels) for s in profile.get("selectors") or []):
            return profile
    return None


# --- the Fargate node --------------------------------------------------------------------------------------


def fargate_node_name(address: str, region: str) -> str:
    """fargate-ip-10-0-1-10.us-west-2.compute.internal (fargate-ip-...ec2.internal in us-east-1)."""
    return "fargate-" + private_dns_name(address, region)


def fargate_provider_id(zone: str, pod_uid: str, node_name: str) -> str:
    """aws:///<zone>/<task id>/<node name>, the form Fargate nodes report."""
    digest = hashlib.sha256(pod_uid.encode()).hexdigest()
    return f"aws:///{zone}/{digest[:10]}-{digest[10:42]}/{node_name}"


def fargate_node_labels(zone: str, region: str, address: str) -> dict[str, str]:
    hostname = private_dns_name(address, region)
    labels = {
        COMPUTE_TYPE_LABEL: "fargate",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/hostname": hostname,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "failure-domain.beta.kubernetes.io/region": region,
    }
    zone_identifier = zone_id(region, zone)
    if zone_identifier:
        labels["topology.k8s.aws/zone-id"] = zone_identifier
    return dict(sorted(labels.items()))


def fargate_capacity(size: FargateSize) -> dict[str, str]:
    return {"cpu": size.cpu_quantity, "memory": size.memory_quantity, "pods": "1", "ephemeral-storage": EPHEMERAL_STORAGE}


def size_from_annotation(text: str) -> FargateSize | None:
    match = re.fullmatch(r"([\d.]+)vCPU ([\d.]+)GB", text or "")
    if not match:
        return None
    return FargateSize(Fraction(match.group(1)), Fraction(match.group(2)))
