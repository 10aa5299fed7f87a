"""PKI vocabulary: validity periods, file modes, SANs, the errors raised, and the types every
PKI module passes around (paths, identities, specs, the cluster and etcd sets).
"""

from __future__ import annotations

import base64
import ipaddress
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple, Union

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

RENEW_BEFORE = timedelta(days=30)
CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=365)
BACKDATE = timedelta(minutes=5)
SA_KEY_BITS = 2048
CLUSTER_DOMAIN = "cluster.local"
APISERVER_DNS_SANS = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
    "localhost",
)
LOOPBACK = ipaddress.ip_address("127.0.0.1")
KUBECONFIG_CLUSTER = "kubernetes"
ETCD_CLIENT_STEM = "apiserver-etcd-client"
WEBHOOK_CLIENT_STEM = "webhook-client"  # a cluster's certificate for Moorage's webhook listener
WEBHOOK_CLIENT_ORGANIZATION = "moorage-webhook-clients"

_CERT_MODE = 0o644
_KEY_MODE = 0o600
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 600


def _log_regeneration(message: str, path, problem: str) -> None:
    """A first write is routine (debug); replacing an existing file is worth an info line."""
    (log.debug if "missing" in str(problem) else log.info)(message, path, problem)


class PkiError(Exception):
    """A precondition the caller must fix (for example, the etcd CA is missing)."""


class CertPaths(NamedTuple):
    cert: Path
    key: Path


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate and the kubeconfig that embeds it."""

    cert: Path
    key: Path
    kubeconfig: Path


@dataclass(frozen=True)
class ClusterPki:
    dir: Path
    ca: CertPaths
    ca_pem: bytes  # base64 of this is DescribeCluster's certificateAuthority.data
    apiserver: CertPaths
    apiserver_kubelet_client: CertPaths
    sa_key: Path
    sa_pub: Path
    front_proxy_ca: CertPaths
    front_proxy_client: CertPaths
    controller_manager: ClientIdentity
    scheduler: ClientIdentity
    admin: ClientIdentity
    written: tuple[Path, ...]  # files (re)written by this call; empty when everything was reused

    @property
    def certificate_authority_data(self) -> str:
        return base64.b64encode(self.ca_pem).decode("ascii")


@dataclass(frozen=True)
class EtcdPki:
    dir: Path
    ca: CertPaths
    ca_pem: bytes
    server: CertPaths
    root_client: CertPaths
    written: tuple[Path, ...]


@dataclass(frozen=True)
class CertSpec:
    """What a leaf certificate must say. Any difference from the file on disk regenerates it."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    server_auth: bool = False
    client_auth: bool = False
    validity: timedelta = LEAF_VALIDITY

    def subject(self) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in self.organizations]
        if self.common_name:  # etcd's JSON gateway refuses client certs that carry a CN once auth is on
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        return x509.Name(attrs)

    def extended_key_usages(self) -> frozenset[x509.ObjectIdentifier]:
        usages = set()
        if self.server_auth:
            usages.add(ExtendedKeyUsageOID.SERVER_AUTH)
        if self.client_auth:
            usages.add(ExtendedKeyUsageOID.CLIENT_AUTH)
        return frozenset(usages)


@dataclass(frozen=True)
class CertificateAuthority:
    paths: CertPaths
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey  # ours are EC; an RSA CA is accepted as is
    cert_pem: bytes


@dataclass(frozen=True)
class IssuedCert:
    paths: CertPaths
    cert_pem: bytes
    key_pem: bytes
