"""EC2 instances and Auto Scaling groups as tools see them: views over the node groups' recorded instances.

A node group's reconciler records each instance (id, zone, subnet, address, type) in the group's
status; these functions show them the way EC2 DescribeInstances and Auto Scaling
DescribeAutoScalingGroups do, tags included (eks:cluster-name, eks:nodegroup-name, ...).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from ...core.kinds import NODEGROUP
from ...core.regions import partition
from ...store import Record, SqliteStore
from .instance_types import CATALOG
from .network import all_subnets, default_vpc
from .nodes import ami_id


def asg_name(record: Record) -> str:
    return record.spec["resources"]["autoScalingGroups"][0]["name"]


def group_tags(record: Record) -> dict[str, str]:
    spec = record.spec
    return {
        **(spec.get("tags") or {}),
        "eks:cluster-name": spec["clusterName"],
        "eks:nodegroup-name": spec["nodegroupName"],
        f"kubernetes.io/cluster/{spec['clusterName']}": "owned",
        f"k8s.io/cluster-autoscaler/{spec['clusterName']}": "owned",
        "k8s.io/cluster-autoscaler/enabled": "true",
    }


def node_groups(store: SqliteStore, account: str, region: str) -> list[Record]:
    return [r for r in store.list(account, region, NODEGROUP) if not r.deleting or r.status.get("instances")]


# What every instance Moorage simulates has in common (EBS-backed, ENA, HVM on the Nitro hypervisor).
NITRO_INSTANCE_FIELDS = {
    "Hypervisor": "xen",
    "VirtualizationType": "hvm",
    "RootDeviceType": "ebs",
    "RootDeviceName": "/dev/xvda",
    "EbsOptimized": True,
    "EnaSupport": True,
    "Monitoring": {"State": "disabled"},
}


def with_network_interface(view: dict, account: str) -> dict:
    """The view with its primary network interface (device 0 in its subnet, its address and groups), as
    DescribeInstances shows it; an instance with no subnet (terminated) has none."""
    if not view.get("SubnetId"):
        return view
    digest = hashlib.sha256(view["InstanceId"].encode()).hexdigest()
    address = {k: view[k] for k in ("PrivateIpAddress", "PrivateDnsName") if view.get(k)}
    view["NetworkInterfaces"] = [{
        "NetworkInterfaceId": f"eni-{digest[:17]}",
        "SubnetId": view["SubnetId"],
        "VpcId": view["VpcId"],
        "OwnerId": account,
        "Description": "",
        "Status": "in-use",
        "InterfaceType": "interface",
        "MacAddress": "02:" + ":".join(digest[17 + 2 * i:19 + 2 * i] for i in range(5)),
        "SourceDestCheck": True,
        "Groups": [dict(g) for g in view.get("SecurityGroups", [])],
        "Attachment": {"AttachmentId": f"eni-attach-{digest[40:57]}", "AttachTime": view["LaunchTime"], "DeleteOnTermination": True,
                       "DeviceIndex": 0, "NetworkCardIndex": 0, "Status": "attached"},
        "PrivateIpAddresses": [{"Primary": True, **address}] if address else [],
        "Ipv6Addresses": [],
        **address,
    }]
    view["SourceDestCheck"] = True
    return view


def launch_template_facts(record: Record, instance: dict) -> dict:
    """What the launch template version the instance was launched from set (services/eks/nodegroup_launch_templates.py)."""
    template = record.spec.get("launchTemplate")
    if not template:
        return {}
    versions = record.spec.get("_launchTemplateVersions") or {}
    return versions.get(instance.get("launchTemplateVersion") or template["version"]) or {}


def instance_view(record: Record, instance: dict, account: str, region: str, vpc_id: str | None = None) -> dict:
    instance_type = CATALOG.get(instance["instanceType"])
    facts = launch_template_facts(record, instance)
    tags = {"Name": f"{record.spec['clusterName']}-{record.spec['nodegroupName']}-Node", **facts.get("instanceTags", {}),
            **group_tags(record), "aws:autoscaling:groupName": asg_name(record),
            **record.spec.get("_instanceTags", {}).get(instance["instanceId"], {})}
    template = record.spec.get("launchTemplate")
    extra = {"SecurityGroups": [dict(g) for g in facts.get("securityGroups", [])]} if facts.get("securityGroups") else {}
    if template:  # the tags EC2 puts on every instance launched from a template
        tags["aws:ec2launchtemplate:id"] = template["id"]
        tags["aws:ec2launchtemplate:version"] = instance.get("launchTemplateVersion") or template["version"]
    return with_network_interface({
        **extra,
        "InstanceId": instance["instanceId"],
        "ImageId": facts.get("imageId") or ami_id(region, record.spec["amiType"], record.spec.get("releaseVersion")),
        "InstanceType": instance["instanceType"],
        "LaunchTime": datetime.fromtimestamp(instance["launchedAt"], timezone.utc),
        "Placement": {"AvailabilityZone": instance["zone"], "Tenancy": "default", "GroupName": ""},
        "PrivateDnsName": instance["nodeName"],
        "PrivateIpAddress": instance["privateIp"],
        "PublicDnsName": "",
        "State": {"Code": 16, "Name": "running"},
        "StateTransitionReason": "",
        "SubnetId": instance["subnetId"],
        "VpcId": vpc_id or default_vpc(account, region)["VpcId"],
        "Architecture": instance_type.arch if instance_type else "x86_64",
        **NITRO_INSTANCE_FIELDS,
        "AmiLaunchIndex": 0,
        "InstanceLifecycle": "spot" if record.spec.get("capacityType") == "SPOT" else None,
        "IamInstanceProfile": {
            "Arn": f"arn:{partition(region)}:iam::{account}:instance-profile/eks-{record.spec['_id']}",
            "Id": "AIPA" + record.spec["_id"].replace("-", "").upper()[:17],
        },
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }, account)


def instances(store: SqliteStore, account: str, region: str) -> list[dict]:
    vpc_of = {s["SubnetId"]: s["VpcId"] for s in all_subnets(store, account, region)}  # an instance is in its subnet's VPC
    return [
        instance_view(record, instance, account, region, vpc_of.get(instance["subnetId"]))
        for record in node_groups(store, account, region)
        for instance in record.status.get("instances", [])
    ]


def auto_scaling_group(record: Record, account: str, region: str) -> dict:
    spec = record.spec
    name = asg_name(record)
    zones = sorted({i["zone"] for i in record.status.get("instances", [])}) or []
    return {
        "AutoScalingGroupName": name,
        "AutoScalingGroupARN": (
            f"arn:{partition(region)}:autoscaling:{region}:{account}:autoScalingGroup:{spec['_id']}:autoScalingGroupName/{name}"
        ),
        "MixedInstancesPolicy": None,
        "MinSize": spec["scalingConfig"]["minSize"],
        "MaxSize": spec["scalingConfig"]["maxSize"],
        "DesiredCapacity": spec["scalingConfig"]["desiredSize"],
        "DefaultCooldown": 300,
        "AvailabilityZones": zones,
        "LoadBalancerNames": [],
        "TargetGroupARNs": [],
        "HealthCheckType": "EC2",
        "HealthCheckGracePeriod": 15,
        "Instances": [
            {
                "InstanceId": i["instanceId"],
                "InstanceType": i["instanceType"],
                "AvailabilityZone": i["zone"],
                "LifecycleState": "InService",
                "HealthStatus": "Healthy",
                "ProtectedFromScaleIn": False,
            }
            for i in record.status.get("instances", [])
        ],
        "CreatedTime": datetime.fromtimestamp(spec["createdAt"], timezone.utc),
        "SuspendedProcesses": [],
        "VPCZoneIdentifier": ",".join(spec["subnets"]),
        "EnabledMetrics": [],
        "Tags": [
            {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": True}
            for k, v in sorted(group_tags(record).items())
        ],
        "TerminationPolicies": ["AllocationStrategy", "OldestLaunchTemplate", "OldestInstance"],
        "NewInstancesProtectedFromScaleIn": False,
        "ServiceLinkedRoleARN": f"arn:{partition(region)}:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        "CapacityRebalance": spec.get("capacityType") == "SPOT",
    }
