"""Amazon EC2 (service prefix ec2) as the Service Authorization Reference tables it: "Actions,
resources, and condition keys for Amazon EC2". Row grammar: __init__.py."""

_TAGS = {"aws:ResourceTag/": "tags", "ec2:ResourceTag/": "tags"}

RESOURCE_TYPES = {
    "instance": {
        "arn": "arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}",
        "finder": "ec2-instance",
        "keys": {**_TAGS, "ec2:InstanceType": "InstanceType", "ec2:AvailabilityZone": "AvailabilityZone", "ec2:Tenancy": "Tenancy",
                 "ec2:Vpc": "Vpc", "ec2:InstanceProfile": "InstanceProfile", "ec2:InstanceID": "InstanceID"},
    },
    "vpc": {
        "arn": "arn:${Partition}:ec2:${Region}:${Account}:vpc/${VpcId}",
        "finder": "ec2-vpc",
        "keys": {**_TAGS, "ec2:VpcID": "id", "ec2:Tenancy": "Tenancy"},
    },
    "subnet": {
        "arn": "arn:${Partition}:ec2:${Region}:${Account}:subnet/${SubnetId}",
        "finder": "ec2-subnet",
        "keys": {**_TAGS, "ec2:SubnetID": "id", "ec2:Vpc": "Vpc", "ec2:AvailabilityZone": "AvailabilityZone"},
    },
    "security-group": {
        "arn": "arn:${Partition}:ec2:${Region}:${Account}:security-group/${SecurityGroupId}",
        "finder": "ec2-security-group",
        "keys": {**_TAGS, "ec2:SecurityGroupID": "id", "ec2:Vpc": "Vpc"},
    },
    "internet-gateway": {
        "arn": "arn:${Partition}:ec2:${Region}:${Account}:internet-gateway/${InternetGatewayId}",
        "finder": "ec2-internet-gateway",
        "keys": {**_TAGS, "ec2:InternetGatewayID": "id"},
    },
    "route-table": {
        "arn": "arn:${Partition}:ec2:${Region}:${Account}:route-table/${RouteTableId}",
        "finder": "ec2-route-table",
        "keys": {**_TAGS, "ec2:RouteTableID": "id", "ec2:Vpc": "Vpc"},
    },
    "image": {"arn": "arn:${Partition}:ec2:${Region}::image/${ImageId}", "keys": {}},
    "network-interface": {"arn": "arn:${Partition}:ec2:${Region}:${Account}:network-interface/${NetworkInterfaceId}", "keys": {}},
    "volume": {"arn": "arn:${Partition}:ec2:${Region}:${Account}:volume/${VolumeId}", "keys": {}},
    "snapshot": {"arn": "arn:${Partition}:ec2:${Region}::snapshot/${SnapshotId}", "keys": {}},
    "key-pair": {"arn": "arn:${Partition}:ec2:${Region}:${Account}:key-pair/${KeyPairName}", "keys": {}},
    "launch-template": {"arn": "arn:${Partition}:ec2:${Region}:${Account}:launch-template/${LaunchTemplateId}", "keys": {}},
    "fleet": {"arn": "arn:${Partition}:ec2:${Region}:${Account}:fleet/${FleetId}", "keys": {}},
}

# Every EC2 action supplies ec2:Region.
SERVICE_KEYS = {"ec2:Region": "$region"}

