"""EC2 through boto3 and the AWS CLI: Describe filters as EC2 accepts them (documented names, older
aliases, wildcards, EC2's refusal of unknown names), key pairs and launch templates.

Everything lives in its own region (ap-southeast-2) so other contract tests' listings are undisturbed.
"""

import base64
import json
import subprocess
import sys

import botocore.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

REGION = "ap-southeast-2"


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
def vpc(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "wire"}, {"Key": "team", "Value": "platform"}]}])["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.60.1.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]
    return {**vpc, "subnet": subnet}


# --- filters ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cidr-block", "cidr", "cidrBlock", "cidr-block-association.cidr-block"])
def test_describe_vpcs_with_a_cidr_filter(ec2, vpc, name):
    found = ec2.describe_vpcs(Filters=[{"Name": name, "Values": ["10.60.0.0/16"]}])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc["VpcId"]]


def test_describe_vpcs_with_wildcards_tags_and_state_fields(ec2, vpc):
    by = lambda *filters: [v["VpcId"] for v in ec2.describe_vpcs(Filters=list(filters))["Vpcs"]]  # noqa: E731
    assert by({"Name": "cidr-block", "Values": ["10.60.*"]}) == [vpc["VpcId"]]
    assert by({"Name": "tag:team", "Values": ["plat?orm"]}, {"Name": "state", "Values": ["available"]}) == [vpc["VpcId"]]
    assert by({"Name": "tag-key", "Values": ["team"]}, {"Name": "owner-id", "Values": [vpc["OwnerId"]]}) == [vpc["VpcId"]]
    assert by({"Name": "cidr-block-association.state", "Values": ["associated"]},
              {"Name": "is-default", "Values": ["false"]}) == [vpc["VpcId"]]
    # Values of one filter are ORed; filters are ANDed.
    assert len(by({"Name": "cidr", "Values": ["10.60.0.0/16", "172.31.0.0/16"]})) == 2
    assert by({"Name": "cidr", "Values": ["10.60.0.0/16"]}, {"Name": "is-default", "Values": ["true"]}) == []


def test_describe_subnets_with_the_older_filter_names(ec2, vpc):
    subnet_id = vpc["subnet"]["SubnetId"]
    for filters in (
        [{"Name": "availabilityZone", "Values": [f"{REGION}b"]}, {"Name": "cidrBlock", "Values": ["10.60.1.0/24"]}],
        [{"Name": "availability-zone", "Values": [f"{REGION}b"]}, {"Name": "cidr", "Values": ["10.60.1.*"]}],
        [{"Name": "defaultForAz", "Values": ["false"]}, {"Name": "vpc-id", "Values": [vpc["VpcId"]]}],
        [{"Name": "default-for-az", "Values": ["false"]}, {"Name": "vpc-id", "Values": [vpc["VpcId"]]}],
    ):
        assert [s["SubnetId"] for s in ec2.describe_subnets(Filters=filters)["Subnets"]] == [subnet_id]


def test_an_unknown_filter_is_refused_as_ec2_refuses_it(ec2, moorage):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_vpcs(Filters=[{"Name": "cidr-blocks", "Values": ["10.0.0.0/16"]}])
    assert error_of(excinfo) == ("InvalidParameterValue", 400, "The filter 'cidr-blocks' is invalid")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_availability_zones(Filters=[{"Name": "tag:Name", "Values": ["x"]}])
    assert error_of(excinfo) == ("InvalidParameterValue", 400, "The filter 'tag:Name' is invalid")
    cli = aws(moorage, "ec2", "describe-subnets", "--filters", "Name=public-ip,Values=1.2.3.4")
    assert cli.returncode != 0 and "The filter 'public-ip' is invalid" in cli.stderr


def test_the_cli_filters_vpcs_by_cidr_block(moorage, vpc):
    cli = aws(moorage, "ec2", "describe-vpcs", "--filters", "Name=cidr-block,Values=10.60.0.0/16")
    assert cli.returncode == 0, cli.stderr
    assert [v["VpcId"] for v in json.loads(cli.stdout)["Vpcs"]] == [vpc["VpcId"]]


# --- key pairs ----------------------------------------------------------------------------------------


