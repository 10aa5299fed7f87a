"""EC2 network operations: VPCs, subnets, security groups, internet gateways, route tables and their tags.

These resources are plain data (nothing to reconcile): handlers validate as EC2 does and write the
store directly; every resource is `available` as soon as it is created. Records are read and
written through network.py's helpers, so default and user-created resources behave alike.

Records born together (a VPC, its main route table and default security group) are created in one
transaction (store.create_all). Rules that span existing records (no two overlapping subnets in a
VPC, one security group of a name per VPC, no subnet in a VPC being deleted) are checked before the
write and again after it: of two concurrent creators the later one withdraws its record.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any, Callable

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import CLUSTER, INTERNET_GATEWAY, ROUTE_TABLE, SECURITY_GROUP, SUBNET, VPC
from ...core.regions import availability_zones
from ...store import AlreadyExists, Conflict, Key, NotFound, Record
from ..base import match_filters, offset_page
from .instances import instances as node_group_instances
from .launches import change_instance_tags, instance_tag_owners, launched_instances
from .network import (
    ID_FIELDS,
    attachments,
    check_subnet_cidr,
    check_vpc_cidr,
    default_vpc,
    find_spec,
    ip_permissions,
    local_route,
    main_association,
    new_resource_id,
    parse_cidr,
    route_table_view,
    rule_view,
    security_group_spec,
    security_group_view,
    specs,
    subnet_spec,
    vpc_spec,
)

MAX_VPCS_PER_REGION = 5  # EC2's default quota, the default VPC included
MAX_INTERNET_GATEWAYS_PER_REGION = 5
MAX_SUBNETS_PER_VPC = 200
MAX_RULES_PER_DIRECTION = 60
MAX_TAGS = 50
# Store kinds whose resources have network interfaces in subnets, and the subnets each record uses.
SUBNET_USERS: dict[str, Callable[[Record], list]] = {
    CLUSTER: lambda r: r.spec.get("resourcesVpcConfig", {}).get("subnetIds", []),
    "nodegroup": lambda r: r.spec.get("subnets", []) + [i.get("subnetId") for i in r.status.get("instances", [])],
    "fargateprofile": lambda r: r.spec.get("subnets", []),
    "instance": lambda r: [] if r.status.get("state") == "terminated" else [r.spec.get("subnetId")],
}
# Likewise for security groups.
SECURITY_GROUP_USERS: dict[str, Callable[[Record], list]] = {
    CLUSTER: lambda r: [*r.spec.get("resourcesVpcConfig", {}).get("securityGroupIds", []),
                        r.spec.get("resourcesVpcConfig", {}).get("clusterSecurityGroupId")],
    "instance": lambda r: [] if r.status.get("state") == "terminated" else r.spec.get("securityGroupIds", []),
}

# The kind (which is also EC2's resource type) of an id, by its prefix.
KIND_OF_PREFIX = {"vpc": VPC, "subnet": SUBNET, "sg": SECURITY_GROUP, "igw": INTERNET_GATEWAY, "rtb": ROUTE_TABLE}
NOT_FOUND = {
    VPC: ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    SUBNET: ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    SECURITY_GROUP: ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    INTERNET_GATEWAY: ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    ROUTE_TABLE: ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
}
# IpProtocol names and numbers EC2 knows by name ("all" is not one: EC2 answers Unknown protocol).
PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
             "icmpv6": "icmpv6", "58": "icmpv6", "-1": "-1"}
PORT_RANGE_PROTOCOLS = ("tcp", "udp")
ICMP_PROTOCOLS = ("icmp", "icmpv6")
# AWS-managed (pl-63a5400a) and customer-managed (17 hex digits) prefix list ids.
PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
# CreateRoute targets other than internet gateways, none of which Moorage has: (code, noun).
OTHER_ROUTE_TARGETS = {
    "NatGatewayId": ("InvalidNatGatewayID.NotFound", "natGateway"),
    "TransitGatewayId": ("InvalidTransitGatewayID.NotFound", "transitGateway"),
    "VpcPeeringConnectionId": ("InvalidVpcPeeringConnectionID.NotFound", "vpcPeeringConnection"),
    "NetworkInterfaceId": ("InvalidNetworkInterfaceID.NotFound", "networkInterface"),
    "InstanceId": ("InvalidInstanceID.NotFound", "instance"),
    "EgressOnlyInternetGatewayId": ("InvalidGatewayID.NotFound", "gateway"),
    "LocalGatewayId": ("InvalidLocalGatewayID.NotFound", "localGateway"),
    "CarrierGatewayId": ("InvalidCarrierGatewayID.NotFound", "carrierGateway"),
    "VpcEndpointId": ("InvalidVpcEndpointId.NotFound", "vpcEndpoint"),
    "CoreNetworkArn": ("InvalidCoreNetworkArn.NotFound", "coreNetwork"),
    "OdbNetworkArn": ("InvalidOdbNetworkArn.NotFound", "odbNetwork"),
}
TAG_FIELDS = {
    "tag-key": lambda item: [t["Key"] for t in item.get("Tags", [])],
    "tag-value": lambda item: [t["Value"] for t in item.get("Tags", [])],
}


def not_found(kind: str, resource: str) -> AwsError:
    code, message = NOT_FOUND[kind]
    return AwsError(code, message.format(resource))


def dependency_violation(noun: str, resource: str) -> AwsError:
    return AwsError("DependencyViolation", f"The {noun} '{resource}' has dependencies and cannot be deleted.")


def invalid_token(token: str) -> AwsError:
    return AwsError("InvalidParameterValue", f"Value ( {token} ) for parameter NextToken is invalid. The token is invalid.")


def merge_tags(current: list[dict], new: list[dict]) -> list[dict]:
    """Tags added or overwritten by key, with EC2's rules on reserved keys and the per-resource limit."""
    merged = {t["Key"]: t["Value"] for t in current}
    for tag in new:
        key = tag.get("Key", "")
        if key.lower().startswith("aws:"):
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use",
            )
        merged[key] = tag.get("Value", "")
    if len(merged) > MAX_TAGS:
        raise AwsError("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def tags_to_create(params: dict, resource_type: str) -> list[dict]:
    tags: list[dict] = []
    for specification in params.get("TagSpecifications") or []:
        if specification.get("ResourceType") != resource_type:
            raise AwsError(
                "InvalidParameterValue",
                f"'{specification.get('ResourceType')}' is not a valid taggable resource type for this operation.",
            )
        tags = merge_tags(tags, specification.get("Tags") or [])
    return tags


def page(params: dict, items: list, list_key: str) -> dict:
    if not params.get("MaxResults") and not params.get("NextToken"):
        return {list_key: items}
    selected, following = offset_page(items, params.get("NextToken"), params.get("MaxResults") or max(len(items), 1), invalid_token)
    return {list_key: selected, **({"NextToken": following} if following else {})}


def select(items: list[dict], ids: list[str] | None, id_field: str, kind: str) -> list[dict]:
    if not ids:
        return items
    by_id = {item[id_field]: item for item in items}
    for wanted in ids:
        if wanted not in by_id:
            raise not_found(kind, wanted)
    return [by_id[i] for i in dict.fromkeys(ids)]


def rule_protocol(value: str | None) -> str:
    """An IpProtocol as EC2 stores it: tcp, udp, icmp, icmpv6, -1 (all) or another protocol's number."""
    if not value:
        raise AwsError(
            "InvalidParameterValue",
            "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.",
        )
    raw = value.lower()
    if raw.isdigit():
        raw = str(int(raw))
    protocol = PROTOCOLS.get(raw) or (raw if raw.isdigit() and int(raw) <= 255 else None)
    if protocol is None:
        raise AwsError("InvalidParameterValue", f"Invalid value '{value}' for IP protocol. Unknown protocol.")
    return protocol


def rule_ports(permission: dict, protocol: str) -> dict:
    """FromPort/ToPort as EC2 checks them: a port range for TCP/UDP, an ICMP type and code (-1: all) for
    ICMP; any other protocol covers every port, so ports given with it are ignored, as EC2 does."""
    if protocol not in PORT_RANGE_PROTOCOLS + ICMP_PROTOCOLS:
        return {}
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if low is None or high is None:
        label = "TCP/UDP" if protocol in PORT_RANGE_PROTOCOLS else "ICMP"
        raise AwsError("InvalidParameterValue", f"Invalid value 'Must specify both from and to ports with {label}.' for portRange.")
    if protocol in PORT_RANGE_PROTOCOLS:
        if not 0 <= low <= high <= 65535:
            raise AwsError("InvalidParameterValue", f"Invalid TCP/UDP port range: from port {low}, to port {high}.")
    elif not -1 <= low <= 255:
        raise AwsError("InvalidParameterValue", f"ICMP type ({low}) out of range")
    elif not -1 <= high <= 255:
        raise AwsError("InvalidParameterValue", f"ICMP code ({high}) out of range")
    elif low == -1 and high != -1:
        raise AwsError("InvalidParameterValue", f"ICMP code ({high}) out of range. ICMP type -1 (all types) allows only code -1.")
    return {"FromPort": low, "ToPort": high}


def missing_parameter(name: str) -> AwsError:
    return AwsError("MissingParameter", f"The request must contain the parameter {name}")


def cidr_source(item: dict, member: str, field: str, network: type) -> dict:
    """An IpRanges/Ipv6Ranges item as a rule source: its block must be given and well formed."""
    cidr = item.get(member)
    if not cidr:
        raise missing_parameter(member[0].lower() + member[1:])
    try:
        network(cidr, strict=True)
    except ValueError:
        raise AwsError("InvalidParameterValue", f"CIDR block {cidr} is malformed") from None
    return {field: cidr}


def prefix_list_source(item: dict) -> dict:
    """A PrefixListIds item as a rule source. Moorage has no prefix lists of its own, while every AWS
    region has AWS-managed ones (com.amazonaws.<region>.s3, ...): any well-formed id is accepted."""
    prefix_list = item.get("PrefixListId")
    if not prefix_list:
        raise missing_parameter("prefixListId")
    if not PREFIX_LIST_ID.match(prefix_list):
        raise AwsError("InvalidPrefixListID.NotFound", f"The prefix list ID '{prefix_list}' does not exist")
    return {"PrefixListId": prefix_list}


def rule_source(rule: dict) -> tuple[str, str]:
    for field in ("CidrIpv4", "CidrIpv6", "ReferencedGroupId", "PrefixListId"):
        if field in rule:
            return field, rule[field]
    raise KeyError("rule without a source")


def rule_identity(rule: dict) -> tuple:
    """What makes two rules the same rule (descriptions do not)."""
    return (rule["IsEgress"], rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), rule_source(rule))


