"""Kubernetes versions Moorage offers, with EKS's support calendar (releases: kubernetes.io, EKS docs).

DescribeClusterVersions answers from here: one entry per minor the toolchain can run
(infra/toolchain/catalog.py), with EKS's dates and the patch the toolchain pins. As on EKS, a version
past the end of extended support is UNSUPPORTED and listed only with includeAll (or when asked for by
name or by that status).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from ...infra.toolchain.catalog import DEFAULT_KUBERNETES_VERSION, KUBERNETES_VERSIONS, Version
from . import names

PLATFORM_VERSION = "eks.1"
CLUSTER_TYPE = "eks"


def _date(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)


# EKS release, end of standard support, end of extended support: 14 months of standard and 12 more of
# extended support after EKS's release of a minor (1.35: endoflife.date/amazon-eks; 1.36, 1.37: that rule).
_CALENDAR = {
    "1.35": ("2026-01-27", "2027-03-27", "2028-03-27"),
    "1.36": ("2026-05-20", "2027-07-20", "2028-07-20"),
    "1.37": ("2026-09-24", "2027-11-24", "2028-11-24"),
}

# The status names: versionStatus, and the deprecated `status` field's spelling of the same thing.
STATUS_NAMES = {
    "STANDARD_SUPPORT": "standard-support",
    "EXTENDED_SUPPORT": "extended-support",
    "UNSUPPORTED": "unsupported",
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


def next_minor(minor: str) -> str:
    """The minor an upgrade goes to: 1.37 -> 1.38 (whether or not the toolchain has it yet)."""
    parsed = Version.parse(minor + ".0")
    return f"{parsed.major}.{parsed.minor + 1}"


def calendar(minor: str) -> tuple[datetime, datetime, datetime]:
    released, end_standard, end_extended = _CALENDAR[minor]
    return _date(released), _date(end_standard), _date(end_extended)


def version_status(minor: str, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    _, end_standard, end_extended = calendar(minor)
    if now < end_standard:
        return "STANDARD_SUPPORT"
    if now < end_extended:
        return "EXTENDED_SUPPORT"
    return "UNSUPPORTED"


def cluster_versions(now: datetime | None = None) -> list[dict]:
    """Every minor the toolchain runs, newest first, as ClusterVersionInformation."""
    now = now or datetime.now(timezone.utc)
    entries = []
    for minor in sorted(supported_minors(), key=lambda m: Version.parse(m + ".0"), reverse=True):
        released, end_standard, end_extended = calendar(minor)
        status = version_status(minor, now)
        entries.append(
            {
                "clusterVersion": minor,
                "clusterType": CLUSTER_TYPE,
                "defaultPlatformVersion": PLATFORM_VERSION,
                "defaultVersion": minor == default_minor(),
                "releaseDate": released,
                "endOfStandardSupportDate": end_standard,
                "endOfExtendedSupportDate": end_extended,
                "status": STATUS_NAMES[status],
                "versionStatus": status,
                "kubernetesPatchVersion": patch_version(minor),
            }
        )
    return entries


def select_cluster_versions(params: dict, now: datetime | None = None) -> list[dict]:
    """DescribeClusterVersions' filters, in EKS's terms: clusterType, clusterVersions, defaultOnly,
    versionStatus (or the deprecated status), and includeAll for versions out of support."""
    versions = cluster_versions(now)
    if params.get("clusterType") is not None:
        versions = [v for v in versions if v["clusterType"] == params["clusterType"]]
    named = params.get("clusterVersions")
    if named:
        versions = [v for v in versions if v["clusterVersion"] in named]
    if params.get("defaultOnly"):
        versions = [v for v in versions if v["defaultVersion"]]
    wanted = params.get("versionStatus")
    if wanted is None and params.get("status"):
        wanted = next(k for k, v in STATUS_NAMES.items() if v == params["status"])
    if wanted:
        versions = [v for v in versions if v["versionStatus"] == wanted]
    # By default EKS lists the versions in standard or extended support; UNSUPPORTED ones only on request.
    if not (params.get("includeAll") or named or wanted == "UNSUPPORTED"):
        versions = [v for v in versions if v["versionStatus"] != "UNSUPPORTED"]
    return versions


def check_upgrade_policy(cluster_name: str, minor: str, policy: dict, now: datetime | None = None) -> None:
    """EKS: extended support can be disabled (STANDARD) only while the cluster's version is in standard
    support; once it is in extended support, it cannot be turned off."""
    if policy.get("supportType") == "STANDARD" and version_status(minor, now) != "STANDARD_SUPPORT":
        raise names.invalid_request(
            f"Cluster {cluster_name} is on Kubernetes version {minor}, which is in extended support: "
            "the upgrade policy cannot be set to STANDARD until the cluster is upgraded to a version in standard support.",
            cluster_name,
        )
