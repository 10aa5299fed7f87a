"""Moorage's HTTPS listener for kube-apiserver's calls, and who may call it.

One listener of the main process (API workers don't serve it): 127.0.0.1 on a port chosen once and
kept in the store settings, with a serving certificate from Moorage's own CA in
``<data dir>/webhooks/pki`` (its PEM is the caBundle and the kubeconfigs' certificate authority).

Admission (the Fargate webhook, gateway/admission.py), token review and authorization
(gateway/webhooks.py) are all served over mutually authenticated TLS. Each cluster's
  kube-apiserver presents its own client certificate (CN=<cluster id>, O=moorage-webhook-clients,
  signed by the webhook CA: infra/pki ensure_webhook_client), and a path's cluster id is answered only
for that cluster's certificate. Anyone else on the host gets 401 (no certificate) or 403 (another
cluster's) before the body is read: nothing about tokens, access entries, profiles or clusters.
kube-apiserver presents the certificate to token review and authorization through their kubeconfigs,
and to admission through its admission configuration (infra/controlplane.py).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from ..infra.controlplane import WebhookClient
from ..infra.etcd import free_port
from ..infra.pki import WebhookPki, ensure_webhook_client, ensure_webhook_pki
from ..infra.pki.model import WEBHOOK_CLIENT_ORGANIZATION
from ..store import Record, SqliteStore
from .admission import FARGATE_PATH, FargateAdmission

log = logging.getLogger(__name__)

WEBHOOK_SETTING = "webhook-endpoint"
AUTHENTICATE_PATH = "/_moorage/webhooks/authenticate/{cluster_id}"
AUTHORIZE_PATH = "/_moorage/webhooks/authorize/{cluster_id}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_cluster_id(request: web.Request) -> str | None:
    """The cluster id of the verified client certificate the caller presented, or None."""
    transport = request.transport
    certificate = transport.get_extra_info("peercert") if transport is not None else None
    if not certificate:  # no certificate (the TLS layer has already refused an unverifiable one)
        return None
    subject = [attribute for rdn in certificate.get("subject", ()) for attribute in rdn]
    organizations = [value for name, value in subject if name == "organizationName"]
    names = [value for name, value in subject if name == "commonName"]
    if organizations != [WEBHOOK_CLIENT_ORGANIZATION] or len(names) != 1:
        return None
    return names[0]


def cluster_client_only(handler: Handler) -> Handler:
    """The handler, answered only to the client certificate of the path's cluster."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        presented = client_cluster_id(request)
        if presented is None:
            log.warning("webhook %s refused: no cluster client certificate (from %s)", request.path, request.remote)
            return web.json_response({"message": "Unauthorized"}, status=401)
        if presented != request.match_info["cluster_id"]:
            log.warning("webhook %s refused: the client certificate is cluster %s's", request.path, presented)
            return web.json_response({"message": "Forbidden"}, status=403)
        return await handler(request)

    return guarded


class WebhookServer:
    """The HTTPS listener kube-apiserver calls, and how clusters are configured to reach it."""

    def __init__(self, store: SqliteStore, data_dir: Path, cluster_for_id: Callable[[str], Record | None],
                 host: str = "127.0.0.1"):
        self.store = store
        self.pki_dir = data_dir / "webhooks" / "pki"
        self.host = host
        self.admission = FargateAdmission(store, cluster_for_id)
        self.port: int | None = None
        self._reviews: dict[str, Handler] = {}
        self._pki: WebhookPki | None = None
        self._runner: web.AppRunner | None = None

    def serve_reviews(self, authenticate: Handler, authorize: Handler) -> None:
        """The token-review and authorization webhooks, behind per-cluster client certificates."""
        self._reviews = {AUTHENTICATE_PATH: cluster_client_only(authenticate), AUTHORIZE_PATH: cluster_client_only(authorize)}

    def _ssl_context(self) -> ssl.SSLContext:
        assert self._pki is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self._pki.serving.cert), str(self._pki.serving.key))
        # Optional at the TLS layer, so a caller without one gets an HTTP answer (401) rather than a
        # failed handshake; a presented certificate must verify against the webhook CA, and every
        # path requires one (cluster_client_only).
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=self._pki.ca_pem.decode("ascii"))
        return context

    async def start(self) -> None:
        self._pki = await asyncio.to_thread(ensure_webhook_pki, self.pki_dir)
        stored = self.store.setting(WEBHOOK_SETTING)
        self.port = stored["port"] if stored else self.store.set_setting(WEBHOOK_SETTING, {"port": free_port()})["port"]
        context = self._ssl_context()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post(FARGATE_PATH, cluster_client_only(self.admission.handle))
        for path, handler in self._reviews.items():
            app.router.add_post(path, handler)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port, ssl_context=context).start()
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            # Someone else took the port while Moorage was down: take another; each cluster's
            # configuration is re-applied with it when its reconcile next passes.
            log.warning("webhook port %d is taken; moving the webhooks to a new port", self.port)
            self.port = self.store.set_setting(WEBHOOK_SETTING, {"port": free_port()})["port"]
            await web.TCPSite(self._runner, self.host, self.port, ssl_context=context).start()
        log.info("webhooks listening on https://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _url(self, path: str, cluster_id: str) -> str:
        assert self.port is not None
        return f"https://{self.host}:{self.port}{path.format(cluster_id=cluster_id)}"

    def url_for(self, cluster_id: str) -> str:
        """Where kube-apiserver sends this cluster's pod reviews."""
        return self._url(FARGATE_PATH, cluster_id)

    def review_urls(self, cluster_id: str) -> tuple[str, str]:
        """Where this cluster's kube-apiserver asks for token reviews and for authorization."""
        return self._url(AUTHENTICATE_PATH, cluster_id), self._url(AUTHORIZE_PATH, cluster_id)

    def review_client(self, cluster_pki_dir: Path, cluster_id: str) -> WebhookClient:
        """The cluster's client certificate (made or reused) and the CA to trust: blocking, run in a thread."""
        return WebhookClient(self.ca_pem, ensure_webhook_client(self.pki_dir, cluster_pki_dir, cluster_id))

    @property
    def ca_pem(self) -> bytes:
        """The CA that signed the listener's certificate: the configuration's caBundle."""
        assert self._pki is not None
        return self._pki.ca_pem
