"""EC2 review fixes through boto3 against a real `moorage up`: odd security-group rules are EC2's 400s
(never a 5xx), a private address in use is refused at RunInstances, and a VPC comes and goes with its
main route table and default security group.

In a region of its own, so the VPC quota and listings of the other contract tests are not disturbed.
"""

import time

import botocore.exceptions
import pytest

REGION = "eu-north-1"
TCP_22 = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}
CIDR = {"IpRanges": [{"CidrIp": "10.0.0.0/8"}]}


@pytest.fixture(scope="module")
def ec2(moorage):
    return moorage.client("ec2", region=REGION)


@pytest.fixture(scope="module")
def vpc(ec2):
    return ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]


@pytest.fixture(scope="module")
def group(ec2, vpc):
    return ec2.create_security_group(GroupName="review", Description="review", VpcId=vpc)["GroupId"]


@pytest.fixture(scope="module")
def subnet(ec2, vpc):
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


@pytest.mark.parametrize(
    "permission, code, message",
    [
        ({**TCP_22, "PrefixListIds": [{"Description": "x"}]}, "MissingParameter", "The request must contain the parameter prefixListId"),
        ({**TCP_22, "PrefixListIds": [{"PrefixListId": "pl-xxx"}]}, "InvalidPrefixListID.NotFound",
         "The prefix list ID 'pl-xxx' does not exist"),
        ({**TCP_22, "UserIdGroupPairs": [{"Description": "x"}]}, "MissingParameter", "Source group ID missing."),
        ({**TCP_22, "IpRanges": [{"Description": "x"}]}, "MissingParameter", "The request must contain the parameter cidrIp"),
        ({**TCP_22, "Ipv6Ranges": [{"Description": "x"}]}, "MissingParameter", "The request must contain the parameter cidrIpv6"),
        ({**TCP_22, "IpRanges": [{"CidrIp": "10.0.0.300/8"}]}, "InvalidParameterValue", "CIDR block 10.0.0.300/8 is malformed"),
        ({"FromPort": 22, "ToPort": 22, **CIDR}, "InvalidParameterValue",
         "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly."),
        ({"IpProtocol": "all", **CIDR}, "InvalidParameterValue", "Invalid value 'all' for IP protocol. Unknown protocol."),
        ({"IpProtocol": "tcp", "FromPort": 22, **CIDR}, "InvalidParameterValue",
         "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange."),
        ({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 80, **CIDR}, "InvalidParameterValue",
         "Invalid TCP/UDP port range: from port 443, to port 80."),
        ({"IpProtocol": "udp", "FromPort": 0, "ToPort": 70000, **CIDR}, "InvalidParameterValue",
         "Invalid TCP/UDP port range: from port 0, to port 70000."),
        ({"IpProtocol": "icmp", "FromPort": 8, "ToPort": 65535, **CIDR}, "InvalidParameterValue", "ICMP code (65535) out of range"),
    ],
)
@pytest.mark.parametrize("operation", ["authorize_security_group_ingress", "authorize_security_group_egress",
                                       "revoke_security_group_ingress", "revoke_security_group_egress"])
def test_odd_rules_are_ec2s_400(ec2, group, operation, permission, code, message):
    before = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert error_of(lambda: getattr(ec2, operation)(GroupId=group, IpPermissions=[permission])) == (code, 400, message)
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0] == before


@pytest.mark.parametrize("permission", [{**TCP_22, "PrefixListIds": [{}]}, {**TCP_22, "UserIdGroupPairs": [{}]}, {**TCP_22}])
def test_an_empty_item_never_reaches_the_wire_so_the_permission_names_no_source(ec2, group, permission):
    """The query protocol sends no member for an empty structure: EC2 sees a permission without a
    source, which it accepts and which adds no rule."""
    before = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])["SecurityGroupRules"] == []
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0] == before


def test_well_formed_prefix_lists_and_all_icmp_are_accepted_and_a_repeat_in_one_request_is_not(ec2, group):
    added = ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-63a5400a"}]},
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, **CIDR},
    ])["SecurityGroupRules"]
    assert [(r.get("PrefixListId"), r["IpProtocol"], r["FromPort"]) for r in added] == [("pl-63a5400a", "tcp", 443), (None, "icmp", -1)]
    twice = {**TCP_22, "IpRanges": [{"CidrIp": "10.1.0.0/16"}, {"CidrIp": "10.1.0.0/16"}]}
    assert error_of(lambda: ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[twice])) == (
        "InvalidParameterValue", 400, "The same permission must not appear multiple times")


def test_a_private_address_in_use_is_refused_at_run_instances(ec2, subnet):
    def run(address):
        return ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 SubnetId=subnet, PrivateIpAddress=address)["Instances"][0]["InstanceId"]

    first = run("10.60.1.10")
    in_use = ("InvalidIPAddress.InUse", 400, "Address 10.60.1.10 is in use.")
    assert error_of(lambda: run("10.60.1.10")) == in_use  # while the first launch is pending
    deadline = time.monotonic() + 30
    while (described := ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0])["State"]["Name"] == "pending":
        assert time.monotonic() < deadline, described
        time.sleep(0.1)
    assert described["State"]["Name"] == "running" and described["PrivateIpAddress"] == "10.60.1.10"
    assert error_of(lambda: run("10.60.1.10")) == in_use  # and once it runs
    assert error_of(lambda: run("10.60.1.3")) == (
        "InvalidParameterValue", 400, "Address 10.60.1.3 is in subnet's reserved address range")
    assert [r["Instances"][0]["InstanceId"] for r in ec2.describe_instances(
        Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"]] == [first]  # nothing else was launched
    ec2.terminate_instances(InstanceIds=[first])


def test_a_vpc_comes_and_goes_with_its_main_route_table_and_default_group(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    tables = ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
    assert [(t["Associations"][0]["Main"], [r["GatewayId"] for r in t["Routes"]]) for t in tables] == [(True, ["local"])]
    assert [g["GroupName"] for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]] == ["default"]
    ec2.delete_vpc(VpcId=vpc)
    assert ec2.describe_route_tables(Filters=by_vpc)["RouteTables"] == []
    assert ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"] == []
    assert error_of(lambda: ec2.describe_vpcs(VpcIds=[vpc]))[:2] == ("InvalidVpcID.NotFound", 400)
