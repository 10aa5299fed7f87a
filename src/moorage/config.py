"""Where Moorage listens and keeps its data, with the defaults documented in the README."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4573
DATA_DIR_ENV = "MOORAGE_DATA_DIR"
TLS_ENV = "MOORAGE_TLS"


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to an address others reach


def default_data_dir() -> Path:
    """$MOORAGE_DATA_DIR, else $XDG_DATA_HOME/moorage (~/.local/share/moorage)."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir("moorage"))


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path()
    # Simulated nodes: seconds from a node's creation to Ready, and from a pod's binding to Running.
    node_startup_delay: float = 0.0
    pod_startup_delay: float = 0.0
    # UpdateNodegroupVersion: how long evictions a PodDisruptionBudget blocks are retried (EKS: 15 minutes).
    pod_eviction_timeout: float = 900.0
    # DeleteNodegroup: how long a node's drain may take before it is terminated anyway (EKS: 5 minutes).
    node_drain_timeout: float = 300.0
    # EKS add-ons: seconds after the apply before workloads still not ready make an add-on DEGRADED.
    addon_ready_timeout: float = 60.0
    # The AWS endpoint (and health path) over HTTPS with the Moorage CA's certificate (`--tls`).
    tls: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def prepare_data_dir(path: Path) -> None:
    """Create the data directory owner-only (0700), and tighten one an older Moorage made readable
    by others: it holds the store (secrets), every cluster's keys and etcd's data."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        path.chmod(0o700)
