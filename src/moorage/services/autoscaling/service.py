"""Auto Scaling operations (query protocol)."""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...store import SqliteStore
from ..base import TAG_PREFIX, Service, match_filters, offset_page
from ..ec2.nodegroup_instances import auto_scaling_group, node_groups


class AutoScalingService(Service):
    name = "autoscaling"

    def __init__(self, store: SqliteStore):
        self.store = store

    def DescribeAutoScalingGroups(self, ctx: RequestContext, params: dict) -> dict:
        groups = [auto_scaling_group(r, ctx.account, ctx.region) for r in node_groups(self.store, ctx.account, ctx.region)]
        wanted = params.get("AutoScalingGroupNames")
        if wanted:
            groups = [g for g in groups if g["AutoScalingGroupName"] in wanted]
        groups = match_filters(
            groups,
            params.get("Filters"),
            {TAG_PREFIX: None, "tag-key": "Tags[].Key", "tag-value": "Tags[].Value"},
        )
        groups.sort(key=lambda g: g["AutoScalingGroupName"])
        page, following = offset_page(
            groups, params.get("NextToken"), params.get("MaxRecords") or 50,
            lambda token: AwsError("InvalidNextToken", "The token is invalid."),
        )
        result: dict = {"AutoScalingGroups": page}
        if following:
            result["NextToken"] = following
        return result
