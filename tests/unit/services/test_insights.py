"""Upgrade insights: the check rules, the service's filters and pages, and the controller's bookkeeping."""

from __future__ import annotations

import time

import pytest

from moorage.controllers.insights import deprecated_uses, merge_usage, stamp
from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.infra.deprecated_api_usage import DeprecatedApi, DeprecatedRequest
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.insight_checks import (
    DeprecatedUse,
    InstalledAddon,
    Observation,
    VersionedThing,
    evaluate,
    image_tag,
    insight_id,
    minor_of,
    skew_status,
)
from moorage.services.eks.insights import AUTOMATIC_REFRESH_SECONDS, insight_key, refresh_due
from moorage.services.eks.service import EksService
from moorage.store import SqliteStore

ROLE = "arn:aws:iam::111122223333:role/eks-cluster"
ARN = "arn:aws:eks:us-west-2:111122223333:cluster/demo"


def by_name(insights: list[dict]) -> dict[str, dict]:
    return {i["name"]: i for i in insights}


def observation(**fields) -> Observation:
    return Observation("cluster-id", ARN, "1.37", **fields)


# --- rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minor"),
    [("v1.37.2", (1, 37)), ("v1.32.8-eks-99d6cc0", (1, 32)), ("1.36", (1, 36)), ("v1.29.0-minimal-eksbuild.1", (1, 29)),
     ("kwok-v0.8.0", None), ("", None), (None, None)],
)
def test_minor_of(text, minor):
    assert minor_of(text) == minor


def test_image_tag():
    assert image_tag("602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/kube-proxy:v1.32.6-eksbuild.8") == "v1.32.6-eksbuild.8"
    assert image_tag("localhost:5000/kube-proxy") is None
    assert image_tag("registry.k8s.io/kube-proxy:v1.36.3@sha256:abc") == "v1.36.3"


@pytest.mark.parametrize(
    ("kubelet", "status"),
    [("v1.37.2", "PASSING"), ("v1.36.3", "WARNING"), ("v1.35.4", "WARNING"), ("v1.34.1", "ERROR"), ("v1.38.0", "ERROR"),
     ("kwok-v0.8.0", "UNKNOWN")],
)
def test_skew_against_a_1_37_control_plane(kubelet, status):
    # After an upgrade to 1.38 a 1.35 kubelet is 3 minors behind (allowed), a 1.34 one 4 (not allowed).
    assert skew_status(kubelet, "1.37") == status


def test_a_healthy_cluster_passes_all_five_checks_with_eks_texts():
    nodes = [VersionedThing("/api/v1/nodes/a", "v1.37.2"), VersionedThing("/api/v1/nodes/b", "v1.37.2-eks-1a2b3c")]
    insights = by_name(evaluate(observation(kubelets=nodes, kube_proxies=[])))
    assert list(insights) == [
        "Deprecated APIs removed in Kubernetes v1.38", "Kubelet version skew", "kube-proxy version skew",
        "EKS add-on version compatibility", "Cluster health issues",
    ]
    assert {i["insightStatus"]["status"] for i in insights.values()} == {"PASSING"}
    assert {i["kubernetesVersion"] for i in insights.values()} == {"1.38"}
    assert {i["category"] for i in insights.values()} == {"UPGRADE_READINESS"}
    reasons = {name: i["insightStatus"]["reason"] for name, i in insights.items()}
    assert reasons["Kubelet version skew"] == "Node kubelet versions match the cluster control plane version."
    assert reasons["kube-proxy version skew"] == "kube-proxy versions match the cluster control plane version."
    assert reasons["EKS add-on version compatibility"] == "All installed EKS add-on versions are compatible with next Kubernetes version."
    assert reasons["Cluster health issues"] == "No cluster health issues detected."
    assert reasons["Deprecated APIs removed in Kubernetes v1.38"] == "No deprecated API usage detected within the last 30 days."


def test_ids_are_stable_per_check_and_cluster():
    first = evaluate(observation())
    assert [i["id"] for i in first] == [i["id"] for i in evaluate(observation())]
    assert insight_id("cluster-id", "Kubelet version skew") != insight_id("other-cluster", "Kubelet version skew")
    assert len({i["id"] for i in first}) == len(first)


