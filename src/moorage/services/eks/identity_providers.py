"""OIDC identity provider configs: Associate/Describe/List/DisassociateIdentityProviderConfig (spec only).

EKS's rules: one OIDC config per cluster; the cluster must be ACTIVE with no update in progress; the
issuer URL is https and is not the cluster's own OIDC issuer ("Incorrect Identity Provider URL
configuration. The Identity Provider URL cannot be same as OpenID Connect (OIDC) issuer URL", EKS's
words). Associate and Disassociate each answer an Update (AssociateIdentityProviderConfig /
DisassociateIdentityProviderConfig, param IdentityProviderConfig); the config goes CREATING → ACTIVE →
DELETING → gone. The reconciler (controllers/identity_providers.py) writes kube-apiserver's
authentication configuration (infra/authentication_config.py) and marks the config ACTIVE and the
Update Successful once kube-apiserver has loaded it.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlparse

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import IDENTITY_PROVIDER_CONFIG
from ...store import AlreadyExists, Conflict, Key, Record, SqliteStore
from . import names
from .clusters import Clusters, now, paginate, record_with_arn, update_view, validate_tags

OIDC = "oidc"
MAX_CONFIGS_PER_CLUSTER = 1  # EKS: "You can associate one OIDC identity provider to your cluster."
NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
MAX_REQUIRED_CLAIMS = 10
MAX_CLAIM_KEY = 63
MAX_CLAIM_VALUE = 253
OIDC_FIELDS = ("issuerUrl", "clientId", "usernameClaim", "usernamePrefix", "groupsClaim", "groupsPrefix", "requiredClaims")


def identity_provider_config_arn(partition: str, region: str, account: str, cluster: str, name: str, config_id: str) -> str:
    return f"arn:{partition}:eks:{region}:{account}:identityproviderconfig/{cluster}/oidc/{name}/{config_id}"


def config_state(record: Record) -> str:
    return "DELETING" if record.deleting else record.status.get("status", "CREATING")


def config_view(record: Record) -> dict:
    spec = record.spec
    view = {k: v for k, v in spec.items() if not k.startswith("_")}
    view["status"] = config_state(record)
    return {"oidc": view}


def configs_of_cluster(store: SqliteStore, account: str, region: str, cluster: str) -> list[Record]:
    return [r for r in store.list(account, region, IDENTITY_PROVIDER_CONFIG) if r.spec["clusterName"] == cluster]


def not_found(cluster: str, name: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"No identity provider config found with name: {name}.",
                    extra_fields={"clusterName": cluster})


def check_oidc(oidc: dict, cluster: str, own_issuer: str | None) -> dict:
    """The oidc block EKS accepts, or EKS's InvalidParameterException."""
    name = oidc["identityProviderConfigName"]
    if not NAME_RE.match(name):
        raise names.invalid_parameter(
            "identityProviderConfigName must start with a letter or digit and contain only letters, digits, "
            "hyphens and underscores (at most 100 characters).", cluster)
    issuer = oidc["issuerUrl"]
    parsed = urlparse(issuer)
    if parsed.scheme != "https" or not parsed.hostname or parsed.query or parsed.fragment:
        raise names.invalid_parameter(f"Issuer URL must be a valid https URL: {issuer}", cluster)
    if own_issuer and issuer.rstrip("/") == own_issuer.rstrip("/"):
        raise names.invalid_parameter(
            "Incorrect Identity Provider URL configuration. The Identity Provider URL cannot be same as "
            "OpenID Connect (OIDC) issuer URL", cluster)
    if not oidc.get("clientId"):
        raise names.invalid_parameter("clientId must not be empty.", cluster)
    claims = dict(oidc.get("requiredClaims") or {})
    if len(claims) > MAX_REQUIRED_CLAIMS:
        raise names.invalid_parameter(f"requiredClaims can have at most {MAX_REQUIRED_CLAIMS} entries.", cluster)
    for key, value in claims.items():
        if not key or len(key) > MAX_CLAIM_KEY or not value or len(value) > MAX_CLAIM_VALUE:
            raise names.invalid_parameter(
                f"requiredClaims keys must be 1-{MAX_CLAIM_KEY} characters and values 1-{MAX_CLAIM_VALUE} characters.", cluster)
    checked = {"identityProviderConfigName": name, "issuerUrl": issuer, "clientId": oidc["clientId"],
               "usernameClaim": oidc.get("usernameClaim") or "sub", "requiredClaims": claims}
    for optional in ("usernamePrefix", "groupsClaim", "groupsPrefix"):
        if oidc.get(optional):
            checked[optional] = oidc[optional]
    if checked.get("groupsPrefix") and not checked.get("groupsClaim"):
        raise names.invalid_parameter("groupsPrefix requires groupsClaim.", cluster)
    return checked


