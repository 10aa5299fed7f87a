"""Security-group rules as EC2 reads them: protocols, port ranges, CIDR and prefix-list sources,
and the identity that makes two rules duplicates.
"""

from __future__ import annotations

import re

from ...core.errors import AwsError
from .network_ops import missing_parameter

PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
             "icmpv6": "icmpv6", "58": "icmpv6", "-1": "-1"}
PORT_RANGE_PROTOCOLS = ("tcp", "udp")
ICMP_PROTOCOLS = ("icmp", "icmpv6")
# AWS-managed (pl-63a5400a) and customer-managed (17 hex digits) prefix list ids.
PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8}(?:[0-9a-f]{9})?$")
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
