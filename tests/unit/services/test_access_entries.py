"""Cluster access rules: principal ARNs, usernames and templates, authentication modes, access policies."""

import asyncio

import pytest

from moorage.core.context import Principal, RequestContext
from moorage.core.errors import AwsError
from moorage.infra.configmap_cache import ConfigMapCache
from moorage.services.ec2.network import default_subnets
from moorage.services.eks.access import (
    AccessEntries,
    canonical_arn,
    check_groups,
    check_principal,
    check_scope,
    check_username,
    default_username,
    ensure_node_role_access,
)
from moorage.services.eks.access_policies import POLICY_NAMES, association_allows, namespace_in_scope, policy_arn
from moorage.services.eks.aws_auth import AWS_AUTH_PATH, parse_aws_auth
from moorage.services.eks.clusters import Clusters
from moorage.services.eks.identity import Caller, ClusterIdentities, access_policy_decision, render
from moorage.services.eks.service import EksService
from moorage.store import SqliteStore

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
CTX = RequestContext(ACCOUNT, "us-west-2", ROOT, "AKIAMOORAGETESTROOT1", "req-1")


def caller(arn: str, user_id: str = "AIDAEXAMPLE", key: str = "AKIAEXAMPLE") -> Caller:
    return Caller.of(Principal(ACCOUNT, arn, user_id, key))


# Principal ARNs and usernames


@pytest.mark.parametrize(
    "arn, canonical",
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/admins/alice@example.com", f"arn:aws:iam::{ACCOUNT}:role/admins"),
        (f"arn:aws:iam::{ACCOUNT}:role/development/apps/my-role", f"arn:aws:iam::{ACCOUNT}:role/my-role"),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/bob", f"arn:aws:iam::{ACCOUNT}:user/ops/bob"),
        (ROOT, ROOT),
    ],
)
def test_canonical_arn_is_the_role_without_path(arn, canonical):
    assert canonical_arn(arn) == canonical


def test_default_usernames_follow_eks():
    assert default_username(f"arn:aws:iam::{ACCOUNT}:user/bob", "STANDARD") == f"arn:aws:iam::{ACCOUNT}:user/bob"
    assert default_username(f"arn:aws:iam::{ACCOUNT}:role/dev/apps/my-role", "STANDARD") == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/my-role/{{{{SessionName}}}}"
    )
    assert default_username(f"arn:aws:iam::{ACCOUNT}:role/nodes", "EC2_LINUX") == "system:node:{{EC2PrivateDNSName}}"
    assert default_username(f"arn:aws:iam::{ACCOUNT}:role/pods", "FARGATE_LINUX") == "system:node:{{SessionName}}"


@pytest.mark.parametrize("username", ["system:admin", "eks:me", "aws:x", "amazon:y", "iam:z", "john{{SessionName}}"])
def test_reserved_or_malformed_usernames_are_refused(username):
    with pytest.raises(AwsError) as raised:
        check_username(username, "demo")
    assert raised.value.code == "InvalidParameterException"


@pytest.mark.parametrize("username", ["alice", "jo:hn{{SessionName}}", ":john{{SessionNameRaw}}", "systems"])
def test_allowed_usernames(username):
    check_username(username, "demo")


def test_system_groups_are_refused():
    with pytest.raises(AwsError, match="The kubernetes group name system:masters is invalid, it cannot start with system:"):
        check_groups(["viewers", "system:masters"], "demo")
    check_groups(["viewers", "eks-admins"], "demo")


@pytest.mark.parametrize(
    "principal, entry_type",
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/admins/alice", "STANDARD"),  # a session, not a principal
        (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS", "STANDARD"),
        (f"arn:aws:iam::{ACCOUNT}:user/bob", "EC2_LINUX"),  # nodes are roles
        ("arn:aws:iam::999988887777:role/nodes", "EC2_LINUX"),  # in the cluster's account
        ("not-an-arn", "STANDARD"),
    ],
)
def test_invalid_principals(principal, entry_type):
    with pytest.raises(AwsError, match="The specified principalArn is invalid"):
        check_principal(principal, entry_type, ACCOUNT, "demo")


