"""UpdateClusterVersion and UpdateNodegroupVersion: EKS's rules and messages, against a store (no processes)."""

from __future__ import annotations

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.core.kinds import CLUSTER, NODEGROUP, UPDATE
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.service import EksService
from moorage.services.eks.versions import kubelet_version, managed_node_info, patch_version, supported_minors
from moorage.store import Key, SqliteStore

OLD, NEW = sorted(supported_minors(), key=lambda m: tuple(int(p) for p in m.split(".")))[-2:]


@pytest.fixture
def api(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    subnets = [s["SubnetId"] for s in Ec2Service(store).DescribeSubnets(ctx, {})["Subnets"]][:2]
    eks = EksService(store, "http://127.0.0.1:1")
    eks.clusters.create(ctx, {"name": "demo", "version": OLD, "roleArn": "arn:aws:iam::111122223333:role/c",
                              "resourcesVpcConfig": {"subnetIds": subnets}})
    key = Key(ctx.account, ctx.region, CLUSTER, "demo")
    store.merge_status(store.require(key), status="ACTIVE")
    return store, ctx, eks, key, subnets


def error_of(call, *args, **kwargs) -> AwsError:
    with pytest.raises(AwsError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def test_version_update_is_recorded_and_the_cluster_shows_the_running_version(api):
    store, ctx, eks, key, _ = api
    update = eks.UpdateClusterVersion(ctx, {"name": "demo", "version": NEW})["update"]
    assert update["type"] == "VersionUpdate" and update["status"] == "InProgress"
    assert update["params"] == [{"type": "Version", "value": NEW}, {"type": "PlatformVersion", "value": "eks.1"}]
    cluster = eks.DescribeCluster(ctx, {"name": "demo"})["cluster"]
    assert cluster["status"] == "UPDATING" and cluster["version"] == OLD  # until the reconciler applies it
    store.merge_status(store.require(key), version=NEW, platformVersion="eks.1")
    assert eks.DescribeCluster(ctx, {"name": "demo"})["cluster"]["version"] == NEW
    # One update at a time.
    error = error_of(eks.UpdateClusterVersion, ctx, {"name": "demo", "version": NEW})
    assert error.code == "ResourceInUseException" and update["id"] in error.message


@pytest.mark.parametrize("wanted", [OLD, "1.20", "2.0", "1.x", f"1.{int(NEW.split('.')[1]) + 1}"])
def test_same_downgrade_or_skipped_minor_is_refused_as_eks_refuses(api, wanted):
    store, ctx, eks, key, _ = api
    if wanted == f"1.{int(NEW.split('.')[1]) + 1}":
        store.merge_status(store.require(key), version=NEW)
        error = error_of(eks.UpdateClusterVersion, ctx, {"name": "demo", "version": wanted})
        assert error.code == "InvalidParameterException" and "not supported by this Moorage" in error.message
        return
    error = error_of(eks.UpdateClusterVersion, ctx, {"name": "demo", "version": wanted})
    assert error.code == "InvalidParameterException"
    assert error.message == f"Unsupported Kubernetes minor version update from {OLD} to {wanted}"


def test_node_groups_must_match_the_cluster_before_it_moves(api):
    store, ctx, eks, key, subnets = api
    eks.CreateNodegroup(ctx, {"clusterName": "demo", "nodegroupName": "ng1", "subnets": subnets,
                              "nodeRole": "arn:aws:iam::111122223333:role/n",
                              "scalingConfig": {"minSize": 1, "maxSize": 2, "desiredSize": 1}})
    ng = store.require(Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1"))
    assert ng.spec["version"] == OLD and ng.spec["releaseVersion"].startswith(patch_version(OLD) + "-")
    store.merge_status(store.require(key), version=NEW)  # the cluster moved on; the group did not
    store.merge_status(store.require(key), version=OLD)
    store.update_spec(ng, {**ng.spec, "version": "1.0"})
    error = error_of(eks.UpdateClusterVersion, ctx, {"name": "demo", "version": NEW})
    assert error.message == f"Nodegroups ng1 must be updated to match cluster version {OLD} before updating cluster version"


def test_cluster_must_be_active(api):
    store, ctx, eks, key, _ = api
    store.merge_status(store.require(key), status="CREATING")
    assert error_of(eks.UpdateClusterVersion, ctx, {"name": "demo", "version": NEW}).code == "ResourceInUseException"
    assert error_of(eks.UpdateClusterVersion, ctx, {"name": "nope", "version": NEW}).code == "ResourceNotFoundException"


def test_client_request_token_makes_the_update_idempotent(api):
    store, ctx, eks, key, _ = api
    first = eks.UpdateClusterVersion(ctx, {"name": "demo", "version": NEW, "clientRequestToken": "t1"})["update"]
    again = eks.UpdateClusterVersion(ctx, {"name": "demo", "version": NEW, "clientRequestToken": "t1"})["update"]
    assert first["id"] == again["id"]


def make_nodegroup(eks, ctx, subnets, **extra):
    return eks.CreateNodegroup(ctx, {"clusterName": "demo", "nodegroupName": "ng1", "subnets": subnets,
                                     "nodeRole": "arn:aws:iam::111122223333:role/n",
                                     "scalingConfig": {"minSize": 1, "maxSize": 2, "desiredSize": 1}, **extra})["nodegroup"]


def test_nodegroup_version_rules(api):
    store, ctx, eks, key, subnets = api
    error = error_of(make_nodegroup, eks, ctx, subnets, version=NEW)
    assert error.message == f"Requested Nodegroup version {NEW} is not compatible with cluster version {OLD}"
    error = error_of(make_nodegroup, eks, ctx, subnets, releaseVersion="1.31.3-20250103")
    assert error.message == f"Requested release version 1.31.3-20250103 is not valid for kubernetes version {OLD}."
    releases = [f"{patch_version(OLD)}-20261015", f"{patch_version(OLD)}-20261101"]
    group = make_nodegroup(eks, ctx, subnets, releaseVersion=releases[0])
    assert group["releaseVersion"] == releases[0]
    ng_key = Key(ctx.account, ctx.region, NODEGROUP, "demo/ng1")
    params = {"clusterName": "demo", "nodegroupName": "ng1"}
    assert error_of(eks.UpdateNodegroupVersion, ctx, params).code == "ResourceInUseException"  # still CREATING
    store.merge_status(store.require(ng_key), status="ACTIVE")
    # No version: the cluster's, newest release.
    update = eks.UpdateNodegroupVersion(ctx, params)["update"]
    assert update["type"] == "VersionUpdate"
    assert update["params"] == [{"type": "Version", "value": OLD}, {"type": "ReleaseVersion", "value": releases[1]}]
    view = eks.DescribeNodegroup(ctx, params)["nodegroup"]
    assert view["status"] == "UPDATING" and view["releaseVersion"] == releases[0]
    assert error_of(eks.UpdateNodegroupVersion, ctx, params).code == "ResourceInUseException"
    described = eks.DescribeUpdate(ctx, {"name": "demo", "nodegroupName": "ng1", "updateId": update["id"]})["update"]
    assert described["id"] == update["id"]
    # Applied: the next request for the same target has nothing to do; a newer minor than the cluster is refused.
    ng = store.require(ng_key)
    store.merge_status(ng, version=OLD, releaseVersion=releases[1], appliedUpdate=update["id"])
    store.merge_status(store.require(Key(ctx.account, ctx.region, UPDATE, update["id"])), status="Successful")
    assert "already on version" in error_of(eks.UpdateNodegroupVersion, ctx, params).message
    error = error_of(eks.UpdateNodegroupVersion, ctx, {**params, "version": NEW})
    assert error.message == f"Requested Nodegroup version {NEW} is not compatible with cluster version {OLD}"
    error = error_of(eks.UpdateNodegroupVersion, ctx, {**params, "releaseVersion": "9.9.9-20200101"})
    assert error.code == "InvalidParameterException"


def test_nodes_report_eks_kubelet_versions():
    version = kubelet_version(NEW)
    assert version.startswith(f"v{patch_version(NEW)}-eks-") and len(version.rsplit("-", 1)[1]) == 7
    assert managed_node_info(NEW)["kubeletVersion"] == version
