"""The default VPC every account has in every region, with a public subnet in each zone.

Its ids are derived from (account, region), so it needs no storage and never changes.
"""

from __future__ import annotations

import hashlib
import ipaddress

from ..regions import availability_zones, partition

DEFAULT_VPC_CIDR = "172.31.0.0/16"


def resource_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return f"{prefix}-{digest[:17]}"


def default_vpc(account: str, region: str) -> dict:
    vpc_id = resource_id("vpc", account, region, "default-vpc")
    return {
        "VpcId": vpc_id,
        "CidrBlock": DEFAULT_VPC_CIDR,
        "DhcpOptionsId": resource_id("dopt", account, region, "default"),
        "State": "available",
        "OwnerId": account,
        "InstanceTenancy": "default",
        "IsDefault": True,
        "CidrBlockAssociationSet": [
            {
                "AssociationId": resource_id("vpc-cidr-assoc", account, region, "default"),
                "CidrBlock": DEFAULT_VPC_CIDR,
                "CidrBlockState": {"State": "associated"},
            }
        ],
    }


def default_subnets(account: str, region: str) -> list[dict]:
    vpc_id = default_vpc(account, region)["VpcId"]
    blocks = ipaddress.ip_network(DEFAULT_VPC_CIDR).subnets(new_prefix=20)
    subnets = []
    for (zone, zone_id), block in zip(availability_zones(region), blocks):
        subnet_id = resource_id("subnet", account, region, zone)
        subnets.append(
            {
                "SubnetId": subnet_id,
                "SubnetArn": f"arn:{partition(region)}:ec2:{region}:{account}:subnet/{subnet_id}",
                "VpcId": vpc_id,
                "CidrBlock": str(block),
                "AvailabilityZone": zone,
                "AvailabilityZoneId": zone_id,
                "AvailableIpAddressCount": block.num_addresses - 5,
                "DefaultForAz": True,
                "MapPublicIpOnLaunch": True,
                "State": "available",
                "OwnerId": account,
                "AssignIpv6AddressOnCreation": False,
                "Ipv6CidrBlockAssociationSet": [],
                "Tags": [],
            }
        )
    return subnets


def default_security_group(account: str, region: str) -> dict:
    group_id = resource_id("sg", account, region, "default")
    return {
        "GroupId": group_id,
        "GroupName": "default",
        "Description": "default VPC security group",
        "VpcId": default_vpc(account, region)["VpcId"],
        "OwnerId": account,
        "SecurityGroupArn": f"arn:{partition(region)}:ec2:{region}:{account}:security-group/{group_id}",
        "IpPermissions": [
            {
                "IpProtocol": "-1",
                "UserIdGroupPairs": [{"GroupId": group_id, "UserId": account}],
                "IpRanges": [],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
            }
        ],
        "IpPermissionsEgress": [
            {
                "IpProtocol": "-1",
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
                "UserIdGroupPairs": [],
            }
        ],
        "Tags": [],
    }


def interface_address(account: str, region: str, subnet_id: str, seed: str) -> str | None:
    """A stable private address in a subnet, as EKS's control-plane network interfaces get one."""
    subnet = next((s for s in default_subnets(account, region) if s["SubnetId"] == subnet_id), None)
    if subnet is None:
        return None
    network = ipaddress.ip_network(subnet["CidrBlock"])
    usable = network.num_addresses - 5  # AWS reserves the first four and the last address
    offset = 4 + int(hashlib.sha256(seed.encode()).hexdigest(), 16) % usable
    return str(network.network_address + offset)


# Lookups every other component uses; they see default and user-created networks alike.
# (The store argument is where user-created VPCs, subnets and route tables live.)


def find_subnet(store, account: str, region: str, subnet_id: str) -> dict | None:
    """The DescribeSubnets view of one subnet, or None when it does not exist."""
    return next((s for s in all_subnets(store, account, region) if s["SubnetId"] == subnet_id), None)


def all_subnets(store, account: str, region: str) -> list[dict]:
    return default_subnets(account, region)


def subnet_is_public(store, account: str, region: str, subnet_id: str) -> bool:
    """Public as on AWS: its route table sends 0.0.0.0/0 to an internet gateway (default subnets do)."""
    return find_subnet(store, account, region, subnet_id) is not None


def all_security_groups(store, account: str, region: str) -> list[dict]:
    return [default_security_group(account, region)]
