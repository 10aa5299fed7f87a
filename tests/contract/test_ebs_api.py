"""The EC2 volume and snapshot API (EBS) through boto3 (its waiters included) and the AWS CLI
against a real `moorage up`: per-type limits, zone-bound attachments to a self-managed instance
(RunInstances), device names, in-use volumes, Elastic Volumes, snapshots, tags, pagination and
EC2's errors (never a 5xx).

In a region of its own, so unfiltered listings of the other contract tests are not disturbed.
"""

import json
import subprocess
import sys
import time

import botocore.exceptions
import pytest

from ..conftest import ACCOUNT_ID

REGION = "ap-northeast-2"
ZONE, OTHER_ZONE = "ap-northeast-2a", "ap-northeast-2b"
FAST = {"Delay": 1, "MaxAttempts": 30}


@pytest.fixture(scope="module")
def ec2(moorage):
    return moorage.client("ec2", region=REGION)


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"].get("Message", "")


def aws(moorage, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awscli", "--region", REGION, "--output", "json", *args],
        capture_output=True, text=True, timeout=60, env=moorage.env(),
    )


@pytest.fixture(scope="module")
def instance(ec2):
    """A self-managed instance (RunInstances) in ZONE, running."""
    launched = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="m5.large",
                                 Placement={"AvailabilityZone": ZONE})
    instance_id = launched["Instances"][0]["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=FAST)
    yield instance_id
    ec2.terminate_instances(InstanceIds=[instance_id])


def new_volume(ec2, zone=ZONE, **params) -> str:
    return ec2.create_volume(AvailabilityZone=zone, **{"Size": 1, **params})["VolumeId"]


def test_create_wait_describe_delete_with_waiters(ec2):
    created = ec2.create_volume(AvailabilityZone=ZONE, Size=20, VolumeType="gp3",
                                TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "data"}]}])
    volume_id = created["VolumeId"]
    assert created["State"] == "creating" and created["Iops"] == 3000 and created["Throughput"] == 125
    assert volume_id.startswith("vol-") and len(volume_id) == 4 + 17
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    described = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (described["State"], described["Size"], described["AvailabilityZone"], described["Tags"]) == (
        "available", 20, ZONE, [{"Key": "Name", "Value": "data"}])
    ec2.delete_volume(VolumeId=volume_id)
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    assert error_of(lambda: ec2.describe_volumes(VolumeIds=[volume_id])) == (
        "InvalidVolume.NotFound", 400, f"The volume '{volume_id}' does not exist.")


@pytest.mark.parametrize("params, code, message", [
    ({"Size": 10, "VolumeType": "st1"}, "InvalidParameterValue", "Volume of 10GiB is too small; minimum is 125GiB."),
    ({"Size": 20000, "VolumeType": "gp2"}, "InvalidParameterValue", "Volume of 20000GiB is too large; maximum is 16384GiB."),
    ({"Size": 10, "VolumeType": "io1", "Iops": 1000}, "InvalidParameterValue",
     "Iops to volume size ratio of 100.000000 is too high; maximum is 50.000000"),
    ({"Size": 10, "VolumeType": "gp3", "Iops": 90000}, "InvalidParameterValue", "Volume iops of 90000 is too high; maximum is 80000."),
    ({"Size": 10, "VolumeType": "gp2", "Throughput": 200}, "InvalidParameterCombination",
     "The parameter throughput is not supported for gp2 volumes."),
    ({"Size": 10, "VolumeType": "gp3", "MultiAttachEnabled": True}, "InvalidParameterCombination",
     "The parameter multiAttachEnabled is not supported for gp3 volumes."),
    ({"Size": 10, "AvailabilityZone": "ap-northeast-2z"}, "InvalidZone.NotFound", "The zone 'ap-northeast-2z' does not exist."),
    ({"SnapshotId": "snap-0123456789abcdef0"}, "InvalidSnapshot.NotFound", "The snapshot 'snap-0123456789abcdef0' does not exist."),
    ({}, "MissingParameter", "The request must contain the parameter size or snapshotId"),
])
def test_create_volume_refusals_are_ec2s_400s(ec2, params, code, message):
    params = {"AvailabilityZone": ZONE, **params}
    assert error_of(lambda: ec2.create_volume(**params)) == (code, 400, message)


