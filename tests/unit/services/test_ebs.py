"""EBS: the per-type limit table, attachment limits, state timing, and the handlers on a real SQLite
store (no processes, no HTTP); the wire is tests/contract/test_ebs_api.py's job.
"""

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.core.kinds import INSTANCE
from moorage.services.ec2 import volume_states
from moorage.services.ec2.attachment_limits import (
    DEDICATED,
    EBS_ATTACHMENT_LIMITS,
    SHARED,
    is_valid_device,
    max_volume_attachments,
)
from moorage.services.ec2.instance_types import CATALOG
from moorage.services.ec2.service import Ec2Service
from moorage.services.ec2.volume_types import check_settings, gp2_iops
from moorage.store import Key, SqliteStore

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


@pytest.fixture
def instant(monkeypatch):
    """Every timed transition completes at once."""
    for name in ("CREATE_SECONDS", "ATTACH_SECONDS", "DETACH_SECONDS", "SNAPSHOT_SECONDS", "MODIFYING_SECONDS", "OPTIMIZING_SECONDS"):
        monkeypatch.setattr(volume_states, name, 0.0)


def call(ec2, ctx, operation, **params):
    return ec2.handler(operation)(ctx, params)


def error(call_) -> tuple[str, str]:
    with pytest.raises(AwsError) as excinfo:
        call_()
    return excinfo.value.code, excinfo.value.message


def running_instance(ec2, store, ctx, instance_type="m5.large", zone="us-west-2a", request="run-1") -> str:
    launched = call(ec2, RequestContext(ACCOUNT, REGION, ctx.principal_arn, ctx.access_key_id, request), "RunInstances",
                    ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType=instance_type,
                    Placement={"AvailabilityZone": zone})
    instance_id = launched["Instances"][0]["InstanceId"]
    record = store.get(Key(ACCOUNT, REGION, INSTANCE, instance_id))
    store.update_status(record, {"state": "running", "privateIp": "172.31.0.50"})  # what the instance reconciler does
    return instance_id


# --- the limit tables -------------------------------------------------------------------------------


@pytest.mark.parametrize("volume_type, size, iops, throughput, expected", [
    ("gp3", 1, None, None, {"Iops": 3000, "Throughput": 125}),
    ("gp3", 160, 80000, 2000, {"Iops": 80000, "Throughput": 2000}),
    ("gp2", 10, None, None, {"Iops": 100}),
    ("gp2", 1000, None, None, {"Iops": 3000}),
    ("io1", 100, 5000, None, {"Iops": 5000}),
    ("io2", 100, 100000, None, {"Iops": 100000}),
    ("st1", 125, None, None, {}),
    ("standard", 1024, None, None, {}),
])
def test_valid_settings_and_defaults(volume_type, size, iops, throughput, expected):
    fields = check_settings(volume_type, size, iops, throughput, False).as_fields()
    assert {k: v for k, v in fields.items() if k in ("Iops", "Throughput")} == expected