def duplicate_rule(rule: dict) -> AwsError:
    peer = rule_source(rule)[1]
    if rule["IpProtocol"] == "-1":
        described = f"peer: {peer}, ALL, ALLOW"
    else:
        described = f"peer: {peer}, {rule['IpProtocol'].upper()}, from port: {rule.get('FromPort')}, to port: {rule.get('ToPort')}, ALLOW"
    return AwsError("InvalidPermission.Duplicate", f'the specified rule "{described}" already exists')


def revoked_view(rule: dict, group_id: str) -> dict:
    view = {"GroupId": group_id, "FromPort": rule.get("FromPort", -1), "ToPort": rule.get("ToPort", -1)}
    for field in ("SecurityGroupRuleId", "IsEgress", "IpProtocol", "CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupId", "Description"):
        if field in rule:
            view[field] = rule[field]
    return view


class NetworkOperations:
    """EC2's network handlers; mixed into Ec2Service, which provides `store`."""

    store: Any

    # --- store helpers -------------------------------------------------------------------------------

    def _key(self, ctx: RequestContext, kind: str, resource: str) -> Key:
        return Key(ctx.account, ctx.region, kind, resource)

    def _all(self, ctx: RequestContext, kind: str) -> list[dict]:
        return specs(self.store, ctx.account, ctx.region, kind)

    def _require(self, ctx: RequestContext, kind: str, resource: str | None) -> dict:
        spec = find_spec(self.store, ctx.account, ctx.region, kind, resource or "")
        if spec is None:
            raise not_found(kind, resource or "")
        return spec

    def _change(self, ctx: RequestContext, kind: str, resource: str, change: Callable[[dict], Any]) -> Any:
        """Apply change to a resource's spec with compare-and-set, retrying on a concurrent write.

        A default resource's first change stores it (copy on write)."""
        key = self._key(ctx, kind, resource)
        while True:
            record = self.store.get(key)
            base = record.spec if record else find_spec(None, ctx.account, ctx.region, kind, resource)
            if base is None:
                raise not_found(kind, resource)
            spec = copy.deepcopy(base)
            result = change(spec)
            try:
                if record is None:
                    self.store.create(key, spec)
                else:
                    self.store.update_spec(record, spec)
                return result
            except (Conflict, AlreadyExists):
                continue
            except NotFound:
                raise not_found(kind, resource) from None

    def _delete(self, ctx: RequestContext, kind: str, resource: str) -> None:
        key = self._key(ctx, kind, resource)
        while (record := self.store.get(key)) is not None:
            try:
                self.store.remove(record)
            except Conflict:
                continue

    def _create_in_vpc(self, ctx: RequestContext, kind: str, spec: dict, resource: str, vpc_id: str,
                       conflicts: Callable[[dict], bool] | None = None, error: AwsError | None = None) -> Record:
        """Create a record, then withdraw it if a conflicting one was created before it, or its VPC went."""
        record = self.store.create(self._key(ctx, kind, resource), spec)
        if conflicts is not None and error is not None:
            rivals = [r for r in self.store.list(ctx.account, ctx.region, kind) if r.key.name != resource and conflicts(r.spec)]
            if any((r.created_at, r.key.name) < (record.created_at, resource) for r in rivals):
                self._delete(ctx, kind, resource)
                raise error
        if find_spec(self.store, ctx.account, ctx.region, VPC, vpc_id) is None:
            self._delete(ctx, kind, resource)
            raise not_found(VPC, vpc_id)
        return record

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
        vpcs = match_filters(
            vpcs,
            params.get("Filters"),
            {
                **TAG_FIELDS,
                "vpc-id": lambda v: v["VpcId"],
                "is-default": lambda v: v["IsDefault"],
                "cidr": lambda v: v["CidrBlock"],
                "cidr-block-association.cidr-block": lambda v: [a["CidrBlock"] for a in v["CidrBlockAssociationSet"]],
                "cidr-block-association.association-id": lambda v: [a["AssociationId"] for a in v["CidrBlockAssociationSet"]],
                "cidr-block-association.state": lambda v: [a["CidrBlockState"]["State"] for a in v["CidrBlockAssociationSet"]],
                "state": lambda v: v["State"],
                "owner-id": lambda v: v["OwnerId"],
                "dhcp-options-id": lambda v: v["DhcpOptionsId"],
            },
        )
        return page(params, vpcs, "Vpcs")

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
        subnets = match_filters(
            subnets,
            params.get("Filters"),
            {
                **TAG_FIELDS,
                "subnet-id": lambda s: s["SubnetId"],
                "vpc-id": lambda s: s["VpcId"],
                "availability-zone": lambda s: s["AvailabilityZone"],
                "availabilityZone": lambda s: s["AvailabilityZone"],
                "availability-zone-id": lambda s: s["AvailabilityZoneId"],
                "available-ip-address-count": lambda s: s["AvailableIpAddressCount"],
                "default-for-az": lambda s: s["DefaultForAz"],
                "defaultForAz": lambda s: s["DefaultForAz"],
                "cidr-block": lambda s: s["CidrBlock"],
                "cidrBlock": lambda s: s["CidrBlock"],
                "cidr": lambda s: s["CidrBlock"],
                "map-public-ip-on-launch": lambda s: s["MapPublicIpOnLaunch"],
                "ipv6-native": lambda s: s["Ipv6Native"],
                "state": lambda s: s["State"],
                "owner-id": lambda s: s["OwnerId"],
                "subnet-arn": lambda s: s["SubnetArn"],
            },
        )
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

    # --- security groups ----------------------------------------------------------------------------

    def _group(self, ctx: RequestContext, params: dict, allow_name: bool = True) -> dict:
        """The group a request names by GroupId, or by GroupName in the default VPC."""
        if params.get("GroupId"):
            return self._require(ctx, SECURITY_GROUP, params["GroupId"])
        name = params.get("GroupName")
        if not name or not allow_name:
            raise AwsError("MissingParameter", "The request must contain the parameter groupId")
        default_vpc_id = default_vpc(ctx.account, ctx.region)["VpcId"]
        group = next((g for g in self._all(ctx, SECURITY_GROUP) if g["GroupName"] == name and g["VpcId"] == default_vpc_id), None)
        if group is None:
            raise AwsError("InvalidGroup.NotFound", f"The security group '{name}' does not exist in default VPC '{default_vpc_id}'")
        return group

    def CreateSecurityGroup(self, ctx: RequestContext, params: dict) -> dict:
        name, description = params["GroupName"], params["Description"]
        vpc_id = params.get("VpcId") or default_vpc(ctx.account, ctx.region)["VpcId"]
        self._require(ctx, VPC, vpc_id)
        if name == "default":
            raise AwsError(
                "InvalidParameterValue", "Invalid value 'default' for groupName. Cannot use reserved security group name: default"
            )
        if name.startswith("sg-"):
            raise AwsError("InvalidParameterValue", f"Invalid value '{name}' for groupName. Group names may not be in the format sg-*.")
        duplicate = AwsError("InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc_id}'")
        same_name = lambda g: g["GroupName"] == name and g["VpcId"] == vpc_id  # noqa: E731
        if any(same_name(g) for g in self._all(ctx, SECURITY_GROUP)):
            raise duplicate
        tags = tags_to_create(params, SECURITY_GROUP)
        group_id = new_resource_id("sg")
        group = security_group_spec(ctx.account, ctx.region, group_id, name, description, vpc_id, tags)
        self._create_in_vpc(ctx, SECURITY_GROUP, group, group_id, vpc_id, same_name, duplicate)
        return {"GroupId": group_id, "Tags": tags, "SecurityGroupArn": group["SecurityGroupArn"]}

    def DeleteSecurityGroup(self, ctx: RequestContext, params: dict) -> dict:
        group = self._group(ctx, params)
        group_id = group["GroupId"]
        if group["GroupName"] == "default":
            raise AwsError("CannotDelete", f'the specified group: "{group_id}" name: "default" cannot be deleted by a user')
        referenced = any(
            r.get("ReferencedGroupId") == group_id
            for other in self._all(ctx, SECURITY_GROUP) if other["GroupId"] != group_id
            for r in other["Rules"]
        )
        in_use = any(
            group_id in groups_of(record)
            for kind, groups_of in SECURITY_GROUP_USERS.items()
            for record in self.store.list(ctx.account, ctx.region, kind)
        )
        if referenced or in_use:
            raise AwsError("DependencyViolation", f"resource {group_id} has a dependent object")
        self._delete(ctx, SECURITY_GROUP, group_id)
        return {"Return": True, "GroupId": group_id}

    def DescribeSecurityGroups(self, ctx: RequestContext, params: dict) -> dict:
        groups = [security_group_view(g) for g in self._all(ctx, SECURITY_GROUP)]
        groups = select(groups, params.get("GroupIds"), "GroupId", SECURITY_GROUP)
        for name in params.get("GroupNames") or []:
            self._group(ctx, {"GroupName": name})
        if params.get("GroupNames"):
            default_vpc_id = default_vpc(ctx.account, ctx.region)["VpcId"]
            groups = [g for g in groups if g["GroupName"] in params["GroupNames"] and g["VpcId"] == default_vpc_id]

        def permission_fields(prefix: str, member: str) -> dict:
            each = lambda g, read: [v for p in g[member] for v in read(p)]  # noqa: E731
            return {
                f"{prefix}ip-permission.cidr": lambda g: each(g, lambda p: [r["CidrIp"] for r in p["IpRanges"]]),
                f"{prefix}ip-permission.ipv6-cidr": lambda g: each(g, lambda p: [r["CidrIpv6"] for r in p["Ipv6Ranges"]]),
                f"{prefix}ip-permission.prefix-list-id": lambda g: each(g, lambda p: [r["PrefixListId"] for r in p["PrefixListIds"]]),
                f"{prefix}ip-permission.group-id": lambda g: each(g, lambda p: [r["GroupId"] for r in p["UserIdGroupPairs"]]),
                f"{prefix}ip-permission.protocol": lambda g: each(g, lambda p: [p["IpProtocol"]]),
                f"{prefix}ip-permission.from-port": lambda g: each(g, lambda p: [p["FromPort"]] if "FromPort" in p else []),
                f"{prefix}ip-permission.to-port": lambda g: each(g, lambda p: [p["ToPort"]] if "ToPort" in p else []),
            }

        groups = match_filters(
            groups,
            params.get("Filters"),
            {
                **TAG_FIELDS,
                **permission_fields("", "IpPermissions"),
                **permission_fields("egress.", "IpPermissionsEgress"),
                "group-id": lambda g: g["GroupId"],
                "group-name": lambda g: g["GroupName"],
                "vpc-id": lambda g: g["VpcId"],
                "description": lambda g: g["Description"],
                "owner-id": lambda g: g["OwnerId"],
            },
        )
        return page(params, groups, "SecurityGroups")

    def _requested_rules(self, ctx: RequestContext, params: dict, group: dict, is_egress: bool) -> list[dict]:
        """The rules a request names, one per source, in the form the group stores them.

        Every item is checked before anything is written, so odd input is EC2's 400, never a 500."""
        permissions = list(params.get("IpPermissions") or [])
        legacy_members = ("IpProtocol", "CidrIp", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId")
        if not permissions and any(params.get(m) for m in legacy_members):
            legacy: dict = {"IpProtocol": params.get("IpProtocol", "-1")}
            for member in ("FromPort", "ToPort"):
                if member in params:
                    legacy[member] = params[member]
            if params.get("CidrIp"):
                legacy["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
            if params.get("SourceSecurityGroupName") or params.get("SourceSecurityGroupOwnerId"):
                legacy["UserIdGroupPairs"] = [{"GroupName": params.get("SourceSecurityGroupName")}]
            permissions = [legacy]
        groups = None
        rules = []
        for permission in permissions:
            protocol = rule_protocol(permission.get("IpProtocol"))
            base: dict = {"IsEgress": is_egress, "IpProtocol": protocol, **rule_ports(permission, protocol)}
            sources: list[tuple[dict, dict]] = []  # (request item, the source it names)
            for item in permission.get("IpRanges") or []:
                sources.append((item, cidr_source(item, "CidrIp", "CidrIpv4", ipaddress.IPv4Network)))
            for item in permission.get("Ipv6Ranges") or []:
                sources.append((item, cidr_source(item, "CidrIpv6", "CidrIpv6", ipaddress.IPv6Network)))
            for item in permission.get("PrefixListIds") or []:
                sources.append((item, prefix_list_source(item)))
            for item in permission.get("UserIdGroupPairs") or []:
                if not item.get("GroupId") and not item.get("GroupName"):
                    raise AwsError("MissingParameter", "Source group ID missing.")
                if groups is None:
                    groups = self._all(ctx, SECURITY_GROUP)
                if item.get("GroupId"):
                    if not any(g["GroupId"] == item["GroupId"] for g in groups):
                        raise not_found(SECURITY_GROUP, item["GroupId"])
                    referenced = item["GroupId"]
                else:
                    match = next((g for g in groups if g["GroupName"] == item["GroupName"] and g["VpcId"] == group["VpcId"]), None)
                    if match is None:
                        raise not_found(SECURITY_GROUP, item["GroupName"])
                    referenced = match["GroupId"]
                sources.append((item, {"ReferencedGroupId": referenced}))
            rules.extend(
                {**base, **source, **({"Description": item["Description"]} if "Description" in item else {})}
                for item, source in sources
            )
        return rules

    def _authorize(self, ctx: RequestContext, params: dict, is_egress: bool) -> dict:
        group = self._group(ctx, params, allow_name=not is_egress)
        requested = self._requested_rules(ctx, params, group, is_egress)
        if len({rule_identity(r) for r in requested}) < len(requested):
            raise AwsError("InvalidParameterValue", "The same permission must not appear multiple times")

        def change(spec: dict) -> list[dict]:
            known = {rule_identity(r) for r in spec["Rules"]}
            for rule in requested:
                if rule_identity(rule) in known:
                    raise duplicate_rule(rule)
            added = [{"SecurityGroupRuleId": new_resource_id("sgr"), **rule} for rule in requested]
            if sum(1 for r in spec["Rules"] if r["IsEgress"] == is_egress) + len(added) > MAX_RULES_PER_DIRECTION:
                raise AwsError("RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
            spec["Rules"].extend(added)
            return [rule_view(r, spec) for r in added]

        return {"Return": True, "SecurityGroupRules": self._change(ctx, SECURITY_GROUP, group["GroupId"], change)}

    def _revoke(self, ctx: RequestContext, params: dict, is_egress: bool) -> dict:
        group = self._group(ctx, params, allow_name=not is_egress)
        rule_ids = params.get("SecurityGroupRuleIds") or []
        requested = [] if rule_ids else self._requested_rules(ctx, params, group, is_egress)
        lenient = group["VpcId"] == default_vpc(ctx.account, ctx.region)["VpcId"]  # EC2 reports unknown rules instead of failing there

        def change(spec: dict) -> tuple[list[dict], list[dict]]:
            kept, revoked, unknown = list(spec["Rules"]), [], []
            for rule_id in rule_ids:
                match = next((r for r in kept if r["SecurityGroupRuleId"] == rule_id and r["IsEgress"] == is_egress), None)
                if match is None:
                    raise AwsError("InvalidSecurityGroupRuleId.NotFound", f"The security group rule ID '{rule_id}' does not exist")
                kept.remove(match)
                revoked.append(match)
            for rule in requested:
                match = next((r for r in kept if rule_identity(r) == rule_identity(rule)), None)
                if match is None:
                    if not lenient:
                        raise AwsError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
                    unknown.append(rule)
                    continue
                kept.remove(match)
                revoked.append(match)
            spec["Rules"] = kept
            return revoked, unknown

        revoked, unknown = self._change(ctx, SECURITY_GROUP, group["GroupId"], change)
        result: dict = {"Return": True, "RevokedSecurityGroupRules": [revoked_view(r, group["GroupId"]) for r in revoked]}
        if unknown:
            result["UnknownIpPermissions"] = ip_permissions(unknown, ctx.account)
        return result

    def AuthorizeSecurityGroupIngress(self, ctx: RequestContext, params: dict) -> dict:
        return self._authorize(ctx, params, is_egress=False)

    def AuthorizeSecurityGroupEgress(self, ctx: RequestContext, params: dict) -> dict:
        return self._authorize(ctx, params, is_egress=True)

    def RevokeSecurityGroupIngress(self, ctx: RequestContext, params: dict) -> dict:
        return self._revoke(ctx, params, is_egress=False)

    def RevokeSecurityGroupEgress(self, ctx: RequestContext, params: dict) -> dict:
        return self._revoke(ctx, params, is_egress=True)

    # --- internet gateways --------------------------------------------------------------------------

    def CreateInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        tags = tags_to_create(params, INTERNET_GATEWAY)
        if len(self._all(ctx, INTERNET_GATEWAY)) >= MAX_INTERNET_GATEWAYS_PER_REGION:
            raise AwsError("InternetGatewayLimitExceeded", "The maximum number of internet gateways has been reached.")
        gateway_id = new_resource_id("igw")
        gateway = {"InternetGatewayId": gateway_id, "OwnerId": ctx.account, "Attachments": [], "Tags": tags}
        self.store.create(self._key(ctx, INTERNET_GATEWAY, gateway_id), gateway)
        return {"InternetGateway": gateway}

    def AttachInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        gateway_id, vpc_id = params["InternetGatewayId"], params["VpcId"]
        self._require(ctx, INTERNET_GATEWAY, gateway_id)
        self._require(ctx, VPC, vpc_id)
        taken = AwsError("InvalidParameterValue", f"Network {vpc_id} already has an internet gateway attached")
        if any(other != gateway_id for other, vpc in attachments(self._all(ctx, INTERNET_GATEWAY)).items() if vpc == vpc_id):
            raise taken

        def attach(gateway: dict) -> None:
            if gateway["Attachments"]:
                raise AwsError(
                    "Resource.AlreadyAssociated",
                    f"resource {gateway_id} is already attached to network {gateway['Attachments'][0]['VpcId']}",
                )
            gateway["Attachments"] = [{"State": "available", "VpcId": vpc_id}]

        self._change(ctx, INTERNET_GATEWAY, gateway_id, attach)
        return {}

    def DetachInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        gateway_id, vpc_id = params["InternetGatewayId"], params["VpcId"]
        self._require(ctx, VPC, vpc_id)

        def detach(gateway: dict) -> None:
            if not any(a["VpcId"] == vpc_id for a in gateway["Attachments"]):
                raise AwsError("Gateway.NotAttached", f"resource {gateway_id} is not attached to network {vpc_id}")
            gateway["Attachments"] = []

        self._change(ctx, INTERNET_GATEWAY, gateway_id, detach)
        return {}

    def DeleteInternetGateway(self, ctx: RequestContext, params: dict) -> dict:
        gateway = self._require(ctx, INTERNET_GATEWAY, params["InternetGatewayId"])
        if gateway["Attachments"]:
            raise dependency_violation("internetGateway", gateway["InternetGatewayId"])
        self._delete(ctx, INTERNET_GATEWAY, gateway["InternetGatewayId"])
        return {}

    def DescribeInternetGateways(self, ctx: RequestContext, params: dict) -> dict:
        gateways = select(self._all(ctx, INTERNET_GATEWAY), params.get("InternetGatewayIds"), "InternetGatewayId", INTERNET_GATEWAY)
        gateways = match_filters(
            gateways,
            params.get("Filters"),
            {
                **TAG_FIELDS,
                "internet-gateway-id": lambda g: g["InternetGatewayId"],
                "attachment.vpc-id": lambda g: [a["VpcId"] for a in g["Attachments"]],
                "attachment.state": lambda g: [a["State"] for a in g["Attachments"]],
                "owner-id": lambda g: g["OwnerId"],
            },
        )
        return page(params, gateways, "InternetGateways")

    # --- route tables -------------------------------------------------------------------------------

    def _route_table(self, ctx: RequestContext, table_id: str, vpc: dict, tags: list[dict], main: bool = False) -> dict:
        associations = []
        if main:
            associations.append({
                "Main": True,
                "RouteTableAssociationId": new_resource_id("rtbassoc"),
                "RouteTableId": table_id,
                "AssociationState": {"State": "associated"},
            })
        return {
            "RouteTableId": table_id,
            "VpcId": vpc["VpcId"],
            "OwnerId": ctx.account,
            "Routes": [local_route(vpc["CidrBlock"])],
            "Associations": associations,
            "PropagatingVgws": [],
            "Tags": tags,
        }

    def CreateRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        vpc = self._require(ctx, VPC, params["VpcId"])
        tags = tags_to_create(params, ROUTE_TABLE)
        table_id = new_resource_id("rtb")
        table = self._route_table(ctx, table_id, vpc, tags)
        self._create_in_vpc(ctx, ROUTE_TABLE, table, table_id, vpc["VpcId"])
        result = {"RouteTable": table}
        if params.get("ClientToken"):
            result["ClientToken"] = params["ClientToken"]
        return result

    def DeleteRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        table = self._require(ctx, ROUTE_TABLE, params["RouteTableId"])
        if table["Associations"]:
            raise dependency_violation("routeTable", table["RouteTableId"])
        self._delete(ctx, ROUTE_TABLE, table["RouteTableId"])
        return {}

    def CreateRoute(self, ctx: RequestContext, params: dict) -> dict:
        table = self._require(ctx, ROUTE_TABLE, params["RouteTableId"])
        if "DestinationCidrBlock" not in params:
            raise AwsError("MissingParameter", "The request must contain the parameter destinationCidrBlock")
        destination = str(parse_cidr(params["DestinationCidrBlock"], "destinationCidrBlock"))
        targets = [m for m in ("GatewayId", *OTHER_ROUTE_TARGETS) if params.get(m)]
        if len(targets) != 1:
            raise AwsError(
                "InvalidParameterCombination" if targets else "MissingParameter",
                "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, "
                "vpcPeeringConnectionId, transitGatewayId, instanceId, egressOnlyInternetGatewayId, localGatewayId, "
                "carrierGatewayId, vpcEndpointId or coreNetworkArn",
            )
        target, value = targets[0], params[targets[0]]
        if target != "GatewayId" or not value.startswith("igw-"):
            # Moorage has internet gateways only: any other target does not exist.
            code, noun = OTHER_ROUTE_TARGETS.get(target, ("InvalidGatewayID.NotFound", "gateway"))
            raise AwsError(code, f"The {noun} ID '{value}' does not exist")
        self._require(ctx, INTERNET_GATEWAY, value)
        if attachments(self._all(ctx, INTERNET_GATEWAY)).get(value) != table["VpcId"]:
            raise AwsError(
                "InvalidParameterValue", f"route table {table['RouteTableId']} and network gateway {value} belong to different networks"
            )

        def add(spec: dict) -> None:
            if any(r.get("DestinationCidrBlock") == destination for r in spec["Routes"]):
                raise AwsError("RouteAlreadyExists", f"The route identified by {destination} already exists.")
            spec["Routes"].append({"DestinationCidrBlock": destination, "GatewayId": value, "Origin": "CreateRoute", "State": "active"})

        self._change(ctx, ROUTE_TABLE, table["RouteTableId"], add)
        return {"Return": True}

    def DeleteRoute(self, ctx: RequestContext, params: dict) -> dict:
        table_id = params["RouteTableId"]
        if "DestinationCidrBlock" not in params:
            raise AwsError("MissingParameter", "The request must contain the parameter destinationCidrBlock")
        destination = params["DestinationCidrBlock"]

        def remove(spec: dict) -> None:
            route = next((r for r in spec["Routes"] if r.get("DestinationCidrBlock") == destination), None)
            if route is None:
                raise AwsError("InvalidRoute.NotFound", f"no route with destination-cidr-block {destination} in route table {table_id}")
            if route.get("GatewayId") == "local":
                raise AwsError("InvalidParameterValue", f"cannot remove local route {destination} in route table {table_id}")
            spec["Routes"].remove(route)

        self._change(ctx, ROUTE_TABLE, table_id, remove)
        return {}

    def AssociateRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        table = self._require(ctx, ROUTE_TABLE, params["RouteTableId"])
        if params.get("GatewayId"):
            raise AwsError("InvalidParameterValue", "Moorage supports route table associations with subnets only.")
        if not params.get("SubnetId"):
            raise AwsError("MissingParameter", "The request must contain the parameter subnetId or gatewayId")
        subnet = self._require(ctx, SUBNET, params["SubnetId"])
        if subnet["VpcId"] != table["VpcId"]:
            raise AwsError(
                "InvalidParameterValue", f"Route table {table['RouteTableId']} and subnet {subnet['SubnetId']} belong to different networks"
            )
        conflict = AwsError(
            "Resource.AlreadyAssociated",
            f"the specified association for route table {table['RouteTableId']} conflicts with an existing association",
        )
        if any(a.get("SubnetId") == subnet["SubnetId"] for t in self._all(ctx, ROUTE_TABLE) for a in t["Associations"]):
            raise conflict
        association = {
            "Main": False,
            "RouteTableAssociationId": new_resource_id("rtbassoc"),
            "RouteTableId": table["RouteTableId"],
            "SubnetId": subnet["SubnetId"],
            "AssociationState": {"State": "associated"},
        }
        self._change(ctx, ROUTE_TABLE, table["RouteTableId"], lambda t: t["Associations"].append(association))
        return {"AssociationId": association["RouteTableAssociationId"], "AssociationState": association["AssociationState"]}

    def DisassociateRouteTable(self, ctx: RequestContext, params: dict) -> dict:
        association_id = params["AssociationId"]
        table = next(
            (t for t in self._all(ctx, ROUTE_TABLE) if any(a["RouteTableAssociationId"] == association_id for a in t["Associations"])),
            None,
        )
        if table is None:
            raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")

        def disassociate(spec: dict) -> None:
            association = next((a for a in spec["Associations"] if a["RouteTableAssociationId"] == association_id), None)
            if association is None:
                raise AwsError("InvalidAssociationID.NotFound", f"The association ID '{association_id}' does not exist")
            if association.get("Main"):
                raise AwsError("InvalidParameterValue", f"cannot disassociate the main route table association {association_id}")
            spec["Associations"].remove(association)

        self._change(ctx, ROUTE_TABLE, table["RouteTableId"], disassociate)
        return {}

    def DescribeRouteTables(self, ctx: RequestContext, params: dict) -> dict:
        attached = attachments(self._all(ctx, INTERNET_GATEWAY))
        tables = [route_table_view(t, attached) for t in self._all(ctx, ROUTE_TABLE)]
        tables = select(tables, params.get("RouteTableIds"), "RouteTableId", ROUTE_TABLE)
        associated = lambda field: lambda t: [a[field] for a in t["Associations"] if field in a]  # noqa: E731
        routed = lambda field: lambda t: [r[field] for r in t["Routes"] if field in r]  # noqa: E731
        tables = match_filters(
            tables,
            params.get("Filters"),
            {
                **TAG_FIELDS,
                "route-table-id": lambda t: t["RouteTableId"],
                "vpc-id": lambda t: t["VpcId"],
                "owner-id": lambda t: t["OwnerId"],
                "association.route-table-association-id": associated("RouteTableAssociationId"),
                "association.route-table-id": associated("RouteTableId"),
                "association.subnet-id": associated("SubnetId"),
                "association.main": lambda t: [bool(a.get("Main")) for a in t["Associations"]] or [False],
                "route.destination-cidr-block": routed("DestinationCidrBlock"),
                "route.gateway-id": routed("GatewayId"),
                "route.nat-gateway-id": routed("NatGatewayId"),
                "route.origin": routed("Origin"),
                "route.state": routed("State"),
            },
        )
        return page(params, tables, "RouteTables")

    # --- tags ---------------------------------------------------------------------------------------

    def _taggable(self, ctx: RequestContext, resources: list[str]) -> list[tuple[str, str]]:
        """(kind, id) of each resource; every one must exist before any is changed."""
        found = []
        for resource in resources:
            kind = KIND_OF_PREFIX.get(resource.split("-", 1)[0]) if "-" in resource else None
            if kind is None:
                raise AwsError("InvalidID", f"The ID '{resource}' is not valid")
            self._require(ctx, kind, resource)
            found.append((kind, resource))
        return found

    def CreateTags(self, ctx: RequestContext, params: dict) -> dict:
        tags = params.get("Tags") or []
        merge_tags([], tags)  # checks keys before anything is written
        instance_ids, others = _split_instances(params["Resources"])
        owners = instance_tag_owners(self.store, ctx, instance_ids)
        for kind, resource in self._taggable(ctx, others):
            self._change(ctx, kind, resource, lambda spec: spec.update(Tags=merge_tags(spec["Tags"], tags)))
        for instance, owner in owners.items():
            change_instance_tags(self.store, owner, instance, lambda current: current.update({t["Key"]: t.get("Value", "") for t in tags}))
        return {}

    def DeleteTags(self, ctx: RequestContext, params: dict) -> dict:
        wanted = params.get("Tags")

        def drop(spec: dict) -> None:
            if wanted is None:
                spec["Tags"] = []  # no tags named: all of them go
                return
            spec["Tags"] = [
                t for t in spec["Tags"]
                if not any(t["Key"] == w.get("Key") and ("Value" not in w or t["Value"] == w["Value"]) for w in wanted)
            ]

        instance_ids, others = _split_instances(params["Resources"])
        owners = instance_tag_owners(self.store, ctx, instance_ids)
        for kind, resource in self._taggable(ctx, others):
            self._change(ctx, kind, resource, drop)

        def drop_from(current: dict) -> None:
            for key in list(current):
                if wanted is None or any(key == w.get("Key") and ("Value" not in w or current[key] == w["Value"]) for w in wanted):
                    del current[key]

        for instance, owner in owners.items():
            change_instance_tags(self.store, owner, instance, drop_from)
        return {}

    def DescribeTags(self, ctx: RequestContext, params: dict) -> dict:
        descriptions = [
            {"Key": tag["Key"], "Value": tag["Value"], "ResourceId": spec[ID_FIELDS[kind]], "ResourceType": kind}
            for kind in (VPC, SUBNET, SECURITY_GROUP, INTERNET_GATEWAY, ROUTE_TABLE)
            for spec in self._all(ctx, kind)
            for tag in spec["Tags"]
        ] + [
            {"Key": tag["Key"], "Value": tag["Value"], "ResourceId": instance["InstanceId"], "ResourceType": "instance"}
            for instance in node_group_instances(self.store, ctx.account, ctx.region) + launched_instances(self.store, ctx.account, ctx.region)
            for tag in instance["Tags"]
        ]
        descriptions = match_filters(
            descriptions,
            params.get("Filters"),
            {
                "key": lambda d: d["Key"],
                "value": lambda d: d["Value"],
                "resource-id": lambda d: d["ResourceId"],
                "resource-type": lambda d: d["ResourceType"],
            },
        )
        descriptions.sort(key=lambda d: (d["ResourceId"], d["Key"]))
        return page(params, descriptions, "Tags")


def _split_instances(resources: list[str]) -> tuple[list[str], list[str]]:
    """Instance ids (tagged where their instance is recorded) and the network resources' ids."""
    instances = [r for r in resources if r.startswith("i-")]
    return instances, [r for r in resources if not r.startswith("i-")]