def test_encryption_and_client_token(ec2):
    encrypted = ec2.create_volume(AvailabilityZone=ZONE, Size=1, Encrypted=True)
    assert encrypted["Encrypted"] and encrypted["KmsKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/")
    first = ec2.create_volume(AvailabilityZone=ZONE, Size=2, ClientToken="ebs-contract-token")
    again = ec2.create_volume(AvailabilityZone=ZONE, Size=2, ClientToken="ebs-contract-token")
    assert first["VolumeId"] == again["VolumeId"]
    assert error_of(lambda: ec2.create_volume(AvailabilityZone=ZONE, Size=3, ClientToken="ebs-contract-token"))[0] == (
        "IdempotentParameterMismatch")


def test_attach_in_use_detach_with_waiters(ec2, instance):
    volume_id = new_volume(ec2, VolumeType="gp3")
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    attachment = ec2.attach_volume(VolumeId=volume_id, InstanceId=instance, Device="/dev/sdf")
    assert (attachment["State"], attachment["Device"], attachment["InstanceId"]) == ("attaching", "/dev/sdf", instance)
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    deadline = time.monotonic() + 10
    while (attached := ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])["Attachments"][0]["State"] != "attached":
        assert time.monotonic() < deadline, attached
        time.sleep(0.2)
    listed = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance]},
                                           {"Name": "attachment.status", "Values": ["attached"]}])["Volumes"]
    assert [v["VolumeId"] for v in listed] == [volume_id]
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert [(m["DeviceName"], m["Ebs"]["VolumeId"], m["Ebs"]["Status"]) for m in described["BlockDeviceMappings"]] == [
        ("/dev/sdf", volume_id, "attached")]
    assert error_of(lambda: ec2.delete_volume(VolumeId=volume_id)) == (
        "VolumeInUse", 400, f"Volume {volume_id} is currently attached to {instance}")
    assert error_of(lambda: ec2.attach_volume(VolumeId=volume_id, InstanceId=instance, Device="/dev/sdg")) == (
        "VolumeInUse", 400, f"{volume_id} is already attached to an instance")
    second = new_volume(ec2)
    ec2.get_waiter("volume_available").wait(VolumeIds=[second], WaiterConfig=FAST)
    assert error_of(lambda: ec2.attach_volume(VolumeId=second, InstanceId=instance, Device="/dev/sdf")) == (
        "InvalidParameterValue", 400, "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use")
    assert error_of(lambda: ec2.attach_volume(VolumeId=second, InstanceId=instance, Device="/dev/hda")) == (
        "InvalidParameterValue", 400, "Value (/dev/hda) for parameter device is invalid. /dev/hda is not a valid EBS device name.")
    assert ec2.detach_volume(VolumeId=volume_id)["State"] == "detaching"
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Attachments"] == []
    assert error_of(lambda: ec2.detach_volume(VolumeId=volume_id)) == (
        "IncorrectState", 400, f"Volume '{volume_id}' is in the 'available' state.")
    ec2.delete_volume(VolumeId=volume_id)


def test_attachments_are_zone_bound_and_need_a_known_instance(ec2, instance):
    elsewhere = new_volume(ec2, zone=OTHER_ZONE)
    ec2.get_waiter("volume_available").wait(VolumeIds=[elsewhere], WaiterConfig=FAST)
    assert error_of(lambda: ec2.attach_volume(VolumeId=elsewhere, InstanceId=instance, Device="/dev/sdh")) == (
        "InvalidVolume.ZoneMismatch", 400, f"The volume '{elsewhere}' is not in the same availability zone as instance '{instance}'")
    assert error_of(lambda: ec2.attach_volume(VolumeId=elsewhere, InstanceId="i-0123456789abcdef0", Device="/dev/sdh")) == (
        "InvalidInstanceID.NotFound", 400, "The instance ID 'i-0123456789abcdef0' does not exist")
    assert error_of(lambda: ec2.attach_volume(VolumeId="vol-0123456789abcdef0", InstanceId=instance, Device="/dev/sdh")) == (
        "InvalidVolume.NotFound", 400, "The volume 'vol-0123456789abcdef0' does not exist.")