@pytest.mark.parametrize("volume_type, size, iops, throughput, multi, code, message", [
    ("gp2", 0, None, None, False, "InvalidParameterValue", "Volume of 0GiB is too small; minimum is 1GiB."),
    ("gp2", 16385, None, None, False, "InvalidParameterValue", "Volume of 16385GiB is too large; maximum is 16384GiB."),
    ("gp3", 65537, None, None, False, "InvalidParameterValue", "Volume of 65537GiB is too large; maximum is 65536GiB."),
    ("st1", 100, None, None, False, "InvalidParameterValue", "Volume of 100GiB is too small; minimum is 125GiB."),
    ("sc1", 16385, None, None, False, "InvalidParameterValue", "Volume of 16385GiB is too large; maximum is 16384GiB."),
    ("standard", 1025, None, None, False, "InvalidParameterValue", "Volume of 1025GiB is too large; maximum is 1024GiB."),
    ("io1", 3, 100, None, False, "InvalidParameterValue", "Volume of 3GiB is too small; minimum is 4GiB."),
    ("gp3", 100, 2999, None, False, "InvalidParameterValue", "Volume iops of 2999 is too low; minimum is 3000."),
    ("gp3", 200, 80001, None, False, "InvalidParameterValue", "Volume iops of 80001 is too high; maximum is 80000."),
    ("gp3", 10, 6000, None, False, "InvalidParameterValue", "Iops to volume size ratio of 600.000000 is too high; maximum is 500.000000"),
    ("io1", 10, 1000, None, False, "InvalidParameterValue", "Iops to volume size ratio of 100.000000 is too high; maximum is 50.000000"),
    ("io1", 100, 64001, None, False, "InvalidParameterValue", "Volume iops of 64001 is too high; maximum is 64000."),
    ("io2", 100, 99, None, False, "InvalidParameterValue", "Volume iops of 99 is too low; minimum is 100."),
    ("io2", 100, 100001, None, False, "InvalidParameterValue", "Iops to volume size ratio of 1000.010000 is too high; maximum is 1000.000000"),
    ("io1", 100, None, None, False, "MissingParameter", "The request must contain the parameter iops for io1 volumes."),
    ("gp2", 100, 300, None, False, "InvalidParameterCombination", "The parameter iops is not supported for gp2 volumes."),
    ("io1", 100, 300, 200, False, "InvalidParameterCombination", "The parameter throughput is not supported for io1 volumes."),
    ("gp3", 100, None, 124, False, "InvalidParameterValue", "Throughput of 124MiBps is too low; minimum is 125MiBps."),
    ("gp3", 100, 16000, 2001, False, "InvalidParameterValue", "Throughput of 2001MiBps is too high; maximum is 2000MiBps."),
    ("gp3", 100, 3000, 1000, False, "InvalidParameterValue",
     "Throughput (MiBps) to iops ratio of 0.333333 is too high; maximum is 0.250000 MiBps per iops."),
    ("gp3", 100, None, None, True, "InvalidParameterCombination", "The parameter multiAttachEnabled is not supported for gp3 volumes."),
])
def test_settings_ebs_refuses(volume_type, size, iops, throughput, multi, code, message):
    assert error(lambda: check_settings(volume_type, size, iops, throughput, multi)) == (code, message)


def test_gp2_baseline_is_three_per_gib_between_100_and_16000():
    assert (gp2_iops(1), gp2_iops(34), gp2_iops(100), gp2_iops(5334), gp2_iops(16384)) == (100, 102, 300, 16000, 16000)


def test_every_catalogue_type_has_an_attachment_limit():
    assert set(EBS_ATTACHMENT_LIMITS) == set(CATALOG)
    assert EBS_ATTACHMENT_LIMITS["m5.large"] == (27, SHARED)
    assert EBS_ATTACHMENT_LIMITS["t3.micro"] == (27, SHARED)
    assert EBS_ATTACHMENT_LIMITS["m7g.large"] == (27, SHARED)
    assert EBS_ATTACHMENT_LIMITS["m7i.large"] == (32, DEDICATED)
    assert EBS_ATTACHMENT_LIMITS["c7i.16xlarge"] == (48, DEDICATED)
    assert EBS_ATTACHMENT_LIMITS["r7i.24xlarge"] == (64, DEDICATED)


def test_describe_instance_types_reports_the_limits(ec2, ctx):
    infos = call(ec2, ctx, "DescribeInstanceTypes", InstanceTypes=["c5.large", "r7i.24xlarge"])["InstanceTypes"]
    assert {i["InstanceType"]: (i["EbsInfo"]["MaximumEbsAttachments"], i["EbsInfo"]["AttachmentLimitType"]) for i in infos} == {
        "c5.large": (27, "shared"), "r7i.24xlarge": (64, "dedicated")}


