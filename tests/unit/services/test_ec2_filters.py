"""EC2 Describe filters: the table (services/ec2/filters.py) against the EC2 API reference as botocore's
model documents it, EC2's matching rules (wildcards, AND of filters, OR of values) and its refusal of
unknown names, through the handlers on a real store.
"""

import re

import botocore.session
import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.base import match_filters, read_path, wildcard
from moorage.services.ec2.filters import FILTERS, RESERVATION_FIELDS, TAG, VIEW_SHAPES
from moorage.services.ec2.service import Ec2Service
from moorage.store import SqliteStore

ACCOUNT, REGION = "111122223333", "us-west-2"
MODEL = botocore.session.get_session().get_service_model("ec2")


def documented_filters(operation: str) -> set[str]:
    doc = MODEL.operation_model(operation).input_shape.members["Filters"].documentation
    return set(re.findall(r"<li>\s*<p>\s*<code>([^<]+)</code>", doc))


def resolves(shape, path: str) -> bool:
    for step in path.split("."):
        member = step[:-2] if step.endswith("[]") else step
        while shape.type_name == "list":
            shape = shape.member
        if shape.type_name != "structure" or member not in shape.members:
            return False
        shape = shape.members[member]
    return True


@pytest.mark.parametrize("operation", sorted(FILTERS))
def test_every_documented_filter_is_in_the_table(operation):
    documented = documented_filters(operation)
    named = {n for n in documented if not n.startswith("tag:") and n != "tag"}
    assert sorted(named - set(FILTERS[operation])) == []
    # tag:<key> is accepted exactly where the reference lists it.
    assert (TAG in FILTERS[operation]) == bool(documented & {"tag", "tag:&lt;key&gt;"})


@pytest.mark.parametrize("operation", sorted(FILTERS))
def test_every_path_in_the_table_is_a_member_of_the_operations_output_shape(operation):
    shape = MODEL.shape_for(VIEW_SHAPES[operation])
    bad = [
        (name, path) for name, path in FILTERS[operation].items()
        if isinstance(path, str) and not resolves(shape, path) and path not in RESERVATION_FIELDS
    ]
    assert bad == []


def test_every_operation_with_filters_moorage_serves_has_a_table():
    served = {name for name in dir(Ec2Service) if name.startswith("Describe")}
    with_filters = {op for op in served if "Filters" in MODEL.operation_model(op).input_shape.members}
    assert sorted(with_filters - set(FILTERS)) == []


def test_paths_read_nested_members_and_every_item_of_lists():
    view = {"A": [{"B": {"C": 1}}, {"B": {"C": 2}}, {"B": {}}], "D": None, "E": [3, 4]}
    assert read_path(view, "A[].B.C") == [1, 2]
    assert read_path(view, "D") == [] and read_path(view, "missing.member") == []
    assert read_path(view, "E") == [3, 4]


@pytest.mark.parametrize(
    "pattern, text, matches",
    [
        ("10.0.*", "10.0.0.0/16", True),
        ("10.?.0.0/16", "10.1.0.0/16", True),
        ("10.?.0.0/16", "10.11.0.0/16", False),
        ("web*", "web-1", True),
        ("*-1", "web-1", True),
        ("web", "web-1", False),  # a value matches the whole text
        (r"a\*b", "a*b", True),  # \* is a literal star
        (r"a\*b", "axb", False),
        ("[ab]", "a", False),  # brackets are literal, unlike shell globs
        ("[ab]", "[ab]", True),
    ],
)
def test_wildcards_are_ec2s(pattern, text, matches):
    assert bool(wildcard(pattern).fullmatch(text)) is matches


def test_filters_are_anded_and_values_ored():
    items = [{"Name": "a", "Tags": [{"Key": "env", "Value": "prod"}]}, {"Name": "b", "Tags": []}, {"Name": "c", "Tags": []}]
    fields = {"name": "Name", TAG: None}
    assert [i["Name"] for i in match_filters(items, [{"Name": "name", "Values": ["a", "b"]}], fields)] == ["a", "b"]
    both = [{"Name": "name", "Values": ["a", "b"]}, {"Name": "tag:env", "Values": ["prod"]}]
    assert [i["Name"] for i in match_filters(items, both, fields)] == ["a"]


def test_unknown_names_and_tag_filters_where_the_operation_has_none_are_refused_as_ec2_does():
    with pytest.raises(AwsError) as excinfo:
        match_filters([], [{"Name": "public-ip", "Values": ["x"]}], FILTERS["DescribeInstances"])
    assert (excinfo.value.code, excinfo.value.message) == ("InvalidParameterValue", "The filter 'public-ip' is invalid")
    with pytest.raises(AwsError) as excinfo:
        match_filters([], [{"Name": "tag:Name", "Values": ["x"]}], FILTERS["DescribeAvailabilityZones"])
    assert excinfo.value.message == "The filter 'tag:Name' is invalid"
    with pytest.raises(AwsError):  # names are case-sensitive
        match_filters([], [{"Name": "VPC-ID", "Values": ["x"]}], FILTERS["DescribeVpcs"])


