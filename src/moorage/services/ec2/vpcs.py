"""EC2 VPCs: CreateVpc (with its main route table and default security group, in one
transaction), DeleteVpc, DescribeVpcs.
"""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import INTERNET_GATEWAY, ROUTE_TABLE, SECURITY_GROUP, SUBNET, VPC
from ...store import Conflict
from .filters import filtered
from .network import (
    attachments,
    check_vpc_cidr,
    main_association,
    new_resource_id,
    security_group_spec,
    vpc_spec,
)
from .network_ops import (
    MAX_VPCS_PER_REGION,
    NetworkStore,
    dependency_violation,
    page,
    select,
    tags_to_create,
)


class VpcOperations(NetworkStore):
    # --- VPCs ---------------------------------------------------------------------------------------

    def CreateVpc(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("AmazonProvidedIpv6CidrBlock") or params.get("Ipv6CidrBlock") or params.get("Ipv6IpamPoolId"):
            raise AwsError("InvalidParameterValue", "Moorage does not support IPv6 VPCs yet; create an IPv4 VPC.")
        if "CidrBlock" not in params:
            raise AwsError("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
        cidr = check_vpc_cidr(params["CidrBlock"])
        tenancy = params.get("InstanceTenancy", "default")
        if tenancy not in ("default", "dedicated"):
            raise AwsError("InvalidParameterValue", f"Value ({tenancy}) for parameter instanceTenancy is invalid.")
        tags = tags_to_create(params, VPC)
        if len(self._all(ctx, VPC)) >= MAX_VPCS_PER_REGION:
            raise AwsError("VpcLimitExceeded", "The maximum number of VPCs has been reached.")
        vpc_id = new_resource_id("vpc")
        vpc = vpc_spec(ctx.account, ctx.region, vpc_id, str(cidr), tags, tenancy=tenancy)
        # Every VPC comes with a main route table (local route only) and a default security group,
        # written in the VPC's own transaction: a crash never leaves a VPC without them.
        table_id, group_id = new_resource_id("rtb"), new_resource_id("sg")
        self.store.create_all([
            (self._key(ctx, VPC, vpc_id), vpc),
            (self._key(ctx, ROUTE_TABLE, table_id), self._route_table(ctx, table_id, vpc, [], main=True)),
            (self._key(ctx, SECURITY_GROUP, group_id),
             security_group_spec(ctx.account, ctx.region, group_id, "default", "default VPC security group", vpc_id, [])),
        ])
        return {"Vpc": vpc}

    def DeleteVpc(self, ctx: RequestContext, params: dict) -> dict:
        vpc_id = params["VpcId"]
        self._require(ctx, VPC, vpc_id)
        in_vpc = lambda items: [i for i in items if i["VpcId"] == vpc_id]  # noqa: E731
        tables = in_vpc(self._all(ctx, ROUTE_TABLE))
        groups = in_vpc(self._all(ctx, SECURITY_GROUP))
        if (
            in_vpc(self._all(ctx, SUBNET))
            or vpc_id in attachments(self._all(ctx, INTERNET_GATEWAY)).values()
            or any(not main_association(t) for t in tables)
            or any(g["GroupName"] != "default" for g in groups)
        ):
            raise dependency_violation("vpc", vpc_id)
        # The VPC goes with its main route table and default security group, in one transaction.
        keys = [self._key(ctx, ROUTE_TABLE, t["RouteTableId"]) for t in tables]
        keys += [self._key(ctx, SECURITY_GROUP, g["GroupId"]) for g in groups]
        keys.append(self._key(ctx, VPC, vpc_id))
        while True:
            try:
                self.store.remove_all([r for r in map(self.store.get, keys) if r is not None])
                return {}
            except Conflict:
                continue

    def DescribeVpcs(self, ctx: RequestContext, params: dict) -> dict:
        vpcs = select(self._all(ctx, VPC), params.get("VpcIds"), "VpcId", VPC)
        vpcs = filtered("DescribeVpcs", vpcs, params.get("Filters"))
        return page(params, vpcs, "Vpcs")
