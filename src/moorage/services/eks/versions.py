"""Kubernetes versions Moorage offers, with EKS's support calendar (releases: kubernetes.io, EKS docs)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from ...infra.toolchain.catalog import DEFAULT_KUBERNETES_VERSION, KUBERNETES_VERSIONS, Version

PLATFORM_VERSION = "eks.1"


def _date(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)


# EKS offers 14 months of standard and 12 more of extended support after its release of a minor.
_CALENDAR = {
    "1.36": ("2026-05-20", "2027-07-20", "2028-07-20"),
    "1.37": ("2026-09-24", "2027-11-24", "2028-11-24"),
}


def supported_minors() -> list[str]:
    return [Version.parse(v).minor_line for v in KUBERNETES_VERSIONS]


def default_minor() -> str:
    return Version.parse(DEFAULT_KUBERNETES_VERSION).minor_line


def platform_version(minor: str) -> str:
    """The EKS platform version a new (or newly upgraded) control plane of this minor gets."""
    return PLATFORM_VERSION


def kubelet_version(minor: str) -> str:
    """status.nodeInfo.kubeletVersion as EKS AMIs report it: v<patch>-eks-<7 hex digits of the build>."""
    patch = patch_version(minor)
    return f"v{patch}-eks-{hashlib.sha256(patch.encode()).hexdigest()[:7]}"


# What an EKS-optimized AL2023 node reports besides its kubelet (containerd 2.x on AL2023 2023.x).
NODE_OS_IMAGE = "Amazon Linux 2023.9.20261101"
NODE_CONTAINER_RUNTIME = "containerd://2.1.5"


def managed_node_info(minor: str) -> dict[str, str]:
    """status.nodeInfo fields of an EKS-optimized node of this minor (kube-proxy no longer reports one)."""
    return {"kubeletVersion": kubelet_version(minor), "kubeProxyVersion": "", "osImage": NODE_OS_IMAGE,
            "containerRuntimeVersion": NODE_CONTAINER_RUNTIME}


def patch_version(minor: str) -> str:
    return next(v for v in KUBERNETES_VERSIONS if Version.parse(v).minor_line == minor)


def cluster_versions(now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    entries = []
    for minor in sorted(supported_minors(), key=lambda m: Version.parse(m + ".0"), reverse=True):
        released, end_standard, end_extended = (_date(d) for d in _CALENDAR.get(minor, ("2026-01-01", "2099-01-01", "2099-01-01")))
        in_standard = now < end_standard
        entries.append(
            {
                "clusterVersion": minor,
                "clusterType": "eks",
                "defaultPlatformVersion": PLATFORM_VERSION,
                "defaultVersion": minor == default_minor(),
                "releaseDate": released,
                "endOfStandardSupportDate": end_standard,
                "endOfExtendedSupportDate": end_extended,
                "status": "standard-support" if in_standard else "extended-support",
                "versionStatus": "STANDARD_SUPPORT" if in_standard else "EXTENDED_SUPPORT",
                "kubernetesPatchVersion": patch_version(minor),
            }
        )
    return entries
