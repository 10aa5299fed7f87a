"""The version catalogue (DescribeClusterVersions' filters over the calendar) and upgradePolicy."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.service import EksService
from moorage.services.eks.versions import (
    check_upgrade_policy,
    cluster_versions,
    next_minor,
    select_cluster_versions,
    version_status,
)
from moorage.store import SqliteStore

ROLE = "arn:aws:iam::111122223333:role/eks-cluster"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def minors(entries: list[dict]) -> list[str]:
    return [e["clusterVersion"] for e in entries]


def test_every_toolchain_minor_is_listed_newest_first_with_its_patch():
    entries = cluster_versions(at("2026-12-02"))
    assert minors(entries) == ["1.37", "1.36", "1.35"]
    assert [e["kubernetesPatchVersion"] for e in entries] == ["1.37.2", "1.36.3", "1.35.4"]
    assert [e["defaultVersion"] for e in entries] == [True, False, False]
    assert entries[2]["releaseDate"] == at("2026-01-27")
    assert entries[2]["endOfStandardSupportDate"] == at("2027-03-27")
    assert entries[2]["endOfExtendedSupportDate"] == at("2028-03-27")


@pytest.mark.parametrize(
    ("when", "status"),
    [("2027-03-26", "STANDARD_SUPPORT"), ("2027-03-27", "EXTENDED_SUPPORT"), ("2028-03-26", "EXTENDED_SUPPORT"),
     ("2028-03-27", "UNSUPPORTED")],
)
def test_support_status_follows_the_calendar(when, status):
    assert version_status("1.35", at(when)) == status
    entry = next(e for e in cluster_versions(at(when)) if e["clusterVersion"] == "1.35")
    assert entry["versionStatus"] == status
    assert entry["status"] == status.lower().replace("_", "-")


def test_unsupported_versions_only_with_include_all_or_when_asked_for():
    later = at("2028-05-01")  # 1.35 past extended support, 1.36 and 1.37 in extended support
    assert minors(select_cluster_versions({}, later)) == ["1.37", "1.36"]
    assert minors(select_cluster_versions({"includeAll": True}, later)) == ["1.37", "1.36", "1.35"]
    assert minors(select_cluster_versions({"versionStatus": "UNSUPPORTED"}, later)) == ["1.35"]
    assert minors(select_cluster_versions({"status": "unsupported"}, later)) == ["1.35"]
    assert minors(select_cluster_versions({"clusterVersions": ["1.35"]}, later)) == ["1.35"]
    assert minors(select_cluster_versions({"versionStatus": "EXTENDED_SUPPORT"}, later)) == ["1.37", "1.36"]


def test_filters_combine():
    now = at("2026-12-02")
    assert minors(select_cluster_versions({"defaultOnly": True}, now)) == ["1.37"]
    assert minors(select_cluster_versions({"clusterType": "eks"}, now)) == ["1.37", "1.36", "1.35"]
    assert select_cluster_versions({"clusterType": "eks-local-outposts"}, now) == []
    assert minors(select_cluster_versions({"clusterVersions": ["1.36", "1.99"]}, now)) == ["1.36"]
    assert select_cluster_versions({"defaultOnly": True, "clusterVersions": ["1.35"]}, now) == []
    assert select_cluster_versions({"versionStatus": "EXTENDED_SUPPORT"}, now) == []


def test_next_minor():
    assert next_minor("1.37") == "1.38" and next_minor("1.9") == "1.10"


def test_standard_policy_is_refused_once_extended_support_started():
    check_upgrade_policy("demo", "1.35", {"supportType": "STANDARD"}, at("2027-03-26"))
    check_upgrade_policy("demo", "1.35", {"supportType": "EXTENDED"}, at("2027-04-01"))
    with pytest.raises(AwsError) as error:
        check_upgrade_policy("demo", "1.35", {"supportType": "STANDARD"}, at("2027-04-01"))
    assert error.value.code == "InvalidRequestException"


@pytest.fixture
def eks(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    subnets = Ec2Service(store).DescribeSubnets(ctx, {})["Subnets"]
    service = EksService(store, "http://127.0.0.1:1")
    ids = [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]]
    return service, store, ctx, ids


def test_upgrade_policy_defaults_to_extended_and_updates_as_an_upgrade_policy_update(eks):
    service, store, ctx, ids = eks
    created = service.CreateCluster(ctx, {"name": "demo", "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": ids}})
    assert created["cluster"]["upgradePolicy"] == {"supportType": "EXTENDED"}
    record = service.clusters.get(ctx, "demo")
    store.merge_status(record, status="ACTIVE")
    update = service.UpdateClusterConfig(ctx, {"name": "demo", "upgradePolicy": {"supportType": "STANDARD"}})["update"]
    assert update["type"] == "UpgradePolicyUpdate"
    assert [p["type"] for p in update["params"]] == ["UpgradePolicy"]
    assert service.DescribeCluster(ctx, {"name": "demo"})["cluster"]["upgradePolicy"] == {"supportType": "STANDARD"}
    empty = service.CreateCluster(ctx, {"name": "empty", "roleArn": ROLE, "resourcesVpcConfig": {"subnetIds": ids},
                                        "upgradePolicy": {}})
    assert empty["cluster"]["upgradePolicy"] == {"supportType": "EXTENDED"}