def test_shared_slots_shrink_with_network_interfaces_dedicated_ones_do_not():
    assert max_volume_attachments("m5.large") == 27
    assert max_volume_attachments("m5.large", network_interfaces=3) == 25
    assert max_volume_attachments("m7i.large", network_interfaces=3) == 32


@pytest.mark.parametrize("device, valid", [
    ("/dev/sdf", True), ("/dev/sdp", True), ("/dev/xvdb", True), ("/dev/xvdz", True), ("/dev/xvdba", True),
    ("/dev/xvda", False), ("/dev/sda1", False), ("/dev/sdf1", False), ("/dev/foo", False), ("sdf", False),
])
def test_device_names(device, valid):
    assert is_valid_device(device) is valid


def test_states_follow_the_recorded_times():
    spec = {"createdAt": 100.0, "attachments": [{"instanceId": "i-1", "device": "/dev/sdf", "requestedAt": 102.0}]}
    running = {"i-1"}
    assert volume_states.volume_state(spec, 100.5, running) == "creating"
    assert volume_states.volume_state(spec, 101.5, set()) == "available"  # its instance is gone
    assert volume_states.live_attachments(spec, 102.5, running)[0][1] == "attaching"
    assert volume_states.live_attachments(spec, 103.5, running)[0][1] == "attached"
    spec["attachments"][0]["detachRequestedAt"] = 104.0
    assert volume_states.volume_state(spec, 104.5, running) == "in-use"
    assert volume_states.live_attachments(spec, 104.5, running)[0][1] == "detaching"
    assert volume_states.volume_state(spec, 105.5, running) == "available"
    assert volume_states.modification_state(0, 0.5) == ("modifying", 25)
    assert volume_states.modification_state(0, 2.0) == ("optimizing", 75)
    assert volume_states.modification_state(0, 3.5) == ("completed", 100)
    assert volume_states.snapshot_state(0, 1.0) == ("pending", 50)
    assert volume_states.snapshot_state(0, 2.0) == ("completed", 100)


# --- the handlers ------------------------------------------------------------------------------------


def test_a_volume_is_creating_then_available(ec2, ctx):
    created = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, VolumeType="gp3")
    assert created["State"] == "creating" and created["Iops"] == 3000 and created["Throughput"] == 125
    assert created["VolumeId"].startswith("vol-") and len(created["VolumeId"]) == 21
    assert created["Encrypted"] is False and "KmsKeyId" not in created


def test_create_volume_errors(ec2, ctx):
    assert error(lambda: call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2z", Size=10)) == (
        "InvalidZone.NotFound", "The zone 'us-west-2z' does not exist.")
    assert error(lambda: call(ec2, ctx, "CreateVolume", Size=10)) == (
        "MissingParameter", "The request must contain the parameter availabilityZone")
    assert error(lambda: call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a")) == (
        "MissingParameter", "The request must contain the parameter size or snapshotId")
    assert error(lambda: call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, SnapshotId="snap-0123456789abcdef0")) == (
        "InvalidSnapshot.NotFound", "The snapshot 'snap-0123456789abcdef0' does not exist.")
    assert error(lambda: call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, KmsKeyId="alias/mine")) == (
        "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")


def test_encryption_records_the_default_key_arn(ec2, ctx):
    created = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, Encrypted=True)
    assert created["Encrypted"] is True
    assert created["KmsKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    again = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, Encrypted=True, KmsKeyId="alias/aws/ebs")
    assert again["KmsKeyId"] == created["KmsKeyId"]
    mine = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, Encrypted=True, KmsKeyId="alias/mine")
    assert mine["KmsKeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mine"


def test_client_token_makes_one_volume(ec2, ctx):
    first = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, ClientToken="t-1")
    second = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, ClientToken="t-1")
    assert first["VolumeId"] == second["VolumeId"]
    assert len(call(ec2, ctx, "DescribeVolumes")["Volumes"]) == 1
    assert error(lambda: call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=20, ClientToken="t-1"))[0] == (
        "IdempotentParameterMismatch")