def test_cross_account_standard_entries_are_allowed():
    check_principal("arn:aws:iam::999988887777:role/auditors", "STANDARD", ACCOUNT, "demo")


# Templates


def test_templates_fill_session_account_key_and_node_names():
    assumed = caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/devs/alice@example.com", "AROAEXAMPLE:alice@example.com")
    lookup = {"i-0123456789abcdef0": "ip-10-0-1-5.us-west-2.compute.internal"}.get
    assert render("dev:{{SessionName}}", assumed, lookup) == "dev:alice-example.com"
    assert render("dev:{{SessionNameRaw}}", assumed, lookup) == "dev:alice@example.com"
    assert render("{{AccountID}}:{{AccessKeyID}}", assumed, lookup) == f"{ACCOUNT}:AKIAEXAMPLE"
    node = caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/nodes/i-0123456789abcdef0", "AROANODES:i-0123456789abcdef0")
    assert render("system:node:{{EC2PrivateDNSName}}", node, lookup) == "system:node:ip-10-0-1-5.us-west-2.compute.internal"
    unknown = caller(f"arn:aws:sts::{ACCOUNT}:assumed-role/nodes/i-00000000000000000", "AROANODES:i-00000000000000000")
    assert render("system:node:{{EC2PrivateDNSName}}", unknown, lookup) is None


def test_aws_auth_parses_roles_and_users_and_skips_garbage():
    parsed = parse_aws_auth(
        {
            "mapRoles": "- rolearn: arn:aws:iam::111122223333:role/devs\n  username: dev:{{SessionName}}\n  groups: [devs]\n- junk\n",
            "mapUsers": "- userarn: arn:aws:iam::111122223333:user/bob\n  username: bob\n  groups:\n    - system:masters\n",
        }
    )
    assert parsed.roles["arn:aws:iam::111122223333:role/devs"].groups == ("devs",)
    assert parsed.users["arn:aws:iam::111122223333:user/bob"].username == "bob"
    assert parse_aws_auth({"mapRoles": "{not: [yaml"}).roles == {}


# Access policies


def pods(verb: str, namespace: str = "default", resource: str = "pods", group: str = "", subresource: str = "") -> dict:
    return {"resourceAttributes": {"verb": verb, "namespace": namespace, "group": group, "resource": resource, "subresource": subresource}}


CLUSTER_SCOPE = {"type": "cluster", "namespaces": []}


def test_view_reads_but_never_secrets_or_writes():
    view = policy_arn("AmazonEKSViewPolicy")
    assert association_allows(view, CLUSTER_SCOPE, pods("list"))
    assert association_allows(view, CLUSTER_SCOPE, pods("get", subresource="log"))
    assert not association_allows(view, CLUSTER_SCOPE, pods("get", resource="secrets"))
    assert not association_allows(view, CLUSTER_SCOPE, pods("create"))
    assert not association_allows(view, CLUSTER_SCOPE, pods("create", subresource="exec"))


def test_edit_and_admin_differ_on_rbac_and_cluster_admin_has_everything():
    edit, admin, cluster_admin = (policy_arn(n) for n in ("AmazonEKSEditPolicy", "AmazonEKSAdminPolicy", "AmazonEKSClusterAdminPolicy"))
    deployments = pods("create", resource="deployments", group="apps")
    roles = pods("create", resource="rolebindings", group="rbac.authorization.k8s.io")
    assert association_allows(edit, CLUSTER_SCOPE, deployments) and association_allows(edit, CLUSTER_SCOPE, pods("get", resource="secrets"))
    assert not association_allows(edit, CLUSTER_SCOPE, roles)
    assert association_allows(admin, CLUSTER_SCOPE, roles)
    assert not association_allows(admin, CLUSTER_SCOPE, pods("create", namespace="", resource="namespaces"))
    assert association_allows(cluster_admin, CLUSTER_SCOPE, pods("delete", namespace="", resource="nodes"))
    assert association_allows(cluster_admin, CLUSTER_SCOPE, {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}})
    assert not association_allows(admin, CLUSTER_SCOPE, {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}})


