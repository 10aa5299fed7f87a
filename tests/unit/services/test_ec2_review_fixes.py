"""EC2 review fixes: odd security-group rule input is EC2's 400 (never a 500), a private address in use
is refused at RunInstances, and a VPC is created and deleted together with its defaults.

Handlers are called directly on a real SQLite store; tests/contract/test_ec2_review_fixes.py covers the wire.
"""

import asyncio
import dataclasses
import ipaddress

import pytest

from moorage.controllers.instances import InstanceReconciler
from moorage.core.errors import AwsError
from moorage.store import AlreadyExists, Conflict, Key

from .test_ec2_networks import ACCOUNT, REGION, call, ctx, ec2, store  # noqa: F401 (fixtures shared with the network tests)

IMAGE = "ami-12345678"


def refused(ec2, ctx, operation, **params) -> tuple[str, str]:
    """The error's code and message (its HTTP status, 400, is the wire's: see the contract tests)."""
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, operation, **params)
    return excinfo.value.code, excinfo.value.message


@pytest.fixture
def group(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    return call(ec2, ctx, "CreateSecurityGroup", GroupName="web", Description="web", VpcId=vpc)["GroupId"]


def rules_of(ec2, ctx, group_id, member="IpPermissions"):
    return call(ec2, ctx, "DescribeSecurityGroups", GroupIds=[group_id])["SecurityGroups"][0][member]


# --- security group rules -----------------------------------------------------------------------------

TCP_22 = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
MISSING_PROTOCOL = ("InvalidParameterValue",
                    "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.")


@pytest.mark.parametrize(
    "permission, code, message",
    [
        # An item missing the id of its source.
        ({**TCP_22, "PrefixListIds": [{}]}, "MissingParameter", "The request must contain the parameter prefixListId"),
        ({**TCP_22, "PrefixListIds": [{"Description": "x"}]}, "MissingParameter", "The request must contain the parameter prefixListId"),
        ({**TCP_22, "UserIdGroupPairs": [{}]}, "MissingParameter", "Source group ID missing."),
        ({**TCP_22, "UserIdGroupPairs": [{"Description": "x", "UserId": ACCOUNT}]}, "MissingParameter", "Source group ID missing."),
        ({**TCP_22, "IpRanges": [{"Description": "x"}]}, "MissingParameter", "The request must contain the parameter cidrIp"),
        ({**TCP_22, "Ipv6Ranges": [{}]}, "MissingParameter", "The request must contain the parameter cidrIpv6"),
        # Sources that do not exist or are malformed.
        ({**TCP_22, "PrefixListIds": [{"PrefixListId": "pl-nope"}]}, "InvalidPrefixListID.NotFound",
         "The prefix list ID 'pl-nope' does not exist"),
        ({**TCP_22, "IpRanges": [{"CidrIp": "10.0.0.1/8"}]}, "InvalidParameterValue", "CIDR block 10.0.0.1/8 is malformed"),
        ({**TCP_22, "IpRanges": [{"CidrIp": "::/0"}]}, "InvalidParameterValue", "CIDR block ::/0 is malformed"),
        ({**TCP_22, "Ipv6Ranges": [{"CidrIpv6": "10.0.0.0/8"}]}, "InvalidParameterValue", "CIDR block 10.0.0.0/8 is malformed"),
        # Protocols.
        ({}, *MISSING_PROTOCOL),
        ({"FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, *MISSING_PROTOCOL),
        ({"IpProtocol": "all", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid value 'all' for IP protocol. Unknown protocol."),
        ({"IpProtocol": "256", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid value '256' for IP protocol. Unknown protocol."),
        # Ports.
        ({"IpProtocol": "tcp", "FromPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange."),
        ({"IpProtocol": "icmp", "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid value 'Must specify both from and to ports with ICMP.' for portRange."),
        ({"IpProtocol": "udp", "FromPort": 100, "ToPort": 50, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid TCP/UDP port range: from port 100, to port 50."),
        ({"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65536, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid TCP/UDP port range: from port 0, to port 65536."),
        ({"IpProtocol": "tcp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "Invalid TCP/UDP port range: from port -1, to port -1."),
        ({"IpProtocol": "icmp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "ICMP code (65535) out of range"),
        ({"IpProtocol": "icmp", "FromPort": 256, "ToPort": 0, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "ICMP type (256) out of range"),
        ({"IpProtocol": "icmp", "FromPort": -1, "ToPort": 3, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}, "InvalidParameterValue",
         "ICMP code (3) out of range. ICMP type -1 (all types) allows only code -1."),
        # The same rule twice in one request.
        ({**TCP_22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "10.0.0.0/8", "Description": "again"}]},
         "InvalidParameterValue", "The same permission must not appear multiple times"),
    ],
)
@pytest.mark.parametrize("operation", ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"])
def test_odd_permissions_are_refused_as_ec2_does_and_nothing_is_written(ec2, ctx, group, operation, permission, code, message):
    before = call(ec2, ctx, "DescribeSecurityGroups", GroupIds=[group])["SecurityGroups"][0]
    # A valid permission first: a refusal later in the same request must not leave it behind.
    valid = {**TCP_22, "IpRanges": [{"CidrIp": "192.168.0.0/16"}]}
    assert refused(ec2, ctx, operation, GroupId=group, IpPermissions=[valid, permission]) == (code, message)
    assert call(ec2, ctx, "DescribeSecurityGroups", GroupIds=[group])["SecurityGroups"][0] == before


@pytest.mark.parametrize("operation", ["RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"])
def test_revoke_checks_permissions_the_same_way(ec2, ctx, group, operation):
    assert refused(ec2, ctx, operation, GroupId=group, IpPermissions=[{**TCP_22, "PrefixListIds": [{}]}]) == (
        "MissingParameter", "The request must contain the parameter prefixListId")
    assert refused(ec2, ctx, operation, GroupId=group, IpPermissions=[{**TCP_22, "UserIdGroupPairs": [{}]}]) == (
        "MissingParameter", "Source group ID missing.")
    assert refused(ec2, ctx, operation, GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])[0] == (
        "InvalidParameterValue")


def test_legacy_source_group_owner_without_a_group_is_missing_its_group(ec2, ctx):
    assert refused(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupName="default", SourceSecurityGroupOwnerId=ACCOUNT) == (
        "MissingParameter", "Source group ID missing.")


def test_prefix_lists_icmp_and_other_protocols_are_stored_as_ec2_shows_them(ec2, ctx, group):
    """Any well-formed prefix list id is accepted (AWS-managed lists exist in every region); ICMP keeps its
    type and code; a protocol without ports (-1, 47) covers every port, whatever ports the request gave."""
    added = call(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[
        {"IpProtocol": "TCP", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-63a5400a", "Description": "s3"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "47", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ])["SecurityGroupRules"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in added] == [("tcp", 443, 443), ("icmp", -1, -1), ("47", -1, -1)]
    assert added[0]["PrefixListId"] == "pl-63a5400a" and added[0]["Description"] == "s3"
    assert {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [], "Ipv6Ranges": [], "UserIdGroupPairs": [],
            "PrefixListIds": [{"PrefixListId": "pl-63a5400a", "Description": "s3"}]} in rules_of(ec2, ctx, group)
    filtered = call(ec2, ctx, "DescribeSecurityGroups", Filters=[{"Name": "ip-permission.prefix-list-id", "Values": ["pl-63a5400a"]}])
    assert [g["GroupId"] for g in filtered["SecurityGroups"]] == [group]
    revoked = call(ec2, ctx, "RevokeSecurityGroupIngress", GroupId=group, IpPermissions=[
        {"IpProtocol": "6", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-63a5400a"}]},
    ])["RevokedSecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in revoked] == [added[0]["SecurityGroupRuleId"]]


# --- RunInstances with a private address in use --------------------------------------------------------


@pytest.fixture
def subnet(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    return call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock="10.40.0.0/24")["Subnet"]["SubnetId"]


def launch(ec2, ctx, subnet, address=None, request="request-1"):
    context = dataclasses.replace(ctx, request_id=request)  # instance ids derive from the request id
    params = {"ImageId": IMAGE, "MinCount": 1, "MaxCount": 1, "InstanceType": "m5.large", "SubnetId": subnet}
    if address:
        params["PrivateIpAddress"] = address
    return call(ec2, context, "RunInstances", **params)["Instances"][0]["InstanceId"]


def in_use(ec2, ctx, subnet, address):
    before = {r.key for r in ec2.store.list(ACCOUNT, REGION, "instance")}
    with pytest.raises(AwsError) as excinfo:
        launch(ec2, ctx, subnet, address, request=f"again-{address}")
    assert (excinfo.value.code, excinfo.value.message) == ("InvalidIPAddress.InUse", f"Address {address} is in use.")
    assert {r.key for r in ec2.store.list(ACCOUNT, REGION, "instance")} == before  # nothing recorded


def addressed(store, instance):
    """Run the instance reconciler once, as `moorage up` would: the launch gets its address (no cluster, no node)."""
    key = Key(ACCOUNT, REGION, "instance", instance)
    asyncio.run(InstanceReconciler(store, None, None, None).reconcile(key))
    return store.require(key).status


def test_an_address_a_pending_launch_asked_for_is_in_use(ec2, ctx, subnet):
    launch(ec2, ctx, subnet, "10.40.0.20")
    in_use(ec2, ctx, subnet, "10.40.0.20")
    launch(ec2, ctx, subnet, "10.40.0.21", request="other")  # another address is free


def test_a_running_instance_holds_its_address_and_pod_block_until_terminated(ec2, ctx, store, subnet):
    first = launch(ec2, ctx, subnet, "10.40.0.20")
    status = addressed(store, first)
    assert status["state"] == "running" and status["privateIp"] == "10.40.0.20"
    in_use(ec2, ctx, subnet, "10.40.0.20")
    second = launch(ec2, ctx, subnet, request="second")  # the reconciler picks the address
    picked = addressed(store, second)
    in_use(ec2, ctx, subnet, picked["privateIp"])
    block_address = str(next(ipaddress.ip_network(picked["podCidr"]).hosts()))
    in_use(ec2, ctx, subnet, block_address)  # a pod's address: secondary addresses of the node's interface

    call(ec2, ctx, "TerminateInstances", InstanceIds=[first])
    addressed(store, first)  # the reconciler terminates it and lets the address go
    assert launch(ec2, ctx, subnet, "10.40.0.20", request="third")


def test_node_group_and_fargate_nodes_hold_their_addresses(ec2, ctx, store, subnet):
    """Records as the node-group and Fargate reconcilers write them (status only)."""
    store.create(Key(ACCOUNT, REGION, "nodegroup", "demo/ng"), {"clusterName": "demo", "nodegroupName": "ng"},
                 {"instances": [{"instanceId": "i-0123456789abcdef0", "privateIp": "10.40.0.30", "podCidr": "10.40.0.224/27",
                                 "subnetId": subnet}]})
    store.create(Key(ACCOUNT, REGION, "fargateprofile", "demo/fp"), {"clusterName": "demo", "fargateProfileName": "fp"},
                 {"pods": {"uid-1": {"privateIp": "10.40.0.31", "subnetId": subnet}}})
    for address in ("10.40.0.30", "10.40.0.230", "10.40.0.31"):
        in_use(ec2, ctx, subnet, address)
    launch(ec2, ctx, subnet, "10.40.0.32")


def test_reserved_addresses_are_refused_at_the_call_too(ec2, ctx, subnet):
    for address in ("10.40.0.0", "10.40.0.3", "10.40.0.255"):
        assert refused(ec2, ctx, "RunInstances", ImageId=IMAGE, MinCount=1, MaxCount=1, InstanceType="m5.large",
                       SubnetId=subnet, PrivateIpAddress=address) == (
            "InvalidParameterValue", f"Address {address} is in subnet's reserved address range")


# --- a VPC and its defaults, created and deleted together ------------------------------------------------


def test_create_all_writes_every_record_or_none(store):
    taken = Key(ACCOUNT, REGION, "vpc", "vpc-taken")
    store.create(taken, {"VpcId": "vpc-taken"})
    announced = []
    store.subscribe(announced.append)
    fresh = [Key(ACCOUNT, REGION, "route-table", "rtb-1"), Key(ACCOUNT, REGION, "security-group", "sg-1")]
    with pytest.raises(AlreadyExists):
        store.create_all([(fresh[0], {}), (taken, {}), (fresh[1], {})])
    assert [store.get(k) for k in fresh] == [None, None] and announced == []
    created = store.create_all([(k, {"n": i}) for i, k in enumerate(fresh)])
    assert [r.spec for r in created] == [{"n": 0}, {"n": 1}] and announced == fresh


def test_remove_all_removes_every_record_or_none(store):
    keys = [Key(ACCOUNT, REGION, "vpc", f"vpc-{i}") for i in range(3)]
    records = store.create_all([(k, {}) for k in keys])
    store.update_spec(records[1], {"changed": True})  # records[1] is now stale
    with pytest.raises(Conflict):
        store.remove_all(records)
    assert all(store.get(k) is not None for k in keys)
    store.remove_all([store.require(k) for k in keys])
    assert all(store.get(k) is None for k in keys)


def test_a_vpc_is_born_and_dies_with_its_main_route_table_and_default_group(ec2, ctx, store):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    tables = call(ec2, ctx, "DescribeRouteTables", Filters=by_vpc)["RouteTables"]
    groups = call(ec2, ctx, "DescribeSecurityGroups", Filters=by_vpc)["SecurityGroups"]
    assert [t["Associations"][0]["Main"] for t in tables] == [True] and [g["GroupName"] for g in groups] == ["default"]
    vpc_record = store.require(Key(ACCOUNT, REGION, "vpc", vpc))
    for kind, resource in (("route-table", tables[0]["RouteTableId"]), ("security-group", groups[0]["GroupId"])):
        assert store.require(Key(ACCOUNT, REGION, kind, resource)).created_at == vpc_record.created_at  # one transaction

    call(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupId=groups[0]["GroupId"], IpPermissions=[
        {**TCP_22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])  # a changed default group goes too
    call(ec2, ctx, "DeleteVpc", VpcId=vpc)
    assert call(ec2, ctx, "DescribeRouteTables", Filters=by_vpc)["RouteTables"] == []
    assert call(ec2, ctx, "DescribeSecurityGroups", Filters=by_vpc)["SecurityGroups"] == []
    assert store.get(Key(ACCOUNT, REGION, "vpc", vpc)) is None