def test_the_instance_types_attachment_limit(ec2, instance):
    # m5.large: 27 EBS slots (28 shared, less the primary network interface), the root volume holds one.
    devices = [f"/dev/xvd{a}{b}" for a in "bc" for b in "abcdefghijklmnopqrstuvwxyz"]
    held = len(ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])["Volumes"])
    volumes = []
    for device in devices[: 26 - held]:
        volumes.append(new_volume(ec2))
    ec2.get_waiter("volume_available").wait(VolumeIds=volumes, WaiterConfig=FAST)
    for volume_id, device in zip(volumes, devices):
        ec2.attach_volume(VolumeId=volume_id, InstanceId=instance, Device=device)
    one_more = new_volume(ec2)
    ec2.get_waiter("volume_available").wait(VolumeIds=[one_more], WaiterConfig=FAST)
    code, status, message = error_of(lambda: ec2.attach_volume(VolumeId=one_more, InstanceId=instance, Device=devices[-1]))
    assert (code, status) == ("AttachmentLimitExceeded", 400) and "27" in message
    for volume_id in volumes:
        ec2.detach_volume(VolumeId=volume_id, Force=True)
    ec2.get_waiter("volume_available").wait(VolumeIds=volumes, WaiterConfig=FAST)


def test_instance_types_report_their_ebs_attachment_limits(ec2):
    infos = {i["InstanceType"]: i["EbsInfo"] for i in ec2.describe_instance_types(InstanceTypes=["m5.large", "m7i.16xlarge"])["InstanceTypes"]}
    assert (infos["m5.large"]["MaximumEbsAttachments"], infos["m5.large"]["AttachmentLimitType"]) == (27, "shared")
    assert (infos["m7i.16xlarge"]["MaximumEbsAttachments"], infos["m7i.16xlarge"]["AttachmentLimitType"]) == (48, "dedicated")


def test_modify_volume_and_its_modifications(ec2):
    volume_id = new_volume(ec2, Size=100, VolumeType="gp2")
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    assert error_of(lambda: ec2.modify_volume(VolumeId=volume_id, Size=50)) == (
        "InvalidParameterValue", 400, "New size cannot be smaller than existing size")
    modification = ec2.modify_volume(VolumeId=volume_id, Size=200, VolumeType="gp3", Iops=6000, Throughput=500)["VolumeModification"]
    assert (modification["ModificationState"], modification["OriginalSize"], modification["TargetSize"],
            modification["TargetVolumeType"], modification["TargetIops"], modification["TargetThroughput"]) == (
        "modifying", 100, 200, "gp3", 6000, 500)
    assert error_of(lambda: ec2.modify_volume(VolumeId=volume_id, Size=300))[:2] == ("IncorrectModificationState", 400)
    seen = set()
    deadline = time.monotonic() + 15
    while True:
        current = ec2.describe_volumes_modifications(VolumeIds=[volume_id])["VolumesModifications"][0]
        seen.add(current["ModificationState"])
        if current["ModificationState"] == "completed":
            break
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert {"modifying", "optimizing", "completed"} <= seen and current["Progress"] == 100 and "EndTime" in current
    described = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert (described["Size"], described["VolumeType"], described["Iops"], described["Throughput"]) == (200, "gp3", 6000, 500)
    listed = ec2.describe_volumes_modifications(Filters=[{"Name": "modification-state", "Values": ["completed"]},
                                                         {"Name": "volume-id", "Values": [volume_id]}])["VolumesModifications"]
    assert [m["VolumeId"] for m in listed] == [volume_id]


