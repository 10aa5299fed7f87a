"""The insights reconciler: each ACTIVE cluster's upgrade insights, computed from the real cluster.

One INSIGHT record per cluster (services/eks/insights.py). A refresh is due when StartInsightsRefresh
asked for one, or 24 hours after the last (EKS's schedule), or for a cluster that has none yet. A
refresh reads, as the cluster's admin identity: every Node (kubelet and kube-proxy versions), the
kube-system/kube-proxy DaemonSet, kube-apiserver's /metrics (apiserver_requested_deprecated_apis) and
API discovery (preferred versions); from disk, the audit log's deprecated-API requests since the last
read; from the store, the cluster's add-ons and health issues. Deprecated-API requests are kept per API
and user agent by day for EKS's rolling 30-day window. services/eks/insight_checks.py turns all of it
into insights.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..core.kinds import ADDON, CLUSTER, INSIGHT
from ..infra.deprecated_api_usage import (
    AuditPosition,
    DeprecatedApi,
    read_deprecated_requests,
    requested_deprecated_apis,
)
from ..infra.kube import KubeClient, KubeCredentials, KubeError, object_path
from ..services.eks.insight_checks import (
    AddonCompatibility,
    DeprecatedUse,
    InstalledAddon,
    Observation,
    VersionedThing,
    evaluate,
    image_tag,
)
from ..services.eks.insights import COMPLETED_MESSAGE, insight_key, refresh_due, refresh_pending
from ..services.eks.version_updates import running_version
from ..store import AlreadyExists, Conflict, Key, Record, SqliteStore
from .runtime import Watch

log = logging.getLogger(__name__)

WINDOW_DAYS = 30
RETRY_SECONDS = 60.0
KUBE_PROXY = object_path("apps/v1", "daemonsets", "kube-proxy", "kube-system")


def _day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d")


def _api_key(api: DeprecatedApi) -> str:
    return "/".join((api.group, api.version, api.resource, api.subresource))


def merge_usage(usage: dict, requests, metric_apis: list[DeprecatedApi], now: float) -> dict:
    """The stored usage ({api key: {api fields, clients: {userAgent: {days: {YYYY-MM-DD: n}, last}}, seenAt}})
    with new audit requests and the gauge's APIs added, and everything older than 30 days dropped."""
    usage = {k: {**v, "clients": {ua: {"days": dict(c["days"]), "last": c["last"]} for ua, c in v["clients"].items()}}
             for k, v in usage.items()}

    def entry(api: DeprecatedApi) -> dict:
        found = usage.setdefault(_api_key(api), {
            "group": api.group, "version": api.version, "resource": api.resource,
            "subresource": api.subresource, "removedRelease": api.removed_release, "clients": {},
        })
        if api.removed_release and not found["removedRelease"]:
            found["removedRelease"] = api.removed_release
        return found

    for request in requests:
        client = entry(request.api)["clients"].setdefault(request.user_agent, {"days": {}, "last": request.at})
        day = _day(request.at)
        client["days"][day] = client["days"].get(day, 0) + 1
        client["last"] = max(client["last"], request.at)
    for api in metric_apis:
        entry(api)["seenAt"] = now  # requested since this kube-apiserver started
    oldest = _day(now - WINDOW_DAYS * 86400)
    kept = {}
    for key, value in usage.items():
        clients = {}
        for agent, client in value["clients"].items():
            days = {d: n for d, n in client["days"].items() if d > oldest}
            if days:
                clients[agent] = {"days": days, "last": client["last"]}
        recent = value.get("seenAt") is not None and value["seenAt"] > now - WINDOW_DAYS * 86400
        if clients or recent:
            kept[key] = {**value, "clients": clients}
    return kept


def deprecated_uses(usage: dict) -> list[DeprecatedUse]:
    uses = []
    for value in usage.values():
        clients = tuple(
            {"userAgent": agent, "numberOfRequestsLast30Days": sum(c["days"].values()), "lastRequestTime": c["last"]}
            for agent, c in sorted(value["clients"].items())
        )
        uses.append(DeprecatedUse(value["group"], value["version"], value["resource"], value["removedRelease"],
                                  value["subresource"], clients))
    return uses


def stamp(insights: list[dict], previous: list[dict], now: float) -> list[dict]:
    """lastRefreshTime now; lastTransitionTime kept while an insight's status stays the same."""
    before = {i["id"]: i for i in previous}
    stamped = []
    for insight in insights:
        old = before.get(insight["id"])
        same = old is not None and old["insightStatus"]["status"] == insight["insightStatus"]["status"]
        stamped.append({**insight, "lastRefreshTime": now,
                        "lastTransitionTime": old["lastTransitionTime"] if same else now})
    return stamped