def test_key_pairs_create_import_describe_and_delete(ec2, moorage, tmp_path):
    created = ec2.create_key_pair(KeyName="wire-rsa", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "platform"}]}])
    assert created["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert len(created["KeyFingerprint"].split(":")) == 20 and created["KeyPairId"].startswith("key-")
    edge = ec2.create_key_pair(KeyName="wire-ed", KeyType="ed25519", KeyFormat="ppk")
    assert edge["KeyMaterial"].startswith("PuTTY-User-Key-File-2: ssh-ed25519")

    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (tmp_path / "id.pub").write_bytes(public + b" me@laptop\n")
    cli = aws(moorage, "ec2", "import-key-pair", "--key-name", "wire-imported",
              "--public-key-material", f"fileb://{tmp_path / 'id.pub'}")
    assert cli.returncode == 0, cli.stderr
    imported = json.loads(cli.stdout)
    blob = base64.b64decode(public.split()[1])
    import hashlib
    assert imported["KeyFingerprint"] == base64.b64encode(hashlib.sha256(blob).digest()).decode()

    described = ec2.describe_key_pairs(KeyNames=["wire-imported"], IncludePublicKey=True)["KeyPairs"][0]
    assert described["PublicKey"].startswith(public.decode()) and described["KeyType"] == "ed25519"
    names = lambda **p: sorted(k["KeyName"] for k in ec2.describe_key_pairs(**p)["KeyPairs"])  # noqa: E731
    assert names() == ["wire-ed", "wire-imported", "wire-rsa"]
    assert names(Filters=[{"Name": "tag:team", "Values": ["platform"]}]) == ["wire-rsa"]
    assert names(Filters=[{"Name": "key-name", "Values": ["wire-*d"]}]) == ["wire-ed", "wire-imported"]
    assert names(KeyPairIds=[edge["KeyPairId"]]) == ["wire-ed"]

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_key_pair(KeyName="wire-rsa")
    assert error_of(excinfo) == ("InvalidKeyPair.Duplicate", 400, "The keypair 'wire-rsa' already exists.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_key_pairs(KeyNames=["nope"])
    assert error_of(excinfo) == ("InvalidKeyPair.NotFound", 400, "The key pair 'nope' does not exist")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.import_key_pair(KeyName="wire-bad", PublicKeyMaterial=b"ssh-rsa nonsense")
    assert error_of(excinfo) == ("InvalidKey.Format", 400, "Key is not in valid OpenSSH public key format")

    for name in ("wire-rsa", "wire-ed", "wire-imported", "wire-imported"):  # deleting twice succeeds
        assert ec2.delete_key_pair(KeyName=name)["Return"] is True
    assert names() == []


# --- launch templates ---------------------------------------------------------------------------------


def test_launch_templates_and_versions_through_boto3(ec2, vpc):
    user_data = base64.b64encode(b"#!/bin/bash\n/etc/eks/bootstrap.sh wire\n").decode()
    created = ec2.create_launch_template(
        LaunchTemplateName="wire-nodes", VersionDescription="v1",
        LaunchTemplateData={"InstanceType": "t3.medium", "UserData": user_data,
                            "SecurityGroupIds": [vpc["subnet"]["SubnetId"].replace("subnet", "sg")],
                            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3"}}],
                            "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}],
                            "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}},
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "platform"}]}],
    )["LaunchTemplate"]
    template_id = created["LaunchTemplateId"]
    assert (created["DefaultVersionNumber"], created["LatestVersionNumber"]) == (1, 1)
    second = ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1",
                                                LaunchTemplateData={"InstanceType": "m5.large"})["LaunchTemplateVersion"]
    assert second["VersionNumber"] == 2 and second["LaunchTemplateData"]["UserData"] == user_data
    assert second["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"] == {"VolumeSize": 50, "VolumeType": "gp3"}
    assert second["LaunchTemplateData"]["MetadataOptions"]["HttpPutResponseHopLimit"] == 2

    latest = ec2.describe_launch_template_versions(LaunchTemplateName="wire-nodes", Versions=["$Latest"])["LaunchTemplateVersions"]
    assert [v["VersionNumber"] for v in latest] == [2] and latest[0]["DefaultVersion"] is False
    default = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])["LaunchTemplateVersions"]
    assert default[0]["LaunchTemplateData"]["InstanceType"] == "t3.medium" and default[0]["VersionDescription"] == "v1"
    ranged = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, MinVersion="1", MaxVersion="1")
    assert [v["VersionNumber"] for v in ranged["LaunchTemplateVersions"]] == [1]
    paginator = ec2.get_paginator("describe_launch_template_versions")
    pages = list(paginator.paginate(LaunchTemplateId=template_id, PaginationConfig={"PageSize": 1}))
    assert [v["VersionNumber"] for p in pages for v in p["LaunchTemplateVersions"]] == [2, 1]

    found = ec2.describe_launch_templates(Filters=[{"Name": "tag:team", "Values": ["platform"]}])["LaunchTemplates"]
    assert [t["LaunchTemplateId"] for t in found] == [template_id] and found[0]["LatestVersionNumber"] == 2

    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.create_launch_template(LaunchTemplateName="wire-nodes", LaunchTemplateData={"InstanceType": "t3.small"})
    assert error_of(excinfo) == ("InvalidLaunchTemplateName.AlreadyExistsException", 400, "Launch template name already in use.")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["5"])
    assert error_of(excinfo)[:2] == ("InvalidLaunchTemplateId.VersionNotFound", 400)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_launch_templates(LaunchTemplateNames=["wire-missing"])
    assert error_of(excinfo)[:2] == ("InvalidLaunchTemplateName.NotFoundException", 400)

    assert ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")["LaunchTemplate"]["DefaultVersionNumber"] == 2
    result = ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["2", "1"])
    assert [v["VersionNumber"] for v in result["SuccessfullyDeletedLaunchTemplateVersions"]] == [1]
    assert result["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["VersionNumber"] == 2

    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [template_id]}])["Tags"]
    assert [(t["Key"], t["ResourceType"]) for t in tags] == [("team", "launch-template")]
    assert ec2.delete_launch_template(LaunchTemplateName="wire-nodes")["LaunchTemplate"]["LaunchTemplateId"] == template_id
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []


