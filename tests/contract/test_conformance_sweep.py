"""The conformance sweep: every resource Moorage serves, through boto3 and the AWS CLI, with every
response checked against its botocore output shape (tests/contract/shape_check.py).

For each resource: create → describe → list (walked page by page with MaxResults/NextToken, or
MaxItems/Marker, and compared with the unpaginated list) → tag → untag → update (where AWS has one)
→ delete, then a second identical create: with the same client token it is the same resource, without
one AWS's duplicate error.

Reach without a toolchain: the session Moorage has none, so clusters go CREATING → FAILED. Swept
as far as that goes: clusters (create, describe, list, tags, the idempotent create, the duplicate
name, the refused update of a cluster not ACTIVE, delete), and what EKS accepts on such a cluster:
access entries (with access policies), add-ons and Pod Identity associations. Not swept, because
EKS needs an ACTIVE cluster for them: node groups ("node groups can be created only on ACTIVE
clusters") and Fargate profiles ("Cluster ... is not in ACTIVE status"); their wire is covered by
tests/contract/test_fargate_api.py and their behaviour by tests/e2e.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID, REGION
from .conftest import SWEEP


@pytest.fixture(scope="module")
def client(moorage):
    made = {}

    def make(service):
        if service not in made:
            made[service] = moorage.client(service)
            SWEEP.attach(made[service])
        return made[service]
    return make


def code_of(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def walk(call, key, *, size, token="NextToken", limit="MaxResults", **params) -> list:
    """Every item of a listing, page by page, `size` at a time."""
    items, pages, next_token = [], 0, None
    while True:
        page = call(**params, **{limit: size}, **({token: next_token} if next_token else {}))
        items += page[key]
        pages += 1
        assert len(page[key]) <= size
        next_token = page.get(token)
        if not next_token:
            return items
        assert pages < 500, "pagination does not end"


def walk_iam(call, key, **params) -> list:
    items, marker = [], None
    while True:
        page = call(**params, MaxItems=1, **({"Marker": marker} if marker else {}))
        items += page[key]
        assert len(page[key]) <= 1
        if not page.get("IsTruncated"):
            assert "Marker" not in page
            return items
        marker = page["Marker"]


def cli(moorage, *args) -> dict:
    result = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"],
                            capture_output=True, text=True, timeout=120, env=moorage.env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def tag_spec(kind, **tags):
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def ec2_tags(ec2, resource_id) -> dict:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def tag_untag_ec2(ec2, resource_id):
    ec2.create_tags(Resources=[resource_id], Tags=[{"Key": "sweep", "Value": "1"}, {"Key": "drop", "Value": "x"}])
    assert {"sweep": "1", "drop": "x"}.items() <= ec2_tags(ec2, resource_id).items()
    ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": "drop"}])
    assert "drop" not in ec2_tags(ec2, resource_id) and ec2_tags(ec2, resource_id)["sweep"] == "1"


# --- the checker itself: it must see what it is there to see ----------------------------------------


class _RawResponse:
    def __init__(self, body: bytes, status: int = 200):
        self.content, self.status_code = body, status


def _problems(service, operation, parsed, body) -> list[str]:
    import botocore.session
    from .shape_check import ShapeChecker
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    checker = ShapeChecker(region=REGION)
    try:
        checker._after_call(http_response=_RawResponse(body), parsed=parsed, model=model)
    except AssertionError:
        pass
    return checker.problems


def test_the_checker_catches_what_botocore_drops_or_lets_through():
    # rest-json (EKS): an unknown key, a bad enum value, a wrong type, a malformed ARN.
    cluster = {"name": "c", "arn": "arn:aws:eks:eu-west-1:111122223333:cluster/c", "status": "BROKEN", "version": 1}
    found = _problems("eks", "DescribeCluster", {"cluster": cluster},
                      json.dumps({"cluster": {**cluster, "bogus": 1}}).encode())
    assert any("key 'bogus'" in p for p in found)
    assert any("'BROKEN' is not one of the enum" in p for p in found)
    assert any("where a string belongs" in p for p in found)
    assert any("region is not us-west-2" in p for p in found)
    # ec2 XML: an element the shape does not define, an id in no AWS format.
    body = (b'<DescribeVpcsResponse><requestId>x</requestId><vpcSet><item><vpcId>vpc-12</vpcId>'
            b'<colour>red</colour></item></vpcSet></DescribeVpcsResponse>')
    found = _problems("ec2", "DescribeVpcs", {"Vpcs": [{"VpcId": "vpc-12"}]}, body)
    assert any("<colour>" in p for p in found) and any("not an AWS vpc- id" in p for p in found)
    # query XML (IAM): a required member missing.
    body = b"<GetUserResponse><GetUserResult><User><UserName>u</UserName></User></GetUserResult></GetUserResponse>"
    found = _problems("iam", "GetUser", {"User": {"UserName": "u"}}, body)
    assert any("required member Arn missing" in p for p in found)


# --- EC2 -----------------------------------------------------------------------------------------


def test_vpcs_subnets_gateways_and_route_tables(client):
    ec2 = client("ec2")
    vpcs = [ec2.create_vpc(CidrBlock=f"10.{40 + i}.0.0/16", TagSpecifications=tag_spec("vpc", Name=f"sweep-{i}"))["Vpc"]
            for i in range(2)]
    vpc_id = vpcs[0]["VpcId"]
    assert ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"] == "10.40.0.0/16"
    everything = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    assert walk(ec2.describe_vpcs, "Vpcs", size=5) and [v["VpcId"] for v in walk(ec2.describe_vpcs, "Vpcs", size=5)] == everything
    tag_untag_ec2(ec2, vpc_id)

    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{REGION}a",
                                 TagSpecifications=tag_spec("subnet", Name=f"sweep-{i}"))["Subnet"] for i in range(6)]
    subnet_id = subnets[0]["SubnetId"]
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"] == vpc_id
    everything = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
    assert [s["SubnetId"] for s in walk(ec2.describe_subnets, "Subnets", size=5)] == everything
    tag_untag_ec2(ec2, subnet_id)
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["MapPublicIpOnLaunch"] is True

    gateway = ec2.create_internet_gateway(TagSpecifications=tag_spec("internet-gateway", Name="sweep"))["InternetGateway"]
    gateway_id = gateway["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
    attached = ec2.describe_internet_gateways(InternetGatewayIds=[gateway_id])["InternetGateways"][0]
    assert attached["Attachments"][0]["VpcId"] == vpc_id
    everything = [g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]]
    assert [g["InternetGatewayId"] for g in walk(ec2.describe_internet_gateways, "InternetGateways", size=5)] == everything
    tag_untag_ec2(ec2, gateway_id)

    table = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tag_spec("route-table", Name="sweep"))
    table_id = table["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id)
    association = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)["AssociationId"]
    described = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]
    assert any(r.get("GatewayId") == gateway_id for r in described["Routes"])
    everything = [t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]]
    assert [t["RouteTableId"] for t in walk(ec2.describe_route_tables, "RouteTables", size=5)] == everything
    tag_untag_ec2(ec2, table_id)
    ec2.disassociate_route_table(AssociationId=association)
    ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route_table(RouteTableId=table_id)

    ec2.detach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=gateway_id)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for vpc in vpcs:
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_vpcs(VpcIds=[vpc_id])
    assert code_of(excinfo) == "InvalidVpcID.NotFound"


def test_security_groups_and_rules(client):
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    groups = [ec2.create_security_group(GroupName=f"sweep-{i}", Description="sweep", VpcId=vpc_id,
                                        TagSpecifications=tag_spec("security-group", Name=f"sweep-{i}")) for i in range(5)]
    group_id = groups[0]["GroupId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_security_group(GroupName="sweep-0", Description="sweep", VpcId=vpc_id)
    assert code_of(excinfo) == "InvalidGroup.Duplicate"
    assert ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["GroupName"] == "sweep-0"
    everything = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert [g["GroupId"] for g in walk(ec2.describe_security_groups, "SecurityGroups", size=5)] == everything
    tag_untag_ec2(ec2, group_id)
    permission = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    ingress = ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permission)
    assert ingress["Return"] is True and ingress["SecurityGroupRules"][0]["GroupId"] == group_id
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permission)
    assert code_of(excinfo) == "InvalidPermission.Duplicate"
    egress = ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=permission)
    assert egress["Return"] is True
    ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=permission)
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=permission)
    for group in groups:
        ec2.delete_security_group(GroupId=group["GroupId"])
    ec2.delete_vpc(VpcId=vpc_id)


def test_key_pairs(client):
    ec2 = client("ec2")
    pairs = [ec2.create_key_pair(KeyName=f"sweep-{i}", TagSpecifications=tag_spec("key-pair", Name="sweep")) for i in range(6)]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_key_pair(KeyName="sweep-0")
    assert code_of(excinfo) == "InvalidKeyPair.Duplicate"
    described = ec2.describe_key_pairs(KeyNames=["sweep-0"])["KeyPairs"][0]
    assert described["KeyPairId"] == pairs[0]["KeyPairId"]
    tag_untag_ec2(ec2, pairs[0]["KeyPairId"])
    for pair in pairs:
        ec2.delete_key_pair(KeyPairId=pair["KeyPairId"])
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_launch_templates(client):
    ec2 = client("ec2")
    token = str(uuid.uuid4())
    first = ec2.create_launch_template(LaunchTemplateName="sweep-lt", ClientToken=token,
                                       LaunchTemplateData={"InstanceType": "t3.small"},
                                       TagSpecifications=tag_spec("launch-template", Name="sweep"))["LaunchTemplate"]
    again = ec2.create_launch_template(LaunchTemplateName="sweep-lt", ClientToken=token,
                                       LaunchTemplateData={"InstanceType": "t3.small"},
                                       TagSpecifications=tag_spec("launch-template", Name="sweep"))["LaunchTemplate"]
    assert again["LaunchTemplateId"] == first["LaunchTemplateId"], "same ClientToken, same template"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_launch_template(LaunchTemplateName="sweep-lt", LaunchTemplateData={"InstanceType": "t3.small"})
    assert code_of(excinfo) == "InvalidLaunchTemplateName.AlreadyExistsException"
    others = [ec2.create_launch_template(LaunchTemplateName=f"sweep-lt-{i}", LaunchTemplateData={"InstanceType": "t3.micro"})["LaunchTemplate"]
              for i in range(5)]
    template_id = first["LaunchTemplateId"]
    for i in range(5):
        ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1",
                                           LaunchTemplateData={"InstanceType": f"m5.{['large', 'xlarge', '2xlarge', '4xlarge', '8xlarge'][i]}"})
    assert ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]["LatestVersionNumber"] == 6
    everything = [t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    assert [t["LaunchTemplateId"] for t in walk(ec2.describe_launch_templates, "LaunchTemplates", size=5)] == everything
    versions = [v["VersionNumber"] for v in ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]]
    assert [v["VersionNumber"] for v in walk(ec2.describe_launch_template_versions, "LaunchTemplateVersions", size=1,
                                             LaunchTemplateId=template_id)] == versions
    tag_untag_ec2(ec2, template_id)
    assert ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="3")["LaunchTemplate"]["DefaultVersionNumber"] == 3
    ec2.get_launch_template_data  # noqa: B018  (needs an instance: covered in test_instances)
    ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["2"])
    for template in [first, *others]:
        ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])


def test_volumes_and_snapshots(client):
    ec2 = client("ec2")
    token = str(uuid.uuid4())
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, VolumeType="gp3", ClientToken=token,
                               TagSpecifications=tag_spec("volume", Name="sweep"))
    again = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, VolumeType="gp3", ClientToken=token,
                              TagSpecifications=tag_spec("volume", Name="sweep"))
    assert again["VolumeId"] == volume["VolumeId"], "same ClientToken, same volume"
    volumes = [volume] + [ec2.create_volume(AvailabilityZone=f"{REGION}b", Size=1)for _ in range(5)]
    volume_id = volume["VolumeId"]
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 8
    everything = [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]]
    assert [v["VolumeId"] for v in walk(ec2.describe_volumes, "Volumes", size=5)] == everything
    tag_untag_ec2(ec2, volume_id)
    wait_available(ec2, volume_id)
    ec2.modify_volume(VolumeId=volume_id, Size=16)
    assert ec2.describe_volumes_modifications(VolumeIds=[volume_id])["VolumesModifications"][0]["TargetSize"] == 16

    snapshots = [ec2.create_snapshot(VolumeId=volume_id, Description=f"sweep-{i}",
                                     TagSpecifications=tag_spec("snapshot", Name="sweep")) for i in range(6)]
    snapshot_id = snapshots[0]["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["VolumeId"] == volume_id
    mine = [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]]
    assert [s["SnapshotId"] for s in walk(ec2.describe_snapshots, "Snapshots", size=5, OwnerIds=["self"])] == mine
    tag_untag_ec2(ec2, snapshot_id)
    for snapshot in snapshots:
        ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
    for item in volumes:
        wait_available(ec2, item["VolumeId"])
        ec2.delete_volume(VolumeId=item["VolumeId"])


def wait_available(ec2, volume_id):
    deadline = time.monotonic() + 30
    while ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_instances(client):
    ec2 = client("ec2")
    subnet_id = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    launched = ec2.run_instances(ImageId="ami-0123456789abcdef0", InstanceType="t3.small", MinCount=2, MaxCount=2,
                                 SubnetId=subnet_id, TagSpecifications=tag_spec("instance", Name="sweep"))
    ids = [i["InstanceId"] for i in launched["Instances"]]
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    assert sorted(i["InstanceId"] for r in found for i in r["Instances"]) == sorted(ids)
    everything = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    walked = walk(ec2.describe_instances, "Reservations", size=5)
    assert [i["InstanceId"] for r in walked for i in r["Instances"]] == everything
    tag_untag_ec2(ec2, ids[0])
    ec2.get_launch_template_data(InstanceId=ids[0])
    ec2.terminate_instances(InstanceIds=ids)


def test_create_route_table_with_one_client_token_twice_is_one_table(client):
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.70.0.0/16")["Vpc"]["VpcId"]
    token = str(uuid.uuid4())
    first = ec2.create_route_table(VpcId=vpc_id, ClientToken=token)
    again = ec2.create_route_table(VpcId=vpc_id, ClientToken=token)
    try:
        assert again["RouteTable"]["RouteTableId"] == first["RouteTable"]["RouteTableId"]
        assert again["ClientToken"] == token
    finally:
        for table in {first["RouteTable"]["RouteTableId"], again["RouteTable"]["RouteTableId"]}:
            ec2.delete_route_table(RouteTableId=table)
        ec2.delete_vpc(VpcId=vpc_id)


def test_run_instances_with_one_client_token_twice_is_one_launch(client):
    ec2 = client("ec2")
    subnet_id = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]
    token = str(uuid.uuid4())
    launch = dict(ImageId="ami-0123456789abcdef0", InstanceType="t3.small", MinCount=1, MaxCount=1,
                  SubnetId=subnet_id, ClientToken=token)
    first = ec2.run_instances(**launch)
    again = ec2.run_instances(**launch)
    ids = {i["InstanceId"] for i in first["Instances"] + again["Instances"]}
    ec2.terminate_instances(InstanceIds=sorted(ids))
    assert again["ReservationId"] == first["ReservationId"] and len(ids) == 1
    assert first["Instances"][0]["ClientToken"] == token
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.run_instances(**{**launch, "InstanceType": "t3.large"})
    assert code_of(excinfo) == "IdempotentParameterMismatch"


def test_ec2_catalogues_and_tags_paginate(client):
    ec2 = client("ec2")
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert len(zones) == 4
    # Unpaginated, EC2 answers instance types 100 at a time: the reference walk is at that size.
    types = [t["InstanceType"] for t in walk(ec2.describe_instance_types, "InstanceTypes", size=100)]
    assert len(types) > 100 and len(ec2.describe_instance_types()["InstanceTypes"]) == 100
    assert [t["InstanceType"] for t in walk(ec2.describe_instance_types, "InstanceTypes", size=5)] == types
    tags = ec2.describe_tags()["Tags"]
    assert walk(ec2.describe_tags, "Tags", size=5) == tags
    client("autoscaling").describe_auto_scaling_groups()


def test_ec2_through_the_cli(moorage, client):
    vpc = cli(moorage, "ec2", "create-vpc", "--cidr-block", "10.60.0.0/16")["Vpc"]
    assert cli(moorage, "ec2", "describe-vpcs", "--vpc-ids", vpc["VpcId"])["Vpcs"][0]["VpcId"] == vpc["VpcId"]
    cli(moorage, "ec2", "delete-vpc", "--vpc-id", vpc["VpcId"])
    client("ec2").describe_vpcs()  # and once more through the checked client


# --- IAM -----------------------------------------------------------------------------------------


POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:Describe*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
                                                            "Action": "sts:AssumeRole"}]})


def iam_tags(items) -> list:
    return [{"Key": k, "Value": v} for k, v in items.items()]


def test_iam_users(client):
    iam = client("iam")
    users = [iam.create_user(UserName=f"sweep-{i}", Tags=iam_tags({"team": "sweep"}))["User"] for i in range(3)]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_user(UserName="sweep-0")
    assert code_of(excinfo) == "EntityAlreadyExists"
    assert iam.get_user(UserName="sweep-0")["User"]["Arn"] == users[0]["Arn"]
    everything = [u["UserName"] for u in iam.list_users()["Users"]]
    assert [u["UserName"] for u in walk_iam(iam.list_users, "Users")] == everything
    iam.tag_user(UserName="sweep-0", Tags=iam_tags({"drop": "x"}))
    iam.untag_user(UserName="sweep-0", TagKeys=["drop"])
    assert [t["Key"] for t in walk_iam(iam.list_user_tags, "Tags", UserName="sweep-0")] == ["team"]
    iam.update_user(UserName="sweep-2", NewUserName="sweep-renamed")
    for name in ("sweep-0", "sweep-1", "sweep-renamed"):
        iam.delete_user(UserName=name)


def test_iam_roles_policies_and_instance_profiles(client):
    iam = client("iam")
    roles = [iam.create_role(RoleName=f"sweep-{i}", AssumeRolePolicyDocument=TRUST, Tags=iam_tags({"team": "sweep"}))["Role"]
             for i in range(3)]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_role(RoleName="sweep-0", AssumeRolePolicyDocument=TRUST)
    assert code_of(excinfo) == "EntityAlreadyExists"
    assert iam.get_role(RoleName="sweep-0")["Role"]["Arn"] == roles[0]["Arn"]
    everything = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert [r["RoleName"] for r in walk_iam(iam.list_roles, "Roles")] == everything
    iam.tag_role(RoleName="sweep-0", Tags=iam_tags({"drop": "x"}))
    iam.untag_role(RoleName="sweep-0", TagKeys=["drop"])
    assert [t["Key"] for t in walk_iam(iam.list_role_tags, "Tags", RoleName="sweep-0")] == ["team"]
    iam.update_role(RoleName="sweep-0", Description="swept", MaxSessionDuration=7200)
    iam.update_role_description(RoleName="sweep-0", Description="swept again")
    iam.update_assume_role_policy(RoleName="sweep-0", PolicyDocument=TRUST)

    policy = iam.create_policy(PolicyName="sweep-policy", PolicyDocument=POLICY, Tags=iam_tags({"team": "sweep"}))["Policy"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_policy(PolicyName="sweep-policy", PolicyDocument=POLICY)
    assert code_of(excinfo) == "EntityAlreadyExists"
    arn = policy["Arn"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == "sweep-policy"
    local = [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert [p["Arn"] for p in walk_iam(iam.list_policies, "Policies", Scope="Local")] == local
    iam.tag_policy(PolicyArn=arn, Tags=iam_tags({"drop": "x"}))
    iam.untag_policy(PolicyArn=arn, TagKeys=["drop"])
    assert [t["Key"] for t in walk_iam(iam.list_policy_tags, "Tags", PolicyArn=arn)] == ["team"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY, SetAsDefault=True)
    versions = [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]]
    assert [v["VersionId"] for v in walk_iam(iam.list_policy_versions, "Versions", PolicyArn=arn)] == versions
    iam.get_policy_version(PolicyArn=arn, VersionId="v2")
    iam.attach_role_policy(RoleName="sweep-0", PolicyArn=arn)
    iam.list_attached_role_policies(RoleName="sweep-0")
    iam.list_entities_for_policy(PolicyArn=arn)
    iam.put_role_policy(RoleName="sweep-0", PolicyName="inline", PolicyDocument=POLICY)
    iam.get_role_policy(RoleName="sweep-0", PolicyName="inline")
    iam.list_role_policies(RoleName="sweep-0")

    profiles = [iam.create_instance_profile(InstanceProfileName=f"sweep-{i}", Tags=iam_tags({"team": "sweep"}))["InstanceProfile"]
                for i in range(3)]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_instance_profile(InstanceProfileName="sweep-0")
    assert code_of(excinfo) == "EntityAlreadyExists"
    iam.add_role_to_instance_profile(InstanceProfileName="sweep-0", RoleName="sweep-0")
    assert iam.get_instance_profile(InstanceProfileName="sweep-0")["InstanceProfile"]["Arn"] == profiles[0]["Arn"]
    everything = [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    assert [p["InstanceProfileName"] for p in walk_iam(iam.list_instance_profiles, "InstanceProfiles")] == everything
    iam.list_instance_profiles_for_role(RoleName="sweep-0")
    iam.tag_instance_profile(InstanceProfileName="sweep-0", Tags=iam_tags({"drop": "x"}))
    iam.untag_instance_profile(InstanceProfileName="sweep-0", TagKeys=["drop"])
    assert [t["Key"] for t in walk_iam(iam.list_instance_profile_tags, "Tags", InstanceProfileName="sweep-0")] == ["team"]
    iam.remove_role_from_instance_profile(InstanceProfileName="sweep-0", RoleName="sweep-0")
    for profile in profiles:
        iam.delete_instance_profile(InstanceProfileName=profile["InstanceProfileName"])

    iam.delete_role_policy(RoleName="sweep-0", PolicyName="inline")
    iam.detach_role_policy(RoleName="sweep-0", PolicyArn=arn)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy(PolicyArn=arn)
    for role in roles:
        iam.delete_role(RoleName=role["RoleName"])


def test_iam_oidc_providers(client):
    iam = client("iam")
    url = "https://oidc.eks.us-west-2.amazonaws.com/id/SWEEP0123456789ABCDEF"
    created = iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"],
                                                  ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
                                                  Tags=iam_tags({"team": "sweep"}))
    arn = created["OpenIDConnectProviderArn"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"],
                                            ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"])
    assert code_of(excinfo) == "EntityAlreadyExists"
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["sts.amazonaws.com"]
    assert arn in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=iam_tags({"drop": "x"}))
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["drop"])
    assert [t["Key"] for t in walk_iam(iam.list_open_id_connect_provider_tags, "Tags", OpenIDConnectProviderArn=arn)] == ["team"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                   ThumbprintList=["0000000000000000000000000000000000000000"])
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_iam_groups_and_access_keys(client):
    iam = client("iam")
    iam.create_user(UserName="sweep-member")
    groups = [iam.create_group(GroupName=f"sweep-{i}")["Group"] for i in range(3)]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        iam.create_group(GroupName="sweep-0")
    assert code_of(excinfo) == "EntityAlreadyExists"
    iam.add_user_to_group(GroupName="sweep-0", UserName="sweep-member")
    assert [u["UserName"] for u in iam.get_group(GroupName="sweep-0")["Users"]] == ["sweep-member"]
    everything = [g["GroupName"] for g in iam.list_groups()["Groups"]]
    assert [g["GroupName"] for g in walk_iam(iam.list_groups, "Groups")] == everything
    iam.list_groups_for_user(UserName="sweep-member")
    iam.put_group_policy(GroupName="sweep-0", PolicyName="inline", PolicyDocument=POLICY)
    iam.get_group_policy(GroupName="sweep-0", PolicyName="inline")
    iam.list_group_policies(GroupName="sweep-0")
    iam.list_attached_group_policies(GroupName="sweep-0")
    iam.delete_group_policy(GroupName="sweep-0", PolicyName="inline")
    iam.remove_user_from_group(GroupName="sweep-0", UserName="sweep-member")
    for group in groups:
        iam.delete_group(GroupName=group["GroupName"])

    keys = [iam.create_access_key(UserName="sweep-member")["AccessKey"] for _ in range(2)]
    listed = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="sweep-member")["AccessKeyMetadata"]]
    assert [k["AccessKeyId"] for k in walk_iam(iam.list_access_keys, "AccessKeyMetadata", UserName="sweep-member")] == listed
    iam.update_access_key(UserName="sweep-member", AccessKeyId=keys[0]["AccessKeyId"], Status="Inactive")
    iam.get_access_key_last_used(AccessKeyId=keys[0]["AccessKeyId"])
    for key in keys:
        iam.delete_access_key(UserName="sweep-member", AccessKeyId=key["AccessKeyId"])
    iam.put_user_policy(UserName="sweep-member", PolicyName="inline", PolicyDocument=POLICY)
    iam.get_user_policy(UserName="sweep-member", PolicyName="inline")
    iam.list_user_policies(UserName="sweep-member")
    iam.list_attached_user_policies(UserName="sweep-member")
    iam.delete_user_policy(UserName="sweep-member", PolicyName="inline")
    iam.delete_user(UserName="sweep-member")
    client("sts").get_caller_identity()
    client("sts").get_session_token()


def test_iam_through_the_cli(moorage, client):
    created = cli(moorage, "iam", "create-user", "--user-name", "sweep-cli")["User"]
    assert cli(moorage, "iam", "get-user", "--user-name", "sweep-cli")["User"]["Arn"] == created["Arn"]
    cli(moorage, "iam", "delete-user", "--user-name", "sweep-cli")


# --- EKS -----------------------------------------------------------------------------------------


ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/eks-cluster"


def wait_settled(eks, name):
    deadline = time.monotonic() + 60
    while (status := eks.describe_cluster(name=name)["cluster"]["status"]) == "CREATING":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    return status


def test_eks_clusters(client):
    eks, ec2 = client("eks"), client("ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]][:2]
    token = str(uuid.uuid4())
    spec = dict(roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets}, tags={"team": "sweep"})
    created = eks.create_cluster(name="sweep-0", clientRequestToken=token, **spec)["cluster"]
    again = eks.create_cluster(name="sweep-0", clientRequestToken=token, **spec)["cluster"]
    assert again["arn"] == created["arn"] and again["createdAt"] == created["createdAt"], "same token, same cluster"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_cluster(name="sweep-0", **spec)
    assert code_of(excinfo) == "ResourceInUseException"
    for i in (1, 2):
        eks.create_cluster(name=f"sweep-{i}", **spec)
    assert eks.describe_cluster(name="sweep-0")["cluster"]["tags"] == {"team": "sweep"}
    everything = eks.list_clusters()["clusters"]
    assert walk(eks.list_clusters, "clusters", size=1, token="nextToken", limit="maxResults") == everything
    arn = created["arn"]
    eks.tag_resource(resourceArn=arn, tags={"drop": "x"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "sweep", "drop": "x"}
    eks.untag_resource(resourceArn=arn, tagKeys=["drop"])
    assert eks.describe_cluster(name="sweep-0")["cluster"]["tags"] == {"team": "sweep"}
    for i in range(3):
        wait_settled(eks, f"sweep-{i}")
    eks.list_updates(name="sweep-0")
    for i in range(3):
        eks.delete_cluster(name=f"sweep-{i}")


EKS_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})


@pytest.fixture(scope="module")
def failed_cluster(client):
    """A cluster in private subnets of its own VPC, with API access entries: as far as it gets (FAILED)."""
    eks, ec2, iam = client("eks"), client("ec2"), client("iam")
    vpc_id = ec2.create_vpc(CidrBlock="10.80.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.80.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    role = iam.create_role(RoleName="sweep-pods", AssumeRolePolicyDocument=EKS_TRUST)["Role"]["Arn"]
    eks.create_cluster(name="sweep-reach", roleArn=ROLE, resourcesVpcConfig={"subnetIds": subnets},
                       accessConfig={"authenticationMode": "API"})
    wait_settled(eks, "sweep-reach")
    yield {"name": "sweep-reach", "subnets": subnets, "role": role}
    eks.delete_cluster(name="sweep-reach")
    deadline = time.monotonic() + 60
    while "sweep-reach" in eks.list_clusters()["clusters"] and time.monotonic() < deadline:
        time.sleep(0.3)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc_id)
    iam.delete_role(RoleName="sweep-pods")


def sweep_eks_tags(eks, arn, created_tags):
    eks.tag_resource(resourceArn=arn, tags={"drop": "x"})
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {**created_tags, "drop": "x"}
    eks.untag_resource(resourceArn=arn, tagKeys=["drop"])
    assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == created_tags


def eks_walk(call, key, **params):
    return walk(call, key, size=1, token="nextToken", limit="maxResults", **params)


def test_eks_access_entries(client, failed_cluster):
    eks, name = client("eks"), failed_cluster["name"]
    principals = [f"arn:aws:iam::{ACCOUNT_ID}:role/sweep-admin-{i}" for i in range(3)]
    token = str(uuid.uuid4())
    entry = eks.create_access_entry(clusterName=name, principalArn=principals[0], clientRequestToken=token,
                                    tags={"team": "sweep"})["accessEntry"]
    again = eks.create_access_entry(clusterName=name, principalArn=principals[0], clientRequestToken=token,
                                    tags={"team": "sweep"})["accessEntry"]
    assert again["accessEntryArn"] == entry["accessEntryArn"], "same token, same access entry"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_access_entry(clusterName=name, principalArn=principals[0])
    assert code_of(excinfo) == "ResourceInUseException"
    for principal in principals[1:]:
        eks.create_access_entry(clusterName=name, principalArn=principal)
    assert eks.describe_access_entry(clusterName=name, principalArn=principals[0])["accessEntry"]["tags"] == {"team": "sweep"}
    everything = eks.list_access_entries(clusterName=name)["accessEntries"]
    assert eks_walk(eks.list_access_entries, "accessEntries", clusterName=name) == everything
    sweep_eks_tags(eks, entry["accessEntryArn"], {"team": "sweep"})
    eks.update_access_entry(clusterName=name, principalArn=principals[0], kubernetesGroups=["viewers"])
    policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    eks.associate_access_policy(clusterName=name, principalArn=principals[0], policyArn=policy,
                                accessScope={"type": "namespace", "namespaces": ["default"]})
    eks.list_associated_access_policies(clusterName=name, principalArn=principals[0])
    eks.disassociate_access_policy(clusterName=name, principalArn=principals[0], policyArn=policy)
    policies = eks.list_access_policies()["accessPolicies"]
    assert eks_walk(eks.list_access_policies, "accessPolicies") == policies
    for principal in principals:
        eks.delete_access_entry(clusterName=name, principalArn=principal)


def code_of_error(error) -> str:
    return error.response["Error"]["Code"]


def test_eks_addons(client, failed_cluster):
    eks, name = client("eks"), failed_cluster["name"]
    token = str(uuid.uuid4())
    addon = eks.create_addon(clusterName=name, addonName="vpc-cni", clientRequestToken=token, tags={"team": "sweep"})["addon"]
    again = eks.create_addon(clusterName=name, addonName="vpc-cni", clientRequestToken=token, tags={"team": "sweep"})["addon"]
    assert again["addonArn"] == addon["addonArn"], "same token, same add-on"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_addon(clusterName=name, addonName="vpc-cni")
    assert code_of(excinfo) == "ResourceInUseException"
    eks.create_addon(clusterName=name, addonName="kube-proxy")
    assert eks.describe_addon(clusterName=name, addonName="vpc-cni")["addon"]["tags"] == {"team": "sweep"}
    everything = eks.list_addons(clusterName=name)["addons"]
    assert eks_walk(eks.list_addons, "addons", clusterName=name) == everything
    sweep_eks_tags(eks, addon["addonArn"], {"team": "sweep"})
    versions = eks.describe_addon_versions(addonName="vpc-cni")["addons"]
    walked = walk(eks.describe_addon_versions, "addons", size=1, token="nextToken", limit="maxResults", addonName="vpc-cni")
    assert walked == versions
    eks.describe_addon_configuration(addonName="vpc-cni", addonVersion=addon["addonVersion"])
    try:
        update = eks.update_addon(clusterName=name, addonName="vpc-cni", resolveConflicts="OVERWRITE")["update"]
        eks.describe_update(name=name, addonName="vpc-cni", updateId=update["id"])
        eks.list_updates(name=name, addonName="vpc-cni")
    except botocore.exceptions.ClientError as error:  # an add-on still CREATING cannot be updated, as on EKS
        assert code_of_error(error) == "ResourceInUseException"
    for addon_name in everything:
        eks.delete_addon(clusterName=name, addonName=addon_name)


def test_eks_pod_identity_associations(client, failed_cluster):
    eks, name, role = client("eks"), failed_cluster["name"], failed_cluster["role"]
    token = str(uuid.uuid4())
    first = eks.create_pod_identity_association(clusterName=name, namespace="a", serviceAccount="s0", roleArn=role,
                                                clientRequestToken=token, tags={"team": "sweep"})["association"]
    again = eks.create_pod_identity_association(clusterName=name, namespace="a", serviceAccount="s0", roleArn=role,
                                                clientRequestToken=token, tags={"team": "sweep"})["association"]
    assert again["associationId"] == first["associationId"], "same token, same association"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.create_pod_identity_association(clusterName=name, namespace="a", serviceAccount="s0", roleArn=role)
    assert code_of(excinfo) == "ResourceInUseException"
    others = [eks.create_pod_identity_association(clusterName=name, namespace="a", serviceAccount=f"s{i}", roleArn=role)["association"]
              for i in (1, 2)]
    ident = first["associationId"]
    assert eks.describe_pod_identity_association(clusterName=name, associationId=ident)["association"]["tags"] == {"team": "sweep"}
    everything = eks.list_pod_identity_associations(clusterName=name)["associations"]
    assert eks_walk(eks.list_pod_identity_associations, "associations", clusterName=name) == everything
    sweep_eks_tags(eks, first["associationArn"], {"team": "sweep"})
    eks.update_pod_identity_association(clusterName=name, associationId=ident, roleArn=role)
    for association in [first, *others]:
        eks.delete_pod_identity_association(clusterName=name, associationId=association["associationId"])


def test_eks_cluster_that_is_not_active_refuses_updates(client, failed_cluster):
    eks = client("eks")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        eks.update_cluster_config(name=failed_cluster["name"], logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
    assert code_of(excinfo) == "ResourceInUseException"
    eks.list_insights(clusterName=failed_cluster["name"])
    versions = eks.describe_cluster_versions()["clusterVersions"]
    assert walk(eks.describe_cluster_versions, "clusterVersions", size=1, token="nextToken", limit="maxResults") == versions


def test_eks_through_the_cli(moorage, client):
    subnets = [s["SubnetId"] for s in client("ec2").describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]][:2]
    created = cli(moorage, "eks", "create-cluster", "--name", "sweep-cli", "--role-arn", ROLE,
                  "--resources-vpc-config", f"subnetIds={','.join(subnets)}")["cluster"]
    assert cli(moorage, "eks", "describe-cluster", "--name", "sweep-cli")["cluster"]["arn"] == created["arn"]
    wait_settled(client("eks"), "sweep-cli")
    cli(moorage, "eks", "delete-cluster", "--name", "sweep-cli")
