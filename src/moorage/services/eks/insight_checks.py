"""EKS's upgrade-readiness checks as rules: what a cluster looks like in, the insights EKS shows out.

Pure functions over an Observation (what the insights controller read from the cluster: nodes' kubelet
versions, kube-proxy versions, deprecated-API requests, add-ons, health issues), so every rule is
testable without a cluster. Names, descriptions and reasons are EKS's own words where EKS's are known
(ListInsights output of real clusters); ERROR is for the next minor, WARNING for later ones or for
skew that an upgrade would make worse, UNKNOWN when the input could not be read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Callable

CATEGORY = "UPGRADE_READINESS"
# Worst first: an insight's status is the worst of its resources'.
SEVERITY = {"ERROR": 3, "WARNING": 2, "UNKNOWN": 1, "PASSING": 0}
# Kubernetes' skew policy (1.28+): kubelet and kube-proxy may be up to 3 minors older than kube-apiserver, never newer.
MAX_NODE_SKEW = 3
_ID_NAMESPACE = uuid.UUID("5d0a4b1e-6f2c-4c8e-9d0e-8f6b2a7c3e11")
_MINOR = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")

DEPRECATED_NAME = "Deprecated APIs removed in Kubernetes v{version}"
KUBELET_NAME = "Kubelet version skew"
KUBE_PROXY_NAME = "kube-proxy version skew"
ADDONS_NAME = "EKS add-on version compatibility"
HEALTH_NAME = "Cluster health issues"

# AddonCompatibility(addon name, Kubernetes minor) -> the add-on's versions compatible with that minor.
AddonCompatibility = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class DeprecatedUse:
    """Requests for one deprecated API (group/version/resource), with who made them."""

    group: str
    version: str
    resource: str
    removed_release: str  # "1.38"
    subresource: str = ""
    # [{"userAgent", "numberOfRequestsLast30Days", "lastRequestTime" (epoch seconds)}]
    clients: tuple[dict, ...] = ()

    @property
    def path(self) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        return f"{base}/{self.resource}" + (f"/{self.subresource}" if self.subresource else "")


@dataclass(frozen=True)
class VersionedThing:
    """A node's kubelet or a kube-proxy, with the version it reports (None: unreadable)."""

    uri: str  # kubernetesResourceUri: /api/v1/nodes/<name>, /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy
    version: str | None


@dataclass(frozen=True)
class InstalledAddon:
    name: str
    version: str
    arn: str | None = None


@dataclass
class Observation:
    """What the controller read. None for a source means it could not be read (the check is UNKNOWN)."""

    cluster_id: str
    cluster_arn: str
    version: str  # the control plane's minor, "1.37"
    kubelets: list[VersionedThing] | None = field(default_factory=list)
    kube_proxies: list[VersionedThing] | None = field(default_factory=list)
    deprecated: list[DeprecatedUse] | None = field(default_factory=list)
    addons: list[InstalledAddon] | None = field(default_factory=list)
    health_issues: list[dict] = field(default_factory=list)
    preferred_versions: dict[str, str] = field(default_factory=dict)  # API group -> its preferred version


# Known replacements of deprecated built-in APIs: (group, version, resource) -> (the replacement's
# (group, version, resource), the Kubernetes minor that started serving it). Without an entry, the same
# resource in the group's preferred version is the replacement (CRDs: their storage version usually).
REPLACEMENTS: dict[tuple[str, str, str], tuple[tuple[str, str, str], str]] = {
    ("", "v1", "endpoints"): (("discovery.k8s.io", "v1", "endpointslices"), "1.21"),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", "flowschemas"): (("flowcontrol.apiserver.k8s.io", "v1", "flowschemas"), "1.29"),
    ("flowcontrol.apiserver.k8s.io", "v1beta3", "prioritylevelconfigurations"):
        (("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations"), "1.29"),
    **{("resource.k8s.io", version, kind): (("resource.k8s.io", "v1", kind), "1.34")
       for version in ("v1beta1", "v1beta2") for kind in ("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices")},
    ("storage.k8s.io", "v1beta1", "volumeattributesclasses"): (("storage.k8s.io", "v1", "volumeattributesclasses"), "1.34"),
    ("networking.k8s.io", "v1beta1", "ipaddresses"): (("networking.k8s.io", "v1", "ipaddresses"), "1.33"),
    ("networking.k8s.io", "v1beta1", "servicecidrs"): (("networking.k8s.io", "v1", "servicecidrs"), "1.33"),
    ("admissionregistration.k8s.io", "v1beta1", "validatingadmissionpolicies"):
        (("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies"), "1.30"),
    ("admissionregistration.k8s.io", "v1beta1", "validatingadmissionpolicybindings"):
        (("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings"), "1.30"),
}


