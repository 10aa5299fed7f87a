"""Where Moorage listens and keeps its data, with the defaults documented in the README."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4573
DATA_DIR_ENV = "MOORAGE_DATA_DIR"


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

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
