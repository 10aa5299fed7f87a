"""Cluster insights: ListInsights, DescribeInsight, StartInsightsRefresh, DescribeInsightsRefresh.

One record of kind INSIGHT per cluster (named as the cluster). Its spec is the desired state: which
cluster (by id, so a cluster recreated under the same name starts afresh) and when a refresh was last
asked for. Its status is the insights controller's: the last refresh (status, times) and the stored
insights (services/eks/insight_checks.py computes them). EKS refreshes by itself 24 hours after the last
refresh; StartInsightsRefresh asks for one now.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INSIGHT
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from .clusters import Clusters, paginate

AUTOMATIC_REFRESH_SECONDS = 24 * 3600
SUMMARY_FIELDS = ("id", "name", "category", "kubernetesVersion", "lastRefreshTime", "lastTransitionTime",
                  "description", "insightStatus")
IN_PROGRESS_MESSAGE = "Insights refresh is in progress."
COMPLETED_MESSAGE = "Insights refresh completed."


def insight_key(account: str, region: str, cluster_name: str) -> Key:
    return Key(account, region, INSIGHT, cluster_name)


def _when(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds is not None else None


def insight_view(stored: dict) -> dict:
    """The Insight shape from a stored insight (times kept as epoch seconds in the store)."""
    view = {k: v for k, v in copy.deepcopy(stored).items() if v is not None}
    for name in ("lastRefreshTime", "lastTransitionTime"):
        if name in view:
            view[name] = _when(view[name])
    summary = view.get("categorySpecificSummary") or {}
    for detail in summary.get("deprecationDetails", []):
        detail["clientStats"] = [
            {**stat, "lastRequestTime": _when(stat["lastRequestTime"])} if stat.get("lastRequestTime") is not None else stat
            for stat in detail.get("clientStats", [])
        ]
    return view


def matches(insight: dict, filter_: dict) -> bool:
    """ListInsights' filter: every given list must contain the insight's value."""
    wanted = (
        ("categories", insight["category"]),
        ("kubernetesVersions", insight.get("kubernetesVersion")),
        ("statuses", insight["insightStatus"]["status"]),
    )
    return all(not filter_.get(name) or value in filter_[name] for name, value in wanted)


def refresh_pending(record: Record) -> bool:
    """A StartInsightsRefresh the controller has not finished yet."""
    requested = record.spec.get("refreshRequestedAt")
    refresh = record.status.get("refresh") or {}
    return requested is not None and (refresh.get("requestedAt") != requested or refresh.get("status") == "IN_PROGRESS")


def refresh_queued(record: Record) -> bool:
    """A StartInsightsRefresh the controller has not started on yet (a running refresh may have read
    the cluster before the request: a new request then queues one more)."""
    requested = record.spec.get("refreshRequestedAt")
    return requested is not None and (record.status.get("refresh") or {}).get("requestedAt") != requested


def refresh_due(record: Record, now: float) -> float | None:
    """Seconds until the next refresh is due (0: now), as EKS does: on request, else 24 h after the last."""
    refresh = record.status.get("refresh") or {}
    if refresh_pending(record) or refresh.get("status") == "IN_PROGRESS" or not record.status.get("lastRefreshTime"):
        return 0.0
    return max(0.0, record.status["lastRefreshTime"] + AUTOMATIC_REFRESH_SECONDS - now)


class Insights:
    def __init__(self, store: SqliteStore, clusters: Clusters):
        self.store = store
        self.clusters = clusters

    def _current(self, ctx: RequestContext, name: str) -> tuple[Record, Record | None]:
        cluster = self.clusters.get(ctx, name)
        record = self.store.get(insight_key(ctx.account, ctx.region, name))
        if record is not None and record.spec.get("clusterId") != cluster.spec["id"]:
            record = None  # left from an earlier cluster of the same name: not this cluster's
        return cluster, record

    def _stored_insights(self, ctx: RequestContext, name: str) -> list[dict]:
        _, record = self._current(ctx, name)
        insights = list((record.status.get("insights") if record else None) or [])
        return sorted(insights, key=lambda i: (i["name"], i["id"]))

    def list(self, ctx: RequestContext, params: dict) -> dict:
        name = params["clusterName"]
        insights = [i for i in self._stored_insights(ctx, name) if matches(i, params.get("filter") or {})]
        by_id = {i["id"]: i for i in insights}
        page = paginate(list(by_id), params, "insights")
        page["insights"] = [
            {k: v for k, v in insight_view(by_id[i]).items() if k in SUMMARY_FIELDS} for i in page["insights"]
        ]
        return page

    def describe(self, ctx: RequestContext, params: dict) -> dict:
        name, insight_id = params["clusterName"], params["id"]
        for insight in self._stored_insights(ctx, name):
            if insight["id"] == insight_id:
                return {"insight": insight_view(insight)}
        raise AwsError(
            "ResourceNotFoundException", f"No insight found for id: {insight_id}.", extra_fields={"clusterName": name}
        )

    def start_refresh(self, ctx: RequestContext, params: dict) -> dict:
        name = params["clusterName"]
        while True:
            cluster, record = self._current(ctx, name)
            if cluster.deleting or cluster.status.get("status") != "ACTIVE":
                state = "DELETING" if cluster.deleting else cluster.status.get("status", "CREATING")
                raise AwsError(
                    "InvalidRequestException",
                    f"Cluster {name} is in {state} state; insights can be refreshed only while it is ACTIVE.",
                    extra_fields={"clusterName": name},
                )
            if record is not None and refresh_queued(record):
                return {"message": IN_PROGRESS_MESSAGE, "status": "IN_PROGRESS"}  # a refresh not started yet sees this too
            spec = {"clusterName": name, "clusterId": cluster.spec["id"], "refreshRequestedAt": time.time()}
            key = insight_key(ctx.account, ctx.region, name)
            try:
                existing = self.store.get(key)
                if existing is None:
                    self.store.create(key, spec)
                elif existing.spec.get("clusterId") != cluster.spec["id"]:
                    self.store.remove(existing)  # an earlier cluster's; the controller would remove it too
                    continue
                else:
                    self.store.update_spec(existing, {**existing.spec, **spec})
            except (AlreadyExists, Conflict):
                continue
            return {"message": IN_PROGRESS_MESSAGE, "status": "IN_PROGRESS"}

    def describe_refresh(self, ctx: RequestContext, params: dict) -> dict:
        name = params["clusterName"]
        _, record = self._current(ctx, name)
        refresh = (record.status.get("refresh") if record else None) or {}
        if record is not None and refresh_pending(record):
            started = refresh.get("startedAt") if refresh.get("requestedAt") == record.spec["refreshRequestedAt"] else None
            return {"message": IN_PROGRESS_MESSAGE, "status": "IN_PROGRESS",
                    "startedAt": _when(started or record.spec["refreshRequestedAt"])}
        if not refresh:
            raise AwsError(
                "ResourceNotFoundException", f"No insights refresh found for cluster: {name}.", extra_fields={"clusterName": name}
            )
        answer = {"message": refresh.get("message", ""), "status": refresh["status"], "startedAt": _when(refresh.get("startedAt"))}
        if refresh.get("endedAt") is not None:
            answer["endedAt"] = _when(refresh["endedAt"])
        return answer
