"""The identity provider config reconciler: the file it writes, and when it calls a config ACTIVE or failed
(kube-apiserver's /metrics faked: the hash of the configuration it reports running)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from moorage.controllers import identity_providers
from moorage.controllers.identity_providers import IdentityProviderConfigReconciler
from moorage.core.kinds import CLUSTER, IDENTITY_PROVIDER_CONFIG, UPDATE
from moorage.infra.authentication_config import LAST_CONFIG_INFO, authentication_config_path, config_hash
from moorage.store import Key, SqliteStore

from ..services.test_identity_providers import api, associate  # noqa: F401 (api is a fixture)


class FakeKube:
    def __init__(self, metrics: str):
        self.metrics = metrics

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def get_text(self, path: str) -> str:
        assert path == "/metrics"
        return self.metrics


class FakeClusters:
    """What the reconciler uses of ClusterReconciler: the cluster's config directory and a kube client."""

    def __init__(self, config_dir):
        self.config_dir = config_dir
        self.loaded = ""  # the text kube-apiserver runs

    def paths(self, record):
        return SimpleNamespace(config=self.config_dir)

    def node_context(self, record):
        line = f'{LAST_CONFIG_INFO}{{apiserver_id_hash="sha256:1",hash="{config_hash(self.loaded)}"}} 1\n'
        return SimpleNamespace(kube=lambda timeout=10: FakeKube(line))


@pytest.fixture
def reconciler(api, tmp_path):
    store, ctx, clusters, configs = api
    cluster = store.require(Key(ctx.account, ctx.region, CLUSTER, "demo"))
    store.merge_status(cluster, endpoint="https://127.0.0.1:1")
    fake = FakeClusters(tmp_path / "config")
    return store, ctx, configs, fake, IdentityProviderConfigReconciler(store, fake)


def test_active_and_successful_once_kube_apiserver_runs_the_file(reconciler):
    store, ctx, configs, fake, reconciler = reconciler
    update = associate(configs, ctx, usernamePrefix="corp:")["update"]
    key = Key(ctx.account, ctx.region, IDENTITY_PROVIDER_CONFIG, "demo/corp")
    assert asyncio.run(reconciler.reconcile(key)) == identity_providers.LOADED_POLL_SECONDS  # written, not yet loaded
    written = authentication_config_path(fake.config_dir).read_text()
    assert json.loads(written)["jwt"][0]["claimMappings"]["username"] == {"claim": "sub", "prefix": "corp:"}
    assert store.require(key).status["status"] == "CREATING"
    fake.loaded = written
    assert asyncio.run(reconciler.reconcile(key)) is None
    assert store.require(key).status["status"] == "ACTIVE"
    assert store.require(Key(ctx.account, ctx.region, UPDATE, update["id"])).status["status"] == "Successful"


def test_an_issuer_kube_apiserver_never_takes_fails_the_association(reconciler, monkeypatch):
    store, ctx, configs, fake, reconciler = reconciler
    update = associate(configs, ctx)["update"]
    key = Key(ctx.account, ctx.region, IDENTITY_PROVIDER_CONFIG, "demo/corp")
    fake.loaded = authentication_config_path(fake.config_dir).read_text() if authentication_config_path(fake.config_dir).exists() else ""
    monkeypatch.setattr(identity_providers, "LOAD_TIMEOUT_SECONDS", -1.0)
    assert asyncio.run(reconciler.reconcile(key)) is None
    failed = store.require(Key(ctx.account, ctx.region, UPDATE, update["id"])).status
    assert failed["status"] == "Failed" and failed["errors"][0]["errorCode"] == "ClusterUnreachable"
    assert store.get(key) is None
    assert json.loads(authentication_config_path(fake.config_dir).read_text())["jwt"] == []  # undone
