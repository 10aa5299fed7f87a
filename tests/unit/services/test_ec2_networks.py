"""User-created EC2 networks: CIDR rules, public/private resolution and the lookups other components use.

The handlers are called directly on a real SQLite store (no processes, no HTTP); the wire is
tests/contract/test_ec2_networks.py's job.
"""

import re

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.ec2.network import (
    all_security_groups,
    all_subnets,
    check_subnet_cidr,
    check_vpc_cidr,
    default_subnets,
    default_vpc,
    find_subnet,
    interface_address,
    public_subnet_ids,
    subnet_is_public,
)
from moorage.services.ec2.service import Ec2Service
from moorage.store import SqliteStore

ACCOUNT, REGION = "111122223333", "us-west-2"


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


@pytest.fixture
def ec2(store):
    return Ec2Service(store)


@pytest.fixture
def ctx():
    return RequestContext(ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:root", "AKIDEXAMPLE", "request-1")


def call(ec2, ctx, operation, **params):
    return ec2.handler(operation)(ctx, params)


def error_of(excinfo) -> tuple[str, str]:
    return excinfo.value.code, excinfo.value.message


# --- CIDR rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.0.0.0/28", "192.168.4.0/24"])
def test_vpc_blocks_from_16_to_28_are_accepted(cidr):
    assert str(check_vpc_cidr(cidr)) == cidr


@pytest.mark.parametrize(
    "cidr, code",
    [
        ("10.0.0.0/8", "InvalidVpc.Range"),
        ("10.0.0.0/15", "InvalidVpc.Range"),
        ("10.0.0.0/29", "InvalidVpc.Range"),
        ("10.0.0.0/33", "InvalidParameterValue"),
        ("10.0.0.1/16", "InvalidParameterValue"),  # host bits set
        ("not-a-cidr", "InvalidParameterValue"),
    ],
)
def test_bad_vpc_blocks(cidr, code):
    with pytest.raises(AwsError) as excinfo:
        check_vpc_cidr(cidr)
    assert excinfo.value.code == code
    assert cidr in excinfo.value.message


def test_subnet_blocks_must_sit_inside_the_vpc_and_not_overlap():
    assert str(check_subnet_cidr("10.0.1.0/24", "10.0.0.0/16", ["10.0.0.0/24"])) == "10.0.1.0/24"
    with pytest.raises(AwsError) as excinfo:
        check_subnet_cidr("10.1.0.0/24", "10.0.0.0/16", [])
    assert error_of(excinfo) == ("InvalidSubnet.Range", "The CIDR '10.1.0.0/24' is invalid.")
    with pytest.raises(AwsError) as excinfo:
        check_subnet_cidr("10.0.0.0/29", "10.0.0.0/16", [])
    assert excinfo.value.code == "InvalidSubnet.Range"
    with pytest.raises(AwsError) as excinfo:
        check_subnet_cidr("10.0.0.128/25", "10.0.0.0/16", ["10.0.0.0/24"])  # inside an existing subnet
    assert error_of(excinfo) == ("InvalidSubnet.Conflict", "The CIDR '10.0.0.128/25' conflicts with another subnet")
    with pytest.raises(AwsError) as excinfo:
        check_subnet_cidr("10.0.0.0/23", "10.0.0.0/16", ["10.0.1.0/24"])  # around an existing subnet
    assert excinfo.value.code == "InvalidSubnet.Conflict"


# --- networks built through the handlers ----------------------------------------------------------------


def build_network(ec2, ctx) -> dict:
    """A VPC with a public and a private subnet in each of two zones, as EKS guides build one."""
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.0.0.0/16")["Vpc"]
    subnet = lambda cidr, zone: call(ec2, ctx, "CreateSubnet", VpcId=vpc["VpcId"], CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]  # noqa: E731
    public = [subnet("10.0.0.0/24", "us-west-2a"), subnet("10.0.1.0/24", "us-west-2b")]
    private = [subnet("10.0.10.0/24", "us-west-2a"), subnet("10.0.11.0/24", "us-west-2b")]
    gateway = call(ec2, ctx, "CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    call(ec2, ctx, "AttachInternetGateway", InternetGatewayId=gateway, VpcId=vpc["VpcId"])
    table = call(ec2, ctx, "CreateRouteTable", VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    call(ec2, ctx, "CreateRoute", RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    associations = [call(ec2, ctx, "AssociateRouteTable", RouteTableId=table, SubnetId=s["SubnetId"])["AssociationId"] for s in public]
    return {"vpc": vpc, "public": public, "private": private, "gateway": gateway, "table": table, "associations": associations}


def test_public_and_private_subnets_follow_their_route_tables(ec2, ctx, store):
    net = build_network(ec2, ctx)
    ids = lambda subnets: {s["SubnetId"] for s in subnets}  # noqa: E731
    for subnet in net["public"]:
        assert subnet_is_public(store, ACCOUNT, REGION, subnet["SubnetId"])
    for subnet in net["private"]:
        assert not subnet_is_public(store, ACCOUNT, REGION, subnet["SubnetId"])
    defaults = ids(default_subnets(ACCOUNT, REGION))
    assert public_subnet_ids(store, ACCOUNT, REGION) == ids(net["public"]) | defaults
    assert not subnet_is_public(store, ACCOUNT, REGION, "subnet-0123456789abcdef0")

    # Without the explicit association a subnet falls back to the main table (local route only).
    call(ec2, ctx, "DisassociateRouteTable", AssociationId=net["associations"][0])
    assert not subnet_is_public(store, ACCOUNT, REGION, net["public"][0]["SubnetId"])
    # A route to a detached gateway is a blackhole: the other public subnet turns private.
    call(ec2, ctx, "DetachInternetGateway", InternetGatewayId=net["gateway"], VpcId=net["vpc"]["VpcId"])
    assert not subnet_is_public(store, ACCOUNT, REGION, net["public"][1]["SubnetId"])
    table = call(ec2, ctx, "DescribeRouteTables", RouteTableIds=[net["table"]])["RouteTables"][0]
    assert [r["State"] for r in table["Routes"]] == ["active", "blackhole"]
    # Routing the main table to the gateway makes every unassociated subnet public.
    call(ec2, ctx, "AttachInternetGateway", InternetGatewayId=net["gateway"], VpcId=net["vpc"]["VpcId"])
    main = call(ec2, ctx, "DescribeRouteTables", Filters=[
        {"Name": "vpc-id", "Values": [net["vpc"]["VpcId"]]}, {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"][0]
    call(ec2, ctx, "CreateRoute", RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=net["gateway"])
    assert all(subnet_is_public(store, ACCOUNT, REGION, s["SubnetId"]) for s in net["private"])


def test_default_subnets_are_public_and_a_route_table_can_make_one_private(ec2, ctx, store):
    first = default_subnets(ACCOUNT, REGION)[0]["SubnetId"]
    assert subnet_is_public(store, ACCOUNT, REGION, first)
    table = call(ec2, ctx, "CreateRouteTable", VpcId=default_vpc(ACCOUNT, REGION)["VpcId"])["RouteTable"]["RouteTableId"]
    call(ec2, ctx, "AssociateRouteTable", RouteTableId=table, SubnetId=first)
    assert not subnet_is_public(store, ACCOUNT, REGION, first)


def test_lookups_see_default_and_user_resources(ec2, ctx, store):
    net = build_network(ec2, ctx)
    subnets = all_subnets(store, ACCOUNT, REGION)
    assert len(subnets) == len(default_subnets(ACCOUNT, REGION)) + 4
    private = net["private"][0]
    assert find_subnet(store, ACCOUNT, REGION, private["SubnetId"]) == private
    assert find_subnet(store, ACCOUNT, REGION, default_subnets(ACCOUNT, REGION)[0]["SubnetId"])["DefaultForAz"]
    assert find_subnet(store, ACCOUNT, REGION, "subnet-0123456789abcdef0") is None
    address = interface_address(store, ACCOUNT, REGION, private["SubnetId"], "cluster-1")
    assert address.startswith("10.0.10.") and address == interface_address(store, ACCOUNT, REGION, private["SubnetId"], "cluster-1")
    # The new VPC's default group and a user group, beside the default VPC's default group.
    group = call(ec2, ctx, "CreateSecurityGroup", GroupName="web", Description="web", VpcId=net["vpc"]["VpcId"])
    groups = {g["GroupId"]: g for g in all_security_groups(store, ACCOUNT, REGION)}
    assert len(groups) == 3 and groups[group["GroupId"]]["VpcId"] == net["vpc"]["VpcId"]
    assert groups[group["GroupId"]]["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]


def test_each_resource_gets_an_aws_shaped_id(ec2, ctx):
    net = build_network(ec2, ctx)
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", net["vpc"]["VpcId"])
    assert re.fullmatch(r"subnet-[0-9a-f]{17}", net["public"][0]["SubnetId"])
    assert re.fullmatch(r"igw-[0-9a-f]{17}", net["gateway"])
    assert re.fullmatch(r"rtb-[0-9a-f]{17}", net["table"])
    assert re.fullmatch(r"rtbassoc-[0-9a-f]{17}", net["associations"][0])
    assert net["public"][0]["SubnetArn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{net['public'][0]['SubnetId']}"
    assert net["public"][0]["AvailableIpAddressCount"] == 251


def test_subnet_zone_is_picked_to_spread_when_not_given(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    zones = [call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock=f"10.1.{i}.0/24")["Subnet"]["AvailabilityZone"] for i in range(4)]
    assert sorted(zones) == ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"]
    by_id = call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock="10.1.9.0/24", AvailabilityZoneId="usw2-az2")["Subnet"]
    assert by_id["AvailabilityZone"] == "us-west-2b"
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock="10.1.10.0/24", AvailabilityZone="us-west-2z")
    assert excinfo.value.code == "InvalidParameterValue" and "us-west-2z" in excinfo.value.message


def test_dependencies_block_deletes_in_the_order_aws_enforces(ec2, ctx):
    net = build_network(ec2, ctx)
    vpc = net["vpc"]["VpcId"]
    for operation, params, code in [
        ("DeleteVpc", {"VpcId": vpc}, "DependencyViolation"),
        ("DeleteInternetGateway", {"InternetGatewayId": net["gateway"]}, "DependencyViolation"),
        ("DeleteRouteTable", {"RouteTableId": net["table"]}, "DependencyViolation"),
    ]:
        with pytest.raises(AwsError) as excinfo:
            call(ec2, ctx, operation, **params)
        assert excinfo.value.code == code
    for subnet in net["public"] + net["private"]:
        call(ec2, ctx, "DeleteSubnet", SubnetId=subnet["SubnetId"])  # associations go with the subnets
    call(ec2, ctx, "DeleteRouteTable", RouteTableId=net["table"])
    call(ec2, ctx, "DetachInternetGateway", InternetGatewayId=net["gateway"], VpcId=vpc)
    call(ec2, ctx, "DeleteInternetGateway", InternetGatewayId=net["gateway"])
    call(ec2, ctx, "DeleteVpc", VpcId=vpc)  # its main route table and default group go with it
    assert call(ec2, ctx, "DescribeRouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"] == []
    assert call(ec2, ctx, "DescribeSecurityGroups", Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"] == []
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "DescribeVpcs", VpcIds=[vpc])
    assert error_of(excinfo) == ("InvalidVpcID.NotFound", f"The vpc ID '{vpc}' does not exist")


def test_security_group_rules_are_stored_grouped_and_revoked(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    group = call(ec2, ctx, "CreateSecurityGroup", GroupName="api", Description="api", VpcId=vpc)["GroupId"]
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateSecurityGroup", GroupName="api", Description="again", VpcId=vpc)
    assert error_of(excinfo) == ("InvalidGroup.Duplicate", f"The security group 'api' already exists for VPC '{vpc}'")
    rules = call(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.0.0/16"}]},
    ])["SecurityGroupRules"]
    assert [r["CidrIpv4"] for r in rules] == ["10.0.0.0/8", "192.168.0.0/16"] and all(r["SecurityGroupRuleId"].startswith("sgr-") for r in rules)
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[
            {"IpProtocol": "6", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ])
    assert excinfo.value.code == "InvalidPermission.Duplicate"
    described = call(ec2, ctx, "DescribeSecurityGroups", GroupIds=[group])["SecurityGroups"][0]
    assert described["IpPermissions"] == [{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.0.0/16"}],
        "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": [],
    }]
    filtered = call(ec2, ctx, "DescribeSecurityGroups", Filters=[{"Name": "ip-permission.from-port", "Values": ["443"]}])
    assert [g["GroupId"] for g in filtered["SecurityGroups"]] == [group]
    revoked = call(ec2, ctx, "RevokeSecurityGroupIngress", GroupId=group, SecurityGroupRuleIds=[rules[0]["SecurityGroupRuleId"]])
    assert revoked["RevokedSecurityGroupRules"][0]["CidrIpv4"] == "10.0.0.0/8"
    with pytest.raises(AwsError) as excinfo:  # a non-default VPC's group: an unknown rule is an error
        call(ec2, ctx, "RevokeSecurityGroupIngress", GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ])
    assert excinfo.value.code == "InvalidPermission.NotFound"
    # A group another group's rule refers to cannot go.
    other = call(ec2, ctx, "CreateSecurityGroup", GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    call(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupId=other, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": group}]},
    ])
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "DeleteSecurityGroup", GroupId=group)
    assert error_of(excinfo) == ("DependencyViolation", f"resource {group} has a dependent object")


def test_tags_on_default_and_user_resources(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.3.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "demo"}]},
    ])["Vpc"]
    assert vpc["Tags"] == [{"Key": "Name", "Value": "demo"}]
    default_subnet = default_subnets(ACCOUNT, REGION)[0]["SubnetId"]
    call(ec2, ctx, "CreateTags", Resources=[default_subnet, vpc["VpcId"]], Tags=[{"Key": "kubernetes.io/role/elb", "Value": "1"}])
    tagged = call(ec2, ctx, "DescribeSubnets", Filters=[{"Name": "tag:kubernetes.io/role/elb", "Values": ["1"]}])["Subnets"]
    assert [s["SubnetId"] for s in tagged] == [default_subnet] and tagged[0]["DefaultForAz"]
    tags = call(ec2, ctx, "DescribeTags", Filters=[{"Name": "resource-id", "Values": [vpc["VpcId"]]}])["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in tags} == {("Name", "vpc"), ("kubernetes.io/role/elb", "vpc")}
    call(ec2, ctx, "DeleteTags", Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "other"}])  # value differs: kept
    call(ec2, ctx, "DeleteTags", Resources=[default_subnet], Tags=[{"Key": "kubernetes.io/role/elb"}])
    assert call(ec2, ctx, "DescribeVpcs", VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Tags"][0] == {"Key": "Name", "Value": "demo"}
    assert call(ec2, ctx, "DescribeSubnets", SubnetIds=[default_subnet])["Subnets"][0]["Tags"] == []
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateTags", Resources=["vpc-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert excinfo.value.code == "InvalidVpcID.NotFound"
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateTags", Resources=[vpc["VpcId"]], Tags=[{"Key": "aws:reserved", "Value": "b"}])
    assert excinfo.value.code == "InvalidParameterValue"


def test_vpc_quota(ec2, ctx):
    for index in range(4):  # the default VPC is the fifth
        call(ec2, ctx, "CreateVpc", CidrBlock=f"10.{index}.0.0/16")
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateVpc", CidrBlock="10.9.0.0/16")
    assert error_of(excinfo) == ("VpcLimitExceeded", "The maximum number of VPCs has been reached.")


def test_overlapping_subnet_created_concurrently_withdraws(ec2, ctx, store):
    """The second of two overlapping subnets that both passed the check before either was written goes away."""
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    first = call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock="10.4.0.0/24")["Subnet"]["SubnetId"]
    # Simulate the race: the check sees no siblings, as it would have before `first` was committed.
    ec2._all = lambda c, kind, real=ec2._all: [s for s in real(c, kind) if s.get("SubnetId") != first]
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock="10.4.0.0/25")
    assert excinfo.value.code == "InvalidSubnet.Conflict"
    assert [s["SubnetId"] for s in all_subnets(store, ACCOUNT, REGION) if s["VpcId"] == vpc] == [first]