def test_unreadable_sources_are_unknown():
    insights = by_name(evaluate(observation(kubelets=None, kube_proxies=None, deprecated=None, addons=None)))
    assert insights["Kubelet version skew"]["insightStatus"] == {
        "status": "UNKNOWN", "reason": "Unable to determine status of node kubelet versions."}
    assert insights["kube-proxy version skew"]["insightStatus"]["status"] == "UNKNOWN"
    assert insights["Deprecated APIs removed in Kubernetes v1.38"]["insightStatus"]["status"] == "UNKNOWN"
    assert insights["EKS add-on version compatibility"]["insightStatus"]["status"] == "UNKNOWN"


def test_kubelet_skew_lists_the_nodes_that_do_not_pass():
    nodes = [VersionedThing("/api/v1/nodes/new", "v1.37.2"), VersionedThing("/api/v1/nodes/old", "v1.36.3"),
             VersionedThing("/api/v1/nodes/older", "v1.34.0")]
    insight = by_name(evaluate(observation(kubelets=nodes)))["Kubelet version skew"]
    assert insight["insightStatus"]["status"] == "ERROR"
    assert [(r["kubernetesResourceUri"], r["insightStatus"]["status"]) for r in insight["resources"]] == [
        ("/api/v1/nodes/old", "WARNING"), ("/api/v1/nodes/older", "ERROR")]
    assert insight["recommendation"] == "Upgrade your worker nodes to match the Kubernetes version of your cluster control plane."


def test_deprecated_apis_error_for_the_next_minor_and_warning_for_later_ones():
    clients = ({"userAgent": "kubectl/v1.37.2", "numberOfRequestsLast30Days": 3, "lastRequestTime": 1.0},)
    uses = [
        DeprecatedUse("resource.k8s.io", "v1beta2", "resourceclaims", "1.38", clients=clients),
        DeprecatedUse("storage.k8s.io", "v1beta1", "volumeattributesclasses", "1.40"),
    ]
    insights = by_name(evaluate(observation(deprecated=uses, preferred_versions={"resource.k8s.io": "v1"})))
    soon = insights["Deprecated APIs removed in Kubernetes v1.38"]
    later = insights["Deprecated APIs removed in Kubernetes v1.40"]
    assert soon["insightStatus"] == {"status": "ERROR", "reason": "Deprecated API usage detected within the last 30 days."}
    assert later["insightStatus"]["status"] == "WARNING" and later["kubernetesVersion"] == "1.40"
    (detail,) = soon["categorySpecificSummary"]["deprecationDetails"]
    assert detail == {
        "usage": "/apis/resource.k8s.io/v1beta2/resourceclaims",
        "replacedWith": "/apis/resource.k8s.io/v1/resourceclaims",
        "stopServingVersion": "1.38",
        "startServingReplacementVersion": "1.34",
        "clientStats": list(clients),
    }
    assert soon["recommendation"].endswith("before upgrading to Kubernetes v1.38.")


def test_addon_compatibility_uses_the_injected_catalogue():
    addons = [InstalledAddon("coredns", "v1.12.1-eksbuild.1", "arn:addon/coredns"), InstalledAddon("vpc-cni", "v1.20.0-eksbuild.1")]
    catalogue = {("coredns", "1.38"): ["v1.13.0-eksbuild.1"], ("vpc-cni", "1.38"): ["v1.20.0-eksbuild.1"]}
    insight = by_name(evaluate(observation(addons=addons), lambda name, k8s: catalogue.get((name, k8s), [])))[
        "EKS add-on version compatibility"]
    assert insight["insightStatus"]["status"] == "ERROR"
    assert insight["categorySpecificSummary"]["addonCompatibilityDetails"] == [
        {"name": "coredns", "compatibleVersions": ["v1.13.0-eksbuild.1"]},
        {"name": "vpc-cni", "compatibleVersions": ["v1.20.0-eksbuild.1"]},
    ]
    assert [r.get("arn") for r in insight["resources"]] == ["arn:addon/coredns"]
    # Add-ons but no catalogue wired: the check cannot tell.
    unknown = by_name(evaluate(observation(addons=addons)))["EKS add-on version compatibility"]
    assert unknown["insightStatus"]["status"] == "UNKNOWN"