def test_too_many_values_in_one_filter_is_filter_limit_exceeded():
    with pytest.raises(AwsError) as excinfo:
        match_filters([], [{"Name": "vpc-id", "Values": [str(i) for i in range(201)]}], FILTERS["DescribeVpcs"])
    assert excinfo.value.code == "FilterLimitExceeded"


# --- through the handlers -----------------------------------------------------------------------------


@pytest.fixture
def ec2(tmp_path):
    return Ec2Service(SqliteStore(tmp_path / "state.db"))


@pytest.fixture
def ctx():
    return RequestContext(ACCOUNT, REGION, f"arn:aws:iam::{ACCOUNT}:root", "AKIDEXAMPLE", "request-1")


def call(ec2, ctx, operation, **params):
    return ec2.handler(operation)(ctx, params)


def vpc_ids(ec2, ctx, name, *values):
    return [v["VpcId"] for v in call(ec2, ctx, "DescribeVpcs", Filters=[{"Name": name, "Values": list(values)}])["Vpcs"]]


@pytest.mark.parametrize("name", ["cidr", "cidr-block", "cidrBlock", "cidr-block-association.cidr-block"])
def test_describe_vpcs_takes_every_cidr_filter_name(ec2, ctx, name):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.40.0.0/16")["Vpc"]
    assert vpc_ids(ec2, ctx, name, "10.40.0.0/16") == [vpc["VpcId"]]
    assert vpc_ids(ec2, ctx, name, "10.40.*") == [vpc["VpcId"]]
    assert vpc_ids(ec2, ctx, name, "10.41.0.0/16") == []


def test_describe_vpcs_filters_on_state_owner_default_and_association_fields(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.42.0.0/16",
               TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "blue"}]}])["Vpc"]
    default = [v for v in call(ec2, ctx, "DescribeVpcs")["Vpcs"] if v["IsDefault"]][0]
    assert vpc_ids(ec2, ctx, "isDefault", "true") == [default["VpcId"]]
    assert vpc_ids(ec2, ctx, "is-default", "false") == [vpc["VpcId"]]
    assert len(vpc_ids(ec2, ctx, "owner-id", ACCOUNT)) == 2 and vpc_ids(ec2, ctx, "owner-id", "999999999999") == []
    assert len(vpc_ids(ec2, ctx, "state", "available")) == 2
    assert vpc_ids(ec2, ctx, "cidr-block-association.state", "associated") == [default["VpcId"], vpc["VpcId"]]
    association = vpc["CidrBlockAssociationSet"][0]["AssociationId"]
    assert vpc_ids(ec2, ctx, "cidr-block-association.association-id", association) == [vpc["VpcId"]]
    assert vpc_ids(ec2, ctx, "tag:team", "bl*") == [vpc["VpcId"]]
    assert vpc_ids(ec2, ctx, "tag-key", "team") == [vpc["VpcId"]]
    assert vpc_ids(ec2, ctx, "ipv6-cidr-block-association.state", "associated") == []


@pytest.mark.parametrize("names", [("availability-zone", "availabilityZone"), ("cidr-block", "cidr", "cidrBlock"),
                                   ("default-for-az", "defaultForAz")])