def test_attach_detach_delete(ec2, store, ctx, instant):
    instance = running_instance(ec2, store, ctx)
    volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, VolumeType="gp3")["VolumeId"]
    other_zone = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2b", Size=10)["VolumeId"]
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=other_zone, InstanceId=instance, Device="/dev/sdf")) == (
        "InvalidVolume.ZoneMismatch", f"The volume '{other_zone}' is not in the same availability zone as instance '{instance}'")
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=volume, InstanceId=instance, Device="/dev/sda1")) == (
        "InvalidParameterValue", "Value (/dev/sda1) for parameter device is invalid. /dev/sda1 is not a valid EBS device name.")
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=volume, InstanceId="i-0123456789abcdef0", Device="/dev/sdf")) == (
        "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist")
    attached = call(ec2, ctx, "AttachVolume", VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    assert attached["State"] == "attaching" and attached["Device"] == "/dev/sdf"
    described = call(ec2, ctx, "DescribeVolumes", VolumeIds=[volume])["Volumes"][0]
    assert described["State"] == "in-use" and described["Attachments"][0]["State"] == "attached"
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=volume, InstanceId=instance, Device="/dev/sdg")) == (
        "VolumeInUse", f"{volume} is already attached to an instance")
    assert error(lambda: call(ec2, ctx, "DeleteVolume", VolumeId=volume)) == (
        "VolumeInUse", f"Volume {volume} is currently attached to {instance}")
    mappings = call(ec2, ctx, "DescribeInstances", InstanceIds=[instance])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"]
    assert [(m["DeviceName"], m["Ebs"]["VolumeId"]) for m in mappings] == [("/dev/sdf", volume)]
    assert call(ec2, ctx, "DetachVolume", VolumeId=volume)["State"] == "detaching"
    assert call(ec2, ctx, "DescribeVolumes", VolumeIds=[volume])["Volumes"][0]["State"] == "available"
    assert error(lambda: call(ec2, ctx, "DetachVolume", VolumeId=volume)) == (
        "IncorrectState", f"Volume '{volume}' is in the 'available' state.")
    call(ec2, ctx, "DeleteVolume", VolumeId=volume)
    assert error(lambda: call(ec2, ctx, "DescribeVolumes", VolumeIds=[volume])) == (
        "InvalidVolume.NotFound", f"The volume '{volume}' does not exist.")


def test_a_device_name_is_one_volume_per_instance(ec2, store, ctx, instant):
    instance = running_instance(ec2, store, ctx)
    first, second = (call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=1)["VolumeId"] for _ in range(2))
    call(ec2, ctx, "AttachVolume", VolumeId=first, InstanceId=instance, Device="/dev/sdf")
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=second, InstanceId=instance, Device="/dev/sdf")) == (
        "InvalidParameterValue", "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use")


def test_the_instance_types_limit_counts_the_root_volume(ec2, store, ctx, instant):
    instance = running_instance(ec2, store, ctx, "m5.large")
    devices = [f"/dev/xvd{c}" for c in "bcdefghijklmnopqrstuvwxyz"] + ["/dev/xvdaa", "/dev/xvdab"]
    for device in devices[:26]:  # 27 EBS slots, the root volume holds one
        volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=1)["VolumeId"]
        call(ec2, ctx, "AttachVolume", VolumeId=volume, InstanceId=instance, Device=device)
    volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=1)["VolumeId"]
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=volume, InstanceId=instance, Device=devices[26]))[0] == (
        "AttachmentLimitExceeded")


