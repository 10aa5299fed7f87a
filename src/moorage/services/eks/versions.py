"""Kubernetes versions Moorage offers, with EKS's support calendar (releases: kubernetes.io, EKS docs)."""

from __future__ import annotations

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