def test_describe_subnets_takes_the_older_aliases(ec2, ctx, names):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.43.0.0/16")["Vpc"]
    subnet = call(ec2, ctx, "CreateSubnet", VpcId=vpc["VpcId"], CidrBlock="10.43.1.0/24", AvailabilityZone="us-west-2b")["Subnet"]
    value = {"availability-zone": "us-west-2b", "cidr-block": "10.43.1.0/24", "default-for-az": "false"}[names[0]]
    results = [
        [s["SubnetId"] for s in call(ec2, ctx, "DescribeSubnets", Filters=[
            {"Name": name, "Values": [value]}, {"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]]
        for name in names
    ]
    assert results == [[subnet["SubnetId"]]] * len(names)


def test_describe_subnets_filters_on_dns_options_and_counts(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.44.0.0/16")["Vpc"]
    subnet = call(ec2, ctx, "CreateSubnet", VpcId=vpc["VpcId"], CidrBlock="10.44.1.0/28")["Subnet"]
    found = call(ec2, ctx, "DescribeSubnets", Filters=[
        {"Name": "private-dns-name-options-on-launch.hostname-type", "Values": ["ip-name"]},
        {"Name": "available-ip-address-count", "Values": ["11"]},
    ])["Subnets"]
    assert [s["SubnetId"] for s in found] == [subnet["SubnetId"]]


def test_describe_tags_takes_tag_key_filters(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.45.0.0/16",
               TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": "red"}, {"Key": "x", "Value": "y"}]}])["Vpc"]
    tags = call(ec2, ctx, "DescribeTags", Filters=[{"Name": "tag:team", "Values": ["red"]}])["Tags"]
    assert [(t["ResourceId"], t["Key"]) for t in tags] == [(vpc["VpcId"], "team")]


def test_describe_security_groups_filters_on_rule_fields(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.46.0.0/16")["Vpc"]
    group = call(ec2, ctx, "CreateSecurityGroup", GroupName="web", Description="web", VpcId=vpc["VpcId"])
    call(ec2, ctx, "AuthorizeSecurityGroupIngress", GroupId=group["GroupId"],
         IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    found = call(ec2, ctx, "DescribeSecurityGroups", Filters=[
        {"Name": "ip-permission.from-port", "Values": ["443"]}, {"Name": "ip-permission.cidr", "Values": ["0.0.0.0/0"]},
        {"Name": "egress.ip-permission.protocol", "Values": ["-1"]}, {"Name": "ip-permission.user-id", "Values": ["*"]},
    ])["SecurityGroups"]
    assert found == []  # the web group has no rule naming a group, so no user id
    found = call(ec2, ctx, "DescribeSecurityGroups", Filters=[
        {"Name": "ip-permission.from-port", "Values": ["443"]}, {"Name": "ip-permission.cidr", "Values": ["0.0.0.0/0"]},
    ])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [group["GroupId"]]


def test_describe_availability_zones_and_instance_types_filter_with_their_tables(ec2, ctx):
    zones = call(ec2, ctx, "DescribeAvailabilityZones", Filters=[{"Name": "zone-name", "Values": ["us-west-2?"]}])
    assert len(zones["AvailabilityZones"]) >= 3
    types = call(ec2, ctx, "DescribeInstanceTypes", InstanceTypes=["m5.large", "t3.micro"],
                 Filters=[{"Name": "vcpu-info.default-vcpus", "Values": ["2"]}, {"Name": "burstable-performance-supported", "Values": ["true"]}])
    assert [t["InstanceType"] for t in types["InstanceTypes"]] == ["t3.micro"]


def test_describe_instances_filters_on_interface_reservation_and_key_fields(ec2, ctx):
    vpc = call(ec2, ctx, "CreateVpc", CidrBlock="10.47.0.0/16")["Vpc"]
    subnet = call(ec2, ctx, "CreateSubnet", VpcId=vpc["VpcId"], CidrBlock="10.47.1.0/24")["Subnet"]
    call(ec2, ctx, "CreateKeyPair", KeyName="ops")
    launched = call(ec2, ctx, "RunInstances", ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, InstanceType="t3.small",
                    SubnetId=subnet["SubnetId"], KeyName="ops")
    instance = launched["Instances"][0]
    interface = instance["NetworkInterfaces"][0]
    assert interface["SubnetId"] == subnet["SubnetId"] and interface["Attachment"]["DeviceIndex"] == 0

    def ids(*filters):
        found = call(ec2, ctx, "DescribeInstances", Filters=list(filters))["Reservations"]
        return [i["InstanceId"] for r in found for i in r["Instances"]]

    mine = [instance["InstanceId"]]
    assert ids({"Name": "network-interface.subnet-id", "Values": [subnet["SubnetId"]]}) == mine
    assert ids({"Name": "network-interface.vpc-id", "Values": [vpc["VpcId"]]}) == mine
    assert ids({"Name": "network-interface.attachment.device-index", "Values": ["0"]},
               {"Name": "network-interface.attachment.instance-id", "Values": mine}) == mine
    assert ids({"Name": "network-interface.network-interface-id", "Values": [interface["NetworkInterfaceId"]]}) == mine
    assert ids({"Name": "owner-id", "Values": [ACCOUNT]}, {"Name": "reservation-id", "Values": [launched["ReservationId"]]}) == mine
    assert ids({"Name": "key-name", "Values": ["ops"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}) == mine
    assert ids({"Name": "network-interface.addresses.association.public-ip", "Values": ["*"]}) == []
    described = call(ec2, ctx, "DescribeInstances", InstanceIds=mine)["Reservations"][0]["Instances"][0]
    assert "OwnerId" not in described and "ReservationId" not in described  # reservation fields stay on the reservation


def test_instances_launched_together_are_described_in_their_one_reservation(ec2, ctx):
    launched = call(ec2, ctx, "RunInstances", ImageId="ami-0123456789abcdef0", MinCount=2, MaxCount=2, InstanceType="t3.small")
    reservations = call(ec2, ctx, "DescribeInstances")["Reservations"]
    assert [(r["ReservationId"], len(r["Instances"])) for r in reservations] == [(launched["ReservationId"], 2)]