def test_modify_volume_rules(ec2, ctx, instant):
    volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=100, VolumeType="gp2")["VolumeId"]
    assert error(lambda: call(ec2, ctx, "ModifyVolume", VolumeId=volume, Size=50)) == (
        "InvalidParameterValue", "New size cannot be smaller than existing size")
    modified = call(ec2, ctx, "ModifyVolume", VolumeId=volume, Size=200, VolumeType="gp3")["VolumeModification"]
    assert (modified["OriginalSize"], modified["TargetSize"], modified["OriginalVolumeType"], modified["TargetVolumeType"]) == (
        100, 200, "gp2", "gp3")
    assert (modified["OriginalIops"], modified["TargetIops"], modified["TargetThroughput"]) == (300, 3000, 125)
    described = call(ec2, ctx, "DescribeVolumes", VolumeIds=[volume])["Volumes"][0]
    assert (described["Size"], described["VolumeType"], described["Iops"]) == (200, "gp3", 3000)
    listed = call(ec2, ctx, "DescribeVolumesModifications", VolumeIds=[volume])["VolumesModifications"]
    assert listed[0]["ModificationState"] == "completed" and listed[0]["Progress"] == 100
    for size in (300, 400, 500):
        call(ec2, ctx, "ModifyVolume", VolumeId=volume, Size=size)
    code, message = error(lambda: call(ec2, ctx, "ModifyVolume", VolumeId=volume, Size=600))
    assert code == "VolumeModificationRateExceeded" and "maximum modification rate" in message


def test_a_modification_in_progress_blocks_the_next(ec2, ctx, monkeypatch):
    monkeypatch.setattr(volume_states, "CREATE_SECONDS", 0.0)
    volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=100, VolumeType="gp3")["VolumeId"]
    call(ec2, ctx, "ModifyVolume", VolumeId=volume, Iops=6000)
    assert error(lambda: call(ec2, ctx, "ModifyVolume", VolumeId=volume, Iops=7000)) == (
        "IncorrectModificationState", f"Volume {volume} cannot be modified in modification state MODIFYING")


