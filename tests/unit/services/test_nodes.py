"""Instance ids, private addresses, node names, providerIDs, managed node labels and AMI types."""

from __future__ import annotations

import ipaddress
import re

import pytest

from moorage.gateway.protocols import get_service_model
from moorage.services.ec2 import instance_types as it
from moorage.services.ec2 import nodes


def test_instance_ids_look_like_ec2_and_are_deterministic():
    first = nodes.instance_id("111122223333", "us-west-2", "demo", "ng-1", "0")
    assert re.fullmatch(r"i-[0-9a-f]{17}", first)
    assert nodes.instance_id("111122223333", "us-west-2", "demo", "ng-1", "0") == first
    ids = {nodes.instance_id("demo", "ng-1", str(n)) for n in range(1000)}
    assert len(ids) == 1000


@pytest.mark.parametrize(("cidr", "usable"), [("10.0.0.0/24", 251), ("172.31.0.0/20", 4091), ("10.0.0.0/28", 11)])
def test_usable_address_count(cidr, usable):
    assert nodes.usable_address_count(cidr) == usable


@pytest.mark.parametrize(
    ("address", "reserved"),
    [
        ("10.0.1.0", True),  # network
        ("10.0.1.1", True),  # VPC router
        ("10.0.1.2", True),  # DNS
        ("10.0.1.3", True),  # future use
        ("10.0.1.4", False),
        ("10.0.1.254", False),
        ("10.0.1.255", True),  # last
    ],
)
def test_reserved_addresses(address, reserved):
    assert nodes.is_reserved_address("10.0.1.0/24", address) is reserved


def test_reserved_check_rejects_addresses_outside_the_subnet():
    with pytest.raises(ValueError):
        nodes.is_reserved_address("10.0.1.0/24", "10.0.2.4")


def test_allocation_is_stable_and_inside_the_subnet():
    address = nodes.allocate_private_ip("172.31.16.0/20", "i-0123456789abcdef0")
    assert address == nodes.allocate_private_ip("172.31.16.0/20", "i-0123456789abcdef0")
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network("172.31.16.0/20")
    assert not nodes.is_reserved_address("172.31.16.0/20", address)


def test_allocation_fills_a_subnet_without_repeats_or_reserved_addresses():
    cidr = "10.0.0.0/24"
    taken: set[str] = set()
    for n in range(nodes.usable_address_count(cidr)):
        address = nodes.allocate_private_ip(cidr, f"node-{n}", taken)
        assert address not in taken
        assert not nodes.is_reserved_address(cidr, address)
        taken.add(address)
    assert len(taken) == 251
    with pytest.raises(nodes.InsufficientFreeAddresses):
        nodes.allocate_private_ip(cidr, "one-too-many", taken)


def test_taken_addresses_are_skipped_and_reserved_ones_never_returned():
    cidr = "10.0.0.0/28"  # 10.0.0.4 .. 10.0.0.14 usable
    usable = {f"10.0.0.{n}" for n in range(4, 15)}
    for seed in range(200):
        assert nodes.allocate_private_ip(cidr, str(seed)) in usable
    taken = usable - {"10.0.0.9"}
    assert nodes.allocate_private_ip(cidr, "anything", taken) == "10.0.0.9"
    assert nodes.allocate_private_ip(cidr, "anything", list(taken)) == "10.0.0.9"  # any collection


def test_a_subnet_too_small_has_no_addresses():
    with pytest.raises(nodes.InsufficientFreeAddresses):
        nodes.allocate_private_ip("10.0.0.0/30", "x")


@pytest.mark.parametrize(
    ("address", "region", "name"),
    [
        ("10.24.34.0", "us-east-1", "ip-10-24-34-0.ec2.internal"),
        ("10.24.34.0", "us-west-2", "ip-10-24-34-0.us-west-2.compute.internal"),
        ("172.31.3.4", "eu-central-1", "ip-172-31-3-4.eu-central-1.compute.internal"),
        ("192.168.25.169", "us-east-2", "ip-192-168-25-169.us-east-2.compute.internal"),
    ],
)
def test_node_names_are_private_dns_names(address, region, name):
    assert nodes.private_dns_name(address, region) == name
    assert nodes.node_name(address, region) == name


def test_provider_id():
    assert nodes.provider_id("us-west-2a", "i-0cd1c351f3c0d11a1") == "aws:///us-west-2a/i-0cd1c351f3c0d11a1"


def test_ami_ids():
    ami = nodes.ami_id("us-west-2", "AL2023_x86_64_STANDARD", "1.31.0-20241024")
    assert re.fullmatch(r"ami-[0-9a-f]{17}", ami)
    assert ami != nodes.ami_id("us-west-2", "AL2023_ARM_64_STANDARD", "1.31.0-20241024")
    assert ami != nodes.ami_id("us-west-2", "AL2023_x86_64_STANDARD", "1.31.1-20241109")