class IdentityProviderConfigs:
    def __init__(self, store: SqliteStore, clusters: Clusters):
        self.store = store
        self.clusters = clusters
        clusters.tagged_kinds["identityproviderconfig"] = record_with_arn(store, IDENTITY_PROVIDER_CONFIG, "identityProviderConfigArn")

    def key(self, ctx: RequestContext, cluster: str, name: str) -> Key:
        return Key(ctx.account, ctx.region, IDENTITY_PROVIDER_CONFIG, f"{cluster}/{name}")

    def get(self, ctx: RequestContext, cluster: str, reference: dict) -> Record:
        self.clusters.get(ctx, cluster)
        if reference["type"] != OIDC:
            raise names.invalid_parameter(f"Unsupported identity provider config type: {reference['type']}", cluster)
        record = self.store.get(self.key(ctx, cluster, reference["name"]))
        if record is None:
            raise not_found(cluster, reference["name"])
        return record

    def _check_updatable(self, ctx: RequestContext, cluster: Record) -> None:
        name = cluster.spec["name"]
        if cluster.deleting or cluster.status.get("status") != "ACTIVE":
            raise names.invalid_request(f"Cluster '{name}' is not in ACTIVE status", name)
        pending = self.clusters.in_progress_update(ctx, name)
        if pending:
            raise names.resource_in_use(f"Cannot update cluster {name} because update {pending} is in progress", name)

    def _token_replay(self, ctx: RequestContext, cluster: str, token: str | None, kind: str) -> dict | None:
        if not token:
            return None
        for update in self.clusters.cluster_updates(ctx, cluster):
            if update.spec.get("clientRequestToken") == token and update.spec["type"] == kind:
                return {"update": update_view(update)}
        return None

    def _new_update(self, ctx: RequestContext, cluster: str, kind: str, name: str, token: str | None) -> Record:
        update_id = names.new_update_id()
        return self.store.create(self.clusters.update_key(ctx, update_id), {
            "id": update_id, "clusterName": cluster, "type": kind,
            "params": [{"type": "IdentityProviderConfig", "value": f'[{{"type":"oidc","name":"{name}"}}]'}],
            "createdAt": now(), "clientRequestToken": token,
        }, {"status": "InProgress"})

    def associate(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name = params["clusterName"]
        cluster = self.clusters.get(ctx, cluster_name)
        token = params.get("clientRequestToken")
        replay = self._token_replay(ctx, cluster_name, token, "AssociateIdentityProviderConfig")
        if replay:
            return replay
        own_issuer = ((cluster.spec.get("identity") or {}).get("oidc") or {}).get("issuer")
        oidc = check_oidc(params["oidc"], cluster_name, own_issuer)
        tags = validate_tags(params.get("tags"), "InvalidParameterException")
        name = oidc["identityProviderConfigName"]
        siblings = configs_of_cluster(self.store, ctx.account, ctx.region, cluster_name)
        if any(s.spec["identityProviderConfigName"] == name for s in siblings):
            raise names.resource_in_use(f"Identity provider config {name} already exists for cluster {cluster_name}.", cluster_name)
        self._check_updatable(ctx, cluster)
        if len(siblings) >= MAX_CONFIGS_PER_CLUSTER:
            raise AwsError(
                "ResourceLimitExceededException",
                f"Cluster {cluster_name} already has an OIDC identity provider config "
                f"({siblings[0].spec['identityProviderConfigName']}); EKS allows {MAX_CONFIGS_PER_CLUSTER} per cluster.",
                extra_fields={"clusterName": cluster_name})
        config_id = str(uuid.uuid4())
        update = self._new_update(ctx, cluster_name, "AssociateIdentityProviderConfig", name, token)
        spec = {**oidc,
                "identityProviderConfigArn": identity_provider_config_arn(ctx.partition, ctx.region, ctx.account, cluster_name, name, config_id),
                "clusterName": cluster_name, "tags": tags, "_pendingUpdate": update.spec["id"]}
        try:
            self.store.create(self.key(ctx, cluster_name, name), spec, {"status": "CREATING"})
        except AlreadyExists:
            self.store.update_status(update, {"status": "Failed", "errors": [
                {"errorCode": "Unknown", "errorMessage": "The config was created concurrently.", "resourceIds": [name]}]})
            raise names.resource_in_use(f"Identity provider config {name} already exists for cluster {cluster_name}.", cluster_name) from None
        return {"update": update_view(update), "tags": tags}

    def describe(self, ctx: RequestContext, params: dict) -> dict:
        return {"identityProviderConfig": config_view(self.get(ctx, params["clusterName"], params["identityProviderConfig"]))}

    def list(self, ctx: RequestContext, params: dict) -> dict:
        self.clusters.get(ctx, params["clusterName"])
        found = sorted(r.spec["identityProviderConfigName"]
                       for r in configs_of_cluster(self.store, ctx.account, ctx.region, params["clusterName"]))
        page = paginate(found, params, "identityProviderConfigs")
        page["identityProviderConfigs"] = [{"type": OIDC, "name": n} for n in page["identityProviderConfigs"]]
        return page

    def disassociate(self, ctx: RequestContext, params: dict) -> dict:
        cluster_name = params["clusterName"]
        token = params.get("clientRequestToken")
        replay = self._token_replay(ctx, cluster_name, token, "DisassociateIdentityProviderConfig")
        if replay:
            return replay
        record = self.get(ctx, cluster_name, params["identityProviderConfig"])
        name = record.spec["identityProviderConfigName"]
        if config_state(record) != "ACTIVE":
            raise names.invalid_request(
                f"Identity provider config {name} is in {config_state(record)} status; it must be ACTIVE to be disassociated.",
                cluster_name)
        self._check_updatable(ctx, self.clusters.get(ctx, cluster_name))
        update = self._new_update(ctx, cluster_name, "DisassociateIdentityProviderConfig", name, token)
        while True:
            try:
                record = self.store.update_spec(record, {**record.spec, "_pendingUpdate": update.spec["id"]})
                self.store.mark_deleting(record)
                break
            except Conflict:
                record = self.get(ctx, cluster_name, params["identityProviderConfig"])
        return {"update": update_view(update)}
