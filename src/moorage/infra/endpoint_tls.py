"""HTTPS for the AWS endpoint (`moorage up --tls`): the Moorage CA in ``<data dir>/tls`` and the
server-side SSL context the main process and every API worker load.

The main process issues (or reuses) the CA and the serving certificate before it listens; API
workers only load the files it wrote, so two processes never write them at once. The CA bundle
(``<data dir>/tls/ca.crt``) is what AWS_CA_BUNDLE and the ``moorage`` profile's ``ca_bundle`` name.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path

from .pki import EndpointPki, ensure_endpoint_pki
from .pki.model import IPAddress

TLS_DIR = "tls"
WILDCARDS = ("0.0.0.0", "::", "")


def tls_dir(data_dir: Path) -> Path:
    return data_dir / TLS_DIR


def subject_names(host: str) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    """The DNS names and addresses the serving certificate must name for clients reaching ``host``:
    the address itself, or for a wildcard (0.0.0.0, ::) this machine's name and its addresses."""
    host = host.strip("[]")
    if host in WILDCARDS:
        return _wildcard_names()
    try:
        return (), (ipaddress.ip_address(host),)
    except ValueError:
        return (host,), ()


def _wildcard_names() -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    names = tuple(dict.fromkeys(name for name in (socket.gethostname(), socket.getfqdn()) if name))
    addresses: list[IPAddress] = [ipaddress.ip_address("::1")]
    for name in names:
        try:
            for *_, sockaddr in socket.getaddrinfo(name, None):
                addresses.append(ipaddress.ip_address(sockaddr[0].split("%")[0]))
        except (OSError, ValueError):
            continue
    return names, tuple(dict.fromkeys(addresses))


def ensure_endpoint_tls(data_dir: Path, host: str) -> EndpointPki:
    """Issue or reuse the Moorage CA and the endpoint's certificate for ``host`` (blocking)."""
    dns_names, addresses = subject_names(host)
    return ensure_endpoint_pki(tls_dir(data_dir), dns_names=dns_names, ip_addresses=addresses)


def server_context(data_dir: Path) -> ssl.SSLContext:
    """The SSL context serving the endpoint's certificate (TLS 1.2 or later), from files on disk."""
    root = tls_dir(data_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(root / "serving.crt"), str(root / "serving.key"))
    return context


def ca_bundle_path(data_dir: Path) -> Path:
    return tls_dir(data_dir) / "ca.crt"
