"""OIDC identity provider configs: EKS's rules, and the authentication configuration they become."""

from __future__ import annotations

import json

import pytest

from moorage.core.context import RequestContext
from moorage.core.errors import AwsError
from moorage.core.kinds import CLUSTER, UPDATE
from moorage.infra.authentication_config import (
    authentication_config,
    config_hash,
    ensure_authentication_config,
    jwt_authenticator,
    loaded_hashes,
    write_authentication_config,
)
from moorage.services.ec2.service import Ec2Service
from moorage.services.eks.clusters import Clusters
from moorage.services.eks.identity_providers import IdentityProviderConfigs
from moorage.store import Key, SqliteStore

ISSUER = "https://idp.example.com"


@pytest.fixture
def api(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    ec2 = Ec2Service(store)
    subnets = [s["SubnetId"] for s in ec2.DescribeSubnets(ctx, {})["Subnets"] if s.get("DefaultForAz")]
    clusters = Clusters(store, "http://127.0.0.1:1")
    clusters.create(ctx, {"name": "demo", "roleArn": "arn:aws:iam::111122223333:role/c", "resourcesVpcConfig": {"subnetIds": subnets[:2]}})
    store.merge_status(store.require(Key(ctx.account, ctx.region, CLUSTER, "demo")), status="ACTIVE")
    return store, ctx, clusters, IdentityProviderConfigs(store, clusters)


def associate(configs, ctx, name="corp", **oidc):
    return configs.associate(ctx, {"clusterName": "demo", "oidc": {
        "identityProviderConfigName": name, "issuerUrl": ISSUER, "clientId": "kubernetes", **oidc}})


def finish(store, ctx, update_id, record_key, remove=False):
    """What the reconciler does once kube-apiserver has loaded the file."""
    store.merge_status(store.require(Key(ctx.account, ctx.region, UPDATE, update_id)), status="Successful")
    record = store.require(record_key)
    store.remove(record) if remove else store.merge_status(record, status="ACTIVE")


def test_associate_answers_an_update_and_stores_a_creating_config(api):
    store, ctx, clusters, configs = api
    answer = associate(configs, ctx, usernamePrefix="corp:", requiredClaims={"hd": "example.com"})
    update = answer["update"]
    assert update["type"] == "AssociateIdentityProviderConfig" and update["status"] == "InProgress"
    assert update["params"][0]["type"] == "IdentityProviderConfig"
    assert json.loads(update["params"][0]["value"]) == [{"type": "oidc", "name": "corp"}]
    view = configs.describe(ctx, {"clusterName": "demo", "identityProviderConfig": {"type": "oidc", "name": "corp"}})
    oidc = view["identityProviderConfig"]["oidc"]
    assert oidc["status"] == "CREATING" and oidc["usernameClaim"] == "sub"
    assert oidc["identityProviderConfigArn"].startswith("arn:aws:eks:us-west-2:111122223333:identityproviderconfig/demo/oidc/corp/")
    assert not any(k.startswith("_") for k in oidc)
    # Taggable by ARN, like node groups.
    clusters.tag(ctx, oidc["identityProviderConfigArn"], {"team": "a"})
    assert clusters.list_tags(ctx, oidc["identityProviderConfigArn"])["tags"] == {"team": "a"}


def test_one_oidc_config_per_cluster(api):
    store, ctx, clusters, configs = api
    update = associate(configs, ctx)["update"]
    finish(store, ctx, update["id"], Key(ctx.account, ctx.region, "identityproviderconfig", "demo/corp"))
    with pytest.raises(AwsError) as excinfo:
        associate(configs, ctx, name="other")
    assert excinfo.value.code == "ResourceLimitExceededException"
    with pytest.raises(AwsError) as excinfo:
        associate(configs, ctx)
    assert excinfo.value.code == "ResourceInUseException"


def test_an_update_in_progress_blocks_another(api):
    store, ctx, clusters, configs = api
    associate(configs, ctx)
    with pytest.raises(AwsError) as excinfo:
        configs.disassociate(ctx, {"clusterName": "demo", "identityProviderConfig": {"type": "oidc", "name": "corp"}})
    assert excinfo.value.code == "InvalidRequestException"  # still CREATING


@pytest.mark.parametrize(("oidc", "fragment"), [
    ({"issuerUrl": "http://idp.example.com"}, "https"),
    ({"issuerUrl": "http://127.0.0.1:1/_moorage/oidc/id/X"}, "https"),
    ({"identityProviderConfigName": "-bad"}, "identityProviderConfigName"),
    ({"requiredClaims": {"k": "v" * 254}}, "requiredClaims"),
    ({"groupsPrefix": "g:"}, "groupsClaim"),
])
def test_bad_input_is_an_invalid_parameter(api, oidc, fragment):
    store, ctx, clusters, configs = api
    with pytest.raises(AwsError) as excinfo:
        associate(configs, ctx, **oidc)
    assert excinfo.value.code == "InvalidParameterException" and fragment in excinfo.value.message


def test_the_clusters_own_issuer_is_refused(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    ctx = RequestContext("111122223333", "us-west-2", "arn:aws:iam::111122223333:root", "AKIA", "req")
    subnets = [s["SubnetId"] for s in Ec2Service(store).DescribeSubnets(ctx, {})["Subnets"] if s.get("DefaultForAz")]
    clusters = Clusters(store, "https://moorage.example")
    cluster = clusters.create(ctx, {"name": "demo", "roleArn": "arn:aws:iam::111122223333:role/c", "resourcesVpcConfig": {"subnetIds": subnets[:2]}})
    store.merge_status(store.require(Key(ctx.account, ctx.region, CLUSTER, "demo")), status="ACTIVE")
    with pytest.raises(AwsError) as excinfo:
        IdentityProviderConfigs(store, clusters).associate(ctx, {"clusterName": "demo", "oidc": {
            "identityProviderConfigName": "self", "issuerUrl": cluster["identity"]["oidc"]["issuer"], "clientId": "x"}})
    assert "cannot be same as OpenID Connect (OIDC) issuer URL" in excinfo.value.message


def test_disassociate_marks_deleting_with_its_own_update(api):
    store, ctx, clusters, configs = api
    key = Key(ctx.account, ctx.region, "identityproviderconfig", "demo/corp")
    finish(store, ctx, associate(configs, ctx)["update"]["id"], key)
    reference = {"type": "oidc", "name": "corp"}
    update = configs.disassociate(ctx, {"clusterName": "demo", "identityProviderConfig": reference, "clientRequestToken": "t"})["update"]
    assert update["type"] == "DisassociateIdentityProviderConfig"
    again = configs.disassociate(ctx, {"clusterName": "demo", "identityProviderConfig": reference, "clientRequestToken": "t"})["update"]
    assert again["id"] == update["id"]  # idempotent on the token
    view = configs.describe(ctx, {"clusterName": "demo", "identityProviderConfig": reference})["identityProviderConfig"]["oidc"]
    assert view["status"] == "DELETING"
    finish(store, ctx, update["id"], key, remove=True)
    assert configs.list(ctx, {"clusterName": "demo"})["identityProviderConfigs"] == []
    with pytest.raises(AwsError) as excinfo:
        configs.describe(ctx, {"clusterName": "demo", "identityProviderConfig": reference})
    assert excinfo.value.code == "ResourceNotFoundException"


# --- the authentication configuration ----------------------------------------------------------------------


def test_jwt_authenticator_maps_eks_fields():
    authenticator = jwt_authenticator({
        "issuerUrl": ISSUER, "clientId": "kubernetes", "usernameClaim": "sub", "usernamePrefix": "corp:",
        "groupsClaim": "groups", "groupsPrefix": "g:", "requiredClaims": {"hd": "example.com", "aud2": "x"}}, "PEM")
    assert authenticator == {
        "issuer": {"url": ISSUER, "audiences": ["kubernetes"], "certificateAuthority": "PEM"},
        "claimMappings": {"username": {"claim": "sub", "prefix": "corp:"}, "groups": {"claim": "groups", "prefix": "g:"}},
        "claimValidationRules": [{"claim": "aud2", "requiredValue": "x"}, {"claim": "hd", "requiredValue": "example.com"}],
    }


@pytest.mark.parametrize(("claim", "prefix", "expected"), [
    ("sub", None, f"{ISSUER}#"),  # EKS (and the legacy --oidc-* flags): issuerUrl# unless the claim is email
    ("email", None, ""),
    ("sub", "-", ""),  # "-" disables prefixing
    ("name", "p:", "p:"),
])
def test_username_prefix_defaults(claim, prefix, expected):
    oidc = {"issuerUrl": ISSUER, "clientId": "k", "usernameClaim": claim, **({"usernamePrefix": prefix} if prefix else {})}
    authenticator = jwt_authenticator(oidc)
    assert authenticator["claimMappings"]["username"] == {"claim": claim, "prefix": expected}
    assert "groups" not in authenticator["claimMappings"] and "claimValidationRules" not in authenticator


def test_config_file_is_stable_and_hash_matches_the_metric(tmp_path):
    empty = authentication_config([])
    assert json.loads(empty) == {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AuthenticationConfiguration", "jwt": []}
    path = ensure_authentication_config(tmp_path)
    assert path.read_text() == empty
    text = authentication_config([{"identityProviderConfigName": "b", "issuerUrl": ISSUER, "clientId": "k"}])
    write_authentication_config(tmp_path, text)
    ensure_authentication_config(tmp_path)  # a restart keeps what the controller wrote
    assert path.read_text() == text
    metrics = ('# TYPE apiserver_authentication_config_controller_last_config_info gauge\n'
               f'apiserver_authentication_config_controller_last_config_info{{apiserver_id_hash="sha256:ab",hash="{config_hash(text)}"}} 1\n')
    assert loaded_hashes(metrics) == {config_hash(text)}
