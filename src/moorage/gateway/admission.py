"""The Fargate admission webhook, served by Moorage over HTTPS as EKS serves its own.

Each cluster gets the MutatingWebhookConfiguration EKS installs, "0500-amazon-eks-fargate-mutation.amazonaws.com"
(services/eks/fargate_webhook.py says what it holds; controllers/fargate_webhook.py applies it once the API
server is ready). kube-apiserver then sends every pod
CREATE to ``https://127.0.0.1:<port>/_moorage/webhooks/fargate/<cluster id>``. A pod whose namespace and
labels match an ACTIVE Fargate profile of that cluster is patched as EKS patches it: schedulerName
fargate-scheduler, the label eks.amazonaws.com/fargate-profile, the annotation CapacityProvisioned (its
Fargate size) and a toleration of the Fargate taint. Other pods are let through untouched. The
Fargate scheduler (controllers/fargate.py) takes it from there.

kube-apiserver calls admission webhooks over TLS only: Moorage's webhook listener serves this path
(gateway/webhook_listener.py). The failure policy is Ignore, as EKS's: a Moorage that is down never
blocks pod creation.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Callable

from aiohttp import web

from ..services.eks.fargate import profile_state, profile_view, profiles_of_cluster
from ..services.eks.fargate_pods import (
    CAPACITY_ANNOTATION,
    FARGATE_TAINT,
    PROFILE_LABEL,
    SCHEDULER_NAME,
    matching_profile,
    size_pod,
)
from ..store import Record, SqliteStore

log = logging.getLogger(__name__)

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

    def __init__(self, store: SqliteStore, cluster_for_id: Callable[[str], Record | None]):
        self.store = store
        self.cluster = cluster_for_id  # gateway/clusters_by_id.py: a key lookup, never a scan

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
