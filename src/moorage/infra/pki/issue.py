"""Issuing and reusing CAs, leaf certificates, the service-account key pair and kubeconfigs:
each an idempotent `ensure_*` unit.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .checks import _check_issued_by, _check_leaf, _check_time, _load_sa_key, _read_pair
from .encoding import _b64, _common_name, _dedupe, _key_pem, _key_usage, _now
from .files import AtomicWriter, _fix_private_mode, _read_or_none
from .model import (
    _CERT_MODE,
    _KEY_MODE,
    APISERVER_DNS_SANS,
    BACKDATE,
    CA_VALIDITY,
    KUBECONFIG_CLUSTER,
    LOOPBACK,
    SA_KEY_BITS,
    CertificateAuthority,
    CertPaths,
    CertSpec,
    IPAddress,
    IssuedCert,
    PkiError,
    _log_regeneration,
)

# ----------------------------------------------------------------------------------------------------
# Units


def apiserver_spec(
    service_ip: str | IPAddress, extra_dns: Iterable[str] = (), extra_ips: Iterable[str | IPAddress] = ()
) -> CertSpec:
    dns = _dedupe([*APISERVER_DNS_SANS, *extra_dns])
    ips = _dedupe([LOOPBACK, ipaddress.ip_address(service_ip), *(ipaddress.ip_address(ip) for ip in extra_ips)])
    return CertSpec("kube-apiserver", dns_names=tuple(dns), ip_addresses=tuple(ips), server_auth=True)


def first_service_ip(service_cidr: str) -> str:
    """The kubernetes Service's ClusterIP for a service CIDR: 10.100.0.0/16 -> 10.100.0.1."""
    return str(ipaddress.ip_network(service_cidr, strict=True)[1])


def ensure_ca(
    paths: CertPaths, common_name: str, *, writer: AtomicWriter, now: datetime | None = None
) -> CertificateAuthority:
    """Reuse the CA at ``paths`` if valid, else generate a new self-signed one."""
    now = _now(now)
    try:
        return load_ca(paths, common_name=common_name, now=now)
    except PkiError as problem:
        _log_regeneration("regenerating CA %s: %s", paths.cert, problem)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    writer.write_pair(paths, cert_pem, _key_pem(key))
    return CertificateAuthority(paths, cert, key, cert_pem)


def load_ca(paths: CertPaths, *, common_name: str | None = None, now: datetime | None = None) -> CertificateAuthority:
    """Load a CA and check it is usable; raise :class:`PkiError` saying why not."""
    now = _now(now)
    cert, cert_pem, key, _ = _read_pair(paths)
    if common_name is not None and _common_name(cert) != common_name:
        raise PkiError(f"CN is {_common_name(cert)!r}, want {common_name!r}")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise PkiError("no BasicConstraints") from None
    if not constraints.ca:
        raise PkiError("not a CA")
    _check_issued_by(cert, cert)
    _check_time(cert, now)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise PkiError(f"cannot sign with a {type(key).__name__}")
    return CertificateAuthority(paths, cert, key, cert_pem)


def ensure_cert(
    ca: CertificateAuthority,
    paths: CertPaths,
    spec: CertSpec,
    *,
    writer: AtomicWriter,
    now: datetime | None = None,
) -> IssuedCert:
    """Reuse the leaf at ``paths`` if it still matches ``spec`` and ``ca``, else issue a new one."""
    now = _now(now)
    try:
        cert, cert_pem, _, key_pem = _read_pair(paths)
        _check_leaf(cert, ca, spec, now)
        return IssuedCert(paths, cert_pem, key_pem)
    except PkiError as problem:
        _log_regeneration("regenerating %s: %s", paths.cert, problem)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject())
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + spec.validity, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    usages = sorted(spec.extended_key_usages(), key=lambda oid: oid.dotted_string)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    sans = [*(x509.DNSName(d) for d in spec.dns_names), *(x509.IPAddress(ip) for ip in spec.ip_addresses)]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert_pem = builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    key_pem = _key_pem(key)
    writer.write_pair(paths, cert_pem, key_pem)
    return IssuedCert(paths, cert_pem, key_pem)


def ensure_sa_keypair(key_path: Path, pub_path: Path, *, writer: AtomicWriter) -> rsa.RSAPrivateKey:
    """The service-account signing key (``sa.key``, the source of truth) and its public half.

    ``sa.key`` is regenerated only if it is unusable (that invalidates every issued token);
    ``sa.pub`` is rewritten from it whenever it differs.
    """
    try:
        key = _load_sa_key(key_path)
    except PkiError as problem:
        _log_regeneration("regenerating service-account key %s: %s", key_path, problem)
        key = rsa.generate_private_key(public_exponent=65537, key_size=SA_KEY_BITS)
        writer.write(key_path, _key_pem(key), _KEY_MODE)
    pub_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if _read_or_none(pub_path) != pub_pem:
        writer.write(pub_path, pub_pem, _CERT_MODE)
    return key


def render_kubeconfig(*, server_url: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str) -> bytes:
    """A kubeconfig as JSON (which is YAML), with CA and client credentials embedded."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": KUBECONFIG_CLUSTER,
                "cluster": {"server": server_url, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {"name": user, "user": {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}}
        ],
        "contexts": [{"name": user, "context": {"cluster": KUBECONFIG_CLUSTER, "user": user}}],
        "current-context": user,
        "preferences": {},
    }
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def ensure_kubeconfig(
    path: Path,
    *,
    server_url: str,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    user: str,
    writer: AtomicWriter,
) -> bool:
    """Write the kubeconfig unless the file already has exactly this content. True if written."""
    wanted = render_kubeconfig(server_url=server_url, ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem, user=user)
    if _read_or_none(path) == wanted:
        _fix_private_mode(path)
        return False
    writer.write(path, wanted, _KEY_MODE)
    return True
