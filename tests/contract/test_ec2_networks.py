"""User-created EC2 networks through boto3 and the AWS CLI, and EKS accepting their subnets.

Everything here lives in its own region so the VPC quota and unfiltered listings of the other
contract tests (which use us-west-2) are not disturbed.
"""

import json
import subprocess
import sys

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

REGION = "us-east-2"
ZONES = ["us-east-2a", "us-east-2b"]
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"


def error_of(excinfo):
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


def aws(moorage, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awscli", "--profile", "moorage", "--region", REGION, "--output", "json", *args],
        capture_output=True, text=True, timeout=60, env=moorage.env(),
    )


@pytest.fixture(scope="module")
def ec2(moorage):
    return moorage.client("ec2", region=REGION)


@pytest.fixture(scope="module")
def network(ec2):
    """A VPC as the EKS user guide builds one: two public and two private subnets over two zones."""
    tag = lambda kind, name: [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]  # noqa: E731
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tag("vpc", "contract"))["Vpc"]
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]])
    gateway = ec2.create_internet_gateway(TagSpecifications=tag("internet-gateway", "contract"))["InternetGateway"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc["VpcId"])
    public_table = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]
    assert ec2.create_route(
        RouteTableId=public_table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway["InternetGatewayId"]
    )["Return"]
    subnets = {}
    for index, zone in enumerate(ZONES):
        for kind, base in (("public", 0), ("private", 100)):
            subnet = ec2.create_subnet(
                VpcId=vpc["VpcId"], CidrBlock=f"10.20.{base + index}.0/24", AvailabilityZone=zone,
                TagSpecifications=tag("subnet", f"{kind}-{zone}"),
            )["Subnet"]
            subnets.setdefault(kind, []).append(subnet)
    for subnet in subnets["public"]:
        ec2.associate_route_table(RouteTableId=public_table["RouteTableId"], SubnetId=subnet["SubnetId"])
        ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    ec2.get_waiter("subnet_available").wait(SubnetIds=[s["SubnetId"] for s in subnets["public"] + subnets["private"]])
    return {"vpc": vpc, "gateway": gateway, "public_table": public_table, **subnets}


def test_vpc_subnets_gateway_and_routes_are_described_with_filters(ec2, network):
    vpc_id = network["vpc"]["VpcId"]
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["contract"]}])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc_id]
    assert found[0]["CidrBlock"] == "10.20.0.0/16" and not found[0]["IsDefault"] and found[0]["State"] == "available"
    # Default and user-created VPCs and subnets are listed together.
    assert {v["IsDefault"] for v in ec2.describe_vpcs()["Vpcs"]} == {True, False}
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"][0]["VpcId"] == vpc_id
    everything = ec2.describe_subnets()["Subnets"]
    assert {s["DefaultForAz"] for s in everything} == {True, False}
    mine = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert len(mine) == 4 and {s["AvailabilityZone"] for s in mine} == set(ZONES)
    assert all(s["AvailableIpAddressCount"] == 251 for s in mine)
    in_zone = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "availability-zone", "Values": [ZONES[0]]},
        {"Name": "map-public-ip-on-launch", "Values": ["true"]},
    ])["Subnets"]
    assert [s["SubnetId"] for s in in_zone] == [network["public"][0]["SubnetId"]]
    by_tag = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["private-*"]}])["Subnets"]
    assert sorted(s["SubnetId"] for s in by_tag) == sorted(s["SubnetId"] for s in network["private"])

    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert gateways[0]["InternetGatewayId"] == network["gateway"]["InternetGatewayId"]
    assert gateways[0]["Attachments"] == [{"State": "available", "VpcId": vpc_id}]

    public = network["public"][0]["SubnetId"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [public]}])["RouteTables"]
    assert [t["RouteTableId"] for t in tables] == [network["public_table"]["RouteTableId"]]
    assert {(r["DestinationCidrBlock"], r["GatewayId"], r["State"]) for r in tables[0]["Routes"]} == {
        ("10.20.0.0/16", "local", "active"), ("0.0.0.0/0", network["gateway"]["InternetGatewayId"], "active"),
    }
    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"]
    assert len(main) == 1 and [r["GatewayId"] for r in main[0]["Routes"]] == ["local"]  # private subnets use it
    # The new VPC came with its default security group.
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]


def test_default_vpc_gateway_and_main_route_table_are_describable(ec2):
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    gateway = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [default_vpc]}])["InternetGateways"][0]
    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [default_vpc]}, {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"][0]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway["InternetGatewayId"], "Origin": "CreateRoute",
            "State": "active"} in main["Routes"]


