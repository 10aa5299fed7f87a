"""EC2 networks: the derived default VPC and the user's own VPCs, subnets, gateways and route tables.

Every account has a default VPC in every region, with a public subnet in each zone, an internet
gateway and a main route table sending 0.0.0.0/0 to it. Its ids are derived from (account,
region), so it needs no storage. User-created resources are store records (kind = resource type,
name = resource id) whose spec is the resource as Describe* shows it. A change to a default
resource (tags, a route, MapPublicIpOnLaunch) is stored the same way, under the default's id, and
then takes the default's place (copy on write).

The lookups at the bottom (find_subnet, all_subnets, subnet_is_public, all_security_groups, ...)
are what EKS clusters, node groups and Fargate profiles use; each reads the store once per kind.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from functools import lru_cache
from typing import Iterable

from ...core.errors import AwsError
from ...core.kinds import INTERNET_GATEWAY, KEY_PAIR, LAUNCH_TEMPLATE, ROUTE_TABLE, SECURITY_GROUP, SUBNET, VPC
from ...core.regions import availability_zones, partition
from ...store import Key

DEFAULT_VPC_CIDR = "172.31.0.0/16"
AWS_RESERVED_ADDRESSES = 5  # the network address, VPC router, DNS, one for future use, and the last

# Store kinds, one per resource type (region-scoped, named by the resource id).
ID_FIELDS = {
    VPC: "VpcId",
    SUBNET: "SubnetId",
    SECURITY_GROUP: "GroupId",
    INTERNET_GATEWAY: "InternetGatewayId",
    ROUTE_TABLE: "RouteTableId",
    KEY_PAIR: "KeyPairId",
    LAUNCH_TEMPLATE: "LaunchTemplateId",
}


@lru_cache(maxsize=4096)  # the default network's ids are derived on every read: hash once
def resource_id(prefix: str, *parts: str) -> str:
    """A stable id derived from parts (for the default network)."""
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return f"{prefix}-{digest[:17]}"


def new_resource_id(prefix: str) -> str:
    """A fresh id as EC2 forms them: the prefix and 17 hex digits."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def arn(region: str, account: str, resource_type: str, resource: str) -> str:
    return f"arn:{partition(region)}:ec2:{region}:{account}:{resource_type}/{resource}"


# --- CIDR rules --------------------------------------------------------------------------------------


def parse_cidr(text: str, parameter: str = "cidrBlock") -> ipaddress.IPv4Network:
    """An IPv4 CIDR block with no host bits set, or EC2's InvalidParameterValue."""
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        raise AwsError(
            "InvalidParameterValue", f"Value ({text}) for parameter {parameter} is invalid. This is not a valid CIDR block."
        ) from None


def check_vpc_cidr(text: str) -> ipaddress.IPv4Network:
    cidr = parse_cidr(text)
    if not 16 <= cidr.prefixlen <= 28:
        raise AwsError("InvalidVpc.Range", f"The CIDR '{text}' is invalid.")
    return cidr


def check_subnet_cidr(text: str, vpc_cidr: str, siblings: Iterable[str]) -> ipaddress.IPv4Network:
    """A subnet block must be /16../28, inside its VPC's block and overlap no other subnet of the VPC."""
    cidr = parse_cidr(text)
    if not 16 <= cidr.prefixlen <= 28 or not cidr.subnet_of(ipaddress.IPv4Network(vpc_cidr)):
        raise AwsError("InvalidSubnet.Range", f"The CIDR '{text}' is invalid.")
    if any(cidr.overlaps(ipaddress.IPv4Network(other)) for other in siblings):
        raise AwsError("InvalidSubnet.Conflict", f"The CIDR '{text}' conflicts with another subnet")
    return cidr


@lru_cache(maxsize=4096)
def available_addresses(cidr: str) -> int:
    return ipaddress.IPv4Network(cidr).num_addresses - AWS_RESERVED_ADDRESSES


# --- views built from specs --------------------------------------------------------------------------


def local_route(vpc_cidr: str) -> dict:
    return {"DestinationCidrBlock": vpc_cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}


def vpc_spec(account: str, region: str, vpc_id: str, cidr: str, tags: list[dict], is_default: bool = False,
             tenancy: str = "default") -> dict:
    return {
        "VpcId": vpc_id,
        "CidrBlock": cidr,
        "DhcpOptionsId": resource_id("dopt", account, region, "default"),
        "State": "available",
        "OwnerId": account,
        "InstanceTenancy": tenancy,
        "IsDefault": is_default,
        "CidrBlockAssociationSet": [
            {
                "AssociationId": resource_id("vpc-cidr-assoc", account, region, vpc_id),
                "CidrBlock": cidr,
                "CidrBlockState": {"State": "associated"},
            }
        ],
        "Ipv6CidrBlockAssociationSet": [],
        "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"},
        "Tags": tags,
    }