_REQUEST_TAGS = {"aws:RequestTag/": "TagSpecifications[].Tags", "aws:TagKeys": "TagSpecifications[].Tags{}"}
_VPC = {"type": "vpc", "ids": {"VpcId": "VpcId"}}
_SUBNET = {"type": "subnet", "ids": {"SubnetId": "SubnetId"}}
_GROUP = {"type": "security-group", "ids": {"SecurityGroupId": "GroupId"}}
_GATEWAY = {"type": "internet-gateway", "ids": {"InternetGatewayId": "InternetGatewayId"}}
_ROUTE_TABLE = {"type": "route-table", "ids": {"RouteTableId": "RouteTableId"}}
# Tagging operations name resources by id; the id's prefix says the resource type.
_BY_ID = {"id": "Resources[]", "types": {
    "i-": "instance", "vpc-": "vpc", "subnet-": "subnet", "sg-": "security-group", "igw-": "internet-gateway",
    "rtb-": "route-table", "ami-": "image", "eni-": "network-interface", "vol-": "volume", "lt-": "launch-template",
    "fleet-": "fleet",
    "snap-": "snapshot",
}}
_LAUNCH = [
    {"type": "instance", "ids": {"InstanceId": "=*"},
     "keys": {"ec2:InstanceType": "InstanceType|=m1.small", "ec2:InstanceProfile": "IamInstanceProfile.Arn", "ec2:Tenancy": "Placement.Tenancy|=default",
              "ec2:AvailabilityZone": "Placement.AvailabilityZone"}},
    {"type": "image", "ids": {"ImageId": "ImageId|=*"}},
    {"type": "subnet", "ids": {"SubnetId": "SubnetId|=*"}},
    {"type": "security-group", "ids": {"SecurityGroupId": "SecurityGroupIds[]|=*"}},
    {"type": "network-interface", "ids": {"NetworkInterfaceId": "=*"}},
    {"type": "volume", "ids": {"VolumeId": "=*"}},
    {"type": "key-pair", "ids": {"KeyPairName": "KeyName"}, "optional": True},
    {"type": "launch-template", "ids": {"LaunchTemplateId": "LaunchTemplate.LaunchTemplateId"}, "optional": True},
]

