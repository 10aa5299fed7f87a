"""EC2 operations Moorage answers (ec2 protocol, parsed and serialized from botocore's model)."""

from __future__ import annotations

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.regions import availability_zones
from ...store import SqliteStore
from ..base import Service, offset_page
from .attachment_limits import with_ebs_attachment_limits
from .filters import RESERVATION_FIELDS, filtered
from .instance_profiles import pass_instance_profile_role
from .instance_types import CATALOG, instance_type_info
from .internet_gateways import InternetGatewayOperations
from .key_pairs import KeyPairOperations
from .launch_templates import LaunchTemplateOperations, with_launch_template
from .launched_instances import launched_instances, reservation_ids, run_instances, terminate_instances
from .network_ops import invalid_token as _invalid_token
from .network_tags import NetworkTagOperations
from .nodegroup_instances import instances
from .route_tables import RouteTableOperations
from .security_groups import SecurityGroupOperations
from .snapshots import SnapshotOperations
from .subnets import SubnetOperations
from .volume_attachments import VolumeAttachmentOperations
from .volume_modifications import VolumeModificationOperations
from .volumes import VolumeOperations, block_device_mappings
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
    NetworkTagOperations, KeyPairOperations, LaunchTemplateOperations, VolumeOperations, VolumeAttachmentOperations,
    VolumeModificationOperations, SnapshotOperations, Service,
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
        # A launched instance is in the reservation RunInstances answered; a node group's, in its own.
        launched_in = reservation_ids(self.store, ctx.account, ctx.region)
        reservation_of = {i["InstanceId"]: launched_in.get(i["InstanceId"], "r-" + i["InstanceId"][2:]) for i in found}
        # Reservation fields (owner-id, reservation-id) are filtered as if they were the instance's.
        on_reservation = [{**i, "OwnerId": ctx.account, "ReservationId": reservation_of[i["InstanceId"]]} for i in found]
        found = [{k: v for k, v in i.items() if k not in RESERVATION_FIELDS}
                 for i in filtered("DescribeInstances", on_reservation, params.get("Filters"))]
        found.sort(key=lambda i: (i["LaunchTime"], reservation_of[i["InstanceId"]], i["InstanceId"]))
        running = {i["InstanceId"] for i in found if i["State"]["Name"] == "running"}
        volumes = block_device_mappings(self.store, ctx.account, ctx.region, running)
        found = [{**i, "BlockDeviceMappings": volumes.get(i["InstanceId"], [])} for i in found]
        page, following = offset_page(found, params.get("NextToken"), params.get("MaxResults") or max(len(found), 1), _invalid_token)
        reservations: list[dict] = []
        for instance in page:  # the instances of one reservation, together, as EC2 lists them
            reservation = reservation_of[instance["InstanceId"]]
            if not reservations or reservations[-1]["ReservationId"] != reservation:
                reservations.append({"ReservationId": reservation, "OwnerId": ctx.account, "Groups": [], "Instances": []})
            reservations[-1]["Instances"].append(instance)
        result: dict = {"Reservations": reservations}
        if following:
            result["NextToken"] = following
        return result

    def RunInstances(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("LaunchTemplate"):  # the template's instance profile is passed as much as a named one
            params = with_launch_template(self.store, ctx.account, ctx.region, params)
        pass_instance_profile_role(self.store, ctx, params)
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
        zones = filtered("DescribeAvailabilityZones", zones, params.get("Filters"))
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
        infos = filtered("DescribeInstanceTypes", [with_ebs_attachment_limits(instance_type_info(it)) for it in selected],
                         params.get("Filters"))

        # Pages of MaxResults (5-100, checked against the model by the gateway), 100 when not given.
        page, following = offset_page(infos, params.get("NextToken"), params.get("MaxResults") or 100, _invalid_token)
        result: dict = {"InstanceTypes": page}
        if following:
            result["NextToken"] = following
        return result

    def GetLaunchTemplateData(self, ctx: RequestContext, params: dict) -> dict:
        """An instance's configuration as launch-template data (what a template would need to launch it again)."""
        found = instances(self.store, ctx.account, ctx.region) + launched_instances(self.store, ctx.account, ctx.region)
        instance = next((i for i in found if i["InstanceId"] == params["InstanceId"]), None)
        if instance is None:
            raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{params['InstanceId']}' does not exist")
        placement = instance["Placement"]
        data: dict = {
            "ImageId": instance["ImageId"],
            "InstanceType": instance["InstanceType"],
            "EbsOptimized": instance["EbsOptimized"],
            "Monitoring": {"Enabled": instance["Monitoring"]["State"] == "enabled"},
            "Placement": {"AvailabilityZone": placement["AvailabilityZone"], "GroupName": placement["GroupName"],
                          "Tenancy": placement["Tenancy"]},
            "DisableApiTermination": False,
            "InstanceInitiatedShutdownBehavior": "stop",
        }
        if instance.get("SubnetId"):
            data["NetworkInterfaces"] = [{
                "DeviceIndex": 0, "SubnetId": instance["SubnetId"], "DeleteOnTermination": True,
                "Groups": [g["GroupId"] for g in instance.get("SecurityGroups", [])],
                **({"PrivateIpAddress": instance["PrivateIpAddress"]} if instance.get("PrivateIpAddress") else {}),
            }]
        if instance.get("KeyName"):
            data["KeyName"] = instance["KeyName"]
        if instance.get("IamInstanceProfile"):
            data["IamInstanceProfile"] = {"Arn": instance["IamInstanceProfile"]["Arn"]}
        tags = [t for t in instance["Tags"] if not t["Key"].startswith("aws:")]
        if tags:
            data["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        return {"LaunchTemplateData": data}
