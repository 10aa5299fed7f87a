"""The PKI sets Moorage keeps: each cluster's control-plane PKI, the shared etcd's, etcd client
certificates, the webhook listener's, each cluster's client certificate for that listener, and the
AWS endpoint's (``moorage up --tls``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .encoding import _dedupe, _ms, _now
from .files import AtomicWriter, _pair, _prepare_dir
from .issue import apiserver_spec, ensure_ca, ensure_cert, ensure_kubeconfig, ensure_sa_keypair, load_ca
from .model import (
    ETCD_CLIENT_STEM,
    LOOPBACK,
    WEBHOOK_CLIENT_ORGANIZATION,
    WEBHOOK_CLIENT_STEM,
    CertPaths,
    CertSpec,
    ClientIdentity,
    ClusterPki,
    EtcdPki,
    IPAddress,
)

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------
# Top-level entry points


def ensure_cluster_pki(
    pki_dir: Path | str,
    *,
    server_url: str,
    service_ip: str | IPAddress,
    extra_sans_dns: Iterable[str] = (),
    extra_sans_ips: Iterable[str | IPAddress] = (),
    now: datetime | None = None,
) -> ClusterPki:
    """Ensure every certificate, key and kubeconfig of one cluster's control plane.

    ``server_url`` is what the kubeconfigs point at (``https://127.0.0.1:<port>``); ``service_ip`` is
    the first IP of the service CIDR (see :func:`first_service_ip`). ``now`` is for tests.
    """
    started = time.perf_counter()
    if not server_url.startswith("https://"):
        raise ValueError(f"server_url must be an https:// URL, got {server_url!r}")
    now = _now(now)
    root = _prepare_dir(pki_dir)
    with AtomicWriter() as writer:
        ca = ensure_ca(_pair(root, "ca"), "kubernetes", writer=writer, now=now)
        apiserver = ensure_cert(
            ca,
            _pair(root, "apiserver"),
            apiserver_spec(service_ip, extra_sans_dns, extra_sans_ips),
            writer=writer,
            now=now,
        )
        kubelet_client = ensure_cert(
            ca,
            _pair(root, "apiserver-kubelet-client"),
            CertSpec("kube-apiserver-kubelet-client", organizations=("system:masters",), client_auth=True),
            writer=writer,
            now=now,
        )
        ensure_sa_keypair(root / "sa.key", root / "sa.pub", writer=writer)
        front_proxy_ca = ensure_ca(_pair(root, "front-proxy-ca"), "front-proxy-ca", writer=writer, now=now)
        front_proxy_client = ensure_cert(
            front_proxy_ca,
            _pair(root, "front-proxy-client"),
            CertSpec("front-proxy-client", client_auth=True),
            writer=writer,
            now=now,
        )
        identities = {}
        for stem, spec in (
            ("kube-controller-manager", CertSpec("system:kube-controller-manager", client_auth=True)),
            ("kube-scheduler", CertSpec("system:kube-scheduler", client_auth=True)),
            ("admin", CertSpec("moorage-admin", organizations=("system:masters",), client_auth=True)),
        ):
            issued = ensure_cert(ca, _pair(root, stem), spec, writer=writer, now=now)
            kubeconfig = root / f"{stem}.kubeconfig"
            ensure_kubeconfig(
                kubeconfig,
                server_url=server_url,
                ca_pem=ca.cert_pem,
                cert_pem=issued.cert_pem,
                key_pem=issued.key_pem,
                user=spec.common_name,
                writer=writer,
            )
            identities[stem] = ClientIdentity(issued.paths.cert, issued.paths.key, kubeconfig)
    written = tuple(writer.written)
    log.debug("cluster PKI in %s ensured in %.1f ms, %d files written", root, _ms(started), len(written))
    return ClusterPki(
        dir=root,
        ca=ca.paths,
        ca_pem=ca.cert_pem,
        apiserver=apiserver.paths,
        apiserver_kubelet_client=kubelet_client.paths,
        sa_key=root / "sa.key",
        sa_pub=root / "sa.pub",
        front_proxy_ca=front_proxy_ca.paths,
        front_proxy_client=front_proxy_client.paths,
        controller_manager=identities["kube-controller-manager"],
        scheduler=identities["kube-scheduler"],
        admin=identities["admin"],
        written=written,
    )


def ensure_etcd_pki(etcd_pki_dir: Path | str, *, now: datetime | None = None) -> EtcdPki:
    """Ensure the shared etcd's CA, serving cert and root client cert."""
    now = _now(now)
    root = _prepare_dir(etcd_pki_dir)
    with AtomicWriter() as writer:
        ca = ensure_ca(_pair(root, "ca"), "etcd-ca", writer=writer, now=now)
        server = ensure_cert(
            ca,
            _pair(root, "server"),
            CertSpec(
                "etcd-server",
                dns_names=("localhost",),
                ip_addresses=(LOOPBACK,),
                server_auth=True,
                client_auth=True,
            ),
            writer=writer,
            now=now,
        )
        root_client = ensure_cert(
            ca, _pair(root, "root-client"), CertSpec("", organizations=("moorage",), client_auth=True), writer=writer, now=now
        )
    return EtcdPki(
        dir=root,
        ca=ca.paths,
        ca_pem=ca.cert_pem,
        server=server.paths,
        root_client=root_client.paths,
        written=tuple(writer.written),
    )


def ensure_etcd_client(
    etcd_pki: EtcdPki, cluster_pki_dir: Path | str, user: str, *, now: datetime | None = None
) -> CertPaths:
    """Ensure a cluster's etcd client cert (CN = its etcd user), signed by the shared etcd CA.

    Returns ``(cert_path, key_path)``. The etcd CA itself is never regenerated here (that would break
    every other cluster): if it is missing or broken, :class:`PkiError` tells the caller to run
    :func:`ensure_etcd_pki` first.
    """
    now = _now(now)
    root = _prepare_dir(cluster_pki_dir)
    ca = load_ca(etcd_pki.ca, now=now)
    with AtomicWriter() as writer:
        spec = CertSpec(user, client_auth=True)
        issued = ensure_cert(ca, _pair(root, ETCD_CLIENT_STEM), spec, writer=writer, now=now)
    return issued.paths


@dataclass(frozen=True)
class WebhookPki:
    ca_pem: bytes  # the caBundle of the webhook configurations Moorage writes into clusters
    serving: CertPaths


def ensure_webhook_pki(pki_dir: Path | str, *, now: datetime | None = None) -> WebhookPki:
    """Moorage's own CA (CN=moorage-webhooks-ca) and the serving cert of its HTTPS webhook listener
    (127.0.0.1 and localhost): kube-apiserver calls admission webhooks over TLS only."""
    now = _now(now)
    root = _prepare_dir(pki_dir)
    with AtomicWriter() as writer:
        ca = ensure_ca(_pair(root, "ca"), "moorage-webhooks-ca", writer=writer, now=now)
        serving = ensure_cert(
            ca,
            _pair(root, "serving"),
            CertSpec("moorage-webhooks", dns_names=("localhost",), ip_addresses=(LOOPBACK,), server_auth=True),
            writer=writer,
            now=now,
        )
    return WebhookPki(ca_pem=ca.cert_pem, serving=serving.paths)


def ensure_webhook_client(webhook_pki_dir: Path | str, cluster_pki_dir: Path | str, cluster_id: str, *,
                          now: datetime | None = None) -> CertPaths:
    """Ensure a cluster's client certificate for Moorage's webhook listener: CN=<cluster id>,
    O=moorage-webhook-clients, clientAuth, signed by the webhook CA, written as
    ``webhook-client.crt/.key`` into the cluster's directory. kube-apiserver presents it to the
    token-review and authorization webhooks; the listener answers a path's cluster id only for
    that cluster's certificate.

    Not the cluster's own CA: kube-controller-manager signs CSRs with it (--cluster-signing-*), so a
    cluster's admins could have a certificate with any CN made. No cluster holds the webhook CA's
    key. Like :func:`ensure_etcd_client`, the CA is never made here (``ensure_webhook_pki`` first).
    """
    now = _now(now)
    root = _prepare_dir(cluster_pki_dir)
    ca = load_ca(_pair(Path(webhook_pki_dir), "ca"), now=now)
    with AtomicWriter() as writer:
        spec = CertSpec(cluster_id, organizations=(WEBHOOK_CLIENT_ORGANIZATION,), client_auth=True)
        issued = ensure_cert(ca, _pair(root, WEBHOOK_CLIENT_STEM), spec, writer=writer, now=now)
    return issued.paths


@dataclass(frozen=True)
class EndpointPki:
    ca_bundle: Path  # what AWS_CA_BUNDLE / the profile's ca_bundle point at
    serving: CertPaths


def ensure_endpoint_pki(pki_dir: Path | str, *, dns_names: Iterable[str] = (), ip_addresses: Iterable[IPAddress] = (),
                        now: datetime | None = None) -> EndpointPki:
    """The Moorage CA (CN=moorage-ca) and the serving cert of the AWS endpoint over HTTPS, with SANs
    localhost and 127.0.0.1 plus the names and addresses it listens on. Reused across restarts while
    valid; a change of SANs (another --host) re-issues the leaf from the same CA, so a bundle users
    already trust keeps working."""
    now = _now(now)
    root = _prepare_dir(pki_dir)
    dns = tuple(_dedupe(("localhost", *dns_names)))
    ips = tuple(_dedupe((LOOPBACK, *ip_addresses)))
    with AtomicWriter() as writer:
        ca = ensure_ca(_pair(root, "ca"), "moorage-ca", writer=writer, now=now)
        serving = ensure_cert(
            ca, _pair(root, "serving"), CertSpec("moorage", dns_names=dns, ip_addresses=ips, server_auth=True),
            writer=writer, now=now,
        )
    return EndpointPki(ca_bundle=ca.paths.cert, serving=serving.paths)
