"""Certificates, keys and kubeconfigs for each cluster's control plane and for the shared etcd.

The package: ``bundles`` (the sets below: cluster, etcd, etcd client, webhook), ``issue`` (each CA,
leaf, key pair and kubeconfig as an idempotent unit), ``checks`` (when a file on disk is reusable),
``files`` (atomic, durable, owner-only writes), ``jwks`` (the OIDC view of the service-account key),
``model`` (types, validity periods, modes) and ``encoding``. Import from ``moorage.infra.pki``.

Every artifact is a small idempotent unit (the Kamaji pattern): ``ensure_*`` reuses the file on disk
if it is still valid and regenerates it otherwise. "Valid" means, for a certificate: the file parses,
its private key file parses and matches it, it verifies against the *current* CA (issuer name and
signature), it is not expiring within ``RENEW_BEFORE`` (30 days) and is already valid, and its
subject, extended key usages and SANs are exactly the ones requested. Because a leaf is always checked
against the current CA, regenerating a CA regenerates everything it signed, also across a crash
between the two steps. A kubeconfig is rendered deterministically from (server URL, CA, client cert,
client key) and rewritten only when its bytes differ.

Layout written by :func:`ensure_cluster_pki` into the caller's directory (keys and kubeconfigs 0600,
certificates and ``sa.pub`` 0644, a directory it creates 0700)::

    ca.crt ca.key                                   cluster CA, CN=kubernetes, 10 years
    apiserver.crt apiserver.key                     kube-apiserver serving cert (serverAuth)
    apiserver-kubelet-client.crt .key               CN=kube-apiserver-kubelet-client, O=system:masters
    sa.key sa.pub                                   service-account token signing key pair (RSA 2048)
    front-proxy-ca.crt front-proxy-ca.key           request-header (aggregation) CA, CN=front-proxy-ca
    front-proxy-client.crt .key                     CN=front-proxy-client
    kube-controller-manager.crt .key .kubeconfig    CN=system:kube-controller-manager
    kube-scheduler.crt .key .kubeconfig             CN=system:kube-scheduler
    admin.crt admin.key admin.kubeconfig            CN=moorage-admin, O=system:masters

:func:`ensure_etcd_pki` writes into the instance's etcd directory::

    ca.crt ca.key                                   etcd CA, CN=etcd-ca, 10 years
    server.crt server.key                           etcd serving cert, SANs localhost + 127.0.0.1
                                                    (serverAuth + clientAuth: etcd's gRPC gateway
                                                    dials itself with it, as in kubeadm)
    root-client.crt root-client.key                 CN=root, Moorage's own etcd administration

and :func:`ensure_etcd_client` writes ``apiserver-etcd-client.crt/.key`` (CN=<etcd user>) into a
cluster's directory; :func:`ensure_webhook_pki` writes Moorage's own webhook CA and the serving cert of
its HTTPS webhook listener (``ca.crt/.key``, ``serving.crt/.key``, SANs localhost + 127.0.0.1), and
:func:`ensure_webhook_client` each cluster's ``webhook-client.crt/.key`` (CN=<cluster id>,
O=moorage-webhook-clients, signed by the webhook CA) that kube-apiserver presents to that listener;
:func:`ensure_endpoint_pki` writes the Moorage CA and the AWS endpoint's serving cert for
``moorage up --tls`` (``ca.crt/.key``, ``serving.crt/.key``, SANs localhost, 127.0.0.1 and the host).
Leaves are valid one year (clamped to their CA), CAs ten years, all backdated five minutes for clock
skew.

Writes go through :class:`AtomicWriter`: each file is staged in a temporary file in its target's
directory; when the top-level call ends, all staged files are fsynced (in parallel, so the filesystem
commits them together), renamed over their targets with ``os.replace`` in the order written, and each
directory is fsynced once; everything is durable when the call returns. A key is always renamed
before its certificate: after a crash in between, the pair no longer matches and is regenerated on
the next call. Temporary files older than ten minutes (left by a crash) are swept. Callers serialize
calls per directory (one reconciler per cluster; the etcd PKI once at instance start) and, from
asyncio, run them in a thread (``asyncio.to_thread``): everything here blocks.

Key algorithms. Measured on the 2-core development machine (cryptography 50.0.2, CPython 3.11, load
average ~3.8 from other work, so medians matter more than maxima):

* ECDSA P-256 for every CA and leaf: generating a key takes ~0.012 ms, against ~37-49 ms median for
  RSA 2048 (8-138 ms: the prime search is random). Eleven EC keys cost nothing.
* The service-account signing key stays RSA 2048 / RS256, as in EKS. Generating it (median 37-49 ms,
  p90 ~100 ms, worst 138 ms in 40 runs) fits the ~150 ms budget, and only a fresh cluster pays it.
  RS256 is what every OIDC relying party, AWS STS included, accepts from an EKS issuer. kube-apiserver
  and our own STS would also take ES256, so switching stays open; :func:`jwks` already handles EC
  keys. cryptography does not release the GIL while generating RSA keys (two in threads took as long
  as two in a row), so generating it in a background thread would not help.
* Loading an RSA private key with cryptography's default validation takes ~53 ms, because OpenSSL's
  ``RSA_check_key`` tests p and q for primality. Re-runs load ``sa.key`` with
  ``unsafe_skip_rsa_key_validation=True`` and check the CRT arithmetic themselves instead (n = pq,
  ed = 1 mod lcm(p-1, q-1), dP, dQ, qInv). That takes microseconds and still catches a corrupted key
  (the tests flip one byte).
* One write + fsync + rename takes ~2-5 ms on the ext4 disk. Fsyncing 21 files one after another took
  ~50 ms, against ~7 ms when done in parallel threads.

Totals, median of 40 runs (min-max): :func:`ensure_cluster_pki`, fresh (21 files): 66 ms (26-242 ms),
mostly the RSA key; re-run with nothing written: 3.6 ms (2.8-20 ms). :func:`ensure_etcd_pki`: fresh
7.5 ms, re-run 1.3 ms. :func:`ensure_etcd_client`, fresh: 4.6 ms.
"""

from __future__ import annotations

from .bundles import (  # noqa: F401
    EndpointPki,
    WebhookPki,
    ensure_cluster_pki,
    ensure_endpoint_pki,
    ensure_etcd_client,
    ensure_etcd_pki,
    ensure_webhook_client,
    ensure_webhook_pki,
)
from .files import AtomicWriter  # noqa: F401
from .issue import (  # noqa: F401
    apiserver_spec,
    ensure_ca,
    ensure_cert,
    ensure_kubeconfig,
    ensure_sa_keypair,
    first_service_ip,
    load_ca,
    render_kubeconfig,
)
from .jwks import jwks, key_id  # noqa: F401
from .model import (  # noqa: F401
    APISERVER_DNS_SANS,
    BACKDATE,
    CA_VALIDITY,
    CLUSTER_DOMAIN,
    ETCD_CLIENT_STEM,
    KUBECONFIG_CLUSTER,
    LEAF_VALIDITY,
    LOOPBACK,
    RENEW_BEFORE,
    SA_KEY_BITS,
    CertificateAuthority,
    CertPaths,
    CertSpec,
    ClientIdentity,
    ClusterPki,
    EtcdPki,
    IPAddress,
    IssuedCert,
    PkiError,
)
