"""EC2 subnets: CreateSubnet (zone choice, CIDR checks), DeleteSubnet, DescribeSubnets,
ModifySubnetAttribute.
"""

from __future__ import annotations

import ipaddress

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import ROUTE_TABLE, SUBNET, VPC
from ...core.regions import availability_zones
from .filters import filtered
from .network import (
    check_subnet_cidr,
    new_resource_id,
    subnet_spec,
)
from .network_ops import (
    MAX_SUBNETS_PER_VPC,
    SUBNET_USERS,
    NetworkStore,
    dependency_violation,
    page,
    select,
    tags_to_create,
)


class SubnetOperations(NetworkStore):
    # --- subnets ------------------------------------------------------------------------------------

    def _zone(self, ctx: RequestContext, params: dict, siblings: list[dict]) -> tuple[str, str]:
        zones = availability_zones(ctx.region)
        if params.get("AvailabilityZone") and params.get("AvailabilityZoneId"):
            raise AwsError(
                "InvalidParameterCombination", "Only one of availabilityZone or availabilityZoneId may be specified."
            )
        for member, index, parameter in (("AvailabilityZone", 0, "availabilityZone"), ("AvailabilityZoneId", 1, "availabilityZoneId")):
            wanted = params.get(member)
            if wanted:
                zone = next((z for z in zones if z[index] == wanted), None)
                if zone is None:
                    raise AwsError(
                        "InvalidParameterValue",
                        f"Value ({wanted}) for parameter {parameter} is invalid. Subnets can currently only be created "
                        f"in the following availability zones: {', '.join(z[index] for z in zones)}.",
                    )
                return zone
        # No zone given: EC2 picks one; we pick the VPC's least-used zone, so subnets spread.
        used = [s["AvailabilityZone"] for s in siblings]
        return min(zones, key=lambda z: (used.count(z[0]), z[0]))

    def CreateSubnet(self, ctx: RequestContext, params: dict) -> dict:
        vpc = self._require(ctx, VPC, params["VpcId"])
        if params.get("Ipv6Native") or params.get("Ipv6CidrBlock"):
            raise AwsError("InvalidParameterValue", "Moorage does not support IPv6 subnets yet; give an IPv4 CidrBlock.")
        if "CidrBlock" not in params:
            raise AwsError("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
        siblings = [s for s in self._all(ctx, SUBNET) if s["VpcId"] == vpc["VpcId"]]
        cidr = check_subnet_cidr(params["CidrBlock"], vpc["CidrBlock"], (s["CidrBlock"] for s in siblings))
        zone = self._zone(ctx, params, siblings)
        tags = tags_to_create(params, SUBNET)
        if len(siblings) >= MAX_SUBNETS_PER_VPC:
            raise AwsError("SubnetLimitExceeded", f"The maximum number of subnets for VPC {vpc['VpcId']} has been reached.")
        subnet_id = new_resource_id("subnet")
        subnet = subnet_spec(ctx.account, ctx.region, subnet_id, vpc["VpcId"], str(cidr), zone, tags)
        self._create_in_vpc(
            ctx, SUBNET, subnet, subnet_id, vpc["VpcId"],
            lambda other: other["VpcId"] == vpc["VpcId"] and ipaddress.IPv4Network(other["CidrBlock"]).overlaps(cidr),
            AwsError("InvalidSubnet.Conflict", f"The CIDR '{params['CidrBlock']}' conflicts with another subnet"),
        )
        return {"Subnet": subnet}

    def _subnet_in_use(self, ctx: RequestContext, subnet_id: str) -> bool:
        """Whether EKS clusters, node groups, Fargate profiles or instances have network interfaces in it."""
        return any(
            subnet_id in subnets_of(record)
            for kind, subnets_of in SUBNET_USERS.items()
            for record in self.store.list(ctx.account, ctx.region, kind)
        )

    def DeleteSubnet(self, ctx: RequestContext, params: dict) -> dict:
        subnet = self._require(ctx, SUBNET, params["SubnetId"])
        if subnet["DefaultForAz"] or self._subnet_in_use(ctx, subnet["SubnetId"]):
            raise dependency_violation("subnet", subnet["SubnetId"])
        # Its explicit route-table association goes with it, as on AWS.
        for table in self._all(ctx, ROUTE_TABLE):
            if any(a.get("SubnetId") == subnet["SubnetId"] for a in table["Associations"]):
                self._change(ctx, ROUTE_TABLE, table["RouteTableId"], lambda t: t.update(
                    Associations=[a for a in t["Associations"] if a.get("SubnetId") != subnet["SubnetId"]]
                ))
        self._delete(ctx, SUBNET, subnet["SubnetId"])
        return {}

    def DescribeSubnets(self, ctx: RequestContext, params: dict) -> dict:
        subnets = select(self._all(ctx, SUBNET), params.get("SubnetIds"), "SubnetId", SUBNET)
        subnets = filtered("DescribeSubnets", subnets, params.get("Filters"))
        return page(params, subnets, "Subnets")

    def ModifySubnetAttribute(self, ctx: RequestContext, params: dict) -> dict:
        subnet_id = params["SubnetId"]
        if (params.get("AssignIpv6AddressOnCreation") or {}).get("Value"):
            raise AwsError(
                "InvalidParameterValue",
                f"Invalid value 'true' for assignIpv6AddressOnCreation. Cannot set assignIpv6AddressOnCreation to true "
                f"unless the subnet ({subnet_id}) has an IPv6 CIDR block associated with it.",
            )

        def change(subnet: dict) -> None:
            for member in ("MapPublicIpOnLaunch", "EnableDns64", "MapCustomerOwnedIpOnLaunch"):
                if member in params:
                    subnet[member] = bool(params[member].get("Value"))
            dns = subnet["PrivateDnsNameOptionsOnLaunch"]
            if "PrivateDnsHostnameTypeOnLaunch" in params:
                dns["HostnameType"] = params["PrivateDnsHostnameTypeOnLaunch"]
            for member, field in (("EnableResourceNameDnsARecordOnLaunch", "EnableResourceNameDnsARecord"),
                                  ("EnableResourceNameDnsAAAARecordOnLaunch", "EnableResourceNameDnsAAAARecord")):
                if member in params:
                    dns[field] = bool(params[member].get("Value"))

        self._change(ctx, SUBNET, subnet_id, change)
        return {}
