"""Source 1 after the cache: official release artifacts, checked against their published sha256.

Kubernetes publishes `<binary>` and `<binary>.sha256` under dl.k8s.io; etcd publishes a tarball and
`SHA256SUMS` on GitHub releases. kwok publishes no checksums, so it is always built from Go modules.
Mirrors (and the tests' local HTTP server) are set with MOORAGE_K8S_RELEASE_URL and
MOORAGE_ETCD_RELEASE_URL.
"""

from __future__ import annotations

import os
import platform
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .cache import sha256_of
from .catalog import Binary

DEFAULT_K8S_RELEASE_URL = "https://dl.k8s.io/release"
DEFAULT_ETCD_RELEASE_URL = "https://github.com/etcd-io/etcd/releases/download"
CONNECT_TIMEOUT_SECONDS = 15


class DownloadUnavailable(Exception):
    """The artifact could not be fetched (offline, 404, ...): fall back to the next source."""


class ChecksumMismatch(Exception):
    """The artifact does not match its published sha256: never cached, never used."""


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class ReleaseMirrors:
    kubernetes: str = DEFAULT_K8S_RELEASE_URL
    etcd: str = DEFAULT_ETCD_RELEASE_URL

    @classmethod
    def from_environment(cls) -> "ReleaseMirrors":
        return cls(
            kubernetes=os.environ.get("MOORAGE_K8S_RELEASE_URL", DEFAULT_K8S_RELEASE_URL).rstrip("/"),
            etcd=os.environ.get("MOORAGE_ETCD_RELEASE_URL", DEFAULT_ETCD_RELEASE_URL).rstrip("/"),
        )


def _fetch(url: str, destination: Path | None = None) -> bytes | None:
    """GET a URL into memory, or stream it to destination. Network failures become DownloadUnavailable."""
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_SECONDS) as response:
            if destination is None:
                return response.read()
            with destination.open("wb") as handle:
                while chunk := response.read(1 << 20):
                    handle.write(chunk)
            return None
    except urllib.error.HTTPError as error:
        raise DownloadUnavailable(f"{url}: HTTP {error.code}") from error
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadUnavailable(f"{url}: {reason}") from error


def _expected_from_sums(sums: str, filename: str, url: str) -> str:
    for line in sums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == filename:
            return parts[0].lower()
    raise DownloadUnavailable(f"{url} lists no checksum for {filename}")


class ReleaseDownloader:
    name = "download"

    def __init__(self, mirrors: ReleaseMirrors | None = None, arch: str | None = None):
        self.mirrors = mirrors or ReleaseMirrors.from_environment()
        self.arch = arch or go_arch()

    def supports(self, binary: Binary) -> bool:
        return binary.product in ("kubernetes", "etcd")

    def fetch(self, binary: Binary, workdir: Path) -> Path:
        """Download one binary into workdir and return its path, checksum verified."""
        if binary.product == "kubernetes":
            return self._fetch_kubernetes(binary, workdir)
        if binary.product == "etcd":
            return self._fetch_etcd(binary, workdir)
        raise DownloadUnavailable(f"{binary.component} publishes no release checksums")

    def _verify(self, path: Path, expected: str, url: str) -> None:
        actual = sha256_of(path)
        if actual != expected:
            path.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{url} has sha256 {actual}, but the published checksum is {expected}. "
                "The download was discarded and nothing was cached. Check the mirror "
                "(MOORAGE_K8S_RELEASE_URL / MOORAGE_ETCD_RELEASE_URL), or build from Go modules "
                "with `moorage toolchain install --source build`."
            )

    def _fetch_kubernetes(self, binary: Binary, workdir: Path) -> Path:
        url = f"{self.mirrors.kubernetes}/{binary.version_tag}/bin/linux/{self.arch}/{binary.component}"
        published = _fetch(url + ".sha256")
        assert published is not None
        fields = published.decode("ascii", "replace").split()
        if not fields:
            raise DownloadUnavailable(f"{url}.sha256 is empty")
        expected = fields[0].lower()
        target = workdir / binary.component
        _fetch(url, target)
        self._verify(target, expected, url)
        return target

    def _fetch_etcd(self, binary: Binary, workdir: Path) -> Path:
        base = f"{self.mirrors.etcd}/{binary.version_tag}"
        stem = f"etcd-{binary.version_tag}-linux-{self.arch}"
        tarball_name = f"{stem}.tar.gz"
        sums = _fetch(f"{base}/SHA256SUMS")
        assert sums is not None
        expected = _expected_from_sums(sums.decode("ascii", "replace"), tarball_name, f"{base}/SHA256SUMS")
        tarball = workdir / tarball_name
        _fetch(f"{base}/{tarball_name}", tarball)
        self._verify(tarball, expected, f"{base}/{tarball_name}")
        with tarfile.open(tarball) as archive:
            member_name = f"{stem}/{binary.component}"
            try:
                member = archive.getmember(member_name)
            except KeyError as error:
                raise DownloadUnavailable(f"{tarball_name} has no {member_name}") from error
            extracted = archive.extractfile(member)
            if extracted is None:
                raise DownloadUnavailable(f"{member_name} in {tarball_name} is not a file")
            fd, tmp = tempfile.mkstemp(dir=workdir)
            with os.fdopen(fd, "wb") as handle:
                while chunk := extracted.read(1 << 20):
                    handle.write(chunk)
        tarball.unlink()
        target = workdir / binary.component
        os.replace(tmp, target)
        return target
