"""What the toolchain holds: every upstream binary Moorage runs, pinned by version.

One Kubernetes minor per entry in KUBERNETES_VERSIONS (the newest patch the Go module proxy
serves); kwok and etcd once. Later issues add components here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KUBERNETES_VERSIONS: tuple[str, ...] = ("1.35.4", "1.36.3", "1.37.2")
DEFAULT_KUBERNETES_VERSION = "1.37.2"
ETCD_VERSION = "3.6.16"
KWOK_VERSION = "0.8.0"

KUBERNETES_COMPONENTS: tuple[str, ...] = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubectl",
)

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


class VersionError(ValueError):
    """A version string the toolchain does not know or cannot parse."""


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> "Version":
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise VersionError(f"{text!r} is not a version of the form X.Y.Z (for example 1.37.2)")
        return cls(*(int(part) for part in match.groups()))

    @property
    def minor_line(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class Binary:
    """One upstream executable at one version: the unit of caching."""

    component: str
    version: str
    # What builds it: "kubernetes", "etcd" or "kwok" (one Go wrapper module per product).
    product: str

    @property
    def key(self) -> str:
        return f"{self.component}/{self.version}"

    @property
    def version_tag(self) -> str:
        return f"v{self.version}"


def resolve_kubernetes_version(requested: str | None) -> str:
    """Map a user's --k8s-version (X.Y or X.Y.Z, with or without 'v') to a pinned version."""
    if requested is None:
        return DEFAULT_KUBERNETES_VERSION
    text = requested.strip().lstrip("v")
    if re.fullmatch(r"\d+\.\d+", text):
        for pinned in KUBERNETES_VERSIONS:
            if Version.parse(pinned).minor_line == text:
                return pinned
        raise VersionError(
            f"Kubernetes {text} is not supported; supported minors: "
            + ", ".join(Version.parse(v).minor_line for v in KUBERNETES_VERSIONS)
        )
    wanted = Version.parse(text)
    if str(wanted) not in KUBERNETES_VERSIONS:
        raise VersionError(
            f"Kubernetes {wanted} is not pinned; supported versions: " + ", ".join(KUBERNETES_VERSIONS)
        )
    return str(wanted)


def kubernetes_binaries(version: str) -> list[Binary]:
    return [Binary(component, version, "kubernetes") for component in KUBERNETES_COMPONENTS]


def shared_binaries() -> list[Binary]:
    return [Binary("etcd", ETCD_VERSION, "etcd"), Binary("kwok", KWOK_VERSION, "kwok")]


def all_binaries(kubernetes_versions: tuple[str, ...] = KUBERNETES_VERSIONS) -> list[Binary]:
    binaries: list[Binary] = []
    for version in kubernetes_versions:
        binaries.extend(kubernetes_binaries(version))
    return binaries + shared_binaries()


def version_command(binary: Binary) -> list[str]:
    """Arguments that make the binary print its own version."""
    if binary.component == "kubectl":
        return ["version", "--client"]
    return ["--version"]


def reported_version(binary: Binary, output: str) -> str | None:
    """The X.Y.Z a binary's version output names, or None if it names none."""
    patterns = {
        "etcd": r"etcd Version:\s*v?(\d+\.\d+\.\d+)",
        "kwok": r"\bversion\s+v?(\d+\.\d+\.\d+)|\bv(\d+\.\d+\.\d+)",
        "kubectl": r"Client Version:\s*v(\d+\.\d+\.\d+)",
    }
    pattern = patterns.get(binary.component, r"Kubernetes\s+v(\d+\.\d+\.\d+)")
    match = re.search(pattern, output)
    if not match:
        return None
    return next(group for group in match.groups() if group)