def test_bad_and_overlapping_cidrs(ec2, network):
    vpc_id = network["vpc"]["VpcId"]
    cases = [
        (lambda: ec2.create_vpc(CidrBlock="10.0.0.0/8"), "InvalidVpc.Range", "The CIDR '10.0.0.0/8' is invalid."),
        (lambda: ec2.create_vpc(CidrBlock="10.0.0.0/33"), "InvalidParameterValue",
         "Value (10.0.0.0/33) for parameter cidrBlock is invalid. This is not a valid CIDR block."),
        (lambda: ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.21.0.0/24"), "InvalidSubnet.Range", "The CIDR '10.21.0.0/24' is invalid."),
        (lambda: ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.0.128/25"), "InvalidSubnet.Conflict",
         "The CIDR '10.20.0.128/25' conflicts with another subnet"),
        (lambda: ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.50.0/24", AvailabilityZone="us-west-2a"), "InvalidParameterValue",
         "Value (us-west-2a) for parameter availabilityZone is invalid. Subnets can currently only be created in the "
         "following availability zones: us-east-2a, us-east-2b, us-east-2c."),
        (lambda: ec2.create_subnet(VpcId="vpc-0123456789abcdef0", CidrBlock="10.20.50.0/24"), "InvalidVpcID.NotFound",
         "The vpc ID 'vpc-0123456789abcdef0' does not exist"),
        (lambda: ec2.create_route(RouteTableId=network["public_table"]["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                                  GatewayId=network["gateway"]["InternetGatewayId"]),
         "RouteAlreadyExists", "The route identified by 0.0.0.0/0 already exists."),
        (lambda: ec2.attach_internet_gateway(InternetGatewayId=network["gateway"]["InternetGatewayId"], VpcId=vpc_id),
         "Resource.AlreadyAssociated", f"resource {network['gateway']['InternetGatewayId']} is already attached to network {vpc_id}"),
        (lambda: ec2.associate_route_table(RouteTableId=network["public_table"]["RouteTableId"], SubnetId=network["public"][0]["SubnetId"]),
         "Resource.AlreadyAssociated",
         f"the specified association for route table {network['public_table']['RouteTableId']} conflicts with an existing association"),
    ]
    for make, code, message in cases:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            make()
        assert error_of(excinfo) == (code, 400, message)


def test_aws_cli_builds_and_reads_a_network(moorage, network):
    vpc_id = network["vpc"]["VpcId"]
    created = aws(moorage, "ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.20.200.0/24",
                  "--availability-zone-id", "use2-az3", "--tag-specifications", "ResourceType=subnet,Tags=[{Key=Name,Value=cli}]")
    assert created.returncode == 0, created.stderr
    subnet = json.loads(created.stdout)["Subnet"]
    assert subnet["AvailabilityZone"] == "us-east-2c" and subnet["CidrBlock"] == "10.20.200.0/24"
    listed = aws(moorage, "ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc_id}", "Name=tag:Name,Values=cli",
                 "--query", "Subnets[].SubnetId")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [subnet["SubnetId"]]
    overlapping = aws(moorage, "ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.20.200.0/25")
    assert overlapping.returncode != 0 and "(InvalidSubnet.Conflict)" in overlapping.stderr

    group = aws(moorage, "ec2", "create-security-group", "--group-name", "cli-web", "--description", "web", "--vpc-id", vpc_id)
    assert group.returncode == 0, group.stderr
    group_id = json.loads(group.stdout)["GroupId"]
    allowed = aws(moorage, "ec2", "authorize-security-group-ingress", "--group-id", group_id,
                  "--protocol", "tcp", "--port", "443", "--cidr", "0.0.0.0/0")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["SecurityGroupRules"][0]["FromPort"] == 443
    again = aws(moorage, "ec2", "authorize-security-group-ingress", "--group-id", group_id,
                "--protocol", "tcp", "--port", "443", "--cidr", "0.0.0.0/0")
    assert again.returncode != 0 and "(InvalidPermission.Duplicate)" in again.stderr
    rules = aws(moorage, "ec2", "describe-security-groups", "--group-ids", group_id, "--query", "SecurityGroups[0].IpPermissions")
    assert json.loads(rules.stdout)[0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    duplicate = aws(moorage, "ec2", "create-security-group", "--group-name", "cli-web", "--description", "web", "--vpc-id", vpc_id)
    assert duplicate.returncode != 0 and "(InvalidGroup.Duplicate)" in duplicate.stderr

    for args in (["delete-security-group", "--group-id", group_id], ["delete-subnet", "--subnet-id", subnet["SubnetId"]]):
        deleted = aws(moorage, "ec2", *args)
        assert deleted.returncode == 0, deleted.stderr
    tags = aws(moorage, "ec2", "describe-tags", "--filters", f"Name=resource-id,Values={vpc_id}")
    assert json.loads(tags.stdout)["Tags"] == [{"Key": "Name", "ResourceId": vpc_id, "ResourceType": "vpc", "Value": "contract"}]


def test_deletes_wait_for_dependencies(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    default_group = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]},
    ])["SecurityGroups"][0]["GroupId"]
    for make, code, message in [
        (lambda: ec2.delete_vpc(VpcId=vpc), "DependencyViolation", f"The vpc '{vpc}' has dependencies and cannot be deleted."),
        (lambda: ec2.delete_internet_gateway(InternetGatewayId=gateway), "DependencyViolation",
         f"The internetGateway '{gateway}' has dependencies and cannot be deleted."),
        (lambda: ec2.delete_security_group(GroupId=default_group), "CannotDelete",
         f'the specified group: "{default_group}" name: "default" cannot be deleted by a user'),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            make()
        assert error_of(excinfo) == (code, 400, message)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=gateway)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.delete_vpc(VpcId=vpc)  # the non-default group is still there
    assert error_of(excinfo)[0] == "DependencyViolation"
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.delete_internet_gateway(InternetGatewayId=gateway)
    assert error_of(excinfo) == ("InvalidInternetGatewayID.NotFound", 400, f"The internetGateway ID '{gateway}' does not exist")


def test_eks_accepts_user_subnets_and_security_groups(moorage, ec2, network):
    eks = moorage.client("eks", region=REGION)
    vpc_id = network["vpc"]["VpcId"]
    subnet_ids = [s["SubnetId"] for s in network["private"] + network["public"]]
    group = ec2.create_security_group(GroupName="eks-extra", Description="extra", VpcId=vpc_id)["GroupId"]
    cluster = eks.create_cluster(
        name="own-network", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids, "securityGroupIds": [group]},
    )["cluster"]
    config = cluster["resourcesVpcConfig"]
    assert config["vpcId"] == vpc_id and config["subnetIds"] == subnet_ids and config["securityGroupIds"] == [group]
    # The service CIDR avoids the VPC's 10.0.0.0/8 block, as EKS chooses it.
    assert cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "172.20.0.0/16"

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:  # the cluster's network interfaces are in it
        ec2.delete_subnet(SubnetId=network["private"][0]["SubnetId"])
    assert error_of(excinfo) == (
        "DependencyViolation", 400, f"The subnet '{network['private'][0]['SubnetId']}' has dependencies and cannot be deleted."
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.delete_security_group(GroupId=group)
    assert error_of(excinfo) == ("DependencyViolation", 400, f"resource {group} has a dependent object")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="overlap", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids[:2]},
                           kubernetesNetworkConfig={"serviceIpv4Cidr": "10.20.0.0/16"})
    assert error_of(excinfo)[:2] == ("InvalidParameterException", 400)
    assert "overlaps with the VPC CIDR 10.20.0.0/16" in error_of(excinfo)[2]

    default_group = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]},
    ])["SecurityGroups"][0]["GroupId"]
    other_vpc_group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    assert other_vpc_group != default_group
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="wrong-group", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnet_ids, "securityGroupIds": [other_vpc_group]})
    assert error_of(excinfo) == (
        "InvalidParameterException", 400,
        f"Security group(s) [{other_vpc_group}] are not in the same VPC as the subnets. "
        f"Please specify a security group that is associated with the VPC: {vpc_id}.",
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="missing", roleArn=ROLE, resourcesVpcConfig={"subnetIds": [subnet_ids[0], "subnet-0123456789abcdef0"]})
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "The subnet ID 'subnet-0123456789abcdef0' does not exist" in message and "InvalidSubnetID.NotFound" in message
    mixed = [network["private"][0]["SubnetId"], ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][1]["SubnetId"]]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="mixed", roleArn=ROLE, resourcesVpcConfig={"subnetIds": mixed})
    assert error_of(excinfo) == ("InvalidParameterException", 400, "Subnets specified must belong to the same VPC.")
