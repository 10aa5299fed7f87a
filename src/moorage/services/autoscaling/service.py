"""Auto Scaling operations (query protocol)."""

from __future__ import annotations

import base64

from ...gateway.protocols.errors import AwsError
from ...store import SqliteStore
from ..base import RequestContext, Service, match_filters
from ..ec2.instances import auto_scaling_group, node_groups


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
            {"tag-key": lambda g: [t["Key"] for t in g["Tags"]], "tag-value": lambda g: [t["Value"] for t in g["Tags"]]},
        )
        groups.sort(key=lambda g: g["AutoScalingGroupName"])
        start = 0
        if params.get("NextToken"):
            try:
                start = int(base64.b64decode(params["NextToken"]).decode())
            except ValueError:
                raise AwsError("InvalidNextToken", "The token is invalid.") from None
        limit = params.get("MaxRecords") or 50
        page = groups[start : start + limit]
        result: dict = {"AutoScalingGroups": page}
        if start + limit < len(groups):
            result["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return result