def insight_id(cluster_id: str, name: str) -> str:
    """Stable per check per cluster: the same check keeps its id across refreshes (a UUID, as EKS's)."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{cluster_id}/{name}"))


def minor_of(version: str | None) -> tuple[int, int] | None:
    """(1, 37) from "v1.37.2", "v1.32.8-eks-99d6cc0", "1.37" or an image tag "v1.32.6-eksbuild.8"; else None."""
    match = _MINOR.match((version or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def image_tag(image: str) -> str | None:
    """The tag of an image reference (a registry's port is not a tag; a digest is not a version)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def next_minor(version: str) -> str:
    major, minor = minor_of(version) or (1, 0)
    return f"{major}.{minor + 1}"


def _status(status: str, reason: str) -> dict:
    return {"status": status, "reason": reason}


def _insight(obs: Observation, name: str, kubernetes_version: str, description: str, status: dict,
             recommendation: str, additional_info: dict, resources: list[dict] | None = None,
             summary: dict | None = None) -> dict:
    return {
        "id": insight_id(obs.cluster_id, name),
        "name": name,
        "category": CATEGORY,
        "kubernetesVersion": kubernetes_version,
        "description": description,
        "insightStatus": status,
        "recommendation": recommendation,
        "additionalInfo": additional_info,
        "resources": resources or [],
        "categorySpecificSummary": summary or {},
    }


# ---- deprecated APIs


def _deprecation_detail(use: DeprecatedUse, preferred: dict[str, str]) -> dict:
    detail: dict = {"usage": use.path}
    if use.removed_release:
        detail["stopServingVersion"] = use.removed_release
    known = REPLACEMENTS.get((use.group, use.version, use.resource))
    if known:
        (group, version, resource), since = known
        detail["replacedWith"] = DeprecatedUse(group, version, resource, "").path
        detail["startServingReplacementVersion"] = since
    elif preferred.get(use.group) and preferred[use.group] != use.version:
        detail["replacedWith"] = DeprecatedUse(use.group, preferred[use.group], use.resource, "", use.subresource).path
    detail["clientStats"] = [dict(c) for c in use.clients]
    return detail


def deprecated_api_insights(obs: Observation) -> list[dict]:
    """One insight per Kubernetes version that removes an API the cluster's clients used in the last 30
    days, and always one for the next minor: ERROR for the next minor, WARNING for later ones.

    An API deprecated with no removal scheduled (a CRD version marked deprecated, v1 Endpoints,
    ComponentStatus) goes into the next minor's insight as a WARNING, and only when a client was seen
    using it in the audit log: the gauge alone also counts the control plane's own requests
    (kube-controller-manager still reads v1 Endpoints)."""
    upcoming = next_minor(obs.version)
    by_release: dict[str, list[DeprecatedUse]] = {upcoming: []}
    scheduled: set[str] = set()
    for use in obs.deprecated or []:
        removal = minor_of(use.removed_release)
        if removal is None and not use.clients:
            continue
        release = use.removed_release if removal is not None and removal > minor_of(upcoming) else upcoming
        if removal is not None:
            scheduled.add(release)
        by_release.setdefault(release, []).append(use)
    insights = []
    for release in sorted(by_release, key=minor_of):
        uses = by_release[release]
        if obs.deprecated is None:
            status = _status("UNKNOWN", "Unable to determine status of deprecated API usage.")
        elif not uses:
            status = _status("PASSING", "No deprecated API usage detected within the last 30 days.")
        else:
            severity = "ERROR" if release == upcoming and release in scheduled else "WARNING"
            status = _status(severity, "Deprecated API usage detected within the last 30 days.")
        details = [_deprecation_detail(u, obs.preferred_versions) for u in sorted(uses, key=lambda u: u.path)]
        insights.append(_insight(
            obs, DEPRECATED_NAME.format(version=release), release,
            f"Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes v{release}. "
            f"Upgrading your cluster before migrating to the updated APIs supported by v{release} could cause application impact.",
            status,
            f"Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading to Kubernetes v{release}.",
            {
                "EKS update cluster documentation": "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html",
                f"Kubernetes v{release} deprecation guide":
                    f"https://kubernetes.io/docs/reference/using-api/deprecation-guide/#v{release.replace('.', '-')}",
            },
            summary={"deprecationDetails": details},
        ))
    return insights


# ---- version skew (kubelet, kube-proxy)


def skew_status(version: str | None, control_plane: str) -> str:
    """PASSING: same minor as the control plane; WARNING: older, and still within the skew policy after
    an upgrade to the next minor; ERROR: newer than the control plane, or too old for the next minor;
    UNKNOWN: no readable version."""
    theirs, ours = minor_of(version), minor_of(control_plane)
    if theirs is None or ours is None:
        return "UNKNOWN"
    if theirs == ours:
        return "PASSING"
    if theirs > ours or theirs[0] != ours[0] or ours[1] + 1 - theirs[1] > MAX_NODE_SKEW:
        return "ERROR"
    return "WARNING"


def _skew_insight(obs: Observation, things: list[VersionedThing] | None, name: str, what: str, texts: dict[str, str],
                  description: str, recommendation: str, info: dict) -> dict:
    upcoming = next_minor(obs.version)
    if things is None:
        return _insight(obs, name, upcoming, description, _status("UNKNOWN", texts["UNKNOWN"]), recommendation, info)
    resources = []
    worst = "PASSING"
    for thing in sorted(things, key=lambda t: t.uri):
        status = skew_status(thing.version, obs.version)
        if status == "PASSING":
            continue
        worst = max(worst, status, key=SEVERITY.__getitem__)
        if status == "UNKNOWN":
            reason = f"Unable to determine the {what} version (reported: {thing.version or 'none'!r})."
        elif minor_of(thing.version) > minor_of(obs.version):
            reason = f"{what} version {thing.version} is newer than the control plane version {obs.version}."
        else:
            skew = minor_of(upcoming)[1] - minor_of(thing.version)[1]
            reason = (f"{what} version {thing.version} with a control plane on {obs.version}: after an upgrade to {upcoming} "
                      f"it would be {skew} minor versions older (at most {MAX_NODE_SKEW} are supported).")
        resources.append({"insightStatus": _status(status, reason), "kubernetesResourceUri": thing.uri})
    count = sum(1 for r in resources if r["insightStatus"]["status"] == worst)
    reason = texts["PASSING"] if worst == "PASSING" else texts[worst].format(count=count, version=obs.version, upcoming=upcoming)
    return _insight(obs, name, upcoming, description, _status(worst, reason), recommendation, info, resources)


def kubelet_insight(obs: Observation) -> dict:
    return _skew_insight(
        obs, obs.kubelets, KUBELET_NAME, "kubelet",
        {
            "PASSING": "Node kubelet versions match the cluster control plane version.",
            "UNKNOWN": "Unable to determine status of node kubelet versions.",
            "WARNING": "{count} node(s) run a kubelet older than the cluster control plane version {version}.",
            "ERROR": "{count} node(s) run a kubelet outside the supported version skew for Kubernetes {upcoming}.",
        },
        "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause non compliance "
        "with supported Kubernetes kubelet version skew policy.",
        "Upgrade your worker nodes to match the Kubernetes version of your cluster control plane.",
        {
            "Kubelet version skew policy": "https://kubernetes.io/releases/version-skew-policy/#kubelet",
            "Updating a managed node group": "https://docs.aws.amazon.com/eks/latest/userguide/update-managed-node-group.html",
        },
    )


def kube_proxy_insight(obs: Observation) -> dict:
    return _skew_insight(
        obs, obs.kube_proxies, KUBE_PROXY_NAME, "kube-proxy",
        {
            "PASSING": "kube-proxy versions match the cluster control plane version.",
            "UNKNOWN": "Unable to determine status of kube-proxy versions.",
            "WARNING": "{count} kube-proxy deployment(s) run a version older than the cluster control plane version {version}.",
            "ERROR": "{count} kube-proxy deployment(s) run a version outside the supported version skew for Kubernetes {upcoming}.",
        },
        "Checks version of kube-proxy in cluster to see if upgrade would cause non compliance with supported "
        "Kubernetes kube-proxy version skew policy.",
        "Update kube-proxy to the version that matches the Kubernetes version of your cluster control plane.",
        {
            "Kubernetes kube-proxy version skew policy": "https://kubernetes.io/releases/version-skew-policy/#kube-proxy",
            "Updating kube-proxy": "https://docs.aws.amazon.com/eks/latest/userguide/managing-kube-proxy.html",
        },
    )


# ---- add-ons and health


def addon_insight(obs: Observation, compatibility: AddonCompatibility | None) -> dict:
    upcoming = next_minor(obs.version)
    description = "Checks version of installed EKS add-ons to ensure they are compatible with the next version of Kubernetes. "
    recommendation = "Upgrade your EKS add-ons to versions compatible with the next Kubernetes version before upgrading the cluster."
    info = {
        "Amazon EKS add-ons": "https://docs.aws.amazon.com/eks/latest/userguide/eks-add-ons.html",
        "Updating an Amazon EKS add-on": "https://docs.aws.amazon.com/eks/latest/userguide/updating-an-add-on.html",
    }
    addons = obs.addons
    if not addons and addons is not None:
        status = _status("PASSING", "All installed EKS add-on versions are compatible with next Kubernetes version.")
        return _insight(obs, ADDONS_NAME, upcoming, description, status, recommendation, info,
                        summary={"addonCompatibilityDetails": []})
    if addons is None or compatibility is None:
        status = _status("UNKNOWN", "Unable to determine compatibility of installed EKS add-on versions.")
        return _insight(obs, ADDONS_NAME, upcoming, description, status, recommendation, info)
    details, resources = [], []
    for addon in sorted(addons, key=lambda a: a.name):
        compatible = list(compatibility(addon.name, upcoming))
        details.append({"name": addon.name, "compatibleVersions": compatible})
        if addon.version not in compatible:
            reason = f"{addon.name} {addon.version} is not compatible with Kubernetes {upcoming}."
            resources.append({"insightStatus": _status("ERROR", reason), **({"arn": addon.arn} if addon.arn else {})})
    if resources:
        status = _status("ERROR", f"{len(resources)} installed EKS add-on version(s) are not compatible with next Kubernetes version.")
    else:
        status = _status("PASSING", "All installed EKS add-on versions are compatible with next Kubernetes version.")
    return _insight(obs, ADDONS_NAME, upcoming, description, status, recommendation, info, resources,
                    {"addonCompatibilityDetails": details})


def health_insight(obs: Observation) -> dict:
    upcoming = next_minor(obs.version)
    issues = obs.health_issues
    if issues:
        codes = ", ".join(sorted({i.get("code", "Other") for i in issues}))
        status = _status("ERROR", f"Cluster health issues detected: {codes}.")
        resources = [{"insightStatus": _status("ERROR", i.get("message", "")), "arn": obs.cluster_arn} for i in issues]
    else:
        status, resources = _status("PASSING", "No cluster health issues detected."), []
    return _insight(
        obs, HEALTH_NAME, upcoming,
        "Checks for any cluster health issues that prevent successful upgrade to the next Kubernetes version on EKS.",
        status, "Resolve the cluster health issues before upgrading the cluster.",
        {"Amazon EKS cluster health": "https://docs.aws.amazon.com/eks/latest/APIReference/API_ClusterHealth.html"},
        resources,
    )


def evaluate(obs: Observation, compatibility: AddonCompatibility | None = None) -> list[dict]:
    """Every upgrade-readiness insight for the cluster, without times (the controller stamps those)."""
    return [
        *deprecated_api_insights(obs),
        kubelet_insight(obs),
        kube_proxy_insight(obs),
        addon_insight(obs, compatibility),
        health_insight(obs),
    ]