@pytest.mark.parametrize(
    "address, message",
    [
        ("not-an-ip", "invalid value for parameter address: not-an-ip"),
        ("10.6.1.10", "Address 10.6.1.10 does not fall within the subnet's address range"),
        ("10.6.0.1", "Address 10.6.0.1 is in subnet's reserved address range"),
        ("10.6.0.255", "Address 10.6.0.255 is in subnet's reserved address range"),
    ],
)
def test_run_instances_refuses_a_private_address_the_subnet_cannot_give(ec2, ctx, store, address, message):
    """Checked at the call, as EC2 does: a bad address must never reach the instance reconciler."""
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    subnet = call(ec2, ctx, "CreateSubnet", VpcId=vpc, CidrBlock="10.6.0.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "RunInstances", ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m5.large",
             SubnetId=subnet, PrivateIpAddress=address)
    assert error_of(excinfo) == ("InvalidParameterValue", message)
    assert store.list(ACCOUNT, REGION, "instance") == []
    launched = call(ec2, ctx, "RunInstances", ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m5.large",
                    SubnetId=subnet, PrivateIpAddress="10.6.0.20")
    assert launched["Instances"][0]["SubnetId"] == subnet


def test_instance_filters_on_fields_a_pending_or_terminated_instance_lacks(ec2, ctx):
    """A pending instance has no address yet and a terminated one no subnet or VPC: no match, not a 500."""
    pending = call(ec2, ctx, "RunInstances", ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m5.large")
    pending_id = pending["Instances"][0]["InstanceId"]
    for name in ("private-ip-address", "subnet-id", "vpc-id"):
        found = call(ec2, ctx, "DescribeInstances", Filters=[{"Name": name, "Values": ["*"]}])["Reservations"]
        assert [r["Instances"][0]["InstanceId"] for r in found] == ([] if name == "private-ip-address" else [pending_id])


def test_run_instances_launches_at_most_the_instance_limit(ec2, ctx, store):
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "RunInstances", ImageId="ami-12345678", MinCount=1001, MaxCount=1001, InstanceType="m5.large")
    assert excinfo.value.code == "InstanceLimitExceeded"
    assert store.list(ACCOUNT, REGION, "instance") == []
    launched = call(ec2, ctx, "RunInstances", ImageId="ami-12345678", MinCount=1, MaxCount=5000, InstanceType="t3.micro")
    assert len(launched["Instances"]) == 1000  # as many as the limit allows, as EC2 does between MinCount and MaxCount


