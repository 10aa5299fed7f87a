"""Each cluster's service-account signing key, read from its PKI directory (sa.pub).

The public half is what kube-apiserver verifies service-account tokens with; Moorage publishes it
as the cluster's OIDC JWKS and STS verifies web-identity tokens (IRSA) with it. Read from disk on
every call, never cached in memory, so API workers see a key the moment the reconciler writes it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..store import Record
from .controlplane import ClusterPaths


class ServiceAccountKeys:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir

    def path(self, cluster: Record) -> Path:
        key = cluster.key
        return ClusterPaths.of(self.data_dir, key.account, key.region, key.name, cluster.spec["id"]).pki / "sa.pub"

    def public_key(self, cluster: Record) -> rsa.RSAPublicKey | None:
        """The cluster's RSA public key, or None while its PKI is not made yet (or never will be)."""
        try:
            pem = self.path(cluster).read_bytes()
        except FileNotFoundError:
            return None
        public_key = serialization.load_pem_public_key(pem)
        return public_key if isinstance(public_key, rsa.RSAPublicKey) else None
