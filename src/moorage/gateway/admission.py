"""The Fargate admission webhook, served by Moorage over HTTPS as EKS serves its own.

Each cluster gets the MutatingWebhookConfiguration EKS installs, "0500-amazon-eks-fargate-mutation.amazonaws.com"
(services/eks/fargate_webhook.py says what it holds; controllers/fargate_webhook.py applies it once the API
server is ready). kube-apiserver then sends every pod
CREATE to ``https://127.0.0.1:<port>/_moorage/webhooks/fargate/<cluster id>``. A pod whose namespace and
labels match an ACTIVE Fargate profile of that cluster is patched as EKS patches it: schedulerName
fargate-scheduler, the label eks.amazonaws.com/fargate-profile, the annotation CapacityProvisioned (its
Fargate size) and a toleration of the Fargate taint. Other pods are let through untouched. The
Fargate scheduler (controllers/fargate.py) takes it from there.

kube-apiserver calls admission webhooks over TLS only, so this is a second listener of the main process
(API workers don't serve it): 127.0.0.1 on a port chosen once and kept in the store settings, with a
serving certificate from Moorage's own CA in ``<data dir>/webhooks/pki`` (its PEM is the caBundle).
The failure policy is Ignore, as EKS's: a Moorage that is down never blocks pod creation.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import logging
import ssl
from pathlib import Path

from aiohttp import web

from ..core.kinds import CLUSTER
from ..infra.etcd import free_port
from ..infra.pki import WebhookPki, ensure_webhook_pki
from ..services.eks.fargate import profile_state, profile_view, profiles_of_cluster
from ..services.eks.fargate_pods import (
    CAPACITY_ANNOTATION,
    FARGATE_TAINT,
    PROFILE_LABEL,
    SCHEDULER_NAME,
    matching_profile,
    size_pod,
)
from ..store import Key, Record, SqliteStore

log = logging.getLogger(__name__)

WEBHOOK_SETTING = "webhook-endpoint"
FARGATE_PATH = "/_moorage/webhooks/fargate/{cluster_id}"


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _add_entry(ops: list[dict], container: dict | None, field: str, key: str, value: object) -> None:
    """Add key to a map field of metadata, creating the map when the pod has none."""
    if container is None or not isinstance(container.get(field), dict):
        ops.append({"op": "add", "path": _pointer("metadata", field), "value": {key: value}})
    else:
        ops.append({"op": "add", "path": _pointer("metadata", field, key), "value": value})


def fargate_patch(pod: dict, namespace: str, profiles: list[dict]) -> list[dict] | None:
    """The JSON patch that sends this pod to Fargate, or None when it stays where it is."""
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if spec.get("nodeName") or spec.get("schedulerName") not in (None, "", "default-scheduler"):
        return None  # already placed, or another scheduler's (fargate-scheduler's own included)
    if any(owner.get("kind") == "DaemonSet" for owner in metadata.get("ownerReferences") or []):
        return None  # DaemonSets don't run on Fargate; their pods stay bound to their own nodes
    profile = matching_profile(profiles, namespace, metadata.get("labels") or {})
    if profile is None:
        return None
    ops: list[dict] = []
    _add_entry(ops, metadata, "labels", PROFILE_LABEL, profile["fargateProfileName"])
    size = size_pod(spec)
    if size is not None:  # too big for Fargate: no size, and the pod stays Pending (as on EKS)
        _add_entry(ops, metadata, "annotations", CAPACITY_ANNOTATION, size.annotation)
    ops.append({"op": "add", "path": "/spec/schedulerName", "value": SCHEDULER_NAME})
    toleration = {"key": FARGATE_TAINT["key"], "operator": "Equal", "value": FARGATE_TAINT["value"], "effect": FARGATE_TAINT["effect"]}
    if spec.get("tolerations"):
        ops.append({"op": "add", "path": "/spec/tolerations/-", "value": toleration})
    else:
        ops.append({"op": "add", "path": "/spec/tolerations", "value": [toleration]})
    return ops


def review_response(review: dict, patch: list[dict] | None) -> dict:
    request = review.get("request") or {}
    response: dict = {"uid": request.get("uid", ""), "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    return {"apiVersion": review.get("apiVersion", "admission.k8s.io/v1"), "kind": "AdmissionReview", "response": response}


class FargateAdmission:
    """POST /_moorage/webhooks/fargate/{cluster_id}: pod CREATE reviews."""

    def __init__(self, store: SqliteStore):
        self.store = store
        self._clusters: dict[str, Key] = {}

    def cluster(self, cluster_id: str) -> Record | None:
        key = self._clusters.get(cluster_id)
        record = self.store.get(key) if key else None
        if record is None or record.spec.get("id") != cluster_id:
            record = next((r for r in self.store.list(None, None, CLUSTER) if r.spec.get("id") == cluster_id), None)
            if record is None:
                return None
            self._clusters[cluster_id] = record.key
        return record

    def active_profiles(self, cluster: Record) -> list[dict]:
        key = cluster.key
        return [
            profile_view(r) for r in profiles_of_cluster(self.store, key.account, key.region, key.name)
            if profile_state(r) == "ACTIVE"
        ]

    def review(self, cluster_id: str, review: dict) -> dict:
        request = review.get("request") or {}
        cluster = self.cluster(cluster_id)
        patch = None
        if cluster is not None and request.get("operation") == "CREATE" and (request.get("kind") or {}).get("kind") == "Pod":
            pod = request.get("object") or {}
            namespace = request.get("namespace") or (pod.get("metadata") or {}).get("namespace") or "default"
            profiles = self.active_profiles(cluster)
            patch = fargate_patch(pod, namespace, profiles) if profiles else None
        return review_response(review, patch)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            review = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not an AdmissionReview"}, status=400)
        return web.json_response(self.review(request.match_info["cluster_id"], review))


class WebhookServer:
    """The HTTPS listener kube-apiserver calls for admission, and the configuration pointing at it."""

    def __init__(self, store: SqliteStore, data_dir: Path, host: str = "127.0.0.1"):
        self.store = store
        self.pki_dir = data_dir / "webhooks" / "pki"
        self.host = host
        self.admission = FargateAdmission(store)
        self.port: int | None = None
        self._pki: WebhookPki | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._pki = await asyncio.to_thread(ensure_webhook_pki, self.pki_dir)
        stored = self.store.setting(WEBHOOK_SETTING)
        self.port = stored["port"] if stored else self.store.set_setting(WEBHOOK_SETTING, {"port": free_port()})["port"]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self._pki.serving.cert), str(self._pki.serving.key))
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post(FARGATE_PATH, self.admission.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port, ssl_context=context).start()
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            # Someone else took the port while Moorage was down: take another; each cluster's
            # configuration is re-applied with it when its reconcile next passes.
            log.warning("webhook port %d is taken; moving the admission webhooks to a new port", self.port)
            self.port = self.store.set_setting(WEBHOOK_SETTING, {"port": free_port()})["port"]
            await web.TCPSite(self._runner, self.host, self.port, ssl_context=context).start()
        log.info("admission webhooks listening on https://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url_for(self, cluster_id: str) -> str:
        """Where kube-apiserver sends this cluster's pod reviews."""
        assert self.port is not None
        return f"https://{self.host}:{self.port}{FARGATE_PATH.format(cluster_id=cluster_id)}"

    @property
    def ca_pem(self) -> bytes:
        """The CA that signed the listener's certificate: the configuration's caBundle."""
        assert self._pki is not None
        return self._pki.ca_pem