def test_namespace_scope_with_wildcards():
    edit = policy_arn("AmazonEKSEditPolicy")
    scope = {"type": "namespace", "namespaces": ["team-a", "dev-*"]}
    assert association_allows(edit, scope, pods("create", namespace="team-a"))
    assert association_allows(edit, scope, pods("create", namespace="dev-42"))
    assert not association_allows(edit, scope, pods("create", namespace="prod"))
    assert not association_allows(edit, scope, pods("list", namespace=""))  # across all namespaces
    assert namespace_in_scope("dev-", ["dev-*"]) and not namespace_in_scope("dev", ["dev-*"])


def test_scope_validation():
    assert check_scope({"type": "namespace", "namespaces": ["b", "a", "a"]}, "demo") == {"type": "namespace", "namespaces": ["a", "b"]}
    for bad in ({"type": "namespace"}, {"type": "cluster", "namespaces": ["a"]}, {"type": "namespace", "namespaces": ["Bad_Name"]}):
        with pytest.raises(AwsError):
            check_scope(bad, "demo")


def test_policy_list_has_the_core_policies():
    assert {"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"} <= set(POLICY_NAMES)
    assert POLICY_NAMES == sorted(POLICY_NAMES)


# Modes, entries and what the webhooks make of them (a real store, no control plane)


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "state.db")