def test_snapshots_and_volumes_from_them(ec2, ctx, instant):
    volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=8, Encrypted=True)
    snapshot = call(ec2, ctx, "CreateSnapshot", VolumeId=volume["VolumeId"], Description="nightly",
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert snapshot["VolumeSize"] == 8 and snapshot["Encrypted"] and snapshot["Tags"] == [{"Key": "k", "Value": "v"}]
    described = call(ec2, ctx, "DescribeSnapshots", OwnerIds=["self"])["Snapshots"]
    assert [s["SnapshotId"] for s in described] == [snapshot["SnapshotId"]] and described[0]["State"] == "completed"
    assert call(ec2, ctx, "DescribeSnapshots", OwnerIds=["amazon"])["Snapshots"] == []
    restored = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2b", SnapshotId=snapshot["SnapshotId"])
    assert (restored["Size"], restored["SnapshotId"], restored["Encrypted"], restored["KmsKeyId"]) == (
        8, snapshot["SnapshotId"], True, volume["KmsKeyId"])
    assert error(lambda: call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2b", SnapshotId=snapshot["SnapshotId"], Size=4)) == (
        "InvalidParameterValue", "Volume of 4GiB is too small; minimum is 8GiB.")
    call(ec2, ctx, "DeleteSnapshot", SnapshotId=snapshot["SnapshotId"])
    assert error(lambda: call(ec2, ctx, "DeleteSnapshot", SnapshotId=snapshot["SnapshotId"])) == (
        "InvalidSnapshot.NotFound", f"The snapshot '{snapshot['SnapshotId']}' does not exist.")


def test_tags_and_filters(ec2, ctx):
    volume = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10,
                  TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "db"}]}])["VolumeId"]
    call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2b", Size=20, VolumeType="io1", Iops=500)
    call(ec2, ctx, "CreateTags", Resources=[volume], Tags=[{"Key": "Name", "Value": "data"}])
    assert [v["VolumeId"] for v in call(ec2, ctx, "DescribeVolumes", Filters=[{"Name": "tag:team", "Values": ["db"]}])["Volumes"]] == [volume]
    assert len(call(ec2, ctx, "DescribeVolumes", Filters=[{"Name": "volume-type", "Values": ["io1"]}])["Volumes"]) == 1
    assert len(call(ec2, ctx, "DescribeVolumes", Filters=[{"Name": "size", "Values": ["10", "20"]}])["Volumes"]) == 2
    tags = call(ec2, ctx, "DescribeTags", Filters=[{"Name": "resource-type", "Values": ["volume"]}])["Tags"]
    assert {(t["Key"], t["ResourceId"]) for t in tags} == {("Name", volume), ("team", volume)}
    call(ec2, ctx, "DeleteTags", Resources=[volume], Tags=[{"Key": "team"}])
    assert call(ec2, ctx, "DescribeVolumes", VolumeIds=[volume])["Volumes"][0]["Tags"] == [{"Key": "Name", "Value": "data"}]
    assert error(lambda: call(ec2, ctx, "CreateTags", Resources=["vol-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])) == (
        "InvalidVolume.NotFound", "The volume 'vol-0123456789abcdef0' does not exist.")


def test_describe_volumes_pages(ec2, ctx):
    for _ in range(7):
        call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=1)
    first = call(ec2, ctx, "DescribeVolumes", MaxResults=5)
    second = call(ec2, ctx, "DescribeVolumes", MaxResults=5, NextToken=first["NextToken"])
    assert len(first["Volumes"]) == 5 and len(second["Volumes"]) == 2 and "NextToken" not in second
    assert error(lambda: call(ec2, ctx, "DescribeVolumes", MaxResults=4)) == (
        "InvalidParameterValue", "Value ( 4 ) for parameter maxResults is invalid. Parameter must be between 5 and 500.")
    volume = first["Volumes"][0]["VolumeId"]
    assert error(lambda: call(ec2, ctx, "DescribeVolumes", MaxResults=5, VolumeIds=[volume])) == (
        "InvalidParameterCombination", "The parameter volumeSet cannot be used with the parameter maxResults")
    assert error(lambda: call(ec2, ctx, "DescribeVolumes", VolumeIds=["vol-xyz"])) == (
        "InvalidVolumeID.Malformed", 'Invalid id: "vol-xyz" (expecting "vol-...")')


def test_a_node_group_instance_takes_volumes_in_its_zone(ec2, store, ctx, instant):
    from moorage.core.kinds import NODEGROUP

    instance_id = "i-0aaaabbbbccccdddd"
    spec = {"clusterName": "demo", "nodegroupName": "ng", "amiType": "AL2023_x86_64_STANDARD", "_id": "ng-1234",
            "resources": {"autoScalingGroups": [{"name": "eks-ng-1234"}]}, "createdAt": 0.0}
    record = store.create(Key(ACCOUNT, REGION, NODEGROUP, "demo/ng"), spec)
    store.update_status(record, {"instances": [{
        "instanceId": instance_id, "instanceType": "m7i.large", "zone": "us-west-2b", "nodeName": "ip-172-31-32-10.us-west-2.compute.internal",
        "privateIp": "172.31.32.10", "subnetId": "subnet-0123456789abcdef0", "launchedAt": 0.0}]})
    here = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2b", Size=10, VolumeType="gp3")["VolumeId"]
    there = call(ec2, ctx, "CreateVolume", AvailabilityZone="us-west-2a", Size=10, VolumeType="gp3")["VolumeId"]
    assert call(ec2, ctx, "AttachVolume", VolumeId=here, InstanceId=instance_id, Device="/dev/xvdaa")["State"] == "attaching"
    assert error(lambda: call(ec2, ctx, "AttachVolume", VolumeId=there, InstanceId=instance_id, Device="/dev/xvdab"))[0] == (
        "InvalidVolume.ZoneMismatch")
    # The node group lets the instance go: the volume is free again, as EC2 detaches a terminated instance's volumes.
    store.update_status(store.get(record.key), {"instances": []})
    assert call(ec2, ctx, "DescribeVolumes", VolumeIds=[here])["Volumes"][0]["State"] == "available"