# --- labels ---------------------------------------------------------------------------------------


def test_managed_node_labels_for_an_m5_large_in_us_west_2():
    labels = nodes.managed_node_labels(
        cluster="demo",
        nodegroup="default",
        instance_type="m5.large",
        zone="us-west-2a",
        region="us-west-2",
        capacity_type="ON_DEMAND",
        ami_type="AL2023_x86_64_STANDARD",
        node_name="ip-172-31-3-4.us-west-2.compute.internal",
        release_version="1.31.0-20241024",
    )
    assert labels == {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "m5.large",
        "beta.kubernetes.io/os": "linux",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": "default",
        "eks.amazonaws.com/nodegroup-image": nodes.ami_id("us-west-2", "AL2023_x86_64_STANDARD", "1.31.0-20241024"),
        "failure-domain.beta.kubernetes.io/region": "us-west-2",
        "failure-domain.beta.kubernetes.io/zone": "us-west-2a",
        "k8s.io/cloud-provider-aws": nodes.cloud_provider_aws_label("demo", "us-west-2"),
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": "ip-172-31-3-4.us-west-2.compute.internal",
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "m5.large",
        "topology.k8s.aws/zone-id": "usw2-az1",
        "topology.kubernetes.io/region": "us-west-2",
        "topology.kubernetes.io/zone": "us-west-2a",
    }
    assert list(labels) == sorted(labels)
    assert re.fullmatch(r"[0-9a-f]{32}", labels["k8s.io/cloud-provider-aws"])


def test_labels_for_a_graviton_spot_node_with_a_launch_template():
    labels = nodes.managed_node_labels(
        "demo",
        "arm",
        it.CATALOG["m7g.xlarge"],
        "us-east-1b",
        "us-east-1",
        "SPOT",
        "AL2023_ARM_64_STANDARD",
        "ip-10-0-1-10.ec2.internal",
        launch_template_id="lt-0f7c7c3c9cb770aaa",
        launch_template_version=3,
        image_id="ami-07fdc65a0c344a252",
        extra={"team": "web", "eks.amazonaws.com/nodegroup": "spoofed"},
    )
    assert labels["kubernetes.io/arch"] == labels["beta.kubernetes.io/arch"] == "arm64"
    assert labels["eks.amazonaws.com/capacityType"] == "SPOT"
    assert labels["eks.amazonaws.com/sourceLaunchTemplateId"] == "lt-0f7c7c3c9cb770aaa"
    assert labels["eks.amazonaws.com/sourceLaunchTemplateVersion"] == "3"
    assert labels["eks.amazonaws.com/nodegroup-image"] == "ami-07fdc65a0c344a252"
    assert labels["eks.amazonaws.com/nodegroup"] == "arm"  # EKS's own labels win
    assert labels["team"] == "web"
    assert labels["topology.k8s.aws/zone-id"] == "use1-az2"


def test_launch_template_labels_only_when_given():
    labels = nodes.managed_node_labels(
        "demo", "ng", "t3.medium", "eu-west-1a", "eu-west-1", "ON_DEMAND", "AL2_x86_64", "ip-10-0-0-4.eu-west-1.compute.internal"
    )
    assert not any(key.startswith("eks.amazonaws.com/sourceLaunchTemplate") for key in labels)


def test_labels_outside_the_catalog_take_the_architecture_from_the_ami_type():
    labels = nodes.managed_node_labels(
        "demo", "ng", "t4g.small", "eu-west-3b", "eu-west-3", "ON_DEMAND", "AL2023_ARM_64_STANDARD", "n"
    )
    assert labels["kubernetes.io/arch"] == "arm64"
    assert labels["node.kubernetes.io/instance-type"] == "t4g.small"
    windows = nodes.managed_node_labels(
        "demo", "win", "m5.large", "us-west-2b", "us-west-2", "ON_DEMAND", "WINDOWS_CORE_2022_x86_64", "n"
    )
    assert windows["kubernetes.io/os"] == windows["beta.kubernetes.io/os"] == "windows"


def test_cloud_provider_label_is_per_cluster():
    assert nodes.cloud_provider_aws_label("a", "us-west-2") == nodes.cloud_provider_aws_label("a", "us-west-2")
    assert nodes.cloud_provider_aws_label("a", "us-west-2") != nodes.cloud_provider_aws_label("b", "us-west-2")


# --- AMI types ------------------------------------------------------------------------------------


def test_ami_type_for_follows_the_architecture():
    assert nodes.ami_type_for("m5.large") == "AL2023_x86_64_STANDARD"
    assert nodes.ami_type_for("t3.nano") == "AL2023_x86_64_STANDARD"
    assert nodes.ami_type_for("c7g.medium") == "AL2023_ARM_64_STANDARD"
    assert nodes.ami_type_for(it.CATALOG["m6g.large"]) == "AL2023_ARM_64_STANDARD"


