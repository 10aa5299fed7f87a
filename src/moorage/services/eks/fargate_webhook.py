"""The MutatingWebhookConfiguration EKS installs in every cluster for Fargate, as data.

"0500-amazon-eks-fargate-mutation.amazonaws.com" sends pod CREATEs to Moorage's admission listener
(gateway/admission.py); controllers/fargate_webhook.py applies it. When no profile selector has a
wildcard, a namespace selector keeps pods of other namespaces from calling Moorage at all, so
clusters without Fargate pay nothing per pod.
"""

from __future__ import annotations

import base64

from ...store import Key, SqliteStore
from .fargate import profiles_of_cluster

WEBHOOK_NAME = "0500-amazon-eks-fargate-mutation.amazonaws.com"
TIMEOUT_SECONDS = 5


def webhook_configuration(url: str, ca_pem: bytes, namespaces: list[str] | None = None) -> dict:
    """The configuration pointing kube-apiserver at `url` (trusting `ca_pem`), limited to `namespaces`
    unless None."""
    webhook: dict = {}
    if namespaces is not None:
        # "" is no namespace's name (and a valid label value): with no profiles the webhook is never called.
        values = sorted(namespaces) or [""]
        webhook["namespaceSelector"] = {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": values}]
        }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_NAME},
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_pem).decode()},
                "rules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced"}
                ],
                "failurePolicy": "Ignore",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "reinvocationPolicy": "Never",
                "timeoutSeconds": TIMEOUT_SECONDS,
                **webhook,
            }
        ],
    }


def profile_namespaces(store: SqliteStore, cluster: Key) -> list[str] | None:
    """Every namespace the cluster's live profiles select, or None when one is a wildcard pattern."""
    namespaces = {
        selector["namespace"]
        for profile in profiles_of_cluster(store, cluster.account, cluster.region, cluster.name)
        if not profile.deleting
        for selector in profile.spec.get("selectors") or []
    }
    if any("*" in n or "?" in n for n in namespaces):
        return None
    return sorted(namespaces)