def test_health_issues_are_an_error():
    issues = [{"code": "ClusterUnreachable", "message": "kube-apiserver is not ready", "resourceIds": ["demo"]}]
    insight = by_name(evaluate(observation(health_issues=issues)))["Cluster health issues"]
    assert insight["insightStatus"]["status"] == "ERROR"
    assert insight["resources"] == [{"insightStatus": {"status": "ERROR", "reason": "kube-apiserver is not ready"}, "arn": ARN}]


# --- controller bookkeeping ---------------------------------------------------------------------------------


def test_usage_is_counted_per_client_over_a_rolling_30_day_window():
    api = DeprecatedApi("resource.k8s.io", "v1beta2", "resourceclaims", "", "1.38")
    now = time.time()
    old = now - 40 * 86400
    usage = merge_usage({}, [DeprecatedRequest(api, "kubectl/v1", old), DeprecatedRequest(api, "kubectl/v1", now - 60),
                             DeprecatedRequest(api, "helm/v3", now)], [], now)
    (use,) = deprecated_uses(usage)
    assert use.removed_release == "1.38"
    assert [(c["userAgent"], c["numberOfRequestsLast30Days"]) for c in use.clients] == [("helm/v3", 1), ("kubectl/v1", 1)]
    later = merge_usage(usage, [], [], now + 31 * 86400)
    assert later == {}  # nothing in the last 30 days any more
    seen = merge_usage({}, [], [api], now)
    assert deprecated_uses(seen)[0].clients == ()  # the gauge names the API, not the client


def test_last_transition_time_moves_only_when_the_status_changes():
    first = stamp([{"id": "a", "insightStatus": {"status": "PASSING"}}], [], 100.0)
    again = stamp([{"id": "a", "insightStatus": {"status": "PASSING"}}], first, 200.0)
    changed = stamp([{"id": "a", "insightStatus": {"status": "ERROR"}}], again, 300.0)
    assert (again[0]["lastRefreshTime"], again[0]["lastTransitionTime"]) == (200.0, 100.0)
    assert (changed[0]["lastRefreshTime"], changed[0]["lastTransitionTime"]) == (300.0, 300.0)


# --- the service -----------------------------------------------------------------------------------------------


@pytest.fixture
def eks(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    subnets = sorted(Ec2Service(store).DescribeSubnets(ctx, {})["Subnets"], key=lambda s: s["AvailabilityZone"])
    service = EksService(store, "http://127.0.0.1:1")
    service.CreateCluster(ctx, {"name": "demo", "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": [s["SubnetId"] for s in subnets[:2]]}})
    return service, store, ctx


def refreshed(store, ctx, insights: list[dict], now: float) -> None:
    """What the controller writes after a refresh."""
    key = insight_key(ctx.account, ctx.region, "demo")
    record = store.get(key)
    store.merge_status(record, insights=stamp(insights, [], now), lastRefreshTime=now,
                       refresh={"status": "COMPLETED", "message": "done", "startedAt": now - 1, "endedAt": now,
                                "requestedAt": record.spec.get("refreshRequestedAt")})