def test_every_eks_ami_type_has_a_known_architecture():
    enum = get_service_model("eks").shape_for("AMITypes").enum
    for ami_type in enum:
        arch = nodes.ami_type_architecture(ami_type)
        if ami_type == "CUSTOM":
            assert arch is None
        else:
            assert arch in ("x86_64", "arm64"), ami_type
    assert nodes.ami_type_architecture("BOTTLEROCKET_ARM_64_NVIDIA") == "arm64"
    assert nodes.ami_type_architecture("WINDOWS_FULL_2019_x86_64") == "x86_64"


@pytest.mark.parametrize(
    ("ami_type", "instance_type", "fits"),
    [
        ("AL2023_x86_64_STANDARD", "m5.large", True),
        ("AL2023_x86_64_STANDARD", "m7g.large", False),
        ("AL2023_ARM_64_STANDARD", "c7g.large", True),
        ("AL2023_ARM_64_STANDARD", "t3.medium", False),
        ("AL2_x86_64", "m6g.medium", False),
        ("BOTTLEROCKET_ARM_64", "m6g.medium", True),
        ("CUSTOM", "m6g.medium", True),
        ("AL2023_x86_64_STANDARD", "t4g.small", True),  # not in the catalog: nothing to check against
    ],
)
def test_ami_type_fits(ami_type, instance_type, fits):
    assert nodes.ami_type_fits(ami_type, instance_type) is fits


def test_ami_type_mismatch_message_is_eks_message():
    assert nodes.ami_type_mismatch("AL2023_x86_64_STANDARD", ["m5.large", "m5.xlarge"]) is None
    assert (
        nodes.ami_type_mismatch("AL2_x86_64", ["m5.large", "m6g.large"])
        == "[m6g.large] is not a valid instance type for requested amiType AL2_x86_64"
    )
    assert (
        nodes.ami_type_mismatch("AL2023_ARM_64_STANDARD", ["m5.large", "c5.large"])
        == "[m5.large, c5.large] is not a valid instance type for requested amiType AL2023_ARM_64_STANDARD"
    )


@pytest.fixture
def nodegroups(tmp_path):
    """Node group rules against a store, with an ACTIVE cluster (no processes)."""
    from moorage.core.context import RequestContext
    from moorage.core.kinds import CLUSTER
    from moorage.services.ec2.service import Ec2Service
    from moorage.services.eks.clusters import Clusters
    from moorage.services.eks.nodegroups import Nodegroups
    from moorage.store import Key, SqliteStore

    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "request-1")
    subnets = [s["SubnetId"] for s in Ec2Service(store).DescribeSubnets(ctx, {})["Subnets"]][:2]
    clusters = Clusters(store, "http://127.0.0.1:1")
    clusters.create(ctx, {"name": "demo", "roleArn": "arn:aws:iam::111122223333:role/c", "resourcesVpcConfig": {"subnetIds": subnets}})
    store.merge_status(store.require(Key(ctx.account, ctx.region, CLUSTER, "demo")), status="ACTIVE")
    base = {"clusterName": "demo", "nodegroupName": "ng", "nodeRole": "arn:aws:iam::111122223333:role/node", "subnets": subnets}
    return Nodegroups(store, clusters, it.CATALOG), ctx, base


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"taints": [{"effect": "NO_SCHEDULE"}]}, "Invalid value:  : field must consist of"),  # was a KeyError: a 500
        ({"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
         "Invalid taint effect: NoSchedule, must be one of these [NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE]"),
        ({"taints": [{"key": "dedicated", "value": "gpu jobs", "effect": "NO_SCHEDULE"}]}, "Invalid value: gpu jobs : field must"),
        ({"labels": {"team name": "a"}}, "Invalid value: team name : field must"),
        ({"labels": {"Example.com/team": "a"}}, "Invalid value: Example.com/team : field must"),
        ({"labels": {"team": "-a"}}, "Invalid value: -a : field must"),
    ],
)
def test_node_group_labels_and_taints_kubernetes_would_refuse_are_refused(nodegroups, extra, message):
    """Else the reconciler's node writes fail for ever and the group never leaves CREATING."""
    from moorage.core.errors import AwsError

    groups, ctx, base = nodegroups
    with pytest.raises(AwsError) as excinfo:
        groups.create(ctx, {**base, **extra})
    assert excinfo.value.code == "InvalidParameterException"
    assert excinfo.value.message.startswith(message)


def test_node_group_labels_and_taints_kubernetes_accepts_are_kept(nodegroups):
    groups, ctx, base = nodegroups
    labels = {"node-role.kubernetes.io/worker": "", "team": "data_eng.2", "a": "b"}
    taints = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}, {"key": "spot", "effect": "PREFER_NO_SCHEDULE"}]
    created = groups.create(ctx, {**base, "labels": labels, "taints": taints})
    assert created["labels"] == labels and created["taints"] == taints