def subnet_spec(account: str, region: str, subnet_id: str, vpc_id: str, cidr: str, zone: tuple[str, str],
                tags: list[dict], default_for_az: bool = False) -> dict:
    return {
        "SubnetId": subnet_id,
        "SubnetArn": arn(region, account, "subnet", subnet_id),
        "VpcId": vpc_id,
        "CidrBlock": cidr,
        "AvailabilityZone": zone[0],
        "AvailabilityZoneId": zone[1],
        "AvailableIpAddressCount": available_addresses(cidr),
        "DefaultForAz": default_for_az,
        "MapPublicIpOnLaunch": default_for_az,  # default subnets give instances public addresses
        "MapCustomerOwnedIpOnLaunch": False,
        "State": "available",
        "OwnerId": account,
        "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [],
        "Ipv6Native": False,
        "EnableDns64": False,
        "EnableLniAtDeviceIndex": 0,
        "PrivateDnsNameOptionsOnLaunch": {
            "HostnameType": "ip-name",
            "EnableResourceNameDnsARecord": False,
            "EnableResourceNameDnsAAAARecord": False,
        },
        "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"},
        "Tags": tags,
    }


def security_group_spec(account: str, region: str, group_id: str, name: str, description: str, vpc_id: str,
                        tags: list[dict], rule_ids: tuple[str, str] | None = None) -> dict:
    """A new group allows all outbound traffic; a VPC's default group also lets its members talk to each other."""
    egress_id, ingress_id = rule_ids or (new_resource_id("sgr"), new_resource_id("sgr"))
    rules = [{"SecurityGroupRuleId": egress_id, "IsEgress": True, "IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}]
    if name == "default":
        rules.append({"SecurityGroupRuleId": ingress_id, "IsEgress": False, "IpProtocol": "-1", "ReferencedGroupId": group_id})
    return {
        "GroupId": group_id,
        "GroupName": name,
        "Description": description,
        "VpcId": vpc_id,
        "OwnerId": account,
        "SecurityGroupArn": arn(region, account, "security-group", group_id),
        "Rules": rules,
        "Tags": tags,
    }


def cluster_security_group_spec(account: str, region: str, group_id: str, cluster: str, vpc_id: str) -> dict:
    """The security group EKS creates for a cluster's control-plane ENIs and managed nodes."""
    name = f"eks-cluster-sg-{cluster}-{int(group_id[3:13], 16) % 10**10}"
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": "aws:eks:cluster-name", "Value": cluster},
        {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"},
    ]
    description = ("EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, "
                   "as well as any managed workloads.")
    spec = security_group_spec(account, region, group_id, name, description, vpc_id, tags)
    # As EKS: members of the cluster security group may talk to each other on every port.
    spec["Rules"].append({"SecurityGroupRuleId": resource_id("sgr", group_id, "self"), "IsEgress": False,
                          "IpProtocol": "-1", "ReferencedGroupId": group_id})
    return spec


def rule_view(rule: dict, group: dict) -> dict:
    """A stored rule as AuthorizeSecurityGroup*'s SecurityGroupRules show it."""
    view = {
        "SecurityGroupRuleId": rule["SecurityGroupRuleId"],
        "GroupId": group["GroupId"],
        "GroupOwnerId": group["OwnerId"],
        "IsEgress": rule["IsEgress"],
        "IpProtocol": rule["IpProtocol"],
        "FromPort": rule.get("FromPort", -1),
        "ToPort": rule.get("ToPort", -1),
        "SecurityGroupRuleArn": group["SecurityGroupArn"].replace(
            f"security-group/{group['GroupId']}", f"security-group-rule/{rule['SecurityGroupRuleId']}"
        ),
        "Tags": [],
    }
    for field in ("CidrIpv4", "CidrIpv6", "PrefixListId", "Description"):
        if field in rule:
            view[field] = rule[field]
    if "ReferencedGroupId" in rule:
        view["ReferencedGroupInfo"] = {"GroupId": rule["ReferencedGroupId"], "UserId": group["OwnerId"]}
    return view


def ip_permissions(rules: Iterable[dict], owner: str) -> list[dict]:
    """Rules grouped the way DescribeSecurityGroups shows them: one IpPermission per protocol and port range."""
    permissions: dict[tuple, dict] = {}
    for rule in rules:
        ports = (rule.get("FromPort"), rule.get("ToPort"))
        permission = permissions.setdefault(
            (rule["IpProtocol"], *ports),
            {
                "IpProtocol": rule["IpProtocol"],
                **({"FromPort": ports[0], "ToPort": ports[1]} if ports[0] is not None else {}),
                "IpRanges": [],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
                "UserIdGroupPairs": [],
            },
        )
        described = {"Description": rule["Description"]} if "Description" in rule else {}
        if "CidrIpv4" in rule:
            permission["IpRanges"].append({"CidrIp": rule["CidrIpv4"], **described})
        elif "CidrIpv6" in rule:
            permission["Ipv6Ranges"].append({"CidrIpv6": rule["CidrIpv6"], **described})
        elif "PrefixListId" in rule:
            permission["PrefixListIds"].append({"PrefixListId": rule["PrefixListId"], **described})
        else:
            permission["UserIdGroupPairs"].append({"GroupId": rule["ReferencedGroupId"], "UserId": owner, **described})
    return list(permissions.values())


def security_group_view(spec: dict) -> dict:
    view = {k: v for k, v in spec.items() if k != "Rules"}
    view["IpPermissions"] = ip_permissions((r for r in spec["Rules"] if not r["IsEgress"]), spec["OwnerId"])
    view["IpPermissionsEgress"] = ip_permissions((r for r in spec["Rules"] if r["IsEgress"]), spec["OwnerId"])
    return view


def main_association(table: dict) -> dict | None:
    return next((a for a in table["Associations"] if a.get("Main")), None)


def route_table_view(table: dict, attached: dict[str, str]) -> dict:
    """Routes to an internet gateway no longer attached to the table's VPC are blackholes, as on AWS."""
    routes = []
    for route in table["Routes"]:
        gateway = route.get("GatewayId", "")
        if gateway.startswith("igw-"):
            route = {**route, "State": "active" if attached.get(gateway) == table["VpcId"] else "blackhole"}
        routes.append(route)
    return {**{k: v for k, v in table.items() if k != "_ClientToken"}, "Routes": routes}


def route_table_of(subnet: dict, tables: list[dict]) -> dict | None:
    """The table a subnet uses: its explicit association, else its VPC's main table."""
    in_vpc = [t for t in tables if t["VpcId"] == subnet["VpcId"]]
    for table in in_vpc:
        if any(a.get("SubnetId") == subnet["SubnetId"] for a in table["Associations"]):
            return table
    return next((t for t in in_vpc if main_association(t)), None)


def routes_to_internet(table: dict | None, attached: dict[str, str]) -> bool:
    if table is None:
        return False
    return any(
        route.get("DestinationCidrBlock") == "0.0.0.0/0"
        and route.get("GatewayId", "").startswith("igw-")
        and attached.get(route["GatewayId"]) == table["VpcId"]
        for route in table["Routes"]
    )


def attachments(gateways: Iterable[dict]) -> dict[str, str]:
    """Internet gateway id -> the VPC it is attached to."""
    return {g["InternetGatewayId"]: a["VpcId"] for g in gateways for a in g["Attachments"]}


# --- the default VPC ---------------------------------------------------------------------------------


def default_vpc(account: str, region: str) -> dict:
    return vpc_spec(account, region, resource_id("vpc", account, region, "default-vpc"), DEFAULT_VPC_CIDR, [], is_default=True)


@lru_cache(maxsize=1)
def _default_blocks() -> tuple[str, ...]:
    return tuple(str(b) for b in ipaddress.ip_network(DEFAULT_VPC_CIDR).subnets(new_prefix=20))


def default_subnets(account: str, region: str) -> list[dict]:
    vpc_id = default_vpc(account, region)["VpcId"]
    blocks = _default_blocks()
    return [
        subnet_spec(account, region, resource_id("subnet", account, region, zone[0]), vpc_id, block, zone, [], True)
        for zone, block in zip(availability_zones(region), blocks)
    ]


def _default_security_group_spec(account: str, region: str) -> dict:
    group_id = resource_id("sg", account, region, "default")
    rule_ids = (resource_id("sgr", account, region, "default-egress"), resource_id("sgr", account, region, "default-ingress"))
    return security_group_spec(
        account, region, group_id, "default", "default VPC security group", default_vpc(account, region)["VpcId"], [], rule_ids
    )


def default_security_group(account: str, region: str) -> dict:
    return security_group_view(_default_security_group_spec(account, region))


def default_internet_gateway(account: str, region: str) -> dict:
    return {
        "InternetGatewayId": resource_id("igw", account, region, "default"),
        "OwnerId": account,
        "Attachments": [{"State": "available", "VpcId": default_vpc(account, region)["VpcId"]}],
        "Tags": [],
    }


def default_route_table(account: str, region: str) -> dict:
    table_id = resource_id("rtb", account, region, "default-main")
    return {
        "RouteTableId": table_id,
        "VpcId": default_vpc(account, region)["VpcId"],
        "OwnerId": account,
        "Routes": [
            local_route(DEFAULT_VPC_CIDR),
            {
                "DestinationCidrBlock": "0.0.0.0/0",
                "GatewayId": default_internet_gateway(account, region)["InternetGatewayId"],
                "Origin": "CreateRoute",
                "State": "active",
            },
        ],
        "Associations": [
            {
                "Main": True,
                "RouteTableAssociationId": resource_id("rtbassoc", account, region, "default-main"),
                "RouteTableId": table_id,
                "AssociationState": {"State": "associated"},
            }
        ],
        "PropagatingVgws": [],
        "Tags": [],
    }


DEFAULTS = {
    VPC: lambda account, region: [default_vpc(account, region)],
    SUBNET: default_subnets,
    SECURITY_GROUP: lambda account, region: [_default_security_group_spec(account, region)],
    INTERNET_GATEWAY: lambda account, region: [default_internet_gateway(account, region)],
    ROUTE_TABLE: lambda account, region: [default_route_table(account, region)],
    KEY_PAIR: lambda account, region: [],  # no defaults: every key pair and launch template is the user's
    LAUNCH_TEMPLATE: lambda account, region: [],
}


def specs(store, account: str, region: str, kind: str) -> list[dict]:
    """Every resource of a kind: the defaults (or their stored changes), then the user's, by id."""
    stored = {record.key.name: record.spec for record in store.list(account, region, kind)} if store is not None else {}
    defaults = [stored.pop(d[ID_FIELDS[kind]], d) for d in DEFAULTS[kind](account, region)]
    return defaults + list(stored.values())


def find_spec(store, account: str, region: str, kind: str, resource: str) -> dict | None:
    """One resource by id: a primary-key read, then the derived defaults."""
    record = store.get(Key(account, region, kind, resource)) if store is not None else None
    if record is not None:
        return record.spec
    return next((d for d in DEFAULTS[kind](account, region) if d[ID_FIELDS[kind]] == resource), None)



def interface_address(store, account: str, region: str, subnet_id: str, seed: str) -> str | None:
    """A stable private address in a subnet, as EKS's control-plane network interfaces get one."""
    subnet = find_subnet(store, account, region, subnet_id)
    if subnet is None:
        return None
    network = ipaddress.ip_network(subnet["CidrBlock"])
    usable = network.num_addresses - AWS_RESERVED_ADDRESSES
    offset = 4 + int(hashlib.sha256(seed.encode()).hexdigest(), 16) % usable
    return str(network.network_address + offset)


# Lookups every other component uses; they see default and user-created networks alike.


def find_vpc(store, account: str, region: str, vpc_id: str) -> dict | None:
    return find_spec(store, account, region, VPC, vpc_id)


def find_subnet(store, account: str, region: str, subnet_id: str) -> dict | None:
    """The DescribeSubnets view of one subnet, or None when it does not exist."""
    return find_spec(store, account, region, SUBNET, subnet_id)


def all_subnets(store, account: str, region: str) -> list[dict]:
    return specs(store, account, region, SUBNET)


def public_subnet_ids(store, account: str, region: str) -> set[str]:
    """Ids of the public subnets: their route table sends 0.0.0.0/0 to an attached internet gateway."""
    tables = specs(store, account, region, ROUTE_TABLE)
    attached = attachments(specs(store, account, region, INTERNET_GATEWAY))
    return {
        s["SubnetId"] for s in all_subnets(store, account, region) if routes_to_internet(route_table_of(s, tables), attached)
    }


def subnet_is_public(store, account: str, region: str, subnet_id: str) -> bool:
    """Public as on AWS: its route table sends 0.0.0.0/0 to an internet gateway (default subnets do)."""
    subnet = find_subnet(store, account, region, subnet_id)
    if subnet is None:
        return False
    tables = specs(store, account, region, ROUTE_TABLE)
    attached = attachments(specs(store, account, region, INTERNET_GATEWAY))
    return routes_to_internet(route_table_of(subnet, tables), attached)


def all_security_groups(store, account: str, region: str) -> list[dict]:
    return [security_group_view(spec) for spec in specs(store, account, region, SECURITY_GROUP)]
