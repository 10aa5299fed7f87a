"""The add-on catalogue: every EKS add-on version Moorage offers, loaded from data files.

One YAML file per add-on version, ``addon_catalog/<addon>/<version>.yaml``: what DescribeAddonVersions
and DescribeAddonConfiguration answer (type, owner, publisher, architectures, compute types, the
Kubernetes minors it is compatible with and for which it is the default, its configuration JSON
schema, its Pod Identity configuration) and what it installs (the Kubernetes objects, with
``{{ placeholder }}`` templates that addon_manifests.py fills). Adding a version is adding a file.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CATALOG_DIR = Path(__file__).with_name("addon_catalog")
VERSION_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-[a-z]+)?-eksbuild\.(\d+)$")


def version_order(version: str) -> tuple[int, ...]:
    """v1.14.3-eksbuild.3 -> (1, 14, 3, 3): newest sorts last."""
    match = VERSION_RE.match(version)
    if not match:
        raise ValueError(f"{version!r} is not an EKS add-on version (vX.Y.Z-eksbuild.N)")
    return tuple(int(part) for part in match.groups())


@dataclass(frozen=True)
class AddonVersion:
    name: str
    version: str
    type: str
    owner: str
    publisher: str
    default_namespace: str
    architecture: tuple[str, ...]
    compute_types: tuple[str, ...]
    compatibilities: dict[str, bool]  # cluster minor -> defaultVersion
    requires_configuration: bool
    requires_iam_permissions: bool
    pod_identity: tuple[dict, ...]  # [{serviceAccount, recommendedManagedPolicies}]
    irsa_service_account: str | None  # the ServiceAccount serviceAccountRoleArn annotates
    schema: dict
    defaults: dict
    objects: tuple[dict, ...] = field(repr=False)
    # Why CreateAddon refuses this version in Moorage (None: it installs).
    not_installable: str | None = None

    def compatible_with(self, minor: str) -> bool:
        return minor in self.compatibilities

    @property
    def schema_text(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))

    @property
    def service_accounts(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects if o.get("kind") == "ServiceAccount"]

    def version_info(self, minor: str | None = None) -> dict:
        """AddonVersionInfo; compatibilities limited to one minor when DescribeAddonVersions asks for one."""
        return {
            "addonVersion": self.version,
            "architecture": list(self.architecture),
            "computeTypes": list(self.compute_types),
            "compatibilities": [
                {"clusterVersion": m, "platformVersions": ["*"], "defaultVersion": default}
                for m, default in self.compatibilities.items()
                if minor in (None, m)
            ],
            "requiresConfiguration": self.requires_configuration,
            "requiresIamPermissions": self.requires_iam_permissions,
        }


def parse_version_file(path: Path) -> AddonVersion:
    data = yaml.safe_load(path.read_text())
    version = data["addonVersion"]
    version_order(version)
    if path.stem != version or path.parent.name != data["addonName"]:
        raise ValueError(f"{path}: the file must be addon_catalog/<addonName>/<addonVersion>.yaml")
    return AddonVersion(
        name=data["addonName"],
        version=version,
        type=data["type"],
        owner=data["owner"],
        publisher=data["publisher"],
        default_namespace=data["defaultNamespace"],
        architecture=tuple(data["architecture"]),
        compute_types=tuple(data["computeTypes"]),
        compatibilities={str(c["clusterVersion"]): bool(c.get("defaultVersion", False)) for c in data["compatibilities"]},
        requires_configuration=bool(data.get("requiresConfiguration", False)),
        requires_iam_permissions=bool(data.get("requiresIamPermissions", False)),
        pod_identity=tuple(data.get("podIdentityConfiguration") or ()),
        irsa_service_account=data.get("irsaServiceAccount"),
        schema=data["configurationSchema"],
        defaults=data.get("defaults") or {},
        objects=tuple(data.get("objects") or ()),
        not_installable=data.get("notInstallable"),
    )


@functools.cache
def catalog(root: Path = CATALOG_DIR) -> dict[str, tuple[AddonVersion, ...]]:
    """Add-on name -> its versions, newest first (as EKS lists them)."""
    found: dict[str, list[AddonVersion]] = {}
    for path in sorted(root.glob("*/*.yaml")):
        entry = parse_version_file(path)
        found.setdefault(entry.name, []).append(entry)
    return {
        name: tuple(sorted(versions, key=lambda v: version_order(v.version), reverse=True))
        for name, versions in sorted(found.items())
    }


def versions_of(name: str) -> tuple[AddonVersion, ...]:
    return catalog().get(name, ())


def find_version(name: str, version: str) -> AddonVersion | None:
    return next((v for v in versions_of(name) if v.version == version), None)


def default_version(name: str, minor: str) -> AddonVersion | None:
    """The version EKS installs for a cluster minor when none is asked for: the one flagged
    defaultVersion there, else the newest compatible one."""
    compatible = [v for v in versions_of(name) if v.compatible_with(minor)]
    return next((v for v in compatible if v.compatibilities[minor]), compatible[0] if compatible else None)


def addon_info(name: str, versions: list[AddonVersion], minor: str | None = None) -> dict:
    """AddonInfo, as DescribeAddonVersions answers it."""
    newest = versions[0]
    return {
        "addonName": name,
        "type": newest.type,
        "addonVersions": [v.version_info(minor) for v in versions],
        "publisher": newest.publisher,
        "owner": newest.owner,
        "defaultNamespace": newest.default_namespace,
    }
