"""EC2 operations Moorage answers (ec2 protocol, parsed and serialized from botocore's model)."""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.regions import availability_zones
from ...store import SqliteStore
from ..base import Service, match_filters, offset_page
from .attachment_limits import with_ebs_attachment_limits
from .instance_types import CATALOG, INSTANCE_TYPE_FILTERS, instance_type_info
from .internet_gateways import InternetGatewayOperations
from .launched_instances import launched_instances, run_instances, terminate_instances
from .network_ops import invalid_token as _invalid_token
from .network_tags import NetworkTagOperations
from .nodegroup_instances import instances
from .route_tables import RouteTableOperations
from .security_groups import SecurityGroupOperations
from .snapshots import SnapshotOperations
from .volume_attachments import VolumeAttachmentOperations
from .volume_modifications import VolumeModificationOperations
from .volumes import VolumeOperations, block_device_mappings
from .subnets import SubnetOperations
from .vpcs import VpcOperations


def _select(items: list[dict], id_field: str, ids: list[str] | None, not_found_code: str, noun: str) -> list[dict]:
    if not ids:
        return items
    by_id = {item[id_field]: item for item in items}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise AwsError(not_found_code, f"The {noun} '{missing[0]}' does not exist")
    return [by_id[i] for i in dict.fromkeys(ids)]


class Ec2Service(
    VpcOperations, SubnetOperations, SecurityGroupOperations, InternetGatewayOperations, RouteTableOperations,
    NetworkTagOperations, VolumeOperations, VolumeAttachmentOperations, VolumeModificationOperations,
    SnapshotOperations, Service,
):
    name = "ec2"

    def __init__(self, store: SqliteStore | None = None):
        self.store = store

    def handler(self, operation: str):
        method = super().handler(operation)
        if method is None:
            return None

        def checked(ctx: RequestContext, params: dict) -> dict:
            # DryRun: the caller may call the operation (Moorage authorises every signed caller).
            if params.get("DryRun"):
                raise AwsError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", status=412)
            return method(ctx, params)

        return checked

    def DescribeInstances(self, ctx: RequestContext, params: dict) -> dict:
        found = instances(self.store, ctx.account, ctx.region) + launched_instances(self.store, ctx.account, ctx.region)
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
                # Pending and terminated instances have no address, subnet or VPC: they match no value.
                "private-ip-address": lambda i: i.get("PrivateIpAddress"),
                "private-dns-name": lambda i: i["PrivateDnsName"],
                "subnet-id": lambda i: i.get("SubnetId"),
                "vpc-id": lambda i: i.get("VpcId"),
                "image-id": lambda i: i["ImageId"],
                "architecture": lambda i: i["Architecture"],
                "tag-key": lambda i: [t["Key"] for t in i["Tags"]],
                "tag-value": lambda i: [t["Value"] for t in i["Tags"]],
            },
        )
        found.sort(key=lambda i: (i["LaunchTime"], i["InstanceId"]))
        running = {i["InstanceId"] for i in found if i["State"]["Name"] == "running"}
        volumes = block_device_mappings(self.store, ctx.account, ctx.region, running)
        found = [{**i, "BlockDeviceMappings": volumes.get(i["InstanceId"], [])} for i in found]
        page, following = offset_page(found, params.get("NextToken"), params.get("MaxResults") or max(len(found), 1), _invalid_token)
        reservations = [
            {"ReservationId": "r-" + i["InstanceId"][2:], "OwnerId": ctx.account, "Groups": [], "Instances": [i]}
            for i in page
        ]
        result: dict = {"Reservations": reservations}
        if following:
            result["NextToken"] = following
        return result

    def RunInstances(self, ctx: RequestContext, params: dict) -> dict:
        return run_instances(self.store, ctx, params)

    def TerminateInstances(self, ctx: RequestContext, params: dict) -> dict:
        return terminate_instances(self.store, ctx, params)

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

    def DescribeInstanceTypes(self, ctx: RequestContext, params: dict) -> dict:
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
        infos = match_filters([with_ebs_attachment_limits(instance_type_info(it)) for it in selected], params.get("Filters"), INSTANCE_TYPE_FILTERS)

        # Pages of MaxResults (5-100, checked against the model by the gateway), 100 when not given.
        page, following = offset_page(infos, params.get("NextToken"), params.get("MaxResults") or 100, _invalid_token)
        result: dict = {"InstanceTypes": page}
        if following:
            result["NextToken"] = following
        return result
