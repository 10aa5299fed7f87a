"""The webhook listener's mutual TLS (issue 12, finding 5): token review and authorization answer only
the path's cluster's own client certificate; clusters are found by id without a scan."""

from __future__ import annotations

import asyncio
import json
import ssl
from unittest import mock

import aiohttp
import pytest
from aiohttp import web

from moorage.core.kinds import CLUSTER
from moorage.gateway.clusters_by_id import ClustersById
from moorage.gateway.webhook_listener import WebhookServer
from moorage.infra.controlplane import (
    ClusterPaths,
    write_admission_config,
    write_authorization_config,
    write_webhook_kubeconfig,
)
from moorage.infra.pki import ensure_cluster_pki
from moorage.store import Key, SqliteStore

CLUSTER_A = "0b6f2a4e-1111-4c2d-9e0f-aaaaaaaaaaaa"
CLUSTER_B = "0b6f2a4e-2222-4c2d-9e0f-bbbbbbbbbbbb"


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "state.db")
    for name, cluster_id in (("a", CLUSTER_A), ("b", CLUSTER_B)):
        store.create(Key("111122223333", "us-west-2", CLUSTER, name), {"id": cluster_id})
    return store


def _tls(server: WebhookServer, client=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    return context


def test_reviews_answer_only_the_clusters_own_certificate(store, tmp_path):
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.match_info["cluster_id"])
        return web.json_response({"kind": "TokenReview", "status": {"authenticated": True}})

    async def run():
        clusters = ClustersById(store)
        clusters.load()
        server = WebhookServer(store, tmp_path / "data", clusters.get)
        server.serve_reviews(answer, answer)
        await server.start()
        try:
            client_a = server.review_client(tmp_path / "a-pki", CLUSTER_A)
            foreign = ensure_cluster_pki(tmp_path / "a-own-pki", server_url="https://127.0.0.1:1", service_ip="10.100.0.1")
            authenticate_a, authorize_a = server.review_urls(CLUSTER_A)
            authenticate_b, _ = server.review_urls(CLUSTER_B)
            results = {}
            async with aiohttp.ClientSession() as session:
                for label, url, context in (
                    ("none", authenticate_a, _tls(server)),
                    ("own", authenticate_a, _tls(server, client_a.cert)),
                    ("own-authorize", authorize_a, _tls(server, client_a.cert)),
                    ("other-cluster", authenticate_b, _tls(server, client_a.cert)),
                ):
                    async with session.post(url, json={"spec": {"token": "k8s-aws-v1.x"}}, ssl=context) as response:
                        results[label] = (response.status, await response.text())
                # A certificate from the cluster's own CA (kube-controller-manager signs CSRs with it)
                # does not verify against the webhook CA: the handshake fails.
                admin = (foreign.admin.cert, foreign.admin.key)
                with pytest.raises(aiohttp.ClientError):
                    async with session.post(authenticate_a, json={}, ssl=_tls(server, admin)) as response:
                        await response.read()
            return results, client_a
        finally:
            await server.stop()

    results, client = asyncio.run(run())
    assert results["none"] == (401, json.dumps({"message": "Unauthorized"}))
    assert results["other-cluster"] == (403, json.dumps({"message": "Forbidden"}))
    assert results["own"][0] == 200 and results["own-authorize"][0] == 200
    assert seen == [CLUSTER_A, CLUSTER_A]  # refused callers never reached a handler
    assert client.cert.cert.name == "webhook-client.crt" and (client.cert.key.stat().st_mode & 0o777) == 0o600


def test_kubeconfigs_trust_the_webhook_ca_and_present_the_cluster_certificate(store, tmp_path):
    async def run():
        server = WebhookServer(store, tmp_path / "data", ClustersById(store).get)
        await server.start()
        try:
            return server, server.review_client(tmp_path / "pki", CLUSTER_A), server.review_urls(CLUSTER_A)
        finally:
            await server.stop()

    server, client, (authenticate, authorize) = asyncio.run(run())
    assert authenticate.startswith("https://127.0.0.1:") and authenticate.endswith(f"/_moorage/webhooks/authenticate/{CLUSTER_A}")
    paths = ClusterPaths(tmp_path / "cluster")
    config = json.loads(write_webhook_kubeconfig(paths, authenticate, client=client).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    assert cluster["server"] == authenticate and cluster["certificate-authority-data"]
    assert user == {"client-certificate": str(client.cert.cert), "client-key": str(client.cert.key)}
    authorization = json.loads(write_authorization_config(paths, authorize, client).read_text())
    kubeconfig = authorization["authorizers"][2]["webhook"]["connectionInfo"]["kubeConfigFile"]
    assert json.loads(open(kubeconfig).read())["users"][0]["user"] == user
    # Admission calls to the listener (users matched by host:port) present the same certificate.
    admission = json.loads(write_admission_config(paths, server.url_for(CLUSTER_A), client).read_text())
    assert [plugin["name"] for plugin in admission["plugins"]] == ["MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"]
    users = json.loads(open(admission["plugins"][0]["configuration"]["kubeConfigFile"]).read())["users"]
    assert users == [{"name": f"127.0.0.1:{server.port}", "user": user}]


def test_unknown_cluster_ids_are_a_miss_not_a_scan(store):
    clusters = ClustersById(store)
    clusters.follow()
    assert clusters.get(CLUSTER_A).key.name == "a"
    with mock.patch.object(store, "list", side_effect=AssertionError("scanned every cluster")):
        for n in range(100):
            assert clusters.get(f"0b6f2a4e-0000-4c2d-9e0f-{n:012d}") is None
        created = store.create(Key("111122223333", "eu-west-1", CLUSTER, "c"), {"id": "new-id"})
        clusters.notify(created.key)
        assert clusters.get("new-id").key == created.key
        store.remove(created)
        clusters.notify(created.key)
        assert clusters.get("new-id") is None


def test_without_a_change_feed_misses_reload_at_most_once_a_second(store):
    clusters = ClustersById(store, reload_after=1.0)  # an API worker's
    with mock.patch("moorage.gateway.clusters_by_id.time.monotonic", return_value=100.0):
        assert clusters.get(CLUSTER_A).key.name == "a"  # first use loads
        store.create(Key("111122223333", "eu-west-1", CLUSTER, "c"), {"id": "made-by-another-process"})
        with mock.patch.object(store, "list", side_effect=AssertionError("scanned within the second")):
            for n in range(100):
                assert clusters.get(f"unknown-{n}") is None
            assert clusters.get("made-by-another-process") is None
    with mock.patch("moorage.gateway.clusters_by_id.time.monotonic", return_value=101.5):
        assert clusters.get("made-by-another-process").key.name == "c"  # one reload, a second later


def test_issuers_find_their_cluster_through_the_index(store):
    from moorage.services.eks.oidc_issuer import ClusterIssuers

    clusters = ClustersById(store)
    clusters.follow()
    issuers = ClusterIssuers(store, lambda record: None, clusters.get)
    with mock.patch.object(store, "list", side_effect=AssertionError("scanned every cluster")):
        assert issuers.cluster(CLUSTER_A.replace("-", "").upper()).key.name == "a"
        for n in range(50):
            assert issuers.cluster(f"{n:032X}") is None
            assert issuers.signing_keys(f"https://x/_moorage/oidc/id/{n:032X}") is None