OPERATIONS = {
    # instances
    "RunInstances": {"resources": _LAUNCH, "keys": _REQUEST_TAGS},
    "TerminateInstances": {"resources": [{"type": "instance", "ids": {"InstanceId": "InstanceIds[]"}}]},
    "DescribeInstances": {},
    "DescribeInstanceTypes": {},
    "DescribeAvailabilityZones": {},
    "CreateFleet": {"resources": [{"type": "fleet", "ids": {"FleetId": "=*"}}, {"type": "instance", "ids": {"InstanceId": "=*"}}], "keys": _REQUEST_TAGS},
    # VPCs
    "CreateVpc": {"resources": [{"type": "vpc", "ids": {"VpcId": "=*"}}], "keys": _REQUEST_TAGS},
    "DeleteVpc": {"resources": [_VPC]},
    "DescribeVpcs": {},
    # subnets
    "CreateSubnet": {"resources": [{"type": "subnet", "ids": {"SubnetId": "=*"}}, _VPC], "keys": _REQUEST_TAGS},
    "DeleteSubnet": {"resources": [_SUBNET]},
    "ModifySubnetAttribute": {"resources": [_SUBNET]},
    "DescribeSubnets": {},
    # security groups
    "CreateSecurityGroup": {"resources": [{"type": "security-group", "ids": {"SecurityGroupId": "=*"}}, _VPC | {"optional": True}], "keys": _REQUEST_TAGS},
    "DeleteSecurityGroup": {"resources": [_GROUP]},
    "AuthorizeSecurityGroupIngress": {"resources": [_GROUP]},
    "AuthorizeSecurityGroupEgress": {"resources": [_GROUP]},
    "RevokeSecurityGroupIngress": {"resources": [_GROUP]},
    "RevokeSecurityGroupEgress": {"resources": [_GROUP]},
    "DescribeSecurityGroups": {},
    # internet gateways
    "CreateInternetGateway": {"resources": [{"type": "internet-gateway", "ids": {"InternetGatewayId": "=*"}}], "keys": _REQUEST_TAGS},
    "AttachInternetGateway": {"resources": [_GATEWAY, _VPC]},
    "DetachInternetGateway": {"resources": [_GATEWAY, _VPC]},
    "DeleteInternetGateway": {"resources": [_GATEWAY]},
    "DescribeInternetGateways": {},
    # route tables
    "CreateRouteTable": {"resources": [{"type": "route-table", "ids": {"RouteTableId": "=*"}}, _VPC], "keys": _REQUEST_TAGS},
    "DeleteRouteTable": {"resources": [_ROUTE_TABLE]},
    "CreateRoute": {"resources": [_ROUTE_TABLE]},
    "DeleteRoute": {"resources": [_ROUTE_TABLE]},
    "AssociateRouteTable": {"resources": [_ROUTE_TABLE, _SUBNET | {"optional": True}, _GATEWAY | {"ids": {"InternetGatewayId": "GatewayId"}, "optional": True}]},
    "DisassociateRouteTable": {},
    "DescribeRouteTables": {},
    # tags
    "CreateTags": {"resources": [_BY_ID], "keys": {"aws:RequestTag/": "Tags", "aws:TagKeys": "Tags{}"}},
    "DeleteTags": {"resources": [_BY_ID], "keys": {"aws:TagKeys": "Tags{}"}},
    "DescribeTags": {},
    # key pairs and launch templates
    "CreateKeyPair": {"resources": [{"type": "key-pair", "ids": {"KeyPairName": "KeyName"}}], "keys": _REQUEST_TAGS},
    "ImportKeyPair": {"resources": [{"type": "key-pair", "ids": {"KeyPairName": "KeyName"}}], "keys": _REQUEST_TAGS},
    "DeleteKeyPair": {"resources": [{"type": "key-pair", "ids": {"KeyPairName": "KeyName|=*"}}]},
    "DescribeKeyPairs": {},
    "CreateLaunchTemplate": {"resources": [{"type": "launch-template", "ids": {"LaunchTemplateId": "=*"}}], "keys": _REQUEST_TAGS},
    "CreateLaunchTemplateVersion": {"resources": [{"type": "launch-template", "ids": {"LaunchTemplateId": "LaunchTemplateId|=*"}}]},
    "ModifyLaunchTemplate": {"resources": [{"type": "launch-template", "ids": {"LaunchTemplateId": "LaunchTemplateId|=*"}}]},
    "DeleteLaunchTemplate": {"resources": [{"type": "launch-template", "ids": {"LaunchTemplateId": "LaunchTemplateId|=*"}}]},
    "DeleteLaunchTemplateVersions": {"resources": [{"type": "launch-template", "ids": {"LaunchTemplateId": "LaunchTemplateId|=*"}}]},
    "DescribeLaunchTemplates": {},
    "DescribeLaunchTemplateVersions": {},
    # EBS volumes and snapshots
    "CreateVolume": {"resources": [{"type": "volume", "ids": {"VolumeId": "=*"}}], "keys": {**_REQUEST_TAGS,
                     "ec2:VolumeType": "VolumeType", "ec2:VolumeSize": "Size", "ec2:Encrypted": "Encrypted",
                     "ec2:AvailabilityZone": "AvailabilityZone"}},
    "AttachVolume": {"resources": [{"type": "instance", "ids": {"InstanceId": "InstanceId"}},
                                   {"type": "volume", "ids": {"VolumeId": "VolumeId"}}]},
    "DetachVolume": {"resources": [{"type": "instance", "ids": {"InstanceId": "InstanceId|=*"}},
                                   {"type": "volume", "ids": {"VolumeId": "VolumeId"}}]},
    "DeleteVolume": {"resources": [{"type": "volume", "ids": {"VolumeId": "VolumeId"}}]},
    "ModifyVolume": {"resources": [{"type": "volume", "ids": {"VolumeId": "VolumeId"}}]},
    "DescribeVolumes": {},
    "DescribeVolumesModifications": {},
    "CreateSnapshot": {"resources": [{"type": "snapshot", "ids": {"SnapshotId": "=*"}},
                                     {"type": "volume", "ids": {"VolumeId": "VolumeId"}}], "keys": _REQUEST_TAGS},
    "DeleteSnapshot": {"resources": [{"type": "snapshot", "ids": {"SnapshotId": "SnapshotId"}}]},
    "DescribeSnapshots": {},
    "GetLaunchTemplateData": {"resources": [{"type": "instance", "ids": {"InstanceId": "InstanceId"}}]},
    "DescribeImages": {},
}
