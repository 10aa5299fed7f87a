"""Each cluster's OIDC issuer (identity.oidc.issuer = <base>/_moorage/oidc/id/<ID>): its discovery
document and JWKS, and the keys STS uses to verify the cluster's service-account tokens (IRSA).

Clusters come from the store and their keys from `public_key_of` (infra/service_account_keys.py
reads them from the cluster's PKI directory), never from memory, so API workers serve them too.
"""

from __future__ import annotations

import re
from typing import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from ...core.kinds import CLUSTER
from ...infra.pki import jwks, key_id
from ...store import Record, SqliteStore

ISSUER_PATH = "/_moorage/oidc/id/"
_ISSUER_ID = re.compile(r"[0-9A-F]{32}")


def cluster_id_of(issuer_id: str) -> str | None:
    """The cluster id (a UUID) behind an issuer id (its 32 hex digits, upper case)."""
    if not _ISSUER_ID.fullmatch(issuer_id):
        return None
    hex_ = issuer_id.lower()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


class ClusterIssuers:
    def __init__(self, store: SqliteStore, public_key_of: Callable[[Record], rsa.RSAPublicKey | None],
                 cluster_for_id: Callable[[str], Record | None] | None = None):
        self.store = store
        self.public_key_of = public_key_of
        # Injected by the composition root: a lookup by id that never scans (gateway/clusters_by_id.py).
        # Issuer URLs are public and STS verifies tokens naming any issuer: unknown ids must stay cheap.
        self.cluster_for_id = cluster_for_id or self._scan

    def cluster(self, issuer_id: str) -> Record | None:
        cluster_id = cluster_id_of(issuer_id)
        if cluster_id is None:
            return None
        record = self.cluster_for_id(cluster_id)
        return record if record is not None and not record.deleting else None

    def _scan(self, cluster_id: str) -> Record | None:
        return next((r for r in self.store.list(None, None, CLUSTER) if r.spec.get("id") == cluster_id), None)

    def cluster_for_issuer(self, issuer: str) -> Record | None:
        """The cluster whose issuer URL is exactly `issuer`."""
        _, found, issuer_id = issuer.rpartition(ISSUER_PATH)
        record = self.cluster(issuer_id) if found else None
        if record is None or record.spec["identity"]["oidc"]["issuer"] != issuer:
            return None
        return record

    def jwks(self, cluster: Record) -> dict | None:
        public_key = self.public_key_of(cluster)
        return jwks(public_key) if public_key is not None else None

    def signing_keys(self, issuer: str) -> dict[str, rsa.RSAPublicKey] | None:
        """kid -> public key for an issuer Moorage serves, or None if it is not one of ours (or its
        cluster has no key yet)."""
        cluster = self.cluster_for_issuer(issuer)
        if cluster is None:
            return None
        public_key = self.public_key_of(cluster)
        return {key_id(public_key): public_key} if public_key is not None else None


def discovery_document(issuer: str) -> dict:
    """What EKS's issuers publish at /.well-known/openid-configuration."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/keys",
        "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "iss"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
