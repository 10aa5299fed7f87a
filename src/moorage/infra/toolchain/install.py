"""Obtain toolchain binaries: the cache first, then official downloads, then a Go module build.

Every binary is checked to report its pinned version before it enters the cache, and everything
happens under the cache's lock, so concurrent installs take turns and never see half a file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ..progress import Reporter
from .cache import CacheEntry, ToolchainCache
from .catalog import Binary, reported_version, version_command
from .download import ChecksumMismatch, DownloadUnavailable, ReleaseDownloader
from .gobuild import FIRST_BUILD_MINUTES, GoBuildError, GoModuleBuilder


class SourcePolicy(str, Enum):
    AUTO = "auto"  # download where checksums are published, else build
    DOWNLOAD = "download"  # download only; fail if an artifact can't be fetched
    BUILD = "build"  # build everything from Go modules


class ToolchainError(Exception):
    """An install step failed; the message says what and what to do."""


@dataclass
class InstallResult:
    entries: list[CacheEntry] = field(default_factory=list)
    from_cache: list[Binary] = field(default_factory=list)
    downloaded: list[Binary] = field(default_factory=list)
    built: list[Binary] = field(default_factory=list)
    repaired: list[Binary] = field(default_factory=list)


def check_version(binary: Binary, path: Path) -> None:
    """Run the binary and make sure it reports its pinned version."""
    path.chmod(0o755)
    try:
        result = subprocess.run(
            [str(path), *version_command(binary)], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        raise ToolchainError(f"{binary.component} {binary.version} at {path} does not run: {error}") from error
    output = result.stdout + result.stderr
    found = reported_version(binary, output)
    if found != binary.version:
        raise ToolchainError(
            f"{binary.component} at {path} reports version {found or 'unknown'}, expected {binary.version}; "
            f"its output was: {output.strip()[:300]!r}"
        )


class Installer:
    def __init__(
        self,
        cache: ToolchainCache,
        policy: SourcePolicy = SourcePolicy.AUTO,
        downloader: ReleaseDownloader | None = None,
        builder: GoModuleBuilder | None = None,
        reporter: Reporter | None = None,
    ):
        self.cache = cache
        self.policy = policy
        self.downloader = downloader or ReleaseDownloader()
        self.builder = builder or GoModuleBuilder(workspace_root=cache.root / "build")
        self.reporter = reporter or Reporter()

    def install(self, binaries: list[Binary]) -> InstallResult:
        result = InstallResult()
        with self.cache.lock():
            missing: list[Binary] = []
            for binary in binaries:
                if self.cache.verified(binary):
                    result.from_cache.append(binary)
                    continue
                if self.cache.entry(binary) is not None:
                    self.reporter.warn(
                        f"cached {binary.component} {binary.version} does not match its recorded sha256 "
                        "(truncated or modified); obtaining it again"
                    )
                    self.cache.forget(binary)
                    result.repaired.append(binary)
                missing.append(binary)
            if missing:
                missing = self._download(missing, result)
            if missing:
                self._build(missing, result)
            result.entries = [self.cache.entry(binary) for binary in binaries]  # type: ignore[misc]
        return result

    def _download(self, missing: list[Binary], result: InstallResult) -> list[Binary]:
        if self.policy is SourcePolicy.BUILD:
            return missing
        remaining: list[Binary] = []
        offline_reason: str | None = None
        for binary in missing:
            if offline_reason or not self.downloader.supports(binary):
                remaining.append(binary)
                continue
            workdir = Path(tempfile.mkdtemp(dir=self.cache.staging_dir()))
            try:
                self.reporter.info(f"Downloading {binary.component} {binary.version} (official release)")
                path = self.downloader.fetch(binary, workdir)
                check_version(binary, path)
                self.cache.store(binary, path, source="download")
                result.downloaded.append(binary)
            except ChecksumMismatch as error:
                raise ToolchainError(str(error)) from error
            except DownloadUnavailable as error:
                if self.policy is SourcePolicy.DOWNLOAD:
                    raise ToolchainError(f"cannot download {binary.component} {binary.version}: {error}") from error
                offline_reason = str(error)
                remaining.append(binary)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        if offline_reason:
            self.reporter.info(f"Official downloads unavailable ({offline_reason}); building from Go modules.")
        if self.policy is SourcePolicy.DOWNLOAD and remaining:
            names = ", ".join(f"{b.component} {b.version}" for b in remaining)
            raise ToolchainError(f"no official release with checksums for {names}; use --source auto or build")
        return remaining

    def _build(self, missing: list[Binary], result: InstallResult) -> None:
        if not self.builder.available():
            names = ", ".join(f"{b.component} {b.version}" for b in missing)
            raise ToolchainError(
                f"{names} must be built from Go modules, but `go` is not on PATH. Install Go 1.26 or newer "
                "(https://go.dev/dl/), or give Moorage internet access to download release binaries."
            )
        groups: dict[tuple[str, str], list[Binary]] = defaultdict(list)
        for binary in missing:
            groups[(binary.product, binary.version)].append(binary)
        for (product, version), group in groups.items():
            names = ", ".join(b.component for b in group)
            label = f"building {product} v{version} ({names})"
            if not self.builder.workspace(product, version).exists():
                self.reporter.info(
                    f"First build of {product} v{version} from Go modules: this can take about "
                    f"{FIRST_BUILD_MINUTES[product]} minutes on 2 cores (later builds reuse Go's cache)."
                )
            workdir = Path(tempfile.mkdtemp(dir=self.cache.staging_dir()))
            try:
                with self.reporter.task(f"fetching Go modules for {product} v{version}", unit="") as update:
                    self.builder.prepare(product, version)
                with self.reporter.task(label) as update:
                    built = self.builder.build(group, workdir, on_progress=update)
                for binary, path in built.items():
                    check_version(binary, path)
                    self.cache.store(binary, path, source="build")
                    result.built.append(binary)
            except GoBuildError as error:
                raise ToolchainError(
                    f"{error}\nIf the Go module proxy refused a module, check `go env GOPROXY` and that "
                    "this machine can reach it."
                ) from error
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
