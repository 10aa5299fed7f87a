"""Applying EKS's Fargate MutatingWebhookConfiguration in each cluster (server-side apply), pointing at
Moorage's admission listener; re-applied when the listener's port or the profiles' namespaces change."""

from __future__ import annotations

import json
from typing import Protocol

from ..core.kinds import CLUSTER
from ..infra.kube import KubeClient, KubeCredentials, object_path
from ..services.eks.fargate_webhook import WEBHOOK_NAME, profile_namespaces, webhook_configuration
from ..store import SqliteStore


class AdmissionEndpoint(Protocol):
    """The HTTPS listener kube-apiserver calls (gateway/webhook_listener.py's WebhookServer)."""

    def url_for(self, cluster_id: str) -> str: ...

    @property
    def ca_pem(self) -> bytes: ...


class FargateWebhookConfigurations:
    def __init__(self, store: SqliteStore, endpoint: AdmissionEndpoint):
        self.store = store
        self.endpoint = endpoint
        self._applied: dict[str, str] = {}  # cluster id -> the configuration last applied there

    def configuration(self, cluster_id: str) -> dict:
        cluster = next((r for r in self.store.list(None, None, CLUSTER) if r.spec.get("id") == cluster_id), None)
        namespaces = profile_namespaces(self.store, cluster.key) if cluster is not None else None
        return webhook_configuration(self.endpoint.url_for(cluster_id), self.endpoint.ca_pem, namespaces)

    async def ensure_configured(self, cluster_id: str, credentials: KubeCredentials) -> None:
        """Apply the cluster's webhook configuration (once per Moorage process, or when it changed)."""
        wanted = self.configuration(cluster_id)
        digest = json.dumps(wanted, sort_keys=True)
        if self._applied.get(cluster_id) == digest:
            return
        async with KubeClient(credentials) as kube:
            await kube.apply(object_path("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", WEBHOOK_NAME), wanted)
        self._applied[cluster_id] = digest