def test_instances_take_tags_like_other_resources(ec2, ctx, store):
    launched = call(ec2, ctx, "RunInstances", ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m5.large",
                    TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "one"}]}])
    instance = launched["Instances"][0]["InstanceId"]
    call(ec2, ctx, "CreateTags", Resources=[instance], Tags=[{"Key": "team", "Value": "web"}, {"Key": "tier", "Value": "1"}])
    described = call(ec2, ctx, "DescribeInstances", InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {"Name": "one", "team": "web", "tier": "1"}
    call(ec2, ctx, "DeleteTags", Resources=[instance], Tags=[{"Key": "tier"}])
    tags = call(ec2, ctx, "DescribeTags", Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
    assert [(t["Key"], t["Value"], t["ResourceType"]) for t in tags] == [("Name", "one", "instance"), ("team", "web", "instance")]
    with pytest.raises(AwsError) as excinfo:
        call(ec2, ctx, "CreateTags", Resources=[instance, "i-0123456789abcdef0"], Tags=[{"Key": "x", "Value": "y"}])
    assert excinfo.value.code == "InvalidInstanceID.NotFound"
    described = call(ec2, ctx, "DescribeInstances", InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert "x" not in {t["Key"] for t in described["Tags"]}  # nothing changed when one id was unknown