def make_cluster(store, name: str, **access):
    """CreateCluster as the gateway calls it, then ACTIVE as the reconciler would mark it."""
    service = EksService(store, "http://127.0.0.1:1")
    clusters = service.clusters
    subnets = [s["SubnetId"] for s in default_subnets(CTX.account, CTX.region)][:2]
    params = {"name": name, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks", "resourcesVpcConfig": {"subnetIds": subnets}}
    if access:
        params["accessConfig"] = access
    service.CreateCluster(CTX, params)
    record = clusters.get(CTX, name)
    store.merge_status(record, status="ACTIVE")
    return clusters


def test_default_mode_is_config_map_and_it_needs_the_creator_bootstrap(store):
    clusters = make_cluster(store, "plain")
    assert clusters.describe(CTX, "plain")["accessConfig"] == {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}
    with pytest.raises(AwsError, match="bootstrapClusterCreatorAdminPermissions must be true"):
        make_cluster(store, "no-admin", authenticationMode="CONFIG_MAP", bootstrapClusterCreatorAdminPermissions=False)


def test_modes_only_move_towards_api(store):
    clusters = make_cluster(store, "modes")

    def switch(mode):
        update = clusters.update_config(CTX, {"name": "modes", "accessConfig": {"authenticationMode": mode}})["update"]
        store.merge_status(store.get(clusters.update_key(CTX, update["id"])), status="Successful")
        return update

    with pytest.raises(AwsError, match="Unsupported authentication mode update from CONFIG_MAP to API"):
        switch("API")
    assert switch("API_AND_CONFIG_MAP")["type"] == "AccessConfigUpdate"
    with pytest.raises(AwsError, match="from API_AND_CONFIG_MAP to CONFIG_MAP"):
        switch("CONFIG_MAP")
    switch("API")
    with pytest.raises(AwsError, match="from API to API_AND_CONFIG_MAP"):
        switch("API_AND_CONFIG_MAP")


def test_the_creator_entry_is_made_once_on_entering_the_api_modes(store):
    service = make_cluster(store, "grow") and EksService(store, "http://127.0.0.1:1")

    def switch(mode):
        update = service.UpdateClusterConfig(CTX, {"name": "grow", "accessConfig": {"authenticationMode": mode}})["update"]
        store.merge_status(store.get(service.clusters.update_key(CTX, update["id"])), status="Successful")

    switch("API_AND_CONFIG_MAP")
    assert service.ListAccessEntries(CTX, {"clusterName": "grow"})["accessEntries"] == [ROOT]
    service.DeleteAccessEntry(CTX, {"clusterName": "grow", "principalArn": ROOT})
    switch("API")  # a deleted creator entry stays deleted
    assert service.ListAccessEntries(CTX, {"clusterName": "grow"})["accessEntries"] == []


def test_entries_need_an_api_mode_and_nodes_get_theirs(store):
    make_cluster(store, "cm")
    entries = AccessEntries(store, Clusters(store, "http://127.0.0.1:1"))
    with pytest.raises(AwsError, match=r"must be set to one of \[API, API_AND_CONFIG_MAP\]"):
        entries.list(CTX, {"clusterName": "cm"})
    cluster = store.get(Clusters(store, "").key(CTX, "cm"))
    assert ensure_node_role_access(store, cluster, f"arn:aws:iam::{ACCOUNT}:role/nodes") is None  # aws-auth's job

    make_cluster(store, "api", authenticationMode="API")
    cluster = store.get(Clusters(store, "").key(CTX, "api"))
    node = ensure_node_role_access(store, cluster, f"arn:aws:iam::{ACCOUNT}:role/nodes")
    assert (node.spec["type"], node.spec["username"], node.spec["kubernetesGroups"]) == (
        "EC2_LINUX", "system:node:{{EC2PrivateDNSName}}", ["system:nodes"]
    )
    assert entries.list(CTX, {"clusterName": "api"})["accessEntries"] == [f"arn:aws:iam::{ACCOUNT}:role/nodes", ROOT]
    creator = entries.list_associated(CTX, {"clusterName": "api", "principalArn": ROOT})["associatedAccessPolicies"]
    assert [p["policyArn"] for p in creator] == [policy_arn("AmazonEKSClusterAdminPolicy")]


def test_webhooks_map_entries_and_authorize_by_their_policies(store):
    make_cluster(store, "api", authenticationMode="API", bootstrapClusterCreatorAdminPermissions=False)
    clusters = Clusters(store, "")
    cluster = clusters.get(CTX, "api")
    identities = ClusterIdentities(store, ConfigMapCache(AWS_AUTH_PATH, parse_aws_auth, lambda c: None))
    role_session = Principal(ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/viewers/carol", "AROAVIEWERS:carol", "ASIAEXAMPLE")
    user, why = asyncio.run(identities.user_for(cluster, role_session))
    assert user is None and "has no access entry" in why

    entries = AccessEntries(store, clusters)
    entries.create(CTX, {"clusterName": "api", "principalArn": f"arn:aws:iam::{ACCOUNT}:role/team/viewers", "kubernetesGroups": ["readers"]})
    entries.associate(CTX, {
        "clusterName": "api", "principalArn": f"arn:aws:iam::{ACCOUNT}:role/team/viewers",
        "policyArn": policy_arn("AmazonEKSViewPolicy"), "accessScope": {"type": "namespace", "namespaces": ["web"]},
    })
    user, _ = asyncio.run(identities.user_for(cluster, role_session))
    assert user["username"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/viewers/carol"
    assert user["groups"] == ["system:authenticated", "readers"]
    assert user["extra"]["canonicalArn"] == [f"arn:aws:iam::{ACCOUNT}:role/viewers"]
    review = {"user": user["username"], "extra": user["extra"], **pods("list", namespace="web")}
    assert access_policy_decision(store, cluster, review)[0]
    assert not access_policy_decision(store, cluster, {**review, **pods("list", namespace="other")})[0]
    assert not access_policy_decision(store, cluster, {**review, **pods("get", namespace="web", resource="secrets")})[0]
