"""The toolchain cache: binaries keyed by component and version, and a manifest of their sha256.

Layout under the cache root (default: $XDG_CACHE_HOME/moorage/toolchain):

    bin/<component>/<version>/<component>   the executable
    manifest.json                           {"<component>/<version>": {"sha256", "size", "source", ...}}
    install.lock                            held by one installer at a time

A binary counts as cached only if its manifest entry exists and the file's sha256 matches it, so a
truncated or half-written file is detected and replaced. Files enter the cache by atomic rename
after their checksum is recorded, and the manifest itself is replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import filelock

from .catalog import Binary

MANIFEST_NAME = "manifest.json"
LOCK_NAME = "install.lock"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    binary: Binary
    path: Path
    sha256: str
    size: int
    source: str
    installed_at: str


class ToolchainCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def lock(self, timeout: float = -1) -> filelock.FileLock:
        """An exclusive lock on the cache; two installers at once take turns."""
        self.root.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(str(self.root / LOCK_NAME), timeout=timeout)

    def path_for(self, binary: Binary) -> Path:
        return self.root / "bin" / binary.component / binary.version / binary.component

    def staging_dir(self) -> Path:
        """A scratch directory on the cache's filesystem, so the final rename is atomic."""
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def read_manifest(self) -> dict[str, dict]:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            # A damaged manifest means nothing in the cache can be trusted; everything is re-verified.
            return {}
        return data if isinstance(data, dict) else {}

    def _write_manifest(self, manifest: dict[str, dict]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.manifest_path)

    def entry(self, binary: Binary) -> CacheEntry | None:
        """The recorded entry for a binary, without checking the file."""
        record = self.read_manifest().get(binary.key)
        if not record:
            return None
        return CacheEntry(
            binary=binary,
            path=self.path_for(binary),
            sha256=record["sha256"],
            size=record["size"],
            source=record.get("source", "unknown"),
            installed_at=record.get("installed_at", ""),
        )

    def verified(self, binary: Binary) -> CacheEntry | None:
        """The entry if the file on disk is exactly what the manifest recorded, else None."""
        entry = self.entry(binary)
        if entry is None:
            return None
        path = entry.path
        try:
            if path.stat().st_size != entry.size or not os.access(path, os.X_OK):
                return None
        except FileNotFoundError:
            return None
        if sha256_of(path) != entry.sha256:
            return None
        return entry

    def store(self, binary: Binary, built_file: Path, source: str) -> CacheEntry:
        """Move a finished binary into the cache and record it. Caller holds the lock."""
        target = self.path_for(binary)
        target.parent.mkdir(parents=True, exist_ok=True)
        built_file.chmod(0o755)
        with built_file.open("rb") as handle:
            os.fsync(handle.fileno())
        digest = sha256_of(built_file)
        size = built_file.stat().st_size
        os.replace(built_file, target)
        manifest = self.read_manifest()
        record = {
            "sha256": digest,
            "size": size,
            "source": source,
            "installed_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        manifest[binary.key] = record
        self._write_manifest(manifest)
        return CacheEntry(binary, target, digest, size, source, record["installed_at"])

    def forget(self, binary: Binary) -> None:
        """Drop a binary's record and file (used when it fails verification)."""
        manifest = self.read_manifest()
        if manifest.pop(binary.key, None) is not None:
            self._write_manifest(manifest)
        self.path_for(binary).unlink(missing_ok=True)