def test_refresh_request_filters_and_pages(eks):
    service, store, ctx = eks
    with pytest.raises(AwsError) as error:
        service.StartInsightsRefresh(ctx, {"clusterName": "demo"})
    assert error.value.code == "InvalidRequestException"  # still CREATING
    with pytest.raises(AwsError) as error:
        service.DescribeInsightsRefresh(ctx, {"clusterName": "demo"})
    assert error.value.code == "ResourceNotFoundException"
    store.merge_status(service.clusters.get(ctx, "demo"), status="ACTIVE")
    assert service.StartInsightsRefresh(ctx, {"clusterName": "demo"})["status"] == "IN_PROGRESS"
    assert service.DescribeInsightsRefresh(ctx, {"clusterName": "demo"})["status"] == "IN_PROGRESS"
    cluster_id = service.clusters.get(ctx, "demo").spec["id"]
    nodes = [VersionedThing("/api/v1/nodes/old", "v1.36.3")]
    insights = evaluate(Observation(cluster_id, ARN, "1.37", kubelets=nodes))
    refreshed(store, ctx, insights, time.time())
    answer = service.DescribeInsightsRefresh(ctx, {"clusterName": "demo"})
    assert answer["status"] == "COMPLETED" and answer["endedAt"] >= answer["startedAt"]

    listed = service.ListInsights(ctx, {"clusterName": "demo"})["insights"]
    assert len(listed) == 5 and "recommendation" not in listed[0] and "nextToken" not in listed
    warning = service.ListInsights(ctx, {"clusterName": "demo", "filter": {"statuses": ["WARNING"]}})["insights"]
    assert [i["name"] for i in warning] == ["Kubelet version skew"]
    assert service.ListInsights(ctx, {"clusterName": "demo", "filter": {"categories": ["MISCONFIGURATION"]}})["insights"] == []
    assert len(service.ListInsights(ctx, {"clusterName": "demo", "filter": {"kubernetesVersions": ["1.38"]}})["insights"]) == 5
    pages, token = [], None
    while True:
        page = service.ListInsights(ctx, {"clusterName": "demo", "maxResults": 2, **({"nextToken": token} if token else {})})
        pages.append([i["id"] for i in page["insights"]])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1] and sorted(sum(pages, [])) == sorted(i["id"] for i in listed)

    described = service.DescribeInsight(ctx, {"clusterName": "demo", "id": warning[0]["id"]})["insight"]
    assert described["resources"][0]["kubernetesResourceUri"] == "/api/v1/nodes/old"
    assert described["lastRefreshTime"].tzinfo is not None
    with pytest.raises(AwsError) as error:
        service.DescribeInsight(ctx, {"clusterName": "demo", "id": "00000000-0000-0000-0000-000000000000"})
    assert error.value.code == "ResourceNotFoundException"
    with pytest.raises(AwsError) as error:
        service.ListInsights(ctx, {"clusterName": "nope"})
    assert error.value.code == "ResourceNotFoundException"


def test_refresh_is_due_on_request_and_24_hours_after_the_last(eks):
    service, store, ctx = eks
    store.merge_status(service.clusters.get(ctx, "demo"), status="ACTIVE")
    service.StartInsightsRefresh(ctx, {"clusterName": "demo"})
    key = insight_key(ctx.account, ctx.region, "demo")
    assert refresh_due(store.get(key), time.time()) == 0.0
    now = time.time()
    refreshed(store, ctx, [], now)
    assert refresh_due(store.get(key), now + 60) == pytest.approx(AUTOMATIC_REFRESH_SECONDS - 60)
    assert refresh_due(store.get(key), now + AUTOMATIC_REFRESH_SECONDS) == 0.0
    service.StartInsightsRefresh(ctx, {"clusterName": "demo"})
    assert refresh_due(store.get(key), now + 60) == 0.0


def test_deprecated_apis_with_no_removal_scheduled_warn_only_when_a_client_used_them():
    kubectl = ({"userAgent": "kubectl/v1.37.2", "numberOfRequestsLast30Days": 1, "lastRequestTime": 1.0},)
    control_plane_only = [DeprecatedUse("", "v1", "endpoints", "")]  # the gauge alone: kube-controller-manager's reads
    assert evaluate(observation(deprecated=control_plane_only))[0]["insightStatus"]["status"] == "PASSING"
    uses = [DeprecatedUse("example.com", "v1beta1", "widgets", "", clients=kubectl),
            DeprecatedUse("", "v1", "endpoints", "", clients=kubectl)]
    (insight,) = [i for i in evaluate(observation(deprecated=uses, preferred_versions={"example.com": "v1", "": "v1"}))
                  if i["name"].startswith("Deprecated")]
    assert insight["insightStatus"]["status"] == "WARNING" and insight["kubernetesVersion"] == "1.38"
    details = insight["categorySpecificSummary"]["deprecationDetails"]
    assert details == [
        {"usage": "/api/v1/endpoints", "replacedWith": "/apis/discovery.k8s.io/v1/endpointslices",
         "startServingReplacementVersion": "1.21", "clientStats": list(kubectl)},
        {"usage": "/apis/example.com/v1beta1/widgets", "replacedWith": "/apis/example.com/v1/widgets", "clientStats": list(kubectl)},
    ]
    # A scheduled removal in the next minor makes the same insight an ERROR.
    uses.append(DeprecatedUse("resource.k8s.io", "v1beta2", "resourceclaims", "1.38"))
    assert evaluate(observation(deprecated=uses))[0]["insightStatus"]["status"] == "ERROR"
