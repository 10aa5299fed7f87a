"""EKS access policies: the catalogue ListAccessPolicies answers, and the Kubernetes rules each grants.

Rules are transcribed from EKS's "Review access policy permissions" page (user guide,
access-policy-reference). Policies whose rules EKS does not publish (Auto Mode, HyperPod, EMR, ...)
are listed but grant nothing here, so RBAC stays authoritative for them.

A rule is (apiGroups, resources, verbs) or ("nonResourceURLs", urls, verbs), with RBAC's matching:
"*" matches anything, a resource may name a subresource ("pods/exec"), "*/scale" any resource's scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

POLICY_ARN_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")


@dataclass(frozen=True)
class Rule:
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()


def _rule(groups: str | tuple[str, ...], resources: str, verbs: tuple[str, ...]) -> Rule:
    return Rule(api_groups=(groups,) if isinstance(groups, str) else groups, resources=tuple(resources.split()), verbs=verbs)


_VIEW = (
    _rule("apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale deployments/status "
          "replicasets replicasets/scale replicasets/status statefulsets statefulsets/scale statefulsets/status", READ),
    _rule("autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status", READ),
    _rule("batch", "cronjobs cronjobs/status jobs jobs/status", READ),
    _rule("discovery.k8s.io", "endpointslices", READ),
    _rule("extensions", "daemonsets daemonsets/status deployments deployments/scale deployments/status ingresses "
          "ingresses/status networkpolicies replicasets replicasets/scale replicasets/status replicationcontrollers/scale", READ),
    _rule("networking.k8s.io", "ingresses ingresses/status networkpolicies", READ),
    _rule("policy", "poddisruptionbudgets poddisruptionbudgets/status", READ),
    _rule("", "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods replicationcontrollers "
          "replicationcontrollers/scale serviceaccounts services services/status", READ),
    _rule("", "bindings events limitranges namespaces/status pods/log pods/status replicationcontrollers/status "
          "resourcequotas resourcequotas/status", READ),
    _rule("", "namespaces", READ),
)
_EDIT = _VIEW + (
    _rule("apps", "daemonsets deployments deployments/rollback deployments/scale replicasets replicasets/scale "
          "statefulsets statefulsets/scale", WRITE),
    _rule("autoscaling", "horizontalpodautoscalers", WRITE),
    _rule("batch", "cronjobs jobs", WRITE),
    _rule("extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses networkpolicies "
          "replicasets replicasets/scale replicationcontrollers/scale", WRITE),
    _rule("networking.k8s.io", "ingresses networkpolicies", WRITE),
    _rule("policy", "poddisruptionbudgets", WRITE),
    _rule("", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy", READ),
    _rule("", "serviceaccounts", ("impersonate",)),
    _rule("", "pods pods/attach pods/exec pods/portforward pods/proxy", WRITE),
    _rule("", "configmaps events persistentvolumeclaims replicationcontrollers replicationcontrollers/scale secrets "
          "serviceaccounts services services/proxy", WRITE),
)
_ADMIN = _EDIT + (
    _rule("authorization.k8s.io", "localsubjectaccessreviews", ("create",)),
    _rule("rbac.authorization.k8s.io", "rolebindings roles", READ + WRITE),
)

RULES: dict[str, tuple[Rule, ...]] = {
    "AmazonEKSClusterAdminPolicy": (Rule(("*",), ("*",), ("*",)), Rule(verbs=("*",), non_resource_urls=("*",))),
    "AmazonEKSAdminPolicy": _ADMIN,
    "AmazonEKSEditPolicy": _EDIT,
    "AmazonEKSViewPolicy": _VIEW,
    "AmazonEKSAdminViewPolicy": (Rule(("*",), ("*",), READ),),
    "AmazonEKSSecretReaderPolicy": (_rule("", "secrets", READ),),
    "AmazonEKSHybridPolicy": (Rule(("*",), ("nodes",), ("list",)),),
}

# Every policy EKS lists (aws eks list-access-policies), in its order (by name).
POLICY_NAMES = sorted(
    {
        *RULES,
        "AmazonAIOpsAssistantPolicy",
        "AmazonARCRegionSwitchScalingPolicy",
        "AmazonEKSAutoNodePolicy",
        "AmazonEKSBlockStorageClusterPolicy",
        "AmazonEKSBlockStoragePolicy",
        "AmazonEKSClusterInsightsPolicy",
        "AmazonEKSComputeClusterPolicy",
        "AmazonEKSComputePolicy",
        "AmazonEKSLoadBalancingClusterPolicy",
        "AmazonEKSLoadBalancingPolicy",
        "AmazonEKSNetworkingClusterPolicy",
        "AmazonEKSNetworkingPolicy",
        "AmazonEMRJobPolicy",
        "AmazonSagemakerHyperpodClusterPolicy",
        "AmazonSagemakerHyperpodControllerPolicy",
        "AmazonSagemakerHyperpodSystemNamespacePolicy",
    }
)
POLICY_ARNS = {POLICY_ARN_PREFIX + name for name in POLICY_NAMES}


def policy_arn(name: str) -> str:
    return POLICY_ARN_PREFIX + name


def _matches(allowed: Iterable[str], value: str) -> bool:
    return any(a == "*" or a == value for a in allowed)


def _resource_matches(allowed: Iterable[str], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in allowed:
        if candidate == "*" or candidate == combined:
            return True
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def _url_matches(allowed: Iterable[str], path: str) -> bool:
    return any(u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in allowed)


def namespace_in_scope(namespace: str, patterns: Iterable[str]) -> bool:
    """A namespace-scoped association covers namespaces named exactly, or by a trailing wildcard (dev-*)."""
    return bool(namespace) and any(
        namespace == p or (p.endswith("*") and namespace.startswith(p[:-1])) for p in patterns
    )


def rules_allow(rules: Iterable[Rule], attributes: dict) -> bool:
    """Whether RBAC-style rules allow a SubjectAccessReview's resourceAttributes or nonResourceAttributes."""
    resource = attributes.get("resourceAttributes")
    for rule in rules:
        if resource is not None:
            if rule.non_resource_urls:
                continue
            if (
                _matches(rule.verbs, resource.get("verb", ""))
                and _matches(rule.api_groups, resource.get("group", ""))
                and _resource_matches(rule.resources, resource.get("resource", ""), resource.get("subresource", ""))
            ):
                return True
        else:
            other = attributes.get("nonResourceAttributes") or {}
            if rule.non_resource_urls and _matches(rule.verbs, other.get("verb", "")) and _url_matches(
                rule.non_resource_urls, other.get("path", "")
            ):
                return True
    return False


def association_allows(policy: str, scope: dict, attributes: dict) -> bool:
    """An associated policy (its ARN and accessScope) allows the request: the rules, in the scope."""
    rules = RULES.get(policy.removeprefix(POLICY_ARN_PREFIX), ())
    if scope.get("type") == "namespace":
        namespace = (attributes.get("resourceAttributes") or {}).get("namespace", "")
        if not namespace_in_scope(namespace, scope.get("namespaces") or []):
            return False
    return rules_allow(rules, attributes)