def test_the_cli_creates_and_describes_launch_templates(moorage):
    data = json.dumps({"InstanceType": "t3.small", "KeyName": "ops"})
    cli = aws(moorage, "ec2", "create-launch-template", "--launch-template-name", "wire-cli", "--launch-template-data", data)
    assert cli.returncode == 0, cli.stderr
    cli = aws(moorage, "ec2", "describe-launch-template-versions", "--launch-template-name", "wire-cli", "--versions", "$Latest",
              "--filters", "Name=instance-type,Values=t3.*")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["LaunchTemplateVersions"][0]["LaunchTemplateData"] == {"InstanceType": "t3.small", "KeyName": "ops"}
    assert aws(moorage, "ec2", "delete-launch-template", "--launch-template-name", "wire-cli").returncode == 0


def test_run_instances_from_a_launch_template_and_get_its_data_back(ec2, vpc):
    ec2.create_key_pair(KeyName="wire-launch")
    template = ec2.create_launch_template(LaunchTemplateName="wire-launch", LaunchTemplateData={
        "ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.small", "KeyName": "wire-launch",
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}]})["LaunchTemplate"]
    launched = ec2.run_instances(MinCount=1, MaxCount=1, SubnetId=vpc["subnet"]["SubnetId"],
                                 LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"})
    instance = launched["Instances"][0]
    assert (instance["ImageId"], instance["InstanceType"], instance["KeyName"]) == ("ami-0123456789abcdef0", "t3.small", "wire-launch")
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["app"] == "web" and tags["aws:ec2launchtemplate:id"] == template["LaunchTemplateId"]
    found = ec2.describe_instances(Filters=[{"Name": "network-interface.subnet-id", "Values": [vpc["subnet"]["SubnetId"]]},
                                            {"Name": "key-name", "Values": ["wire-launch"]}])["Reservations"]
    assert [(r["ReservationId"], [i["InstanceId"] for i in r["Instances"]]) for r in found] == [
        (launched["ReservationId"], [instance["InstanceId"]])]
    data = ec2.get_launch_template_data(InstanceId=instance["InstanceId"])["LaunchTemplateData"]
    assert data["ImageId"] == "ami-0123456789abcdef0" and data["KeyName"] == "wire-launch"
    assert data["NetworkInterfaces"][0]["SubnetId"] == vpc["subnet"]["SubnetId"]
    assert data["TagSpecifications"] == [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
    ec2.delete_key_pair(KeyName="wire-launch")