class InsightsReconciler:
    name, kind = "insights", INSIGHT

    def __init__(self, store: SqliteStore, credentials: Callable[[Record], KubeCredentials | None],
                 audit_log: Callable[[Record], Path], addon_compatibility: AddonCompatibility | None = None):
        self.store = store
        self.credentials = credentials  # the cluster's admin identity (composition.py)
        self.audit_log = audit_log
        # (add-on name, Kubernetes minor) -> compatible add-on versions: the add-on catalogue's answer.
        self.addon_compatibility = addon_compatibility

    def watches(self) -> list[Watch]:
        return [Watch(CLUSTER, lambda key: [insight_key(key.account, key.region, key.name)])]

    async def reconcile(self, key: Key) -> float | None:
        cluster = self.store.get(Key(key.account, key.region, CLUSTER, key.name))
        record = self.store.get(key)
        if record is not None and (cluster is None or cluster.deleting or record.spec.get("clusterId") != cluster.spec["id"]):
            try:
                self.store.remove(record)  # the cluster is gone, or this record was an earlier cluster's
            except Conflict:
                return 0.0
            record = None
        if cluster is None or cluster.deleting or cluster.status.get("status") != "ACTIVE":
            return None
        if record is None:
            try:
                record = self.store.create(key, {"clusterName": key.name, "clusterId": cluster.spec["id"]})
            except AlreadyExists:
                return 0.0
        now = time.time()
        wait = refresh_due(record, now)
        if record.status.get("clusterVersion") not in (None, running_version(cluster)):
            wait = 0.0  # the control plane moved to another minor: the insights are about the one after it
        refresh = record.status.get("refresh") or {}
        if not wait and refresh.get("status") == "FAILED" and not refresh_pending(record):
            wait = max(0.0, refresh.get("endedAt", 0) + RETRY_SECONDS - now)  # a failed automatic refresh: retry later
        if wait:
            return wait
        return await self.refresh(cluster, record)

    async def refresh(self, cluster: Record, record: Record) -> float | None:
        started = time.time()
        requested = record.spec.get("refreshRequestedAt")
        record = self.store.merge_status(record, refresh={"status": "IN_PROGRESS", "startedAt": started, "requestedAt": requested})
        try:
            observation, position, usage = await self.observe(cluster, record)
        except (KubeError, OSError) as error:
            log.warning("insights refresh of %s failed: %s", cluster.key, error)
            self.store.merge_status(record, refresh={"status": "FAILED", "message": f"Insights refresh failed: {error}",
                                                     "startedAt": started, "endedAt": time.time(), "requestedAt": requested})
            return RETRY_SECONDS
        now = time.time()
        insights = stamp(evaluate(observation, self.addon_compatibility), record.status.get("insights") or [], now)
        self.store.merge_status(
            record,
            insights=insights,
            lastRefreshTime=now,
            clusterVersion=running_version(cluster),
            usage=usage,
            auditPosition=position.as_dict(),
            refresh={"status": "COMPLETED", "message": COMPLETED_MESSAGE, "startedAt": started, "endedAt": now,
                     "requestedAt": requested},
        )
        latest = self.store.get(record.key)
        return refresh_due(latest, time.time()) if latest is not None else None

    async def observe(self, cluster: Record, record: Record) -> tuple[Observation, AuditPosition, dict]:
        spec = cluster.spec
        observation = Observation(spec["id"], spec["arn"], running_version(cluster), kubelets=None, kube_proxies=None,
                                  deprecated=None, health_issues=list(cluster.status.get("healthIssues") or []))
        observation.addons = [
            InstalledAddon(a.spec.get("addonName", ""), a.spec.get("addonVersion", ""), a.spec.get("addonArn"))
            for a in self.store.list(cluster.key.account, cluster.key.region, ADDON)
            if a.spec.get("clusterName") == cluster.key.name and not a.deleting
        ]
        credentials = self.credentials(cluster)
        position = AuditPosition.of(record.status.get("auditPosition"))
        usage = record.status.get("usage") or {}
        if credentials is None:
            return observation, position, usage
        async with KubeClient(credentials, timeout=15.0) as kube:
            try:
                nodes = await kube.list("/api/v1/nodes")
                observation.kubelets = [
                    VersionedThing(f"/api/v1/nodes/{n['metadata']['name']}",
                                   ((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion")) for n in nodes
                ]
                daemonset = await kube.get_or_none(KUBE_PROXY)
                proxies = [
                    VersionedThing(KUBE_PROXY, image_tag(c.get("image", "")))
                    for c in ((daemonset or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [])
                ]
                proxies += [
                    VersionedThing(f"/api/v1/nodes/{n['metadata']['name']}", n["status"]["nodeInfo"]["kubeProxyVersion"])
                    for n in nodes if ((n.get("status") or {}).get("nodeInfo") or {}).get("kubeProxyVersion")
                ]
                observation.kube_proxies = proxies
            except KubeError as error:
                log.info("insights: cannot read nodes or kube-proxy of %s: %s", cluster.key, error)
            try:
                metric_apis = requested_deprecated_apis(await kube.get_text("/metrics"))
                discovery = await kube.get("/apis")
                observation.preferred_versions = {
                    g["name"]: g["preferredVersion"]["version"] for g in discovery.get("groups", []) if g.get("preferredVersion")
                }
                observation.preferred_versions[""] = "v1"
                requests, position = read_deprecated_requests(self.audit_log(cluster), position)
                usage = merge_usage(usage, requests, metric_apis, time.time())
                observation.deprecated = deprecated_uses(usage)
            except KubeError as error:
                log.info("insights: cannot read deprecated-API usage of %s: %s", cluster.key, error)
        return observation, position, usage
