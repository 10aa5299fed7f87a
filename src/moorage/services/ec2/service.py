"""EC2 operations Moorage answers (ec2 protocol, parsed and serialized from botocore's model)."""

from __future__ import annotations

from ...gateway.protocols.errors import AwsError
from ...store import SqliteStore
from ..base import RequestContext, Service, match_filters, offset_page
from ..regions import availability_zones
from .instance_types import CATALOG, INSTANCE_TYPE_FILTERS, instance_type_info
from .instances import instances
from .network import default_security_group, default_subnets, default_vpc


def _invalid_token(token: str) -> AwsError:
    return AwsError("InvalidParameterValue", f"Value ( {token} ) for parameter NextToken is invalid. The token is invalid.")


def _select(items: list[dict], id_field: str, ids: list[str] | None, not_found_code: str, noun: str) -> list[dict]:
    if not ids:
        return items
    by_id = {item[id_field]: item for item in items}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise AwsError(not_found_code, f"The {noun} '{missing[0]}' does not exist")
    return [by_id[i] for i in dict.fromkeys(ids)]


class Ec2Service(Service):
    name = "ec2"

    def __init__(self, store: SqliteStore | None = None):
        self.store = store

    def DescribeInstances(self, ctx: RequestContext, params: dict) -> dict:
        found = instances(self.store, ctx.account, ctx.region) if self.store is not None else []
        wanted = params.get("InstanceIds")
        if wanted:
            known = {i["InstanceId"] for i in found}
            missing = [i for i in wanted if i not in known]
            if missing:
                noun = "instance ID" if len(missing) == 1 else "instance IDs"
                verb = "does not exist" if len(missing) == 1 else "do not exist"
                raise AwsError("InvalidInstanceID.NotFound", f"The {noun} '{', '.join(missing)}' {verb}")
            found = [i for i in found if i["InstanceId"] in set(wanted)]
        found = match_filters(
            found,
            params.get("Filters"),
            {
                "instance-id": lambda i: i["InstanceId"],
                "instance-state-name": lambda i: i["State"]["Name"],
                "instance-state-code": lambda i: i["State"]["Code"],
                "instance-type": lambda i: i["InstanceType"],
                "availability-zone": lambda i: i["Placement"]["AvailabilityZone"],
                "private-ip-address": lambda i: i["PrivateIpAddress"],
                "private-dns-name": lambda i: i["PrivateDnsName"],
                "subnet-id": lambda i: i["SubnetId"],
                "vpc-id": lambda i: i["VpcId"],
                "image-id": lambda i: i["ImageId"],
                "architecture": lambda i: i["Architecture"],
                "tag-key": lambda i: [t["Key"] for t in i["Tags"]],
                "tag-value": lambda i: [t["Value"] for t in i["Tags"]],
            },
        )
        found.sort(key=lambda i: (i["LaunchTime"], i["InstanceId"]))
        page, following = offset_page(found, params.get("NextToken"), params.get("MaxResults") or max(len(found), 1), _invalid_token)
        reservations = [
            {"ReservationId": "r-" + i["InstanceId"][2:], "OwnerId": ctx.account, "Groups": [], "Instances": [i]}
            for i in page
        ]
        result: dict = {"Reservations": reservations}
        if following:
            result["NextToken"] = following
        return result

    def DescribeAvailabilityZones(self, ctx: RequestContext, params: dict) -> dict:
        zones = [
            {
                "ZoneName": name,
                "ZoneId": zone_id,
                "State": "available",
                "RegionName": ctx.region,
                "GroupName": ctx.region,
                "NetworkBorderGroup": ctx.region,
                "OptInStatus": "opt-in-not-required",
                "ZoneType": "availability-zone",
                "Messages": [],
            }
            for name, zone_id in availability_zones(ctx.region)
        ]
        names = params.get("ZoneNames")
        if names:
            zones = _select(zones, "ZoneName", names, "InvalidParameterValue", "zone")
        if params.get("ZoneIds"):
            zones = _select(zones, "ZoneId", params["ZoneIds"], "InvalidParameterValue", "zone")
        zones = match_filters(
            zones,
            params.get("Filters"),
            {
                "zone-name": lambda z: z["ZoneName"],
                "zone-id": lambda z: z["ZoneId"],
                "state": lambda z: z["State"],
                "region-name": lambda z: z["RegionName"],
                "zone-type": lambda z: z["ZoneType"],
                "opt-in-status": lambda z: z["OptInStatus"],
                "group-name": lambda z: z["GroupName"],
            },
        )
        return {"AvailabilityZones": zones}

    def DescribeVpcs(self, ctx: RequestContext, params: dict) -> dict:
        vpcs = _select([default_vpc(ctx.account, ctx.region)], "VpcId", params.get("VpcIds"), "InvalidVpcID.NotFound", "vpc ID")
        vpcs = match_filters(
            vpcs,
            params.get("Filters"),
            {
                "vpc-id": lambda v: v["VpcId"],
                "is-default": lambda v: v["IsDefault"],
                "cidr": lambda v: v["CidrBlock"],
                "cidr-block-association.cidr-block": lambda v: [a["CidrBlock"] for a in v["CidrBlockAssociationSet"]],
                "state": lambda v: v["State"],
                "owner-id": lambda v: v["OwnerId"],
                "dhcp-options-id": lambda v: v["DhcpOptionsId"],
            },
        )
        return {"Vpcs": vpcs}

    def DescribeSubnets(self, ctx: RequestContext, params: dict) -> dict:
        subnets = _select(
            default_subnets(ctx.account, ctx.region), "SubnetId", params.get("SubnetIds"), "InvalidSubnetID.NotFound", "subnet ID"
        )
        subnets = match_filters(
            subnets,
            params.get("Filters"),
            {
                "subnet-id": lambda s: s["SubnetId"],
                "vpc-id": lambda s: s["VpcId"],
                "availability-zone": lambda s: s["AvailabilityZone"],
                "availability-zone-id": lambda s: s["AvailabilityZoneId"],
                "default-for-az": lambda s: s["DefaultForAz"],
                "defaultForAz": lambda s: s["DefaultForAz"],
                "cidr-block": lambda s: s["CidrBlock"],
                "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
                "state": lambda s: s["State"],
                "owner-id": lambda s: s["OwnerId"],
                "subnet-arn": lambda s: s["SubnetArn"],
            },
        )
        return {"Subnets": subnets}

    def DescribeSecurityGroups(self, ctx: RequestContext, params: dict) -> dict:
        groups = [default_security_group(ctx.account, ctx.region)]
        groups = _select(groups, "GroupId", params.get("GroupIds"), "InvalidGroup.NotFound", "security group")
        names = params.get("GroupNames")
        if names:
            groups = _select(groups, "GroupName", names, "InvalidGroup.NotFound", "security group")
        groups = match_filters(
            groups,
            params.get("Filters"),
            {
                "group-id": lambda g: g["GroupId"],
                "group-name": lambda g: g["GroupName"],
                "vpc-id": lambda g: g["VpcId"],
                "description": lambda g: g["Description"],
                "owner-id": lambda g: g["OwnerId"],
            },
        )
        return {"SecurityGroups": groups}

    def DescribeInstanceTypes(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("DryRun"):
            raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", status=412)
        names = params.get("InstanceTypes")
        if names:
            missing = [name for name in dict.fromkeys(names) if name not in CATALOG]
            if missing:
                raise AwsError(
                    "InvalidInstanceType", f"The following supplied instance types do not exist: [{', '.join(missing)}]"
                )
            selected = [CATALOG[name] for name in dict.fromkeys(names)]
        else:
            selected = list(CATALOG.values())
        infos = match_filters([instance_type_info(it) for it in selected], params.get("Filters"), INSTANCE_TYPE_FILTERS)

        # Pages of MaxResults (5-100, checked against the model by the gateway), 100 when not given.
        page, following = offset_page(infos, params.get("NextToken"), params.get("MaxResults") or 100, _invalid_token)
        result: dict = {"InstanceTypes": page}
        if following:
            result["NextToken"] = following
        return result