def test_snapshots_waiter_and_restore(ec2):
    volume_id = new_volume(ec2, Size=8)
    ec2.get_waiter("volume_available").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    snapshot = ec2.create_snapshot(VolumeId=volume_id, Description="before upgrade",
                                   TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "app", "Value": "db"}]}])
    assert (snapshot["State"], snapshot["VolumeSize"], snapshot["VolumeId"], snapshot["OwnerId"]) == ("pending", 8, volume_id, ACCOUNT_ID)
    assert snapshot["SnapshotId"].startswith("snap-") and len(snapshot["SnapshotId"]) == 5 + 17
    ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snapshot["SnapshotId"]], WaiterConfig=FAST)
    described = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:app", "Values": ["db"]}])["Snapshots"]
    assert [(s["SnapshotId"], s["State"], s["Progress"]) for s in described] == [(snapshot["SnapshotId"], "completed", "100%")]
    restored = ec2.create_volume(AvailabilityZone=OTHER_ZONE, SnapshotId=snapshot["SnapshotId"], VolumeType="gp3")
    assert (restored["Size"], restored["SnapshotId"]) == (8, snapshot["SnapshotId"])
    assert error_of(lambda: ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=snapshot["SnapshotId"], Size=4)) == (
        "InvalidParameterValue", 400, "Volume of 4GiB is too small; minimum is 8GiB.")
    ec2.delete_snapshot(SnapshotId=snapshot["SnapshotId"])
    assert error_of(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot["SnapshotId"]])) == (
        "InvalidSnapshot.NotFound", 400, f"The snapshot '{snapshot['SnapshotId']}' does not exist.")


def test_tags_on_volumes_and_snapshots(ec2):
    volume_id = new_volume(ec2)
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "kubernetes.io/created-for/pvc/name", "Value": "data-db-0"}])
    found = ec2.describe_volumes(Filters=[{"Name": "tag:kubernetes.io/created-for/pvc/name", "Values": ["data-db-0"]}])["Volumes"]
    assert [v["VolumeId"] for v in found] == [volume_id]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [volume_id]}])["Tags"]
    assert [(t["Key"], t["ResourceType"]) for t in tags] == [("kubernetes.io/created-for/pvc/name", "volume")]
    ec2.delete_tags(Resources=[volume_id])
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Tags"] == []
    assert error_of(lambda: ec2.create_tags(Resources=["snap-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])) == (
        "InvalidSnapshot.NotFound", 400, "The snapshot 'snap-0123456789abcdef0' does not exist.")


def test_pagination_rules(ec2):
    for _ in range(6):
        new_volume(ec2)
    pages = list(ec2.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) >= 2 and all(len(p["Volumes"]) <= 5 for p in pages)
    everything = ec2.describe_volumes()["Volumes"]
    assert sorted(v["VolumeId"] for p in pages for v in p["Volumes"]) == sorted(v["VolumeId"] for v in everything)
    assert error_of(lambda: ec2.describe_volumes(MaxResults=501)) == (
        "InvalidParameterValue", 400, "Value ( 501 ) for parameter maxResults is invalid. Parameter must be between 5 and 500.")
    assert error_of(lambda: ec2.describe_volumes(MaxResults=5, VolumeIds=[everything[0]["VolumeId"]])) == (
        "InvalidParameterCombination", 400, "The parameter volumeSet cannot be used with the parameter maxResults")
    assert error_of(lambda: ec2.describe_volumes(VolumeIds=["vol-nothex"])) == (
        "InvalidVolumeID.Malformed", 400, 'Invalid id: "vol-nothex" (expecting "vol-...")')


def test_the_aws_cli(moorage):
    created = aws(moorage, "ec2", "create-volume", "--availability-zone", ZONE, "--size", "5", "--volume-type", "io2",
                  "--iops", "1000", "--tag-specifications", "ResourceType=volume,Tags=[{Key=via,Value=cli}]")
    assert created.returncode == 0, created.stderr
    volume_id = json.loads(created.stdout)["VolumeId"]
    waited = aws(moorage, "ec2", "wait", "volume-available", "--volume-ids", volume_id)
    assert waited.returncode == 0, waited.stderr
    listed = aws(moorage, "ec2", "describe-volumes", "--filters", "Name=tag:via,Values=cli", "Name=volume-type,Values=io2")
    assert listed.returncode == 0, listed.stderr
    volumes = json.loads(listed.stdout)["Volumes"]
    assert [(v["VolumeId"], v["Iops"], v["Size"]) for v in volumes] == [(volume_id, 1000, 5)]
    refused = aws(moorage, "ec2", "create-volume", "--availability-zone", ZONE, "--size", "5", "--volume-type", "io2")
    assert refused.returncode != 0 and "MissingParameter" in refused.stderr
    deleted = aws(moorage, "ec2", "delete-volume", "--volume-id", volume_id)
    assert deleted.returncode == 0, deleted.stderr
